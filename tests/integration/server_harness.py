"""Real Despina servers for tests: the app under uvicorn in a thread, or `despina server` in a process.

- `ServerThread(app)`: serves an app on a free port of 127.0.0.1 until `stop()`; fast, for most tests.
- `ServerProcess(...)`: `despina server` as a child process, for tests that kill it (`kill()`) and start
  it again on the same port and data.
- `HttpStore`: the `Store` contract through `HttpBackend`, so the conformance suite runs over HTTP.
- `server_with_user(folder, username, ...)`: a fresh server with one user and a token of theirs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import uvicorn
from fastapi import FastAPI

from despina.backends.http import HttpBackend
from despina.client.operations import Operation, referenced_files
from despina.server.app import create_app, open_state
from despina.server.auth.principal import Role
from despina.server.settings import ServerSettings
from despina.server.state import ServerState
from despina.store.base import FieldValue, IngestResult, RunCreate, RunInfo, SeriesData, Store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it answered")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no server answered at {url} within {timeout}s")


class ServerThread:
    """An app served by uvicorn in a daemon thread."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="despina-test-server", daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        wait_until_up(self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


class ServerProcess:
    """`despina server` in a child process (killable for crash tests)."""

    def __init__(self, db_url: str, blobs_url: str, port: int | None = None, workers: int = 1) -> None:
        self.db_url, self.blobs_url, self.workers = db_url, blobs_url, workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        despina = shutil.which("despina", path=str(Path(sys.executable).parent)) or "despina"
        self.process = subprocess.Popen(
            [
                despina,
                "server",
                "--db",
                self.db_url,
                "--blobs",
                self.blobs_url,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--insecure-cookies",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ},
            start_new_session=True,
        )
        wait_until_up(self.url, process=self.process)
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handlers run, as in a crash or OOM kill."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class HttpStore(Store):
    """The Store contract over HTTP, for the conformance suite.

    Blobs are project-scoped on a server, while `Store.put_blob` names no project: content put here is
    staged in a folder and uploaded with the first batch that refers to it (as the client's journal
    does), and `open_blob` reads it through a project whose runs referred to it.
    """

    def __init__(self, backend: HttpBackend, staging: Path) -> None:
        self.backend = backend
        self.staging = staging
        staging.mkdir(parents=True, exist_ok=True)
        self._blob_projects: dict[str, str] = {}

    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        return self.backend.create_run(request)

    def get_run(self, project: str, run_id: str) -> RunInfo:
        return self.backend.get_run(project, run_id)

    def ingest(
        self, project: str, run_id: str, writer_id: str, items: Sequence[tuple[int, Operation]], last_seq: int
    ) -> IngestResult:
        for _, op in items:
            for ref in referenced_files(op):
                self._blob_projects.setdefault(ref.sha256, project)
        return self.backend.ingest(project, run_id, writer_id, items, last_seq, self.staging)

    def applied_seq(self, project: str, run_id: str, writer_id: str) -> int:
        return self.backend.applied_seq(project, run_id, writer_id)

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]:
        return self.backend.fields(project, run_id, prefix)

    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData:
        return self.backend.series(project, run_id, path, step_range)

    def runs_table(self, project: str, **filters: Any) -> list[dict[str, Any]]:
        return self.backend.runs_table(project, **filters)

    def put_blob(self, source: Path, sha256: str) -> None:
        target = self.staging / sha256
        if not target.exists():
            shutil.copyfile(source, target)

    def has_blob(self, sha256: str) -> bool:
        return (self.staging / sha256).exists()

    def open_blob(self, sha256: str) -> BinaryIO:
        return self.backend.open_blob(self._blob_projects[sha256], sha256)

    def list_projects(self) -> list[str]:
        return self.backend.list_projects()

    def delete_runs(self, project: str, run_ids: Sequence[str]) -> int:
        return self.backend.delete_runs(project, run_ids)

    def close(self) -> None:
        self.backend.close()


@contextmanager
def server_with_user(
    folder: Path, username: str, *, admin: bool = False, contributes_to: Sequence[str] = ()
) -> Iterator[tuple[str, str, ServerState]]:
    """A server over a new SQLite database and blob folder in `folder`, with one user (a server admin,
    or a contributor to the projects named) and an API token of theirs: (url, token, state)."""
    settings = ServerSettings(
        db_url=f"sqlite:///{folder / 'server.db'}",
        blobs_url=str(folder / "server-blobs"),
        secure_cookies=False,
        upgrade_database=True,
    )
    state = open_state(settings)
    state.access.create_user(username, "a long enough password", admin=admin)
    for project in contributes_to:
        state.access.grant_role(project, username, Role.CONTRIBUTOR)
    token, _ = state.access.create_token(username, "tests", None)
    thread = ServerThread(create_app(settings, state)).start()
    try:
        yield thread.url, token, state
    finally:
        thread.stop()
        state.close()
