"""Corpus: values Neptune 1.x silently skipped (None, a list, NaN, inf, an int beyond 32 bits) are
skipped by the compatibility layer too, with one clear warning per field."""

from __future__ import annotations

from neptune_corpus import RunScript, read_run, run_ids

PROJECT = "team/dropped"


def test_unsupported_values_are_skipped_with_one_warning_per_field(run_script: RunScript) -> None:
    result = run_script("dropped_values.py", env={"NEPTUNE_PROJECT": PROJECT})

    [run_id] = run_ids(PROJECT)
    run = read_run(PROJECT, run_id)
    assert run["parameters"].fetch() == {"lr": 0.01, "momentum": 0.9}  # scheduler and layers skipped
    loss = run["train/loss"].fetch_values()
    assert loss["value"].tolist() == [0.9, 0.5, 0.3]  # the NaNs skipped,
    assert loss["step"].tolist() == [0.0, 1.0, 2.0]  # and the steps stay consecutive, as Neptune's were
    assert not run.exists("eval/best_score") and not run.exists("eval/num_parameters")
    assert run["sys/state"].fetch() == "finished"

    warnings = [line for line in result.stderr.splitlines() if "Despina did not log" in line]
    fields = [
        "parameters/scheduler",
        "parameters/layers",
        "train/loss",
        "eval/best_score",
        "eval/num_parameters",
    ]
    for field in fields:
        matching = [line for line in warnings if f"to {field!r}" in line]
        assert len(matching) == 1, (field, result.stderr)  # once per field, not once per value
        assert "dropped_values.py" in matching[0]  # it points at the script's line
    assert len(warnings) == len(fields)
    assert all("stringify_unsupported" in line or "float(value)" in line for line in warnings)
    assert "NeptuneUnsupportedType: Despina did not log None to 'parameters/scheduler'" in result.stderr
    assert "NeptuneUnsupportedValue: Despina did not log nan to 'train/loss'" in result.stderr
