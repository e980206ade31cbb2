"""Corpus: resume with the older `neptune.init(project=..., api_token=..., run="LEG-1")`."""

from __future__ import annotations

import pytest
from neptune_corpus import RunScript, read_run, run_ids

PROJECT = "team/legacy"


def test_init_with_run_resumes_and_continues_the_series(run_script: RunScript) -> None:
    run_script("legacy_new_api.py")
    result = run_script("legacy_init_resume.py")

    assert "Resumed LEG-1 with loss 0.1681" in result.stdout
    assert run_ids(PROJECT) == ["LEG-1"]
    run = read_run(PROJECT, "LEG-1")
    assert run["eval/test_accuracy"].fetch() == 0.93
    loss = run["train/loss"].fetch_values()
    assert loss["step"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # continued after the last step
    assert loss["value"].tolist()[-2:] == pytest.approx([0.7**5 * 0.9, 0.7**5 * 0.8])
    assert run["sys/state"].fetch() == "finished"
