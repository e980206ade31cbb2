"""The runs table's query in SQL: filter (the query language and the owner/tags/state filters), order
by any field or series aggregate, and page with a keyset cursor.

The cursor holds the last row's sort value and run key, so the next page starts right after it
whatever was added or changed meanwhile (no offsets: a page never repeats or skips a run because
runs were created while paging). Runs without the sort field come last in either direction.

A page sorted by a float series is first read by walking the series' index (`runs_walk`), and by
sorting every run that passes only where the walk cannot fill it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Exists, Table, and_, exists, or_, select

from despina.client import field_types as ft
from despina.exceptions import QueryError
from despina.query import ast, parse, parse_operand
from despina.query.compiler import NUMERIC_FIELD_TYPES, Context, SortKind, compile_terms, sort_key
from despina.query.run_sets import RunSet, Term, plan, size_query, tagged
from despina.store.sql import schema as t
from despina.store.sql.runs_walk import SeriesColumn, walk_page

SORT_KEY_LABEL = "despina_sort_key"

# The aggregates a series keeps in an indexed column of its own (`avg` is computed).
WALKED_AGGREGATES: dict[str, SeriesColumn] = {"last": "last_float", "min": "min_value", "max": "max_value"}


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the sort it belongs to, and the last row's sort value and run key."""

    sort: str
    value: Any
    run_pk: int

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.value, self.run_pk], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            found, value, run_pk = json.loads(raw)
            if not isinstance(run_pk, int):
                raise ValueError(run_pk)
        except (ValueError, TypeError) as exc:
            raise QueryError(f"the cursor {text!r} is not one this server gave") from exc
        if found != sort:
            raise QueryError("the cursor belongs to another query or sort: start again without a cursor")
        return cls(found, value, run_pk)


