"""The runs table read by column (`SqlStore.query_runs_columns`, Arrow over HTTP) on SQLite and
PostgreSQL: the same frame as the row form, exact values (NaN, infinities, datetimes), holes typed as
pandas' nullable dtypes, paging with the cursor, and the Arrow round trip."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import test_server_http as http_tests
from store_conformance import atom, floats, ingest, new_run, strings

import despina
from despina.client.operations import AddStrings
from despina.client.project import RunsTable
from despina.store.runs_columns import MIXED, RunsColumns
from despina.store.series_table import ARROW_STREAM
from despina.store.sql import runs_cells
from despina.store.sql.store import SqlStore

PROJECT = http_tests.PROJECT
WHEN = datetime(2026, 11, 5, 10, 30, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture(params=["page", "whole table"])
def store(request: pytest.FixtureRequest, sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> SqlStore:
    """The store on SQLite and on PostgreSQL (conftest's `sql_store`), reading cells as for a page
    of runs and as for a whole table (from `RANGE_MIN_RUNS` runs: a run-key range, and on SQLite a
    statement per path)."""
    if request.param == "whole table":
        monkeypatch.setattr(runs_cells, "RANGE_MIN_RUNS", 1)
    return sql_store


def fill(store: SqlStore) -> list[str]:
    """Five runs of every cell kind, with holes, NaN, infinities, a path whose type differs between
    runs, and a fork that reads its parent's series through."""
    made = []
    specs: list[tuple[str, list[Any]]] = [
        (
            "a",
            [atom("lr", 0.1), atom("epochs", 3), atom("amp", True), atom("seen", WHEN), atom("opt", "adam")],
        ),
        ("b", [atom("lr", math.nan), atom("amp", False), atom("opt", "sgd"), atom("mixed", 1)]),
        ("c", [atom("lr", math.inf), atom("epochs", 7), atom("mixed", "seven")]),
        ("d", [atom("lr", -math.inf), atom("epochs", 2**40 + 1), atom("amp", True)]),
    ]
    for number, (name, ops) in enumerate(specs):
        run = new_run(store, name=name, tags=("x", "a,b") if number == 0 else ())
        losses = [1.0 / (number + 1), math.nan if number == 1 else 0.5 / (number + 1)]
        ops = [*ops, floats("val/loss", [0, 1], losses), AddStrings("groups", (f"g{number}", "all"))]
        if number == 2:
            ops.append(strings("phase", [0, 1], ["warmup", "main"]))
        ingest(store, run, ops)
        made.append(run.id)
    fork = new_run(store, name="fork", fork_run_id=made[0], fork_step=0.0)
    ingest(store, fork, [floats("val/loss", [1, 2], [0.01, 0.02]), atom("lr", 0.2)])
    made.append(fork.id)
    return made


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with NaN spelled out (NaN equals nothing, itself included)."""
    nan = "NaN"
    return [{k: nan if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]


def row_frame(store: SqlStore, **kwargs: Any) -> pd.DataFrame:
    """The reference: the row form's frame (FieldValue per cell)."""
    page = store.query_runs(PROJECT, **kwargs)
    frame: pd.DataFrame = RunsTable(page.rows, "sys/id", True, None, presorted=True).to_pandas()
    return frame


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"columns": ["sys/id", "lr", "epochs", "amp", "seen", "mixed", "val", "groups", "sys/tags", "phase"]},
        {"query": "lr > 0 or epochs > 2", "sort_by": "val/loss", "ascending": True},
        {"query": "exists seen", "columns": ["sys/id", "sys"]},
    ],
)
def test_columns_give_the_row_forms_frame(store: SqlStore, kwargs: dict[str, Any]) -> None:
    fill(store)
    expected = row_frame(store, **kwargs)
    columns = store.query_runs_columns(PROJECT, **kwargs)
    pd.testing.assert_frame_equal(columns.to_pandas(), expected)
    pd.testing.assert_frame_equal(RunsColumns.from_arrow(columns.to_arrow()).to_pandas(), expected)
    rows = store.query_runs(PROJECT, **kwargs).rows
    expected_rows = RunsTable(rows, "sys/id", True, None, presorted=True).to_rows()
    assert comparable(columns.to_rows()) == comparable(expected_rows)


