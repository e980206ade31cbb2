"""Fixtures for the training-framework integration tests: each test in its own DESPINA_HOME, a light run
(no console or hardware capture), and a way to read a run back as a dashboard would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import despina

PROJECT = "team/frameworks"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for name in ("MODE", "CUSTOM_RUN_ID", "URL", "STOP_TIMEOUT"):
        monkeypatch.delenv(f"DESPINA_{name}", raising=False)
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    return tmp_path


def light_run(**kwargs: object) -> despina.Run:
    """A run without console or hardware capture: the tests read only what the integration logged."""
    return despina.init_run(
        project=PROJECT,
        capture_stdout=False,
        capture_stderr=False,
        capture_hardware_metrics=False,
        source_files=[],
        git_ref=False,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def run() -> Iterator[despina.Run]:
    run = light_run()
    yield run
    run.stop()


def reopen(run: despina.Run) -> despina.Run:
    """Stop `run` and open it again read-only: what a dashboard sees."""
    run.stop()
    assert run.id is not None
    return despina.init_run(project=PROJECT, with_id=run.id, mode="read-only")


def series(run: despina.Run, path: str) -> list[tuple[float, float]]:
    """A float series as (step, value) pairs."""
    frame = run[path].fetch_values()
    return [(float(s), float(v)) for s, v in zip(frame["step"], frame["value"], strict=True)]


def text_of(run: despina.Run, path: str, tmp_path: Path) -> str:
    return run[path].download(tmp_path / "downloads" / path.replace("/", "_")).read_text("utf-8")
