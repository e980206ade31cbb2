"""Corpus: a config of lists, tuples, None, a 2**40 seed and a NaN, logged via `stringify_unsupported`."""

from __future__ import annotations

from neptune_corpus import RunScript, read_run, run_ids

PROJECT = "team/configs"


def test_stringified_config_is_stored_whole(run_script: RunScript) -> None:
    result = run_script("stringify_config.py", env={"NEPTUNE_PROJECT": PROJECT})

    assert "Warning" not in result.stderr  # nothing skipped
    [run_id] = run_ids(PROJECT)
    run = read_run(PROJECT, run_id)
    assert run["config"].fetch() == {
        "model": {"layers": "[256, 128, 10]", "activation": "relu", "init": "None"},
        "data": {"augmentations": "('flip', 'crop')", "classes": 10},
        "seed": float(2**40),  # beyond 32 bits: a float, as Neptune's stringify_unsupported made it
        "target_loss": "nan",
        "lr": 0.003,
    }
    assert run["config_expanded"].fetch() == {
        "model": {"layers": {"0": 256, "1": 128, "2": 10}, "activation": "relu", "init": "None"},
        "data": {"augmentations": {"0": "flip", "1": "crop"}, "classes": 10},
        "seed": float(2**40),
        "target_loss": "nan",
        "lr": 0.003,
    }
    assert run["search/layer_sizes"].fetch_values()["value"].tolist() == ["[256, 128]", "[512, 256]"]
