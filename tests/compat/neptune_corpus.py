"""Helpers of the Neptune-compatibility tests: read back what a corpus script stored, with the native
API only (the compatibility layer is what is under test)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import despina

SCRIPTS = Path(__file__).resolve().parent / "scripts"
# run_script(name, *args, env=...) -> the finished process (see conftest.py)
RunScript = Callable[..., subprocess.CompletedProcess[str]]


def run_ids(project: str) -> list[str]:
    """The ids of a project's runs, oldest first (read with the native API)."""
    table = despina.init_project(project).fetch_runs_table(sort_by="sys/creation_time", ascending=True)
    return [str(row["sys/id"]) for row in table.to_rows()]


def read_run(project: str, run_id: str) -> despina.Run:
    """A run opened read-only with the native API: what was stored, as a dashboard would see it."""
    return despina.init_run(project=project, with_id=run_id, mode="read-only")
