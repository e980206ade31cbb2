"""Fixtures of the Neptune-compatibility corpus: a fresh DESPINA_HOME per test, and a way to run the
corpus scripts (tests/compat/scripts/) as a user would, in a subprocess with NEPTUNE_* variables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from neptune_corpus import SCRIPTS, RunScript

# A Neptune API token of the usual shape (base64 of {"api_address": ...}): accepted, and not needed.
NEPTUNE_TOKEN = "eyJhcGlfYWRkcmVzcyI6Imh0dHBzOi8vYXBwLm5lcHR1bmUuYWkiLCJhcGlfa2V5IjoiZmFrZSJ9"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """DESPINA_HOME in tmp_path, the working directory there, and no DESPINA_*/NEPTUNE_* settings
    leaking in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("DESPINA_", "NEPTUNE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DESPINA_USER", "tester")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def run_script(tmp_path: Path) -> RunScript:
    """Run `scripts/<name>` with `python`, in tmp_path, with the test's environment plus `env`; fail
    the test (showing its output) unless it exits 0. Returns the finished process."""

    def run(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "MPLBACKEND": "Agg", "NEPTUNE_API_TOKEN": NEPTUNE_TOKEN, **(env or {})}
        result = subprocess.run(
            [sys.executable, str(SCRIPTS / name), *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return result

    return run
