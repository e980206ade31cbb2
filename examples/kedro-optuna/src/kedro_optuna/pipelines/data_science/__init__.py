from kedro_optuna.pipelines.data_science.pipeline import create_pipeline

__all__ = ["create_pipeline"]
