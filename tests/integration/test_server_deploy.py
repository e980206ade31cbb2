"""How the server is deployed: several processes over one PostgreSQL, blobs in an S3 bucket, and
`despina ui` on one person's home folder."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from server_harness import ServerProcess, ServerThread, free_port, wait_until_up

import despina
from despina.backends.http import HttpBackend
from despina.client import field_types as ft
from despina.client.operations import AppendPoints, AssignFile, FileRef
from despina.server.app import create_app, open_state
from despina.server.settings import ServerSettings
from despina.store.base import RunCreate

pytest_plugins = ["s3_server"]  # s3_blobs_url: a bucket on moto's standalone S3 server

PROJECT = "team/cassava"


def _admin_token(db_url: str, blobs: str) -> str:
    state = open_state(ServerSettings(db_url=db_url, blobs_url=blobs, upgrade_database=True))
    try:
        state.access.create_user("sophia", "long enough password", admin=True)
        token, _ = state.access.create_token("sophia", "deploy", None)
        return token
    finally:
        state.close()


@pytest.mark.slow
def test_two_server_processes_over_one_postgres_agree(postgres_db_url: str, tmp_path: Path) -> None:
    blobs = str(tmp_path / "blobs")
    token = _admin_token(postgres_db_url, blobs)
    first = ServerProcess(postgres_db_url, blobs).start()
    second = ServerProcess(postgres_db_url, blobs).start()
    a, b = HttpBackend(first.url, token), HttpBackend(second.url, token)
    try:
        # Runs created through both at once get distinct, consecutive numbers.
        def create(i: int) -> str:
            backend = a if i % 2 else b
            info, _ = backend.create_run(RunCreate(project=PROJECT, owner="x", name=f"r{i}"))
            return info.id

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(40)))
        assert sorted(ids, key=lambda s: int(s.split("-")[1])) == [f"CAS-{n}" for n in range(1, 41)]

        # One run written through both processes by two writers, read back through either.
        steps = np.arange(1000, dtype=np.float64)
        half = AppendPoints("loss", ft.FLOAT_SERIES, steps[:500], steps[:500], steps[:500])
        rest = AppendPoints("loss", ft.FLOAT_SERIES, steps[500:], steps[500:], steps[500:])
        a.ingest(PROJECT, "CAS-1", "writer-a", [(0, half)], 0, tmp_path)
        b.ingest(PROJECT, "CAS-1", "writer-b", [(0, rest)], 0, tmp_path)
        b.ingest(PROJECT, "CAS-1", "writer-b", [(0, rest)], 0, tmp_path)  # a replay: applied once
        for backend in (a, b):
            data = backend.series(PROJECT, "CAS-1", "loss")
            assert np.array_equal(data.steps, steps)
        assert len(a.runs_table(PROJECT)) == len(b.runs_table(PROJECT)) == 40
    finally:
        a.close()
        b.close()
        first.stop()
        second.stop()


def test_files_go_to_an_s3_bucket_and_come_back(s3_blobs_url: str, tmp_path: Path) -> None:
    settings = ServerSettings(
        db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        blobs_url=s3_blobs_url,
        secure_cookies=False,
        upgrade_database=True,
    )
    state = open_state(settings)
    state.access.create_user("sophia", "long enough password", admin=True)
    token, _ = state.access.create_token("sophia", "s3", None)
    thread = ServerThread(create_app(settings, state)).start()
    backend = HttpBackend(thread.url, token)
    try:
        content = os.urandom(9 << 20)  # two parts
        sha = hashlib.sha256(content).hexdigest()
        staged = tmp_path / "staged"
        staged.mkdir()
        (staged / sha).write_bytes(content)
        run, _ = backend.create_run(RunCreate(project=PROJECT, owner="x"))
        ref = FileRef(sha, len(content), "weights.pt", "pt", "application/octet-stream")
        backend.ingest(PROJECT, run.id, "w", [(0, AssignFile("model/weights", ref))], 0, staged)
        assert state.store.blobs.exists(sha)  # in the bucket
        with backend.open_blob(PROJECT, sha) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == sha
        assert httpx.get(f"{thread.url}/ready").json() == {"status": "ready"}
    finally:
        backend.close()
        thread.stop()
        state.close()


@pytest.mark.slow
def test_despina_ui_serves_a_home_folder_on_loopback_without_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(home))
    monkeypatch.delenv("DESPINA_URL", raising=False)
    with despina.init_run(project=PROJECT, name="local") as run:
        run["f1_score"] = 0.66
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "despina.cli.main", "ui", str(home), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # where it says where to look (its log level keeps the rest quiet)
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process=process)
        assert process.stderr is not None
        assert process.stderr.readline().strip() == f"Despina UI for {home} on {url}"
        (project,) = httpx.get(f"{url}/api/v1/projects").json()  # no token needed
        assert (project["name"], project["run_count"]) == (PROJECT, 1)
        rows = httpx.get(f"{url}/api/v1/projects/{PROJECT}/runs").json()
        assert rows[0]["f1_score"]["$field"]["value"] == 0.66
        with pytest.raises(httpx.TransportError):  # loopback only
            addresses = [a for a in _own_addresses() if not a.startswith("127.")]
            if not addresses:
                raise httpx.ConnectError("no other address on this machine")
            httpx.get(f"http://{addresses[0]}:{port}/health", timeout=2)
    finally:
        process.terminate()
        process.wait(10)


def _own_addresses() -> list[str]:
    import socket

    try:
        return list({info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)})
    except OSError:
        return []
