"""`despina demo --script` trains, logs and prints a finished run (the Kedro demo: test_kedro.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import despina


@pytest.mark.slow
def test_demo_logs_a_complete_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "DESPINA_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("DESPINA_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "despina.cli.main", "demo", "--script", "--epochs", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    for shown in ("parameters/alpha", "train/accuracy", "val/confusion_matrix", "model/weights", "finished"):
        assert shown in result.stdout

    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    run = despina.init_run(project="demo/wine", with_id="WIN-1", mode="read-only")
    assert run["sys/state"].fetch() == "finished"
    assert len(run["val/accuracy"].fetch_values()) == 5
    assert run["parameters/epochs"].fetch() == 5
    picture = run["val/confusion_matrix"].download(tmp_path / "cm.png")
    assert picture.read_bytes().startswith(b"\x89PNG")
    weights = run["model/weights"].download(tmp_path / "model.pkl")
    assert weights.stat().st_size > 100
