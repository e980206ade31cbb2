"""Wine classification with Kedro, tuned by Optuna, tracked by Despina."""

__version__ = "0.1.0"
