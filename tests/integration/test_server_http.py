"""The tracking server over real HTTP: the Store contract, the client through DESPINA_URL, outages,
resumable uploads and input limits.

Each test gets its own server (uvicorn in a thread, on a free port) over its own SQLite database and
blob folder; the PostgreSQL variant of the conformance suite uses a fresh database per test.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgpack
import numpy as np
import pytest
from click.testing import CliRunner
from server_harness import HttpStore, ServerThread
from store_conformance import StoreConformance

import despina
from despina.backends.http import HttpBackend
from despina.cli.main import cli
from despina.client import field_types as ft
from despina.client.codec import encode_batch
from despina.client.journal import list_journals
from despina.client.operations import AppendPoints
from despina.client.sync import journal_status
from despina.exceptions import ServerUnavailableError
from despina.server.app import create_app, open_state
from despina.server.auth.principal import Role
from despina.server.settings import Limits, ServerSettings
from despina.server.state import ServerState
from despina.store.base import RunCreate

PROJECT = "team/cassava"


@dataclass
class Served:
    url: str
    token: str
    state: ServerState
    thread: ServerThread


def _settings(db_url: str, blobs: Path, **overrides: object) -> ServerSettings:
    return ServerSettings(
        db_url=db_url,
        blobs_url=str(blobs),
        secure_cookies=False,
        upgrade_database=True,
        **overrides,  # type: ignore[arg-type]
    )


def serve(db_url: str, blobs: Path, **overrides: object) -> Iterator[Served]:
    settings = _settings(db_url, blobs, **overrides)
    state = open_state(settings)
    state.access.create_user("sophia", "correct horse battery", admin=True)
    token, _ = state.access.create_token("sophia", "tests", None)
    thread = ServerThread(create_app(settings, state)).start()
    try:
        yield Served(thread.url, token, state, thread)
    finally:
        thread.stop()
        state.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-blobs")


# -- the Store contract over HTTP ------------------------------------------------------------------


class TestHttpStoreOnSqlite(StoreConformance):
    @pytest.fixture
    def store(self, served: Served, tmp_path: Path) -> Iterator[HttpStore]:
        store = HttpStore(HttpBackend(served.url, served.token), tmp_path / "staging")
        yield store
        store.close()


class TestHttpStoreOnPostgres(StoreConformance):
    @pytest.fixture
    def store(self, postgres_db_url: str, tmp_path: Path) -> Iterator[HttpStore]:
        for served in serve(postgres_db_url, tmp_path / "server-blobs"):
            store = HttpStore(HttpBackend(served.url, served.token), tmp_path / "staging")
            yield store
            store.close()


# -- the client through DESPINA_URL ----------------------------------------------------------------


@pytest.fixture
def client_env(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A laptop pointed at the server with the token of li, a contributor of the project."""
    served.state.access.create_user("li", "another long password")
    served.state.access.grant_role(PROJECT, "li", Role.CONTRIBUTOR)
    token, _ = served.state.access.create_token("li", "laptop", None)
    home = tmp_path / "client-home"
    monkeypatch.setenv("DESPINA_HOME", str(home))
    monkeypatch.setenv("DESPINA_URL", served.url)
    monkeypatch.setenv("DESPINA_API_TOKEN", token)
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    return home


def test_a_run_logged_through_the_server_reads_back_exactly(
    served: Served, client_env: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(3 << 20))
    run = despina.init_run(name="resnet-1", tags=["baseline"])
    run["parameters"] = {"lr": 0.001, "optimizer": "Adam", "epochs": 3}
    losses = np.linspace(1.0, 0.1, 5000)
    losses[17] = float("nan")
    for loss in losses:
        run["train/loss"].append(float(loss))
    run["f1_score"] = 0.66
    run["model/weights"].upload(str(weights))
    run_id = run["sys/id"].fetch()
    run.stop()

    again = despina.init_run(with_id=run_id, mode="read-only")
    assert again["parameters/optimizer"].fetch() == "Adam"
    assert again["f1_score"].fetch() == 0.66
    assert again["sys/name"].fetch() == "resnet-1"
    assert again["sys/owner"].fetch() == "li"  # the token's user, not the laptop's login
    values = again["train/loss"].fetch_values()
    assert np.array_equal(values["value"].to_numpy(), losses, equal_nan=True)
    target = tmp_path / "downloaded.bin"
    again["model/weights"].download(str(target))
    assert target.read_bytes() == weights.read_bytes()
    again.stop()
    # Nothing waits in the journal any more.
    assert not any((client_env / "journal").glob("*/segment-*"))


