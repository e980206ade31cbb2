"""The runs table's query in SQL: filter (the query language and the owner/tags/state filters), order
by any field or series aggregate, and page with a keyset cursor.

The cursor holds the last row's sort value and run key, so the next page starts right after it
whatever was added or changed meanwhile (no offsets: a page never repeats or skips a run because
runs were created while paging). Runs without the sort field come last in either direction.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, or_, select, true

from despina.client import field_types as ft
from despina.exceptions import QueryError
from despina.query import ast, parse, parse_operand
from despina.query.compiler import NUMERIC_FIELD_TYPES, Context, SortKind, compile_condition, sort_key
from despina.store.sql import schema as t

SORT_KEY_LABEL = "despina_sort_key"


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
        self, dialect: str, state_filter: Callable[[list[str]], ColumnElement[bool]]
    ) -> ColumnElement[bool]:
        """Every filter of the query, as one condition over `runs`."""
        conditions: list[ColumnElement[bool]] = []
        if self.node is not None:
            context = Context(self.text or "", dialect, state_filter)
            conditions.append(compile_condition(self.node, context))
        if self.owner:
            conditions.append(t.runs.c.owner.in_(self.owner))
        if self.state:
            conditions.append(state_filter(list(self.state)))
        for tag in self.tags:
            conditions.append(
                exists().where(
                    t.string_set_items.c.run_id == t.runs.c.id,
                    t.string_set_items.c.path == "sys/tags",
                    t.string_set_items.c.value == tag,
                )
            )
        return and_(true(), *conditions)

    def sort_kind(self, conn: Connection, project_id: int) -> SortKind:
        """Numbers or text: what the sort path holds in this project (numbers when both)."""
        operand = self.sort_operand
        if operand.aggregate is not None or operand.path.startswith("sys/"):
            return "numeric"
        in_project = select(t.runs.c.id).where(t.runs.c.project_id == project_id)
        types = set(
            conn.execute(
                select(t.fields.c.type)
                .where(t.fields.c.path == operand.path, t.fields.c.run_id.in_(in_project))
                .distinct()
                .union(
                    select(t.series.c.type)
                    .where(t.series.c.path == operand.path, t.series.c.run_id.in_(in_project))
                    .distinct()
                )
            ).scalars()
        )
        if types & NUMERIC_FIELD_TYPES or not types & {ft.STRING, ft.STRING_SERIES}:
            return "numeric"
        return "text"

    def page(
        self,
        conn: Connection,
        project_id: int,
        *,
        dialect: str,
        state_filter: Callable[[list[str]], ColumnElement[bool]],
        limit: int | None,
        cursor: str | None,
    ) -> tuple[list[Any], str | None]:
        """Rows of `runs` of one page (in order) and the cursor of the next page, if any."""
        context = Context(self.sort_by, dialect, state_filter)
        key = sort_key(self.sort_operand, self.sort_kind(conn, project_id), context)
        statement = (
            select(t.runs, key.label(SORT_KEY_LABEL))
            .where(t.runs.c.project_id == project_id, self.condition(dialect, state_filter))
            .order_by(
                key.is_(None),
                key.asc() if self.ascending else key.desc(),
                t.runs.c.id.asc() if self.ascending else t.runs.c.id.desc(),
            )
        )
        signature = self.signature()
        if cursor is not None:
            after = Cursor.decode(cursor, signature)
            statement = statement.where(self._after(key, after))
        if limit is not None:
            statement = statement.limit(limit + 1)
        rows = list(conn.execute(statement))
        if limit is None or len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1]
        value = getattr(last, SORT_KEY_LABEL)
        return rows, Cursor(signature, value, int(last.id)).encode()

    def _after(self, key: Any, after: Cursor) -> ColumnElement[bool]:
        """Rows that come after the cursor's row in this order (NULL keys last, then by run key)."""
        later_id = t.runs.c.id > after.run_pk if self.ascending else t.runs.c.id < after.run_pk
        if after.value is None:
            return and_(key.is_(None), later_id)
        later_key = key > after.value if self.ascending else key < after.value
        return or_(key.is_(None), later_key, and_(key == after.value, later_id))


__all__ = ["Cursor", "RunsQuery"]
