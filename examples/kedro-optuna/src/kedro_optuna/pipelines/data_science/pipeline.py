from kedro.pipeline import Pipeline, node, pipeline


def create_pipeline() -> Pipeline:
    """Tune, then evaluate; namespaced `data_science` (a modular pipeline).

    `despina_run` is not among the shared inputs, so inside the namespace it is
    `data_science.despina_run`: the plugin provides it under that name too.
    """
    from kedro_optuna.pipelines.data_science.nodes import evaluate_model, tune_model

    base = Pipeline(
        [
            node(
                tune_model,
                ["x_train", "y_train", "params:options", "despina_run"],
                ["model", "best_params"],
                name="tune_model",
            ),
            node(
                evaluate_model,
                ["model", "x_test", "y_test", "despina_run"],
                ["metrics", "confusion_matrix"],
                name="evaluate_model",
            ),
        ]
    )
    return pipeline(
        base,
        namespace="data_science",
        inputs={"x_train", "y_train", "x_test", "y_test"},
        parameters={"params:options": "params:data_science"},
    )
