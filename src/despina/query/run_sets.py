"""Sets of runs picked by rows of `fields`, `series` or `string_set_items`, and how a conjunction of
them becomes SQL that starts from the smallest.

A condition on a field is a `RunSet`: the runs that have a row at the path meeting a test. It can
be written two ways, and which is cheaper depends on how many rows match:

- `within()`: `runs.id IN (SELECT run_id FROM ... WHERE path = ? AND <test>)`, uncorrelated: the
  database reads the matching rows once, from the table's `(path, value)` index, and the runs are
  looked up from them (or tested against them);
- `probe()`: a correlated `EXISTS`, one primary-key lookup per run tested.

Reading a set costs about a row lookup per match, probing costs a lookup per run tested. So a
conjunction (`AND` at the top of a query, plus the owner/tags/state filters) reads its smallest set
and probes only the runs that set lets through, smallest set first (`plan`). SQLite plans without
statistics and never rewrites one form into the other, so the sizes come from `size_query`: counts
over the covering `(path, value)` indexes alone, capped, in one statement. PostgreSQL keeps its own
statistics and turns both forms into semi-joins it orders itself: there every set is written
`within()` and no sizes are asked for, except where a page walks its sort key's index and tests
each run it meets (`probed`, see `store.sql.runs_walk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Select, Table, and_, exists, func, literal, or_, select, true, union_all

from despina.store.sql import schema as t

# Enough to tell a selective condition from an unselective one; the count stops there, so a size
# costs at most this many index entries whatever the project's size.
SIZE_CAP = 20_000


@dataclass(frozen=True)
class Rows:
    """Rows of `table` at `path` meeting `indexed` (answered by the table's `(path, value)` index)
    and `rest` (which needs the row itself, such as the field's type)."""

    table: Table
    path: str
    indexed: tuple[ColumnElement[bool], ...] = ()
    rest: tuple[ColumnElement[bool], ...] = ()

    def _conditions(self) -> tuple[ColumnElement[bool], ...]:
        return (self.table.c.path == self.path, *self.indexed, *self.rest)

    def runs(self) -> Select[Any]:
        return select(self.table.c.run_id).where(*self._conditions())

    def probe(self) -> ColumnElement[bool]:
        return exists().where(self.table.c.run_id == t.runs.c.id, *self._conditions())

    def size(self, cap: int = SIZE_CAP) -> Any:
        """At most `cap`: how many rows meet the indexed part (an upper bound of the matches)."""
        capped = select(literal(1)).where(self.table.c.path == self.path, *self.indexed).limit(cap)
        return select(func.count()).select_from(capped.subquery()).scalar_subquery()


@dataclass(frozen=True)
class RunSet:
    """The runs with a row in any of `rows` (run ids are never NULL, so neither form is ever
    unknown, and `not` of it is exactly the other runs)."""

    rows: tuple[Rows, ...]

    def within(self) -> ColumnElement[bool]:
        if len(self.rows) == 1:
            return t.runs.c.id.in_(self.rows[0].runs())
        return t.runs.c.id.in_(union_all(*(rows.runs() for rows in self.rows)))

    def probe(self) -> ColumnElement[bool]:
        # One lookup per table: the rows of a set share its path, so a run has at most one row of
        # `fields` (or `series`) to test against all the alternatives of that table.
        by_table: dict[str, list[Rows]] = {}
        for rows in self.rows:
            by_table.setdefault(rows.table.name, []).append(rows)
        probes = []
        for group in by_table.values():
            if len(group) == 1:
                probes.append(group[0].probe())
                continue
            table = group[0].table
            tests = or_(*(and_(*rows.indexed, *rows.rest) for rows in group))
            probes.append(exists().where(table.c.run_id == t.runs.c.id, table.c.path == group[0].path, tests))
        return or_(*probes)

    def size(self, cap: int = SIZE_CAP) -> Any:
        total: Any = self.rows[0].size(cap)
        for rows in self.rows[1:]:
            total = total + rows.size(cap)
        return total


# A conjunction's term: a set of runs, or a condition on the columns of `runs` (cheap: no lookup).
Term: TypeAlias = RunSet | ColumnElement[bool]


def size_query(sets: Sequence[RunSet]) -> Select[Any]:
    """One row: each set's size (capped)."""
    return select(*(run_set.size() for run_set in sets))


def plan(
    terms: Sequence[Term], sizes: Sequence[int] | None, nested: Sequence[ColumnElement[bool]] = ()
) -> ColumnElement[bool]:
    """The conjunction of `terms` and `nested` (conditions with subqueries inside, such as `or` and
    `not`), with `sizes` of the sets among `terms` in their order (None: let the database order
    them, every set read `within()`). The cheap column tests come first, then the smallest set,
    read, then the others, probed, smallest first, and last the nested conditions (SQLite tests
    the terms of a WHERE in the order written)."""
    sets = [term for term in terms if isinstance(term, RunSet)]
    columns = [term for term in terms if not isinstance(term, RunSet)]
    if not sets:
        return and_(true(), *columns, *nested)
    if sizes is None:
        return and_(*columns, *(run_set.within() for run_set in sets), *nested)
    order = sorted(range(len(sets)), key=lambda i: sizes[i])  # stable: ties keep the written order
    first, *others = (sets[i] for i in order)
    return and_(*columns, first.within(), *(run_set.probe() for run_set in others), *nested)


def probed(terms: Sequence[Term], nested: Sequence[ColumnElement[bool]] = ()) -> ColumnElement[bool]:
    """The conjunction of `terms` and `nested` with every set probed: for a statement that tests
    runs one at a time in an order of its own and stops early (`runs_walk`), where reading a set
    whole would cost more than the runs it tests."""
    sets = [term.probe() for term in terms if isinstance(term, RunSet)]
    columns = [term for term in terms if not isinstance(term, RunSet)]
    return and_(true(), *columns, *sets, *nested)


def tagged(tag: str, path: str = "sys/tags") -> RunSet:
    """The runs whose string set `path` holds `tag`."""
    items = t.string_set_items
    return RunSet((Rows(items, path, (items.c.value == tag,)),))


__all__ = ["SIZE_CAP", "Rows", "RunSet", "Term", "plan", "probed", "size_query", "tagged"]
