"""Corpus: resume a finished run by its id (`init_run(with_id="CAS-1")`) to download its weights and
add a leaderboard score."""

from __future__ import annotations

from pathlib import Path

import pytest
from neptune_corpus import RunScript, read_run, run_ids

pytest.importorskip("sklearn")
pytest.importorskip("joblib")

PROJECT = "team/cassava"


def test_resume_adds_a_score_and_downloads_the_weights(run_script: RunScript, tmp_path: Path) -> None:
    env = {"NEPTUNE_PROJECT": PROJECT}
    run_script("train_sklearn.py", env=env)
    before = read_run(PROJECT, "CAS-1")
    trained_accuracy = before["eval/accuracy"].fetch()
    loss_points = len(before["train/loss"].fetch_values())

    result = run_script("resume_leaderboard.py", env=env)

    assert "learning_rate=0.01" in result.stdout  # fetched from the resumed run
    assert (tmp_path / "downloaded_model.pkl").read_bytes() == (tmp_path / "model.pkl").read_bytes()
    assert run_ids(PROJECT) == ["CAS-1"]  # resumed, not a new run
    run = read_run(PROJECT, "CAS-1")
    # the downloaded model scores exactly what the training run measured on the same split
    assert run["leaderboard/score"].fetch() == pytest.approx(trained_accuracy)
    assert run["leaderboard/evaluated_by"].fetch() == "resume_leaderboard.py"
    assert run["sys/tags"].fetch() == {"quickstart", "sklearn", "leaderboard"}
    assert run["sys/state"].fetch() == "finished"
    # what the first session logged is untouched
    assert run["parameters/learning_rate"].fetch() == 0.01
    assert len(run["train/loss"].fetch_values()) == loss_points