def test_cells_keep_their_types_and_values(store: SqlStore) -> None:
    ids = fill(store)
    # Beyond float precision: the row form's Int64 column goes through floats and loses it.
    ingest(store, store.get_run(PROJECT, ids[3]), [atom("big", 2**53 + 1)])
    columns = store.query_runs_columns(PROJECT, sort_by="sys/id", ascending=True)
    frame = RunsColumns.from_arrow(columns.to_arrow()).to_pandas().set_index("sys/id")
    a, b, c, d, fork = ids
    lr = frame["lr"]
    assert lr.dtype == np.float64
    assert lr[a] == 0.1 and math.isnan(lr[b]) and lr[c] == math.inf and lr[d] == -math.inf
    assert frame["epochs"].dtype == "Int64"  # b and the fork have none
    assert frame.loc[d, "epochs"] == 2**40 + 1 and pd.isna(frame.loc[b, "epochs"])
    assert frame["big"].dtype == "Int64" and frame.loc[d, "big"] == 2**53 + 1  # exact, not a float
    assert frame["amp"].dtype == "boolean" and frame.loc[a, "amp"] and not frame.loc[b, "amp"]
    assert pd.isna(frame.loc[c, "amp"])
    assert frame.loc[a, "seen"] == pd.Timestamp(WHEN) and pd.isna(frame.loc[b, "seen"])
    assert str(frame["seen"].dtype).endswith("UTC]")
    assert frame.loc[a, "sys/tags"] == "a,b,x" and frame.loc[b, "sys/tags"] == ""
    assert frame.loc[a, "groups"] == "all,g0"
    assert columns.columns["mixed"].type == MIXED
    assert frame.loc[b, "mixed"] == 1 and frame.loc[c, "mixed"] == "seven"
    assert math.isnan(frame.loc[b, "val/loss"])  # the last point is NaN
    assert frame.loc[fork, "val/loss"] == 0.02  # the fork's own last point, after its parent's
    assert frame.loc[fork, "sys/forking/parent"] == a
    assert frame.loc[c, "phase"] == "main"
    assert frame["sys/failed"].dtype == np.bool_


def test_pages_follow_the_cursor(store: SqlStore) -> None:
    ids = fill(store)
    whole = store.query_runs_columns(PROJECT, sort_by="val/loss", ascending=True, columns=["val/loss", "lr"])
    pages, cursor = [], None
    while True:
        page = store.query_runs_columns(
            PROJECT, sort_by="val/loss", ascending=True, columns=["val/loss", "lr"], limit=2, cursor=cursor
        )
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [p.length for p in pages] == [2, 2, 1]
    joined = RunsColumns.concat(pages)
    pd.testing.assert_frame_equal(joined.to_pandas(), whole.to_pandas())
    assert sorted(joined.to_pandas()["sys/id"]) == sorted(ids)
    assert joined.to_pandas()["sys/id"].iloc[-1] == ids[1]  # its last loss is NaN: last in either order


def test_an_unknown_project_or_no_match_is_an_empty_table(store: SqlStore) -> None:
    fill(store)
    assert store.query_runs_columns("nobody/here").to_pandas().columns.tolist() == ["sys/id"]
    empty = store.query_runs_columns(PROJECT, query="lr > 1 and lr < 2")
    assert empty.length == 0 and len(RunsColumns.from_arrow(empty.to_arrow()).to_pandas()) == 0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[http_tests.Served]:
    yield from http_tests.serve(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-blobs")


def test_the_table_travels_as_arrow_and_json_stays_for_the_ui(
    served: http_tests.Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fill(served.state.store)
    headers = {"Authorization": f"Bearer {served.token}"}
    url = f"{served.url}/api/v1/projects/{PROJECT}/table"
    params: dict[str, Any] = {"sort_by": "lr", "ascending": "true", "limit": 2, "columns": ["lr"]}
    arrow = httpx.get(url, params=params, headers={**headers, "Accept": ARROW_STREAM})
    assert arrow.headers["content-type"].startswith(ARROW_STREAM)
    page = RunsColumns.from_arrow(arrow.content)
    assert page.length == 2 and page.next_cursor is not None
    assert page.to_pandas()["lr"].tolist() == [-math.inf, 0.1]
    as_json = httpx.get(url, params=params, headers=headers).json()  # the web UI's form, unchanged
    assert [row["lr"] for row in as_json["rows"]] == [["float", {"$float": "-Infinity"}], ["float", 0.1]]
    assert as_json["next_cursor"] == page.next_cursor

    monkeypatch.setenv("DESPINA_URL", served.url)
    monkeypatch.setenv("DESPINA_API_TOKEN", served.token)
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "client-home"))
    remote = despina.init_project(PROJECT).fetch_runs_table(sort_by="val/loss").to_pandas()
    pd.testing.assert_frame_equal(remote, row_frame(served.state.store, sort_by="val/loss"))


def test_hundreds_of_columns_asked_for_still_find_namespaces(store: SqlStore) -> None:
    """Whether each column is a namespace is probed in a few statements, whatever the count (SQLite
    allows at most 2,000 result columns in one): a namespace among 700 absent columns is expanded."""
    fill(store)
    absent = [f"absent/{number}" for number in range(350)]
    asked = ["sys/id", *absent, "val", *(f"gone{n}" for n in range(350))]
    columns = store.query_runs_columns(PROJECT, columns=asked)
    assert set(columns.columns) == {"sys/id", "val/loss"}
    rows = store.query_runs(PROJECT, columns=asked).rows
    assert all(set(row) <= {"sys/id", "val/loss"} for row in rows) and any("val/loss" in row for row in rows)
