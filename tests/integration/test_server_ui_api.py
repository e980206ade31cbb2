"""The endpoints the web UI edits and watches through: rename, tags in bulk, trash and restore, saved
views, the project change feed and a run's live stream (server-sent events)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from server_harness import ServerThread

from despina.backends.http import HttpBackend
from despina.client import field_types as ft
from despina.client.operations import AppendPoints
from despina.server.app import create_app, open_state
from despina.server.routers import live
from despina.server.settings import ServerSettings
from despina.store.base import RunCreate

PROJECT = "team/cassava"
API = f"/api/v1/projects/{PROJECT}"


class Server:
    def __init__(self, tmp_path: Path) -> None:
        settings = ServerSettings(
            db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
            blobs_url=str(tmp_path / "blobs"),
            secure_cookies=False,
            upgrade_database=True,
        )
        self.state = open_state(settings)
        self.state.access.create_user("sophia", "long enough password", admin=True)
        token, _ = self.state.access.create_token("sophia", "ui", None)
        self.thread = ServerThread(create_app(settings, self.state)).start()
        self.http = httpx.Client(base_url=self.thread.url, headers={"Authorization": f"Bearer {token}"})
        self.backend = HttpBackend(self.thread.url, token)

    def run(self, name: str) -> str:
        info, _ = self.backend.create_run(RunCreate(project=PROJECT, owner="x", name=name))
        return info.id

    def points(self, run_id: str, writer: str, steps: list[float]) -> None:
        s = np.asarray(steps, dtype=np.float64)
        self.backend.ingest(
            PROJECT, run_id, writer, [(0, AppendPoints("loss", ft.FLOAT_SERIES, s, s, s * 2))], 0, Path(".")
        )

    def fields(self, run_id: str) -> dict[str, Any]:
        return {p: f.value for p, f in self.backend.fields(PROJECT, run_id).items()}

    def close(self) -> None:
        self.http.close()
        self.backend.close()
        self.thread.stop()
        self.state.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    yield server
    server.close()


def test_rename_and_describe_a_run(server: Server) -> None:
    run_id = server.run("first")
    answer = server.http.patch(f"{API}/runs/{run_id}", json={"name": "resnet-50", "description": "lr sweep"})
    assert answer.status_code == 200 and answer.json()["name"] == "resnet-50"
    assert server.fields(run_id)["sys/description"] == "lr sweep"
    assert server.http.patch(f"{API}/runs/{run_id}", json={}).status_code == 422


def test_tags_change_on_many_runs_at_once_and_all_or_nothing(server: Server) -> None:
    runs = [server.run(f"r{i}") for i in range(3)]
    assert server.http.post(f"{API}/runs/tags", json={"run_ids": runs, "add": ["baseline", "v2"]}).json() == {
        "updated": 3
    }
    server.http.post(f"{API}/runs/tags", json={"run_ids": runs[:2], "remove": ["v2"]})
    assert [server.fields(r)["sys/tags"] for r in runs] == [{"baseline"}, {"baseline"}, {"baseline", "v2"}]
    missing = server.http.post(f"{API}/runs/tags", json={"run_ids": [runs[0], "CAS-99"], "add": ["x"]})
    assert missing.status_code == 404
    assert server.fields(runs[0])["sys/tags"] == {"baseline"}  # nothing applied


def test_trash_and_restore(server: Server) -> None:
    run_id = server.run("doomed")
    server.http.post(f"{API}/runs/trash", json={"run_ids": [run_id]})
    assert server.fields(run_id)["sys/trashed"] is True
    server.http.post(f"{API}/runs/restore", json={"run_ids": [run_id]})
    assert server.fields(run_id)["sys/trashed"] is False


def test_saved_views_are_shared_replaced_by_name_and_deleted(server: Server) -> None:
    view = {"name": "best", "query": "f1 > 0.6", "columns": ["f1", "parameters/lr"], "sort_by": "f1"}
    first = server.http.post(f"{API}/views", json=view).json()
    again = server.http.post(f"{API}/views", json={**view, "query": "f1 > 0.7"}).json()
    (listed,) = server.http.get(f"{API}/views").json()
    assert listed["query"] == "f1 > 0.7" and listed["id"] == again["id"] == first["id"]
    assert listed["columns"] == ["f1", "parameters/lr"] and listed["owner"] == "sophia"
    assert server.http.delete(f"{API}/views/{again['id']}").status_code == 204
    assert server.http.get(f"{API}/views").json() == []
    assert server.http.delete(f"{API}/views/{again['id']}").status_code == 404


def test_the_change_feed_returns_only_what_changed_since_the_cursor(server: Server) -> None:
    a, b = server.run("a"), server.run("b")
    first = server.http.get(f"{API}/changes", params={"since": 0}).json()
    assert set(first["runs"]) == {a, b}
    quiet = server.http.get(f"{API}/changes", params={"since": first["cursor"]}).json()
    assert quiet["runs"] == []
    threading.Timer(0.5, lambda: server.points(b, "w", [0, 1])).start()
    started = time.monotonic()
    woke = server.http.get(f"{API}/changes", params={"since": first["cursor"], "wait": 10}, timeout=20).json()
    assert woke["runs"] == [b] and time.monotonic() - started < 5


def test_a_long_poll_stops_when_its_client_goes(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    polls: list[float] = []
    real = live._modified_since

    def counted(*args: Any) -> Any:
        polls.append(time.monotonic())
        return real(*args)

    monkeypatch.setattr(live, "_modified_since", counted)
    cursor = server.http.get(f"{API}/changes", params={"since": 0}).json()["cursor"]
    with pytest.raises(httpx.ReadTimeout):  # the client gives up after 1 s, closing its connection
        server.http.get(f"{API}/changes", params={"since": cursor, "wait": 20}, timeout=1)
    time.sleep(1.0)  # the server notices at its next poll, half a second on
    seen = len(polls)
    time.sleep(2.0)  # a poll still going would read four more times in this
    assert len(polls) == seen, f"{len(polls) - seen} reads after the client left"
    assert seen >= 3  # it did poll while the client waited


def test_a_live_stream_stops_when_its_client_goes(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = server.run("watched")
    reads: list[float] = []
    real = server.state.store.get_run

    def counted(*args: Any) -> Any:
        reads.append(time.monotonic())
        return real(*args)

    monkeypatch.setattr(server.state.store, "get_run", counted)
    with server.http.stream(
        "GET", f"{API}/runs/{run_id}/live", params={"seconds": 60}, timeout=30
    ) as response:
        assert response.status_code == 200
        time.sleep(1.5)  # the stream polls the run twice a second
    time.sleep(1.0)  # the server notices at its next poll
    seen = len(reads)
    time.sleep(2.0)
    assert len(reads) == seen, f"{len(reads) - seen} reads after the client left"
    assert seen >= 3


def _events(stream: Iterator[str]) -> Iterator[tuple[str, Any]]:
    kind = None
    for line in stream:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind is not None:
            yield kind, json.loads(line[6:])


def test_a_run_page_receives_only_new_points_as_they_arrive(server: Server) -> None:
    run_id = server.run("live")
    server.points(run_id, "w1", [0, 1, 2])
    params = {"path": "loss", "after": 2, "seconds": 20}
    with server.http.stream("GET", f"{API}/runs/{run_id}/live", params=params, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.iter_lines())
        kind, data = next(events)  # the run as it is now
        assert kind == "run" and data["fields"]["loss"]["value"]["$series"]["count"] == 3
        appended = time.monotonic()
        server.points(run_id, "w2", [3, 4])
        for kind, data in events:
            if kind == "points":
                assert data["path"] == "loss" and data["steps"] == [3.0, 4.0] and data["values"] == [6.0, 8.0]
                break
        assert time.monotonic() - appended < 2.5


def test_projects_show_run_counts_and_last_activity(server: Server) -> None:
    server.run("a")
    before = time.time()
    b = server.run("b")
    server.points(b, "w", [0, 1])
    (project,) = server.http.get("/api/v1/projects").json()
    assert project["name"] == PROJECT and project["run_count"] == 2
    assert project["last_activity"] >= before - 1


def test_the_field_paths_of_a_project_for_column_pickers(server: Server) -> None:
    a, b = server.run("a"), server.run("b")
    server.points(a, "w", [0, 1])
    server.http.post(f"{API}/runs/tags", json={"run_ids": [b], "add": ["best"]})
    paths = {p["path"]: p for p in server.http.get(f"{API}/paths").json()}
    assert paths["loss"]["type"] == "floatSeries" and paths["loss"]["runs"] == 1
    assert paths["sys/tags"]["type"] == "stringSet" and paths["sys/id"]["runs"] == 2
    only_sys = server.http.get(f"{API}/paths", params={"prefix": "sys/"}).json()
    assert only_sys and all(p["path"].startswith("sys/") for p in only_sys)


def test_one_request_downsamples_every_line_of_a_compare_chart(server: Server) -> None:
    import msgpack

    runs = [server.run(f"r{i}") for i in range(3)]
    for i, run_id in enumerate(runs[:2]):
        server.points(run_id, "w", [float(s) for s in range(100 * (i + 1))])
    answer = server.http.get(
        f"{API}/series/buckets", params={"run_id": [*runs, "CAS-99"], "path": ["loss"], "buckets": 50}
    )
    lines = msgpack.unpackb(answer.content, raw=False)
    assert [line["run_id"] for line in lines] == [*runs, "CAS-99"]
    first, second, not_logged, unknown = lines
    assert first["exact"] is False and np.frombuffer(first["count"], "<i8").sum() == 100
    assert np.frombuffer(second["max_value"], "<f8").max() == 199 * 2  # the largest point survives
    assert not_logged["exact"] is True and not_logged["steps"] == b""
    assert "CAS-99" in unknown["error"]  # the other lines still draw

    # The same lines as the chart draws them (what the compare page asks for).
    drawn = msgpack.unpackb(
        server.http.get(
            f"{API}/series/buckets",
            params={"run_id": [*runs, "CAS-99"], "path": ["loss"], "buckets": 50, "form": "line"},
        ).content,
        raw=False,
    )
    first, second, not_logged, unknown = drawn
    x, y = np.frombuffer(second["x"], "<f8"), np.frombuffer(second["y"], "<f8")
    assert second["total"] == 200 and "count" not in second
    assert np.all(np.diff(x) > 0) and y.max() == 199 * 2 and np.array_equal(y, x * 2)
    assert first["total"] == 100
    assert not_logged["exact"] is True and "CAS-99" in unknown["error"]


def test_an_imported_runs_times_are_set_and_bad_ones_refused(server: Server) -> None:
    run_id = server.run("imported")
    times = {"creation_time": "2024-03-01T12:00:00+00:00", "modification_time": "2024-03-02T08:30:00+01:00"}
    assert server.http.put(f"{API}/runs/{run_id}/times", json=times).status_code == 204
    info = server.backend.get_run(PROJECT, run_id)
    assert info.creation_time == datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    assert info.modification_time == datetime(2024, 3, 2, 7, 30, tzinfo=timezone.utc)

    naive = server.http.put(f"{API}/runs/{run_id}/times", json={**times, "creation_time": "2024-03-01T12:00"})
    assert naive.status_code == 422 and "timezone" in naive.text
    backwards = {"creation_time": times["modification_time"], "modification_time": times["creation_time"]}
    answer = server.http.put(f"{API}/runs/{run_id}/times", json=backwards)
    assert answer.status_code == 422
    assert answer.json()["detail"] == "modification_time is before creation_time"
    assert server.http.put(f"{API}/runs/CAS-99/times", json=times).status_code == 404
    assert server.backend.get_run(PROJECT, run_id).creation_time == info.creation_time  # unchanged


def test_runs_in_the_trash_are_deleted_for_good_and_others_refused(server: Server) -> None:
    doomed, kept = server.run("doomed"), server.run("kept")
    refused = server.http.post(f"{API}/runs/delete", json={"run_ids": [doomed]})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail == f"{doomed} is not in the trash: only runs in the trash are deleted for good"
    server.http.post(f"{API}/runs/trash", json={"run_ids": [doomed]})
    assert server.http.post(f"{API}/runs/delete", json={"run_ids": [doomed]}).json() == {"deleted": 1}
    assert server.http.get(f"{API}/runs/{doomed}").status_code == 404
    assert server.http.get(f"{API}/runs/{kept}").status_code == 200
