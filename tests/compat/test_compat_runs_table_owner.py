"""Corpus: fetch a project's runs table into pandas, filtered by owner (and state, tag, columns)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from neptune_corpus import RunScript

import despina

PROJECT = "team/tables"


def _log(
    monkeypatch: pytest.MonkeyPatch, owner: str, lr: float, f1: float, *, stop: bool = True
) -> despina.Run:
    monkeypatch.setenv("DESPINA_USER", owner)
    run = despina.init_run(
        project=PROJECT,
        tags=["baseline"] if lr < 0.01 else ["tuned"],
        capture_stdout=False,
        capture_stderr=False,
        capture_hardware_metrics=False,
    )
    run["parameters/lr"] = lr
    run["f1_score"] = f1
    if stop:
        run.stop()
    else:
        run.wait()
    return run


def test_runs_table_filtered_by_owner_into_pandas(
    run_script: RunScript, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sophia_low = _log(monkeypatch, "sophia", 0.001, 0.61).id
    other = _log(monkeypatch, "mark", 0.02, 0.95).id
    sophia_best = _log(monkeypatch, "sophia", 0.03, 0.74).id
    sophia_mid = _log(monkeypatch, "sophia", 0.005, 0.70).id
    live = _log(monkeypatch, "sophia", 0.1, 0.99, stop=False)  # still running: "active"
    sophia_live = live.id

    result = run_script("runs_table_owner.py", env={"NEPTUNE_PROJECT": PROJECT})
    live.stop()

    assert "3 finished runs of sophia" in result.stdout
    assert f"Best run: {sophia_best}" in result.stdout
    assert f"baseline runs: {','.join(sorted([str(sophia_low), str(sophia_mid)]))}" in result.stdout
    with open(tmp_path / "sophia_runs.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["sys/id"] for row in rows] == [sophia_best, sophia_mid, sophia_low]
    assert all(row["sys/owner"] == "sophia" and row["sys/state"] == "Inactive" for row in rows)
    assert [float(row["f1_score"]) for row in rows] == [0.74, 0.70, 0.61]
    # Neptune's column order: sys/ first, then the fields; only the columns asked for (and sort_by)
    assert list(rows[0]) == [
        "sys/id",
        "sys/creation_time",
        "sys/owner",
        "sys/state",
        "f1_score",
        "parameters/lr",
    ]
    assert other not in {row["sys/id"] for row in rows} and sophia_live not in {row["sys/id"] for row in rows}
