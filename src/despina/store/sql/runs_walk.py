"""A page of the runs table sorted by a float series (its last value, minimum or maximum), read by
walking the series' `(path, value)` index in the page's order (SQLite and PostgreSQL).

The page's own statement (`RunsQuery.page`) finds every run that passes the filters, joins each
its sort key and sorts them all to keep a page: on 10,000 runs where a filter lets 1,550 through,
PostgreSQL hashes the filters' sets of runs and sorts the 1,550 (17-27 ms of a 45 ms page). A walk
reads the index entries of the sort path in order instead, tests each entry's run with a
primary-key lookup per condition (`run_sets.probed`) and stops once the page is full: about 650
entries for 100 rows there (4-6 ms). PostgreSQL does not choose this plan by itself: it estimates
the path and the value of a `(path, value)` condition independently, so it expects a quarter of
the runs that pass, and a walk four times as long. SQLite drives from the smallest set of runs
and sorts the 1,550 too: the bench page took 30-35 ms sorted and 21-23 ms walked (medians of
interleaved calls).

A walk is bounded: it reads at most WALK_FACTOR entries per row of the page (the entries of the
project's runs only). When fewer runs than the page holds pass among them, or the page goes on
with runs without the key, `walk_page` returns None and the page is read by its own statement. A
walk is not even started where one of the filter's sets of runs holds fewer than one run in
WALK_FACTOR of the project (counted first, up to that many); a filter whose sets are each large
but whose conjunction lets few runs through still pays for the walk on top of the sort.

Runs without the key (no such series, or a last value that is NaN, stored as NULL) come last in
either direction, so the first page-full of entries in index order, ties by run key, is the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from despina.client import field_types as ft
from despina.query.run_sets import RunSet, Term, probed
from despina.store.sql import schema as t

# The most index entries a walk reads per row of the page: a walk fills the page when at least one
# run in WALK_FACTOR passes the filters.
WALK_FACTOR = 10

SeriesColumn = Literal["last_float", "min_value", "max_value"]


def walk_page(
    conn: Connection,
    *,
    project_id: int,
    runs: int,
    path: str,
    column: SeriesColumn,
    terms: Sequence[Term],
    nested: Sequence[ColumnElement[bool]],
    ascending: bool,
    after: tuple[float, int] | None,
    limit: int,
    key_label: str,
) -> list[Any] | None:
    """The first `limit + 1` runs of the project (of `runs` runs) passing the filters (`terms` and
    `nested`, see `RunsQuery.terms`) in the order of the `column` of their float series at `path`,
    ties by run key, after the row `after` (its key and run primary key), with the key labelled
    `key_label`. None when the walk cannot tell them: fewer passed within its bound, or a filter's
    set of runs is too small to try."""
    series = t.series.alias("walked_series")
    owner = t.runs.alias("walked_run")
    value = series.c[column]
    entries = (
        select(series.c.run_id, value.label("key"))
        .join(owner, owner.c.id == series.c.run_id)
        .where(
            series.c.path == path,
            series.c.type == ft.FLOAT_SERIES,
            value.is_not(None),
            owner.c.project_id == project_id,
        )
    )
    if after is not None:
        key, run_pk = after
        # The bound alone is what the index can start from; the rest drops the cursor's ties.
        bound = value >= key if ascending else value <= key
        later = value > key if ascending else value < key
        later_pk = series.c.run_id > run_pk if ascending else series.c.run_id < run_pk
        entries = entries.where(bound, or_(later, and_(value == key, later_pk)))
    order = (value.asc(), series.c.run_id.asc()) if ascending else (value.desc(), series.c.run_id.desc())
    walked = entries.order_by(*order).limit(WALK_FACTOR * (limit + 1)).subquery("walk")
    key_column, run_column = walked.c.key, walked.c.run_id
    statement = (
        select(t.runs, key_column.label(key_label))
        .join_from(walked, t.runs, t.runs.c.id == run_column)
        .where(probed(terms, nested))
        .order_by(
            *((key_column.asc(), run_column.asc()) if ascending else (key_column.desc(), run_column.desc()))
        )
        .limit(limit + 1)
    )
    # A set of fewer than one run in WALK_FACTOR of the project would most likely leave the walk
    # short: each is counted first, up to that many entries of its index, and one that falls short
    # stops the walk before it starts (PostgreSQL evaluates the counts once, before the walk, in the
    # same statement). A filter that lets 96 of 10,000 runs through: the walk cost 13 ms before the
    # 5 ms sort, the counts 0.4 ms.
    cap = -(-runs // WALK_FACTOR)
    gates = [run_set.size(cap) >= cap for run_set in terms if isinstance(run_set, RunSet)]
    if gates and conn.dialect.name == "sqlite":
        # SQLite fills the walk's subquery before it tests a condition of the outer query, so the
        # counts go first, alone: a filter letting 100 of 10,000 runs through paid 6 ms for a
        # walk the counts would have stopped.
        if not conn.execute(select(and_(*gates))).scalar_one():
            return None
        gates = []
    rows = list(conn.execute(statement.where(*gates)).all())
    return rows if len(rows) > limit else None


__all__ = ["WALK_FACTOR", "SeriesColumn", "walk_page"]