@pytest.mark.filterwarnings("ignore:Despina could not apply:despina.DespinaWarning")
def test_a_server_outage_never_stops_training_and_loses_nothing(served: Served, client_env: Path) -> None:
    run = despina.init_run()
    run_id = run["sys/id"].fetch()
    for i in range(100):
        run["train/acc"].append(i / 100)
    run.wait()
    served.thread.stop()  # the server goes away in the middle of training

    started = time.monotonic()
    for i in range(100, 1000):  # never raises, never waits for the server
        run["train/acc"].append(i / 1000)
    run["f1_score"] = 0.5
    run.stop(seconds=1)
    assert time.monotonic() - started < 20
    waiting = [status for status in (journal_status(f) for f in list_journals(client_env)) if status.pending]
    assert len(waiting) == 1  # the rest of the run waits on disk

    back = ServerThread(create_app(served.state.settings, served.state), port=served.thread.port).start()
    try:
        result = CliRunner().invoke(cli, ["sync"])
        assert result.exit_code == 0, result.output
        reader = despina.init_run(with_id=run_id, mode="read-only")
        steps = reader["train/acc"].fetch_values()["step"].to_numpy()
        assert len(steps) == 1000 and len(set(steps)) == 1000  # nothing lost, nothing twice
        assert reader["f1_score"].fetch() == 0.5
        reader.stop()
    finally:
        back.stop()


# -- uploads ---------------------------------------------------------------------------------------


class _BreaksAfter(httpx.HTTPTransport):
    """A connection that breaks for good after `parts` part uploads got through."""

    def __init__(self, parts: int) -> None:
        super().__init__()
        self.parts_left = parts
        self.part_puts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and "/parts/" in request.url.path:
            if self.parts_left == 0:
                raise httpx.ConnectError("connection reset by peer", request=request)
            self.parts_left -= 1
            self.part_puts.append(request.url.path.rsplit("/", 1)[-1])
        return super().handle_request(request)


def test_a_large_upload_resumes_with_the_parts_that_are_missing(served: Served, tmp_path: Path) -> None:
    backend = HttpBackend(served.url, served.token)
    backend.create_run(RunCreate(project=PROJECT, owner="sophia"))
    content = os.urandom(20 << 20)  # three 8 MiB parts
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()

    broken = _BreaksAfter(parts=2)
    flaky = HttpBackend(served.url, served.token, transport=broken, retries=1)
    with pytest.raises(ServerUnavailableError, match="cannot reach"):
        flaky.upload_blob(PROJECT, source, sha)
    assert broken.part_puts == ["0", "1"]

    resumed = _BreaksAfter(parts=100)
    HttpBackend(served.url, served.token, transport=resumed).upload_blob(PROJECT, source, sha)
    assert resumed.part_puts == ["2"]  # only what had not arrived
    with backend.open_blob(PROJECT, sha) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == sha


def test_an_upload_whose_content_does_not_match_its_hash_is_refused(served: Served) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    base = f"{served.url}/api/v1/projects/team/cassava/uploads"
    claimed = hashlib.sha256(b"what I say").hexdigest()
    status = httpx.post(base, json={"sha256": claimed, "size": 9}, headers=headers).json()
    upload = f"{base}/{status['upload_id']}"
    assert httpx.put(f"{upload}/parts/0", content=b"what I do", headers=headers).status_code == 200
    answer = httpx.post(f"{upload}/complete", json={"sha256": claimed}, headers=headers)
    assert answer.status_code == 422 and "does not match" in answer.json()["detail"]
    download = httpx.get(f"{served.url}/api/v1/projects/team/cassava/blobs/{claimed}", headers=headers)
    assert download.status_code == 404


def test_a_file_of_another_project_is_not_readable_by_its_hash(served: Served, tmp_path: Path) -> None:
    backend = HttpBackend(served.url, served.token)
    source = tmp_path / "secret.bin"
    source.write_bytes(b"secret weights")
    sha = hashlib.sha256(b"secret weights").hexdigest()
    backend.upload_blob("team/secret", source, sha)
    with backend.open_blob("team/secret", sha) as stream:
        assert stream.read() == b"secret weights"
    answer = httpx.get(
        f"{served.url}/api/v1/projects/team/other/blobs/{sha}",
        headers={"Authorization": f"Bearer {served.token}"},
    )
    assert answer.status_code == 404


# -- limits and bad input ---------------------------------------------------------------------------


def _ingest(served: Served, run_id: str, batch: bytes, **envelope: object) -> httpx.Response:
    body = msgpack.packb({"writer_id": "w-1", "last_seq": 0, "batch": batch, **envelope}, use_bin_type=True)
    return httpx.post(
        f"{served.url}/api/v1/projects/team/cassava/runs/{run_id}/ingest",
        content=body,
        headers={"Authorization": f"Bearer {served.token}", "Content-Type": "application/msgpack"},
    )


