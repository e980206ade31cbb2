"""Pages sorted by a series (its last value, minimum or maximum) on SQLite and PostgreSQL: the same
runs in the same order, page after page, whether the store walks the series' index or sorts every
run that passes (`store.sql.runs_walk`); and that it walks, reading a few index entries for a page."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from sql_statements import statements_containing
from store_conformance import PROJECT, atom, floats, ingest, new_run

from despina.store.sql import runs_query, runs_walk
from despina.store.sql.runs_query import SORT_KEY_LABEL
from despina.store.sql.store import SqlStore

RUNS = 60
RARE = (3, 17, 42)  # tagged "rare": fewer than one run in WALK_FACTOR, so a walk cannot fill a page
MIXED = 5  # the run whose "score" is a float atom where the others have a series


def _loss(i: int) -> list[float] | None:
    if i % 10 == 9:
        return None  # no series: last in either direction
    if i % 10 == 8:
        return [0.5, math.nan]  # a NaN last value: last too, like a missing one
    return [1.0, (i % 7) / 7]  # last values repeat every 7 runs: ties, broken by run


def _finite(i: int) -> list[float]:
    return [v for v in _loss(i) or [] if not math.isnan(v)]


KEYS: dict[str, Callable[[int], float | None]] = {
    "loss": lambda i: None if not _loss(i) or math.isnan(_loss(i)[-1]) else _loss(i)[-1],  # type: ignore[index]
    "min(loss)": lambda i: min(_finite(i)) if _finite(i) else None,
    "max(loss)": lambda i: max(_finite(i)) if _finite(i) else None,  # 1.0 for all: every run ties
    "score": lambda i: -1.0 if i == MIXED else i % 4 / 4,
}
FILTERS: dict[str | None, Callable[[int], bool]] = {
    None: lambda i: True,
    "x >= 0.2": lambda i: i >= 12,
    'sys/tags contains "rare"': lambda i: i in RARE,
}


@pytest.fixture
def made(sql_store: SqlStore) -> list[str]:
    """The project's runs, in creation order (which is run key order), and another project whose
    runs have the same paths with keys among theirs."""
    ids = []
    for i in range(RUNS):
        run = new_run(sql_store, name=f"r{i}", tags=("rare",) if i in RARE else ())
        ops: list[Any] = [atom("x", i / 60)]
        loss = _loss(i)
        if loss is not None:
            ops.append(floats("loss", range(len(loss)), loss))
        ops.append(atom("score", -1.0) if i == MIXED else floats("score", [0], [i % 4 / 4]))
        ingest(sql_store, run, ops)
        ids.append(run.id)
    for i in range(20):
        other = new_run(sql_store, project="team/other", tags=("rare",))
        ingest(sql_store, other, [atom("x", 1.0), floats("loss", [0], [i / 20]), floats("score", [0], [0.5])])
    return ids


def _expected(made: list[str], sort_by: str, ascending: bool, passes: Callable[[int], bool]) -> list[str]:
    key = KEYS[sort_by]
    runs = [i for i in range(RUNS) if passes(i)]
    keyed = sorted((i for i in runs if key(i) is not None), key=lambda i: (key(i), i), reverse=not ascending)
    unkeyed = sorted((i for i in runs if key(i) is None), reverse=not ascending)
    return [made[i] for i in keyed + unkeyed]


def _paged(store: SqlStore, query: str | None, sort_by: str, ascending: bool, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = store.query_runs_columns(
            PROJECT, query=query, sort_by=sort_by, ascending=ascending, limit=limit, cursor=cursor
        )
        pages.append([str(run_id) for run_id in page.to_pandas()["sys/id"]])
        cursor = page.next_cursor
        if cursor is None:
            return pages


@pytest.mark.parametrize("factor", [runs_walk.WALK_FACTOR, 2])
@pytest.mark.parametrize("sort_by", list(KEYS))
def test_pages_sorted_by_a_series_hold_every_run_once_in_order(
    sql_store: SqlStore, made: list[str], sort_by: str, factor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ties by run key, runs without the key (or with a NaN) last either way, a cursor that ends
    among them, a filter most runs pass and one few pass, and another project's runs kept out;
    also where a walk's bound ends among runs of equal keys (a short walk: 2 entries a row)."""
    monkeypatch.setattr(runs_walk, "WALK_FACTOR", factor)
    for query, passes in FILTERS.items():
        for ascending in (True, False):
            expected = _expected(made, sort_by, ascending, passes)
            for limit in (4, 100):
                pages = _paged(sql_store, query, sort_by, ascending, limit)
                assert [run for page in pages for run in page] == expected, (query, ascending, limit)
                assert all(len(page) == limit for page in pages[:-1]), (query, ascending, limit)


