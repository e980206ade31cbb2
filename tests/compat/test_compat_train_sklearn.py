"""Corpus: the quickstart script (parameters, per-epoch series, F1 score, model upload) run unchanged
but for its import line, with the project and token in NEPTUNE_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from neptune_corpus import RunScript, read_run, run_ids

pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")

PROJECT = "team/cassava"


def test_quickstart_script_stores_parameters_series_and_scores(run_script: RunScript, tmp_path: Path) -> None:
    run_script("train_sklearn.py", env={"NEPTUNE_PROJECT": PROJECT})

    assert run_ids(PROJECT) == ["CAS-1"]  # NEPTUNE_PROJECT chose the project
    run = read_run(PROJECT, "CAS-1")
    assert run["sys/name"].fetch() == "digits-sgd"
    assert run["sys/description"].fetch() == "SGD classifier on the digits data set"
    assert run["sys/tags"].fetch() == {"quickstart", "sklearn"}
    assert run["sys/state"].fetch() == "finished"
    assert run["sys/failed"].fetch() is False
    assert run["parameters"].fetch() == {
        "learning_rate": 0.01,
        "alpha": 0.0001,
        "epochs": 8,
        "optimizer": "SGD",
        "loss": "log_loss",
        "shuffle": True,
    }
    structure = run.get_structure()
    assert structure["parameters"]["epochs"] == "int"
    assert structure["train"] == {"loss": "floatSeries", "accuracy": "floatSeries"}

    for path in ("train/loss", "train/accuracy", "valid/accuracy"):
        values = run[path].fetch_values()
        assert values["step"].tolist() == [float(step) for step in range(8)], path
        assert values["value"].notna().all(), path
    losses = run["train/loss"].fetch_values()["value"].tolist()
    assert losses[-1] < losses[0]  # it learned
    assert 0.5 < run["valid/accuracy"].fetch_last() <= 1.0

    accuracy, f1 = run["eval/accuracy"].fetch(), run["eval/f1_score"].fetch()
    assert isinstance(f1, float) and 0.5 < f1 <= 1.0
    assert accuracy == pytest.approx(run["valid/accuracy"].fetch_last())

    # the model file is stored as uploaded, and the entry script as source code
    weights = run["model/weights"].download(tmp_path / "back.pkl")
    assert weights.read_bytes() == (tmp_path / "model.pkl").read_bytes()
    assert type(joblib.load(weights)).__name__ == "SGDClassifier"
    assert run["source_code/files"].fetch_files_list() == ["train_sklearn.py"]