def test_inputs_over_a_limit_are_refused_with_the_limit_named(tmp_path: Path) -> None:
    limits = Limits(max_path_length=64, max_string_bytes=100, max_batch_bytes=10_000, max_part_bytes=1000)
    for served in serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs", limits=limits):
        run, _ = HttpBackend(served.url, served.token).create_run(RunCreate(project=PROJECT, owner="x"))
        from despina.client.operations import AssignAtom

        long_path = _ingest(served, run.id, encode_batch([(0, AssignAtom("a/" + "b" * 80, ft.FLOAT, 1.0))]))
        assert long_path.status_code == 413 and "limit of 64" in long_path.json()["detail"]
        long_string = _ingest(served, run.id, encode_batch([(0, AssignAtom("notes", ft.STRING, "x" * 101))]))
        assert long_string.status_code == 413 and "100 bytes" in long_string.json()["detail"]
        steps = np.arange(2000, dtype=np.float64)
        big = encode_batch([(0, AppendPoints("loss", ft.FLOAT_SERIES, steps, steps, steps))])
        too_big = _ingest(served, run.id, big)
        assert too_big.status_code == 413 and "10000 bytes" in too_big.json()["detail"]
        garbage = _ingest(served, run.id, b"\x00not a batch")
        assert garbage.status_code == 422 and "not a valid batch" in garbage.json()["detail"]
        bad_writer = _ingest(served, run.id, encode_batch([]), writer_id="../../etc")
        assert bad_writer.status_code == 422
        headers = {"Authorization": f"Bearer {served.token}"}
        for escape in ("..%2F..%2Fetc%2Fpasswd", "..", "a" * 40 + "%2F.."):
            answer = httpx.put(
                f"{served.url}/api/v1/projects/team/cassava/uploads/{escape}/parts/0",
                content=b"x",
                headers=headers,
            )
            assert 400 <= answer.status_code < 500, escape  # refused, whatever route it resolves to
        assert not any(p.name == "passwd" for p in tmp_path.rglob("passwd"))


def test_health_readiness_and_the_api_schema(served: Served) -> None:
    assert httpx.get(f"{served.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{served.url}/ready").json() == {"status": "ready"}
    schema = httpx.get(f"{served.url}/openapi.json").json()
    assert "/api/v1/projects/{workspace}/{project}/runs/{run_id}/ingest" in schema["paths"]
    assert httpx.get(f"{served.url}/docs").status_code == 200


def test_requests_without_a_token_are_refused(served: Served) -> None:
    answer = httpx.get(f"{served.url}/api/v1/projects")
    assert answer.status_code == 401
    assert "DESPINA_API_TOKEN" in answer.json()["detail"]


@pytest.mark.filterwarnings("ignore:.*cannot reach the Despina server:despina.DespinaWarning")
def test_training_starts_while_the_server_is_down_and_the_run_appears_when_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for served in serve(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-blobs"):
        served.thread.stop()  # the server is down when the script starts
        monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "client-home"))
        monkeypatch.setenv("DESPINA_URL", served.url)
        monkeypatch.setenv("DESPINA_API_TOKEN", served.token)
        with pytest.warns(despina.DespinaWarning, match="training goes on"):
            run = despina.init_run(project=PROJECT, name="started offline")
        for i in range(500):
            run["train/loss"].append(1.0 / (i + 1))
        back = ServerThread(create_app(served.state.settings, served.state), port=served.thread.port).start()
        try:
            deadline = time.monotonic() + 60
            while run._sender is None and time.monotonic() < deadline:  # the run is created in the background
                time.sleep(0.1)
            for i in range(500, 1000):
                run["train/loss"].append(1.0 / (i + 1))
            run.stop()
            (row,) = HttpBackend(served.url, served.token).runs_table(PROJECT)
            assert row["sys/name"].value == "started offline"
            assert row["train/loss"].value.count == 1000
            assert not list((tmp_path / "client-home" / "journal").glob("*"))  # all sent
        finally:
            back.stop()


def test_every_request_is_logged_as_one_json_line(served: Served) -> None:
    import io
    import json
    import logging

    from despina.server.access_log import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("despina.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        httpx.get(f"{served.url}/api/v1/projects", headers={"Authorization": f"Bearer {served.token}"})
        httpx.get(f"{served.url}/api/v1/projects/team/nothing/runs")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ok, refused = (line for line in lines if line["event"] == "request")
    assert (ok["method"], ok["path"], ok["status"], ok["user"]) == ("GET", "/api/v1/projects", 200, "sophia")
    assert (refused["status"], refused["user"]) == (401, None)
    assert ok["duration_ms"] >= 0
