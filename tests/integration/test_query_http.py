"""The runs table, bulk series and downsampling through a real server (uvicorn in a thread), and the
same reads through the client's Project over HTTP and locally."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import test_server_http as http_tests
from store_conformance import atom, floats, strings

import despina
from despina.backends.http import HttpBackend
from despina.exceptions import QueryError
from despina.store.base import RunCreate
from despina.store.series_table import ARROW_STREAM, SeriesTable

PROJECT = http_tests.PROJECT


@pytest.fixture
def served(tmp_path: Path) -> Iterator[http_tests.Served]:
    yield from http_tests.serve(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-blobs")


@pytest.fixture
def backend(served: http_tests.Served) -> HttpBackend:
    """A server with six runs: lr, a loss series (run 3's with a NaN), and 30,000 points on run 1."""
    client = HttpBackend(served.url, served.token)
    store = served.state.store
    for i in range(6):
        info, _ = client.create_run(RunCreate(project=PROJECT, owner="sophia", name=f"run-{i}"))
        losses = [1.0 / (i + 1), 0.5 / (i + 1)] if i != 3 else [0.2, math.nan]
        ops = [atom("parameters/lr", 10.0**-i), floats("val/loss", [0, 1], losses), atom("seed", i)]
        if i == 0:
            ops.append(floats("long", np.arange(30_000.0), np.sin(np.arange(30_000.0) / 100)))
            ops.append(strings("phase", [0, 1], ["warmup", "main"]))
        store.ingest(PROJECT, info.id, "w", list(enumerate(ops)), len(ops) - 1)
    return client


def test_the_table_is_filtered_sorted_projected_and_paged_on_the_server(
    served: http_tests.Served, backend: HttpBackend
) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    url = f"{served.url}/api/v1/projects/{PROJECT}/table"
    params = {"query": "parameters/lr < 0.05", "sort_by": "val/loss", "ascending": "true", "limit": 2}
    params["columns"] = ["val/loss"]
    first = httpx.get(url, params=params, headers=headers).json()
    assert [row["sys/id"][1] for row in first["rows"]] == ["CAS-6", "CAS-5"]  # 1/12, 1/10
    assert set(first["rows"][0]) == {"sys/id", "val/loss"}  # only requested columns travel
    second = httpx.get(url, params={**params, "cursor": first["next_cursor"]}, headers=headers).json()
    assert [row["sys/id"][1] for row in second["rows"]] == ["CAS-3", "CAS-4"]  # 1/6; NaN last
    assert second["next_cursor"] is None  # the last page

    bad = httpx.get(url, params={"query": "parameters/lr <"}, headers=headers)
    assert bad.status_code == 422
    assert "at position 16" in bad.json()["detail"] and "expected a value" in bad.json()["detail"]
    with pytest.raises(QueryError, match="at position 16"):
        backend.query_runs(PROJECT, query="parameters/lr <")

    # The backend follows the cursor for a whole table, in pages of PAGE_SIZE.
    page = backend.query_runs(PROJECT, sort_by="min(val/loss)", ascending=True, limit=None)
    assert [row["sys/id"].value for row in page.rows][:2] == ["CAS-6", "CAS-5"]
    assert len(page.rows) == 6 and page.next_cursor is None


def test_bulk_series_come_as_an_arrow_stream_exactly(served: http_tests.Served, backend: HttpBackend) -> None:
    response = httpx.get(
        f"{served.url}/api/v1/projects/{PROJECT}/series",
        params={"path": ["val/loss"], "query": "seed >= 2"},
        headers={"Authorization": f"Bearer {served.token}", "Accept": ARROW_STREAM},
    )
    assert response.headers["content-type"] == ARROW_STREAM
    frame = SeriesTable.from_arrow(response.content).to_pandas()
    assert list(frame.columns) == ["run", "path", "step", "value", "timestamp"]
    assert list(frame["run"].unique()) == ["CAS-3", "CAS-4", "CAS-5", "CAS-6"]
    nan_run = frame[frame["run"] == "CAS-4"]["value"].tolist()
    assert nan_run[0] == 0.2 and math.isnan(nan_run[1])  # NaN kept

    table = backend.series_table(
        PROJECT, ["long", "val/loss"], run_ids=["CAS-1"], step_range=(100.0, 20_099.0)
    )
    frame = table.to_pandas()
    long = frame[frame["path"] == "long"]
    assert len(long) == 20_000 and long["step"].iloc[0] == 100.0
    assert np.array_equal(long["value"].to_numpy(), np.sin(np.arange(100.0, 20_100.0) / 100))
    assert str(frame["timestamp"].dtype).startswith("datetime64")

    msgpack_frame = SeriesTable.from_msgpack(
        httpx.get(
            f"{served.url}/api/v1/projects/{PROJECT}/series",
            params={"path": "val/loss"},
            headers={"Authorization": f"Bearer {served.token}"},
        ).content
    ).to_pandas()
    assert len(msgpack_frame) == 12


def test_downsampled_series_keep_the_extremes(served: http_tests.Served, backend: HttpBackend) -> None:
    buckets = backend.series_buckets(PROJECT, "CAS-1", "long", buckets=100)
    assert not buckets.exact and buckets.count is not None and buckets.count.sum() == 30_000
    assert buckets.max_value is not None and buckets.max_value.max() == pytest.approx(1.0, abs=1e-4)
    zoomed = backend.series_buckets(PROJECT, "CAS-1", "long", buckets=100, step_range=(1000.0, 1049.0))
    assert zoomed.exact and zoomed.points is not None and len(zoomed.points.steps) == 50
    assert backend.series_buckets(PROJECT, "CAS-1", "nothing", buckets=10).exact
    refused = httpx.get(
        f"{served.url}/api/v1/projects/{PROJECT}/runs/CAS-1/series/buckets",
        params={"path": "phase"},
        headers={"Authorization": f"Bearer {served.token}"},
    )
    assert refused.status_code == 422 and "only float series" in refused.json()["detail"]


def test_one_series_comes_as_the_line_a_chart_draws(served: http_tests.Served, backend: HttpBackend) -> None:
    import msgpack

    def line(**params: object) -> dict[str, Any]:
        answer = httpx.get(
            f"{served.url}/api/v1/projects/{PROJECT}/runs/CAS-1/series/buckets",
            params={"path": "long", "buckets": 100, "form": "line", **params},
            headers={"Authorization": f"Bearer {served.token}"},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = msgpack.unpackb(answer.content, raw=False)
        return body

    drawn = line()
    x, y = (np.frombuffer(drawn[k], "<f8") for k in ("x", "y"))
    assert drawn["exact"] is False and drawn["total"] == 30_000 and "count" not in drawn
    assert np.all(np.diff(x) > 0) and len(x) <= 4 * 100
    assert y.max() == pytest.approx(1.0, abs=1e-4)  # the largest point survives, as in the buckets
    timed = line(timestamps=True)
    assert len(np.frombuffer(timed["t"], "<f8")) == len(np.frombuffer(timed["x"], "<f8"))
    zoomed = line(step_min=1000.0, step_max=1049.0)  # few points: exact, in either form
    assert zoomed["exact"] is True and len(np.frombuffer(zoomed["steps"], "<f8")) == 50


def test_the_client_reads_the_same_over_http_and_locally(
    served: http_tests.Served, backend: HttpBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESPINA_URL", served.url)
    monkeypatch.setenv("DESPINA_API_TOKEN", served.token)
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "client-home"))
    project = despina.init_project(PROJECT)
    table = project.fetch_runs_table("val/loss < 0.3", columns=["parameters/lr", "seed"], sort_by="seed")
    frame = table.to_pandas()
    assert list(frame["sys/id"]) == ["CAS-6", "CAS-5", "CAS-3", "CAS-2"]  # seed, descending
    assert frame["seed"].dtype == "int64" and frame["parameters/lr"].dtype == "float64"
    series = project.fetch_series("val/loss", "seed < 2")
    assert isinstance(series, pd.DataFrame) and list(series["run"].unique()) == ["CAS-1", "CAS-2"]
    run = despina.init_run(with_id="CAS-1", project=PROJECT, mode="read-only")
    try:
        values = run["long"].fetch_values(step_range=(0, 9))
        assert list(values["step"]) == list(np.arange(10.0))
        assert list(run["phase"].fetch_values()["value"]) == ["warmup", "main"]
    finally:
        run.stop()


def test_runs_moved_to_the_trash_leave_the_clients_tables_as_they_leave_the_ui(
    served: http_tests.Served, backend: HttpBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import despina.compat.neptune as neptune

    monkeypatch.setenv("DESPINA_URL", served.url)
    monkeypatch.setenv("DESPINA_API_TOKEN", served.token)
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "client-home"))
    trashed = httpx.post(
        f"{served.url}/api/v1/projects/{PROJECT}/runs/trash",
        json={"run_ids": ["CAS-2", "CAS-5"]},
        headers={"Authorization": f"Bearer {served.token}"},
    )
    assert trashed.json() == {"updated": 2}

    project = despina.init_project(PROJECT)

    def ids(**kwargs: Any) -> list[str]:
        return sorted(project.fetch_runs_table(**kwargs).to_pandas()["sys/id"])

    assert ids() == ["CAS-1", "CAS-3", "CAS-4", "CAS-6"]
    assert ids(trashed=True) == ["CAS-2", "CAS-5"]
    assert len(ids(trashed=None)) == 6
    assert ids(query="seed >= 4") == ["CAS-6"]  # the query and the trash together
    assert ids(query="seed >= 4", trashed=True) == ["CAS-5"]

    # Neptune's own argument, with Neptune's meaning.
    old = neptune.init_project(project=PROJECT, mode="read-only")
    assert sorted(old.fetch_runs_table().to_pandas()["sys/id"]) == ["CAS-1", "CAS-3", "CAS-4", "CAS-6"]
    assert sorted(old.fetch_runs_table(trashed=True).to_pandas()["sys/id"]) == ["CAS-2", "CAS-5"]
    assert len(old.fetch_runs_table(trashed=None).to_pandas()) == 6
