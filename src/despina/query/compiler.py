"""Compile a query's syntax tree to a SQLAlchemy Core condition over the SQL store's `runs` table.

Every condition is a correlated EXISTS over `fields`, `series` or `string_set_items` (or a test on a
column of `runs` for `sys/` paths), so the database filters the runs with its indexes and no row is
ever evaluated in Python.

How a value meets a field (a path may hold different types in different runs; a condition matches a
run where the field's type fits the value):

- a number: float and int atoms, and the last value of a float series (`min(...)`, `max(...)` and
  `avg(...)` read the series' aggregates over its finite points);
- a string: string atoms, the last value of a string series, and datetime atoms when the string is a
  date (ISO 8601; without a zone it is UTC);
- true / false: bool atoms.

A NaN never matches a comparison, not even `!=` (as in SQL and IEEE 754, NaN is unordered), and a run
without the field never matches one either; `not (...)` then matches exactly the runs the condition
does not, including those without the field.

A forked run's series conditions see the summary of its own points: points it reads through from its
parent do not count (its table cells still show them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, exists, false, func, not_, or_, select, true

from despina.client import field_types as ft
from despina.client.codec import datetime_to_micros
from despina.query import ast
from despina.query.lexer import error
from despina.store.sql import schema as t

RUN_STATES = ("running", "finished", "failed", "crashed")
SortKind = Literal["numeric", "text"]

# sys/ paths read from columns of `runs`.
TEXT_COLUMNS = {
    "sys/id": "short_id",
    "sys/name": "name",
    "sys/description": "description",
    "sys/owner": "owner",
    "sys/custom_run_id": "custom_run_id",
}
TIME_COLUMNS = {
    "sys/creation_time": "creation_time",
    "sys/modification_time": "modification_time",
    "sys/ping_time": "ping_time",
}
NULLABLE_COLUMNS = frozenset({"custom_run_id", "ping_time"})
NUMERIC_FIELD_TYPES = frozenset({ft.FLOAT, ft.INT, ft.BOOL, ft.DATETIME, ft.FLOAT_SERIES})


@dataclass(frozen=True)
class Context:
    """What compiling needs besides the tree: the query text (for errors), the database dialect, and
    the state filter of the store (a `running` run whose heartbeat is stale reads as `crashed`)."""

    query: str
    dialect: str
    state_filter: Callable[[list[str]], ColumnElement[bool]]


def _cmp(column: Any, op: ast.Comparison, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    return column >= value  # type: ignore[no-any-return]


def _field(path: str, *conditions: Any) -> ColumnElement[bool]:
    return exists().where(t.fields.c.run_id == t.runs.c.id, t.fields.c.path == path, *conditions)


def _series(path: str, *conditions: Any) -> ColumnElement[bool]:
    return exists().where(t.series.c.run_id == t.runs.c.id, t.series.c.path == path, *conditions)


def aggregate_column(aggregate: ast.Aggregate | None) -> Any:
    """The column of `series` (or expression over it) an aggregate reads; NULL where there is none."""
    if aggregate == "min":
        return t.series.c.min_value
    if aggregate == "max":
        return t.series.c.max_value
    if aggregate == "avg":
        return case((t.series.c.finite_count > 0, t.series.c.sum_value / t.series.c.finite_count))
    return t.series.c.last_float


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date or date and time (`Z` allowed; without a zone it is UTC), else None."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


class _Compiler:
    def __init__(self, context: Context) -> None:
        self.ctx = context

    def fail(self, message: str, pos: int) -> Exception:
        return error(message, self.ctx.query, pos)

    def node(self, node: ast.Node) -> ColumnElement[bool]:
        if isinstance(node, ast.And):
            return and_(*(self.node(item) for item in node.items))
        if isinstance(node, ast.Or):
            return or_(*(self.node(item) for item in node.items))
        if isinstance(node, ast.Not):
            return not_(self.node(node.operand))
        if isinstance(node, ast.Compare):
            return self.compare(node.operand, node.op, node.value)
        if isinstance(node, ast.In):
            return or_(*(self.compare(node.operand, "=", value) for value in node.values))
        if isinstance(node, ast.Contains):
            return self.contains(node)
        if isinstance(node, ast.Match):
            return self.match(node)
        return self.exists(node.operand)

    # -- comparisons -------------------------------------------------------------------------------

    def compare(self, operand: ast.Operand, op: ast.Comparison, literal: ast.Literal_) -> ColumnElement[bool]:
        path, value = operand.path, literal.value
        if isinstance(value, float) and math.isnan(value):
            return false()
        if operand.aggregate is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(
                    f"{operand.aggregate}({path}) is a number: compare it with a number", literal.pos
                )
            return _series(
                path, t.series.c.type == ft.FLOAT_SERIES, _cmp(aggregate_column(operand.aggregate), op, value)
            )
        if path.startswith("sys/"):
            special = self.compare_sys(operand, op, literal)
            if special is not None:
                return special
        if isinstance(value, bool):
            return _field(path, t.fields.c.type == ft.BOOL, _cmp(t.fields.c.int_value, op, int(value)))
        if isinstance(value, (int, float)):
            return or_(
                _field(
                    path,
                    or_(
                        and_(t.fields.c.type == ft.FLOAT, _cmp(t.fields.c.float_value, op, value)),
                        and_(t.fields.c.type == ft.INT, _cmp(t.fields.c.int_value, op, value)),
                    ),
                ),
                _series(path, t.series.c.type == ft.FLOAT_SERIES, _cmp(t.series.c.last_float, op, value)),
            )
        conditions = [
            # A tracked-files (artifact) field compares by its set hash, kept in text_value.
            _field(
                path, t.fields.c.type.in_((ft.STRING, ft.ARTIFACT)), _cmp(t.fields.c.text_value, op, value)
            ),
            _series(path, t.series.c.type == ft.STRING_SERIES, _cmp(t.series.c.last_text, op, value)),
        ]
        when = parse_datetime(value)
        if when is not None:
            micros = datetime_to_micros(when)
            conditions.append(
                _field(path, t.fields.c.type == ft.DATETIME, _cmp(t.fields.c.int_value, op, micros))
            )
        return or_(*conditions)

    def compare_sys(
        self, operand: ast.Operand, op: ast.Comparison, literal: ast.Literal_
    ) -> ColumnElement[bool] | None:
        path, value = operand.path, literal.value
        if path in TEXT_COLUMNS:
            if not isinstance(value, str):
                raise self.fail(f'{path} is a string: compare it with a "string"', literal.pos)
            return self.column_test(TEXT_COLUMNS[path], lambda column: _cmp(column, op, value))
        if path in TIME_COLUMNS:
            seconds = self.timestamp(path, literal)
            return self.column_test(TIME_COLUMNS[path], lambda column: _cmp(column, op, seconds))
        if path == "sys/state":
            if op not in ("=", "!=") or value not in RUN_STATES:
                if op not in ("=", "!="):
                    raise self.fail("sys/state takes =, != or in", operand.pos)
                raise self.fail(f"expected a run state ({', '.join(RUN_STATES)})", literal.pos)
            matched = self.ctx.state_filter([str(value)])
            return matched if op == "=" else not_(matched)
        if path == "sys/failed":
            if not isinstance(value, bool):
                raise self.fail("sys/failed is true or false", literal.pos)
            return _cmp(t.runs.c.failed, op, value)
        if path == "sys/tags":
            raise self.fail('sys/tags is a set of strings: use sys/tags contains "tag"', operand.pos)
        if path.startswith("sys/forking/"):
            raise self.fail(f"{path} cannot be queried", operand.pos)
        return None  # other sys/ fields (hostname, ...) are stored like any field

    def timestamp(self, path: str, literal: ast.Literal_) -> float:
        value = literal.value
        if isinstance(value, str):
            when = parse_datetime(value)
            if when is None:
                raise self.fail(
                    f'{path} is a date and time: expected one such as "2026-11-01" or "2026-11-01T12:30:00Z"',
                    literal.pos,
                )
            return when.timestamp()
        if isinstance(value, bool):
            raise self.fail(f"{path} is a date and time, not true or false", literal.pos)
        return float(value)  # seconds since the epoch

    @staticmethod
    def column_test(name: str, test: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
        column = t.runs.c[name]
        # A missing value (NULL) must make the test false, not unknown: `not` must match those runs.
        return and_(column.is_not(None), test(column)) if name in NULLABLE_COLUMNS else test(column)

    # -- contains, match, exists -------------------------------------------------------------------

    def substring(self, column: Any, value: str) -> ColumnElement[bool]:
        # instr / strpos: exact and case-sensitive, unlike LIKE (case-insensitive on SQLite, and
        # `%` and `_` in the value would need escaping).
        if self.ctx.dialect == "sqlite":
            return func.instr(column, value) > 0
        return func.strpos(column, value) > 0

    def contains(self, node: ast.Contains) -> ColumnElement[bool]:
        operand, value = node.operand, node.value.value
        if not isinstance(value, str):
            raise self.fail('contains takes a "string"', node.value.pos)
        if operand.aggregate is not None:
            raise self.fail("contains takes a path, not an aggregate", operand.pos)
        path = operand.path
        in_set = exists().where(
            t.string_set_items.c.run_id == t.runs.c.id,
            t.string_set_items.c.path == path,
            t.string_set_items.c.value == value,
        )
        if path == "sys/tags":
            return in_set
        if path in TEXT_COLUMNS:
            return self.column_test(TEXT_COLUMNS[path], lambda column: self.substring(column, value))
        self.reject_sys(operand, "contains")
        return or_(
            in_set,
            _field(path, t.fields.c.type == ft.STRING, self.substring(t.fields.c.text_value, value)),
            _series(path, t.series.c.type == ft.STRING_SERIES, self.substring(t.series.c.last_text, value)),
        )

    def match(self, node: ast.Match) -> ColumnElement[bool]:
        operand, pattern = node.operand, node.pattern.value
        assert isinstance(pattern, str)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self.fail(f"not a valid regular expression ({exc})", node.pattern.pos) from None
        if operand.aggregate is not None:
            raise self.fail("~ takes a path, not an aggregate", operand.pos)
        path = operand.path
        if path in TEXT_COLUMNS:
            return self.column_test(TEXT_COLUMNS[path], lambda column: column.regexp_match(pattern))
        if path == "sys/state":
            return t.runs.c.state.regexp_match(pattern)
        self.reject_sys(operand, "~")
        return or_(
            _field(path, t.fields.c.type == ft.STRING, t.fields.c.text_value.regexp_match(pattern)),
            _series(path, t.series.c.type == ft.STRING_SERIES, t.series.c.last_text.regexp_match(pattern)),
        )

    def reject_sys(self, operand: ast.Operand, what: str) -> None:
        if operand.path in TIME_COLUMNS or operand.path in ("sys/failed", "sys/tags", "sys/state"):
            raise self.fail(f"{operand.path} does not take {what}", operand.pos)

    def exists(self, operand: ast.Operand) -> ColumnElement[bool]:
        path = operand.path
        if path in ("sys/custom_run_id", "sys/ping_time"):
            return t.runs.c[TEXT_COLUMNS.get(path) or TIME_COLUMNS[path]].is_not(None)
        if path in ("sys/forking/parent", "sys/forking/step"):
            return t.runs.c.fork_parent_id.is_not(None)
        if (
            path in TEXT_COLUMNS
            or path in TIME_COLUMNS
            or path in ("sys/state", "sys/failed", "sys/tags", "sys")
        ):
            return true()
        # A series row with no points is a fork's marker that hides an inherited series.
        return or_(_field(path), _series(path, t.series.c.point_count > 0))


def compile_condition(node: ast.Node, context: Context) -> ColumnElement[bool]:
    """The WHERE condition over `runs` (correlated subqueries) that `node` means."""
    return _Compiler(context).node(node)


def sort_key(operand: ast.Operand, kind: SortKind, context: Context) -> Any:
    """An expression of `runs` to order by: a column for `sys/` paths, else a correlated scalar
    subquery (a field's value, or the series' last value or aggregate). `kind` picks numbers or text
    for a path that holds both in different runs (the store chooses by what the project holds)."""
    path = operand.path
    if operand.aggregate is not None:
        return _series_value(path, aggregate_column(operand.aggregate), ft.FLOAT_SERIES)
    if path == "sys/id":
        return t.runs.c.number  # KEY-10 after KEY-9
    if path in TEXT_COLUMNS:
        return t.runs.c[TEXT_COLUMNS[path]]
    if path in TIME_COLUMNS:
        return t.runs.c[TIME_COLUMNS[path]]
    if path == "sys/state":
        return t.runs.c.state
    if path == "sys/failed":
        return t.runs.c.failed
    if path == "sys/tags" or path.startswith("sys/forking/"):
        raise error(f"cannot sort by {path}", context.query, operand.pos)
    if kind == "text":
        atom = (
            select(t.fields.c.text_value)
            .where(t.fields.c.run_id == t.runs.c.id, t.fields.c.path == path, t.fields.c.type == ft.STRING)
            .scalar_subquery()
        )
        return func.coalesce(atom, _series_value(path, t.series.c.last_text, ft.STRING_SERIES))
    number = case(
        (t.fields.c.type == ft.FLOAT, t.fields.c.float_value),
        (t.fields.c.type.in_([ft.INT, ft.BOOL, ft.DATETIME]), t.fields.c.int_value * 1.0),
    )
    atom = select(number).where(t.fields.c.run_id == t.runs.c.id, t.fields.c.path == path).scalar_subquery()
    return func.coalesce(atom, _series_value(path, t.series.c.last_float, ft.FLOAT_SERIES))


def _series_value(path: str, column: Any, type_: str) -> Any:
    return (
        select(column)
        .where(t.series.c.run_id == t.runs.c.id, t.series.c.path == path, t.series.c.type == type_)
        .scalar_subquery()
    )


__all__ = ["NUMERIC_FIELD_TYPES", "Context", "compile_condition", "parse_datetime", "sort_key"]