def _explained(store: SqlStore, query: str, sort_by: str, limit: int) -> tuple[list[str], list[list[str]]]:
    """The page's runs, and the plan (with what each step read) of each statement that read it."""
    with statements_containing(store.read_engine, SORT_KEY_LABEL) as statements:
        page = store.query_runs_columns(PROJECT, query=query, sort_by=sort_by, limit=limit)
    plans = []
    with store.read_engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        # Tables this small are cheaper to read whole than by index: the planner must be told to.
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            conn.exec_driver_sql(f"SET {setting} = off")
        for statement, parameters in statements:
            plans.append(
                [str(row[0]) for row in conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters)]
            )
    return [str(run_id) for run_id in page.to_pandas()["sys/id"]], plans


WALK = "Index Only Scan Backward using series_path_last"


def test_a_page_most_runs_pass_is_walked_and_one_few_pass_is_sorted(
    sql_store: SqlStore, made: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On both databases: a page of 4 of the 48 runs that pass comes from the walk; a page of the 3
    runs tagged "rare" (fewer than one in WALK_FACTOR) does not, and is sorted all the same."""
    walks: list[bool] = []

    def spied(*args: Any, **kwargs: Any) -> list[Any] | None:
        rows = runs_walk.walk_page(*args, **kwargs)
        walks.append(rows is not None)
        return rows

    monkeypatch.setattr(runs_query, "walk_page", spied)
    for query, filled in (("x >= 0.2", True), ('sys/tags contains "rare"', False)):
        walks.clear()
        page = sql_store.query_runs_columns(PROJECT, query=query, sort_by="loss", ascending=False, limit=4)
        expected = _expected(made, "loss", False, FILTERS[query])[:4]
        assert [str(i) for i in page.to_pandas()["sys/id"]] == expected
        assert walks == [filled], query


def test_postgresql_walks_the_sort_key_s_index_for_a_page(sql_store: SqlStore, made: list[str]) -> None:
    """A page of 4 of the 48 runs that pass, sorted by the series' last value: PostgreSQL reads the
    first index entries of the path in the page's order and stops, instead of joining every run
    that passes to its key and sorting them."""
    if sql_store.read_engine.dialect.name != "postgresql":
        pytest.skip("SQLite sorts the runs that pass: the walk is PostgreSQL's")
    found, plans = _explained(sql_store, "x >= 0.2", "loss", 4)
    assert found == _expected(made, "loss", False, FILTERS["x >= 0.2"])[:4]
    (plan,) = plans  # the walk filled the page: no second statement
    with sql_store.read_engine.connect() as conn:
        entries = conn.exec_driver_sql(
            "SELECT count(*) FROM series WHERE path = 'loss' AND last_float IS NOT NULL"
        ).scalar_one()
    (walk,) = [line for line in plan if WALK in line]
    read = int(walk.split("actual time=")[1].split("rows=")[1].split()[0])
    # It stopped early (PostgreSQL reads ties in groups of at least 32 entries), and nothing sorted
    # the runs whole: only the entries of equal keys, by run.
    assert read < entries, plan
    assert not any(line.strip().removeprefix("->  ").startswith("Sort  (") for line in plan), plan


def test_postgresql_does_not_walk_for_a_filter_few_runs_pass(sql_store: SqlStore, made: list[str]) -> None:
    """3 runs of 60 pass `x < 0.05`, fewer than one in WALK_FACTOR: a walk would read its whole
    bound and find too few, so the set's size, counted first, stops it before it reads the index,
    and the runs are sorted."""
    if sql_store.read_engine.dialect.name != "postgresql":
        pytest.skip("SQLite sorts the runs that pass: the walk is PostgreSQL's")
    found, (walk_plan, sorted_plan) = _explained(sql_store, "x < 0.05", "loss", 4)
    assert found == [made[i] for i in (2, 1, 0)]  # loss 2/7, 1/7, 0
    (walk,) = [line for line in walk_plan if WALK in line]
    assert "never executed" in walk, walk_plan
    assert not any(WALK in line for line in sorted_plan), sorted_plan
