"""A server killed (SIGKILL, no shutdown) in the middle of ingest, then started again: the run ends
up with every point exactly once, on SQLite and on PostgreSQL.

The client is the real thing: an offline run's journal sent by `despina sync` processes, the first of
which loses its server mid-way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from server_harness import ServerProcess

from despina.backends.http import HttpBackend
from despina.exceptions import DespinaError
from despina.server.app import open_state
from despina.server.settings import ServerSettings

PROJECT = "team/restart"
POINTS = 1_000_000

LOG_OFFLINE_RUN = f"""
import despina
run = despina.init_run(project={PROJECT!r}, mode="offline")
series = run["train/loss"]
for i in range({POINTS}):
    series.append(i * 0.5, step=i)
run["f1_score"] = 0.75
run.stop()
"""


def _despina(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "despina.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _kill_and_restart_during_sync(db_url: str, tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    state = open_state(ServerSettings(db_url=db_url, blobs_url=str(blobs), upgrade_database=True))
    state.access.create_user("sophia", "long enough password", admin=True)
    token, _ = state.access.create_token("sophia", "restart", None)
    state.close()
    server = ServerProcess(db_url, str(blobs)).start()
    env = {
        **os.environ,
        "DESPINA_HOME": str(tmp_path / "client"),
        "DESPINA_URL": server.url,
        "DESPINA_API_TOKEN": token,
    }
    subprocess.run([sys.executable, "-c", LOG_OFFLINE_RUN], env=env, check=True)
    backend = HttpBackend(server.url, token, retries=0)
    try:
        sync = _despina("sync", env=env)
        # Kill the server once the run exists and the first batch is in: the next one is in flight.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if backend.runs_table(PROJECT) and backend.series(PROJECT, "RES-1", "train/loss").steps.size:
                    break
            except DespinaError:
                pass
            time.sleep(0.02)
        server.kill()
        output = sync.communicate(timeout=120)[0].decode()
        assert sync.returncode != 0 or "cannot reach" in output, output  # the sync saw the server go

        server.start()  # the same port and data
        again = _despina("sync", env=env)
        output = again.communicate(timeout=300)[0].decode()
        assert again.returncode == 0, output

        data = backend.series(PROJECT, "RES-1", "train/loss")
        assert data.steps.size == POINTS  # nothing lost, nothing twice
        assert np.array_equal(data.steps, np.arange(POINTS, dtype=np.float64))
        assert np.array_equal(data.values, np.arange(POINTS) * 0.5)
        assert backend.fields(PROJECT, "RES-1")["f1_score"].value == 0.75
        assert [row["sys/id"].value for row in backend.runs_table(PROJECT)] == ["RES-1"]  # one run, not two
    finally:
        backend.close()
        server.stop()


@pytest.mark.slow
def test_a_killed_sqlite_server_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    _kill_and_restart_during_sync(f"sqlite:///{tmp_path / 'server.db'}", tmp_path)


@pytest.mark.slow
def test_a_killed_postgres_server_loses_and_duplicates_nothing(postgres_db_url: str, tmp_path: Path) -> None:
    _kill_and_restart_during_sync(postgres_db_url, tmp_path)
