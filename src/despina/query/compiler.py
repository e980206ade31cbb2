"""Compile a query's syntax tree to a SQLAlchemy Core condition over the SQL store's `runs` table.

Every condition on a field is `runs.id IN (SELECT run_id FROM fields | series | string_set_items
WHERE path = ? AND <test>)` (or a test on a column of `runs` for `sys/` paths): an uncorrelated
subquery the database runs once, from the `(path, value)` indexes, so the plan can start from the
most selective condition instead of testing every run of the project with a lookup per condition
(which a correlated EXISTS does). No row is ever evaluated in Python. A sort key is read through
LEFT JOINs of the sort field's rows (`SortKey`), one primary-key lookup per run, not a scalar
subquery evaluated for every use of the key.

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

from sqlalchemy import ColumnElement, FromClause, Table, and_, case, false, func, not_, or_, true

from despina.client import field_types as ft
from despina.client.codec import datetime_to_micros
from despina.query import ast
from despina.query.lexer import error
from despina.query.run_sets import Rows, RunSet, Term, plan, tagged
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


def _field(path: str, indexed: ColumnElement[bool] | None = None, *rest: ColumnElement[bool]) -> Rows:
    """`fields` rows at `path`: `indexed` is a test of float_value or int_value (each indexed with
    the path), `rest` anything else."""
    return Rows(t.fields, path, () if indexed is None else (indexed,), rest)


def _series(path: str, indexed: ColumnElement[bool] | None = None, *rest: ColumnElement[bool]) -> Rows:
    """`series` summary rows at `path`: `indexed` is a test of last_float, min_value or max_value."""
    return Rows(t.series, path, () if indexed is None else (indexed,), rest)


def _int_cmp(op: ast.Comparison, value: float) -> ColumnElement[bool]:
    """`int_value OP value` with an integer bound: PostgreSQL casts a BIGINT column compared with a
    float, and a cast column is not its index (every row of the path would be read)."""
    column = t.fields.c.int_value
    if isinstance(value, int):
        return _cmp(column, op, value)
    if abs(value) >= 2.0**63:  # beyond int64, +-Inf included: every int is below (or above) it
        holds = op in ("!=", "<", "<=") if value > 0 else op in ("!=", ">", ">=")
        return column.is_not(None) if holds else false()
    if value.is_integer():
        return _cmp(column, op, int(value))
    low, high = math.floor(value), math.ceil(value)  # value lies strictly between them
    if op == "=":
        return false()
    if op == "!=":
        return column.is_not(None)
    if op in ("<", "<="):
        return column <= low
    return column >= high


def aggregate_column(aggregate: ast.Aggregate | None, series: FromClause | Table = t.series) -> Any:
    """The column of `series` (or expression over it) an aggregate reads; NULL where there is none."""
    if aggregate == "min":
        return series.c.min_value
    if aggregate == "max":
        return series.c.max_value
    if aggregate == "avg":
        return case((series.c.finite_count > 0, series.c.sum_value / series.c.finite_count))
    return series.c.last_float


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

    def conjunction(self, node: ast.Node) -> tuple[list[Term], list[ColumnElement[bool]]]:
        """The terms `node` is the AND of: leaves (sets of runs and column tests), and the nested
        conditions (`or`, `not`) written as they are."""
        if isinstance(node, ast.And):
            terms: list[Term] = []
            nested: list[ColumnElement[bool]] = []
            for item in node.items:
                more_terms, more_nested = self.conjunction(item)
                terms.extend(more_terms)
                nested.extend(more_nested)
            return terms, nested
        if isinstance(node, (ast.Or, ast.Not)):
            return [], [self.node(node)]
        return [self.leaf(node)], []

    def node(self, node: ast.Node) -> ColumnElement[bool]:
        """`node` inside `or` or `not`: each set of runs probed per run (a correlated EXISTS)."""
        if isinstance(node, ast.And):
            return and_(*(self.node(item) for item in node.items))
        if isinstance(node, ast.Or):
            return or_(*(self.node(item) for item in node.items))
        if isinstance(node, ast.Not):
            return not_(self.node(node.operand))
        term = self.leaf(node)
        return term.probe() if isinstance(term, RunSet) else term

    def leaf(self, node: ast.Compare | ast.In | ast.Contains | ast.Match | ast.Exists) -> Term:
        if isinstance(node, ast.Compare):
            return self.compare(node.operand, node.op, node.value)
        if isinstance(node, ast.In):
            return self.member(node)
        if isinstance(node, ast.Contains):
            return self.contains(node)
        if isinstance(node, ast.Match):
            return self.match(node)
        return self.exists(node.operand)

    def member(self, node: ast.In) -> Term:
        terms = [self.compare(node.operand, "=", value) for value in node.values]
        if all(isinstance(term, RunSet) for term in terms):
            return RunSet(tuple(rows for term in terms if isinstance(term, RunSet) for rows in term.rows))
        return or_(*(term.probe() if isinstance(term, RunSet) else term for term in terms))

    # -- comparisons -------------------------------------------------------------------------------

    def compare(self, operand: ast.Operand, op: ast.Comparison, literal: ast.Literal_) -> Term:
        path, value = operand.path, literal.value
        if isinstance(value, float) and math.isnan(value):
            return false()
        if operand.aggregate is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(
                    f"{operand.aggregate}({path}) is a number: compare it with a number", literal.pos
                )
            test = _cmp(aggregate_column(operand.aggregate), op, value)
            type_test = t.series.c.type == ft.FLOAT_SERIES
            if operand.aggregate == "avg":  # a quotient: not in any index
                return RunSet((_series(path, None, type_test, test),))
            return RunSet((_series(path, test, type_test),))
        if path.startswith("sys/"):
            special = self.compare_sys(operand, op, literal)
            if special is not None:
                return special
        if isinstance(value, bool):
            return RunSet(
                (_field(path, _cmp(t.fields.c.int_value, op, int(value)), t.fields.c.type == ft.BOOL),)
            )
        if isinstance(value, (int, float)):
            # One branch per column, so each is a range of its (path, value) index.
            return RunSet(
                (
                    _field(path, _cmp(t.fields.c.float_value, op, value), t.fields.c.type == ft.FLOAT),
                    _field(path, _int_cmp(op, value), t.fields.c.type == ft.INT),
                    _series(path, _cmp(t.series.c.last_float, op, value), t.series.c.type == ft.FLOAT_SERIES),
                )
            )
        rows = [
            # A tracked-files (artifact) field compares by its set hash, kept in text_value.
            _field(
                path,
                None,
                t.fields.c.type.in_((ft.STRING, ft.ARTIFACT)),
                _cmp(t.fields.c.text_value, op, value),
            ),
            _series(path, None, t.series.c.type == ft.STRING_SERIES, _cmp(t.series.c.last_text, op, value)),
        ]
        when = parse_datetime(value)
        if when is not None:
            micros = datetime_to_micros(when)
            rows.append(_field(path, _cmp(t.fields.c.int_value, op, micros), t.fields.c.type == ft.DATETIME))
        return RunSet(tuple(rows))

    def compare_sys(self, operand: ast.Operand, op: ast.Comparison, literal: ast.Literal_) -> Term | None:
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

    def contains(self, node: ast.Contains) -> Term:
        operand, value = node.operand, node.value.value
        if not isinstance(value, str):
            raise self.fail('contains takes a "string"', node.value.pos)
        if operand.aggregate is not None:
            raise self.fail("contains takes a path, not an aggregate", operand.pos)
        path = operand.path
        if path == "sys/tags":
            return tagged(value)
        if path in TEXT_COLUMNS:
            return self.column_test(TEXT_COLUMNS[path], lambda column: self.substring(column, value))
        self.reject_sys(operand, "contains")
        return RunSet(
            (
                *tagged(value, path).rows,
                _field(
                    path, None, t.fields.c.type == ft.STRING, self.substring(t.fields.c.text_value, value)
                ),
                _series(
                    path,
                    None,
                    t.series.c.type == ft.STRING_SERIES,
                    self.substring(t.series.c.last_text, value),
                ),
            )
        )

    def match(self, node: ast.Match) -> Term:
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
        return RunSet(
            (
                _field(path, None, t.fields.c.type == ft.STRING, t.fields.c.text_value.regexp_match(pattern)),
                _series(
                    path,
                    None,
                    t.series.c.type == ft.STRING_SERIES,
                    t.series.c.last_text.regexp_match(pattern),
                ),
            )
        )

    def reject_sys(self, operand: ast.Operand, what: str) -> None:
        if operand.path in TIME_COLUMNS or operand.path in ("sys/failed", "sys/tags", "sys/state"):
            raise self.fail(f"{operand.path} does not take {what}", operand.pos)

    def exists(self, operand: ast.Operand) -> Term:
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
        return RunSet((_field(path), _series(path, None, t.series.c.point_count > 0)))


def compile_terms(node: ast.Node, context: Context) -> tuple[list[Term], list[ColumnElement[bool]]]:
    """The terms of the conjunction `node` is (see `run_sets.plan`): leaves, and nested conditions."""
    return _Compiler(context).conjunction(node)


def compile_condition(node: ast.Node, context: Context) -> ColumnElement[bool]:
    """The WHERE condition over `runs` that `node` means, every set of runs read (`RunSet.within`;
    `RunsQuery.condition` plans the order on SQLite)."""
    terms, nested = compile_terms(node, context)
    return plan(terms, None, nested)


@dataclass(frozen=True)
class SortKey:
    """What to order the runs by: `expression` over `runs` and the rows `join` adds to it (LEFT
    JOINs on the sort field's primary key: at most one row per run, NULL where it has none)."""

    expression: Any
    joins: tuple[tuple[FromClause, ColumnElement[bool]], ...] = ()

    def join(self, source: FromClause) -> FromClause:
        """`source` (which holds `runs`) with the sort field's rows joined."""
        for table, on in self.joins:
            source = source.outerjoin(table, on)
        return source


def sort_key(operand: ast.Operand, kind: SortKind, context: Context) -> SortKey:
    """The key to order by: a column for `sys/` paths, else the field's value, or the series' last
    value or aggregate, read through LEFT JOINs. `kind` picks numbers or text for a path that holds
    both in different runs (the store chooses by what the project holds)."""
    path = operand.path
    if operand.aggregate is not None:
        series, on = _joined_series(path, ft.FLOAT_SERIES)
        return SortKey(aggregate_column(operand.aggregate, series), ((series, on),))
    if path == "sys/id":
        return SortKey(t.runs.c.number)  # KEY-10 after KEY-9
    if path in TEXT_COLUMNS:
        return SortKey(t.runs.c[TEXT_COLUMNS[path]])
    if path in TIME_COLUMNS:
        return SortKey(t.runs.c[TIME_COLUMNS[path]])
    if path == "sys/state":
        return SortKey(t.runs.c.state)
    if path == "sys/failed":
        return SortKey(t.runs.c.failed)
    if path == "sys/tags" or path.startswith("sys/forking/"):
        raise error(f"cannot sort by {path}", context.query, operand.pos)
    field = t.fields.alias("sort_field")
    on_field = and_(field.c.run_id == t.runs.c.id, field.c.path == path)
    if kind == "text":
        series, on_series = _joined_series(path, ft.STRING_SERIES)
        atom = case((field.c.type == ft.STRING, field.c.text_value))
        return SortKey(func.coalesce(atom, series.c.last_text), ((field, on_field), (series, on_series)))
    series, on_series = _joined_series(path, ft.FLOAT_SERIES)
    number = case(
        (field.c.type == ft.FLOAT, field.c.float_value),
        (field.c.type.in_([ft.INT, ft.BOOL, ft.DATETIME]), field.c.int_value * 1.0),
    )
    return SortKey(func.coalesce(number, series.c.last_float), ((field, on_field), (series, on_series)))


def _joined_series(path: str, type_: str) -> tuple[FromClause, ColumnElement[bool]]:
    series = t.series.alias("sort_series")
    return series, and_(series.c.run_id == t.runs.c.id, series.c.path == path, series.c.type == type_)


__all__ = [
    "NUMERIC_FIELD_TYPES",
    "Context",
    "SortKey",
    "compile_condition",
    "compile_terms",
    "parse_datetime",
    "sort_key",
]
