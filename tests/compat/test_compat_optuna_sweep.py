"""Corpus: an Optuna study logged with `optuna_utils.NeptuneCallback(run)`, then reloaded from the run."""

from __future__ import annotations

import pytest
from neptune_corpus import RunScript, read_run, run_ids

pytest.importorskip("optuna")
pytest.importorskip("sklearn")

PROJECT = "team/hpo"


def test_optuna_callback_logs_neptune_optuna_fields(run_script: RunScript) -> None:
    result = run_script("optuna_sweep.py", env={"NEPTUNE_PROJECT": PROJECT})

    assert "Restored 8 trials" in result.stdout
    [run_id] = run_ids(PROJECT)
    run = read_run(PROJECT, run_id)
    assert run["sys/tags"].fetch() == {"optuna", "random-forest"}
    assert run["source_code/integrations/neptune-optuna"].fetch() == __import__("despina").__version__

    values = run["trials/values"].fetch_values()
    assert values["step"].tolist() == [float(n) for n in range(8)]
    trials = run["trials/trials"].fetch()
    assert sorted(trials, key=int) == [str(n) for n in range(8)]
    for number, trial in trials.items():
        assert set(trial["params"]) == {"n_estimators", "max_depth", "criterion"}
        assert trial["value"] == values["value"][int(number)]
    best = max(values["value"])
    assert run["best/value"].fetch() == best
    assert f"Best value: {best}" in result.stdout
    assert run["study/direction"].fetch() == "StudyDirection.MAXIMIZE"
    assert run["study/storage_type"].fetch() == "InMemoryStorage"
    assert run["study/study"].fetch_extension() == "pkl"
    assert not run.exists("visualizations")  # plots_update_freq="never"
