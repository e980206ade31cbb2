from kedro.pipeline import Pipeline, node


def create_pipeline() -> Pipeline:
    from kedro_optuna.pipelines.data_processing.nodes import fill_missing, split_data

    return Pipeline(
        [
            node(
                split_data,
                ["wine", "params:data_processing.frac", "params:data_processing.random_seed"],
                ["x_train_raw", "x_test_raw", "y_train", "y_test"],
                name="split_data",
            ),
            node(fill_missing, ["x_train_raw", "x_test_raw"], ["x_train", "x_test"], name="fill_missing"),
        ]
    )
