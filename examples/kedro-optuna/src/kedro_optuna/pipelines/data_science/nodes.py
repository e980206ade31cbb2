"""Tune a RandomForestClassifier with Optuna (logged live to the run), then evaluate it."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score

from despina import Handler


def tune_model(
    x_train: pd.DataFrame, y_train: pd.Series, options: dict[str, Any], despina_run: Handler
) -> tuple[ClassifierMixin, dict[str, Any]]:
    """Search `n_estimators` and `max_depth` by k-fold cross-validated accuracy; refit the best."""
    import optuna

    from despina.integrations.optuna import DespinaCallback

    seed = int(options["random_seed"])
    folds = StratifiedKFold(n_splits=int(options["cv_folds"]), shuffle=True, random_state=seed)

    def objective(trial: optuna.Trial) -> float:
        model = RandomForestClassifier(
            n_estimators=trial.suggest_int("n_estimators", **options["n_estimators"]),
            max_depth=trial.suggest_int("max_depth", **options["max_depth"]),
            random_state=seed,
        )
        return float(cross_val_score(model, x_train, y_train, cv=folds, scoring="accuracy").mean())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    # The study's trials, best trial and study details go under kedro/tuning/ as they finish.
    callback = DespinaCallback(
        despina_run, base_namespace="tuning", plots_update_freq="never", study_update_freq="never"
    )
    study.optimize(objective, n_trials=int(options["n_trials"]), callbacks=[callback])
    best = dict(study.best_params)
    model = RandomForestClassifier(**best, random_state=seed).fit(x_train, y_train)
    return model, best


def evaluate_model(
    model: ClassifierMixin, x_test: pd.DataFrame, y_test: pd.Series, despina_run: Handler
) -> tuple[dict[str, float], Any]:
    """Accuracy and macro F1 on the test set, and the confusion matrix as a figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predictions = model.predict(x_test)
    accuracy = float(accuracy_score(y_test, predictions))
    despina_run["evaluation/accuracy"] = accuracy
    figure, axes = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(y_test, predictions, ax=axes)
    axes.set_title(f"accuracy {accuracy:.3f}")
    despina_run["evaluation/confusion_matrix"].upload(figure)
    metrics = {"accuracy": accuracy, "f1_macro": float(f1_score(y_test, predictions, average="macro"))}
    return metrics, figure
