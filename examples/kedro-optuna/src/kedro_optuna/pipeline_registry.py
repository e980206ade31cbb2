"""The project's pipelines: `data_processing`, `data_science`, and both as `__default__`."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from kedro_optuna.pipelines import data_processing, data_science


def register_pipelines() -> dict[str, Pipeline]:
    processing = data_processing.create_pipeline()
    science = data_science.create_pipeline()
    return {"data_processing": processing, "data_science": science, "__default__": processing + science}
