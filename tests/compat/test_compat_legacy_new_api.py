"""Corpus: pre-1.0 code (`import neptune.new as neptune`, `neptune.init(...)`, `.log()`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from neptune_corpus import RunScript, read_run, run_ids

PROJECT = "team/legacy"


def test_neptune_new_script_logs_with_init_and_log(run_script: RunScript, tmp_path: Path) -> None:
    run_script("legacy_new_api.py")  # the project is in the script; no NEPTUNE_PROJECT

    assert run_ids(PROJECT) == ["LEG-1"]
    run = read_run(PROJECT, "LEG-1")
    assert run["sys/name"].fetch() == "legacy-api"
    assert run["sys/tags"].fetch() == {"neptune.new"}
    assert run["parameters"].fetch() == {"batch_size": 32, "dropout": 0.25, "lr": 0.005, "epochs": 5}
    loss = run["train/loss"].fetch_values()
    assert loss["step"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert loss["value"].tolist() == pytest.approx([0.7**n for n in range(1, 6)])
    assert run["train/epoch"].fetch_values()["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # log() of a list logs each item (Neptune 0.x's multi-value log)
    assert run["train/notes"].fetch_values()["value"].tolist() == ["warm-up done", "lr decayed"]
    assert run["artifacts/readme"].download(tmp_path / "README.md").read_text() == "# legacy run\n"