@dataclass(frozen=True)
class RunsQuery:
    """A parsed query and sort key, ready to run against a project (parsing happens once, outside
    the transaction, so a bad query fails before touching the database)."""

    text: str | None
    node: ast.Node | None
    sort_by: str
    sort_operand: ast.Operand
    ascending: bool
    owner: tuple[str, ...]
    tags: tuple[str, ...]
    state: tuple[str, ...]

    @classmethod
    def prepare(
        cls,
        query: str | None,
        sort_by: str,
        ascending: bool,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
    ) -> RunsQuery:
        text = query if query and query.strip() else None
        return cls(
            text,
            None if text is None else parse(text),
            sort_by,
            parse_operand(sort_by),
            ascending,
            tuple(owner or ()),
            tuple(tags or ()),
            tuple(state or ()),
        )

    def signature(self) -> str:
        """What a cursor must have been made for: the same filters and sort."""
        return json.dumps(
            [self.text, self.sort_by, self.ascending, self.owner, self.tags, self.state],
            separators=(",", ":"),
        )

    def condition(
        self,
        dialect: str,
        state_filter: Callable[[list[str]], ColumnElement[bool]],
        conn: Connection | None = None,
    ) -> ColumnElement[bool]:
        """Every filter of the query, as one condition over `runs`. Given `conn` on SQLite, the
        sizes of its sets of runs are read first, so the smallest drives (see `query.run_sets`)."""
        terms, nested = self.terms(dialect, state_filter)
        sets = [term for term in terms if isinstance(term, RunSet)]
        sizes = None
        if conn is not None and dialect == "sqlite" and len(sets) > 1:
            sizes = list(conn.execute(size_query(sets)).one())
        return plan(terms, sizes, nested)

    def terms(
        self, dialect: str, state_filter: Callable[[list[str]], ColumnElement[bool]]
    ) -> tuple[list[Term], list[ColumnElement[bool]]]:
        """The filters as a conjunction's terms and nested conditions (see `query.run_sets.plan`)."""
        terms: list[Term] = []
        nested: list[ColumnElement[bool]] = []
        if self.node is not None:
            context = Context(self.text or "", dialect, state_filter)
            terms, nested = compile_terms(self.node, context)
        if self.owner:
            terms.append(t.runs.c.owner.in_(self.owner))
        if self.state:
            terms.append(state_filter(list(self.state)))
        terms.extend(tagged(tag) for tag in self.tags)
        return terms, nested

    def sort_source(self, conn: Connection, project_id: int) -> tuple[SortKind, SeriesColumn | None]:
        """Numbers or text: what the sort path holds in this project (numbers when both); and the
        column of its float series when that alone is the key, so that a page can walk its index
        (`runs_walk`): an aggregate, or a path no run holds a number at in `fields`."""
        operand = self.sort_operand
        if operand.aggregate is not None:
            return "numeric", WALKED_AGGREGATES.get(operand.aggregate)
        if operand.path.startswith("sys/"):
            return "numeric", None

        def found(table: Table, types: Sequence[str]) -> Exists:
            # Stops at the first row found (a join, not `run_id IN (the project's runs)`, which
            # would list every run first): usually a lookup or two.
            return exists(
                select(table.c.run_id)
                .join(t.runs, t.runs.c.id == table.c.run_id)
                .where(
                    table.c.path == operand.path, table.c.type.in_(types), t.runs.c.project_id == project_id
                )
            )

        numbers = sorted(NUMERIC_FIELD_TYPES)
        in_fields, in_series = conn.execute(select(found(t.fields, numbers), found(t.series, numbers))).one()
        if in_fields or in_series:
            return "numeric", "last_float" if not in_fields else None
        texts = conn.execute(
            select(or_(found(t.fields, [ft.STRING]), found(t.series, [ft.STRING_SERIES])))
        ).scalar_one()
        return ("text" if texts else "numeric"), None

    def page(
        self,
        conn: Connection,
        project_id: int,
        *,
        runs: int,
        dialect: str,
        state_filter: Callable[[list[str]], ColumnElement[bool]],
        limit: int | None,
        cursor: str | None,
    ) -> tuple[list[Any], str | None]:
        """Rows of `runs` of one page (in order) and the cursor of the next page, if any, in the
        project `project_id` of `runs` runs."""
        kind, walked = self.sort_source(conn, project_id)
        signature = self.signature()
        after = None if cursor is None else Cursor.decode(cursor, signature)
        rows = None
        # A cursor among the runs without the key (they come last) leaves nothing to walk.
        if walked and limit is not None and (after is None or after.value is not None):
            terms, nested = self.terms(dialect, state_filter)
            rows = walk_page(
                conn,
                project_id=project_id,
                runs=runs,
                path=self.sort_operand.path,
                column=walked,
                terms=terms,
                nested=nested,
                ascending=self.ascending,
                after=None if after is None else (after.value, after.run_pk),
                limit=limit,
                key_label=SORT_KEY_LABEL,
            )
        if rows is None:
            rows = self._sorted(
                conn, project_id, kind, after, limit, dialect=dialect, state_filter=state_filter
            )
        if limit is None or len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1]
        value = getattr(last, SORT_KEY_LABEL)
        return rows, Cursor(signature, value, int(last.id)).encode()

    def _sorted(
        self,
        conn: Connection,
        project_id: int,
        kind: SortKind,
        after: Cursor | None,
        limit: int | None,
        *,
        dialect: str,
        state_filter: Callable[[list[str]], ColumnElement[bool]],
    ) -> list[Any]:
        """The page's rows (and the next one's first) by sorting every run that passes."""
        sort = sort_key(self.sort_operand, kind, Context(self.sort_by, dialect, state_filter))
        key = sort.expression
        statement = (
            select(t.runs, key.label(SORT_KEY_LABEL))
            .select_from(sort.join(t.runs))
            .where(t.runs.c.project_id == project_id, self.condition(dialect, state_filter, conn))
            .order_by(
                key.is_(None),
                key.asc() if self.ascending else key.desc(),
                t.runs.c.id.asc() if self.ascending else t.runs.c.id.desc(),
            )
        )
        if after is not None:
            statement = statement.where(self._after(key, after))
        if limit is not None:
            statement = statement.limit(limit + 1)
        return list(conn.execute(statement).all())  # all: one fetch, not a call per row

    def _after(self, key: Any, after: Cursor) -> ColumnElement[bool]:
        """Rows that come after the cursor's row in this order (NULL keys last, then by run key)."""
        later_id = t.runs.c.id > after.run_pk if self.ascending else t.runs.c.id < after.run_pk
        if after.value is None:
            return and_(key.is_(None), later_id)
        later_key = key > after.value if self.ascending else key < after.value
        return or_(key.is_(None), later_key, and_(key == after.value, later_id))


__all__ = ["Cursor", "RunsQuery"]
