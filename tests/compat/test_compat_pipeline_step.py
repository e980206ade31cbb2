"""Corpus: pipeline steps in separate processes sharing one run through NEPTUNE_CUSTOM_RUN_ID (and the
mode from NEPTUNE_MODE)."""

from __future__ import annotations

from neptune_corpus import RunScript, read_run, run_ids

PROJECT = "team/pipelines"


def test_steps_join_one_run_through_neptune_custom_run_id(run_script: RunScript) -> None:
    env = {"NEPTUNE_PROJECT": PROJECT, "NEPTUNE_CUSTOM_RUN_ID": "nightly-2024-05-01", "NEPTUNE_MODE": "sync"}
    for step in ("prepare", "train", "evaluate"):
        run_script("pipeline_step.py", step, env=env)

    [run_id] = run_ids(PROJECT)
    run = read_run(PROJECT, run_id)
    assert run["sys/custom_run_id"].fetch() == "nightly-2024-05-01"
    assert run["sys/mode"].fetch() == "sync"
    assert run["pipeline/steps"].fetch_values()["value"].tolist() == ["prepare", "train", "evaluate"]
    assert run["pipeline/prepare/done"].fetch() and run["pipeline/evaluate/done"].fetch()
    assert run["pipeline/train/accuracy"].fetch() == 0.87


def test_despina_variables_win_over_neptune_ones(run_script: RunScript) -> None:
    env = {
        "NEPTUNE_PROJECT": "team/ignored",
        "DESPINA_PROJECT": PROJECT,
        "NEPTUNE_CUSTOM_RUN_ID": "neptune-id",
        "DESPINA_CUSTOM_RUN_ID": "despina-id",
    }
    run_script("pipeline_step.py", "prepare", env=env)

    assert run_ids("team/ignored") == []
    [run_id] = run_ids(PROJECT)
    assert read_run(PROJECT, run_id)["sys/custom_run_id"].fetch() == "despina-id"
