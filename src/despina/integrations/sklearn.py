"""scikit-learn integration: summaries of a fitted model, as a dict to assign to a namespace of a run.

    import despina
    from despina.integrations.sklearn import create_classifier_summary

    model = RandomForestClassifier().fit(X_train, y_train)
    run = despina.init_run(project="team/churn")
    run["rf_summary"] = create_classifier_summary(model, X_train, X_test, y_train, y_test)

Fields of a classifier summary (relative to where it is assigned):

- `model_class`, `all_params/<name>` (`get_params()`), `pickled_model` (the fitted model, pickled);
- `test/scores/`: `accuracy`, `balanced_accuracy`, `precision_macro`, `recall_macro`, `f1_macro`, and
  with `predict_proba`, `log_loss` and `roc_auc` (one-vs-rest, macro, for several classes);
  `test/scores/class/<label>/{precision,recall,f1,support}` for each class;
- `test/predictions`: a CSV of the first `nrows` test rows (`y_true`, `y_pred`, `proba_<label>`);
- `diagnostics_charts/`: `confusion_matrix`, `roc_curve` and `precision_recall_curve` (with
  `predict_proba` or `decision_function`), `feature_importance` (with `feature_importances_` or `coef_`),
  PNG images (with `log_charts=True`; needs matplotlib).

A regressor summary has `model_class`, `all_params/`, `pickled_model`, `test/predictions` (`y_true`,
`y_pred`), `test/scores/` (`r2`, `explained_variance`, `mean_absolute_error`, `mean_squared_error`,
`root_mean_squared_error`, `median_absolute_error`, `max_error`) and `diagnostics_charts/`
(`residuals`, `prediction_error`, `feature_importance`).

Summaries are made after training, so a figure that cannot be drawn only warns (`IntegrationWarning`)
and is left out; a model that is not fitted raises. Importing this module does not import scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from despina.integrations._fields import IntegrationWarning, require
from despina.types import File
from despina.utils import stringify_unsupported

__all__ = ["IntegrationWarning", "create_classifier_summary", "create_regressor_summary"]

INTEGRATION = "sklearn"


def _common(model: Any) -> dict[str, Any]:
    require("sklearn", "sklearn", INTEGRATION)
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)  # NotFittedError names the estimator: a summary of an unfitted model is a bug
    return {
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "all_params": stringify_unsupported(model.get_params(deep=False)),
        "pickled_model": File.as_pickle(model),
    }


def _chart(charts: dict[str, File], name: str, draw: Callable[[Any], Any]) -> None:
    """Draw one chart on a figure made without pyplot; a chart that cannot be drawn only warns."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(
            "despina.integrations.sklearn draws its charts with matplotlib, which is not installed",
            IntegrationWarning,
            stacklevel=4,
        )
        return
    try:
        figure = Figure(figsize=(7, 6))
        draw(figure.subplots())
        charts[name] = File.as_image(figure)
    except Exception as exc:
        warnings.warn(
            f"despina.integrations.sklearn could not draw {name}: {type(exc).__name__}: {exc}",
            IntegrationWarning,
            stacklevel=4,
        )


def _importance(model: Any) -> np.ndarray | None:
    values = getattr(model, "feature_importances_", None)
    if values is None:
        coef = getattr(model, "coef_", None)
        if coef is None:
            return None
        coef = np.abs(np.asarray(coef, dtype=float))
        values = coef.mean(axis=0) if coef.ndim > 1 else coef
    return np.asarray(values, dtype=float)


def _feature_names(model: Any, x: Any, count: int) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is None and hasattr(x, "columns"):
        names = list(x.columns)
    return (
        [str(n) for n in names]
        if names is not None and len(names) == count
        else [f"x{i}" for i in range(count)]
    )


def _draw_importance(charts: dict[str, File], model: Any, x: Any) -> None:
    values = _importance(model)
    if values is None:
        return
    names = _feature_names(model, x, len(values))
    order = np.argsort(values)[-30:]  # the 30 most important, the largest on top

    def draw(ax: Any) -> None:
        ax.barh([names[i] for i in order], values[order])
        ax.set_xlabel("importance")
        ax.set_title(f"Feature importance of {type(model).__name__}")

    _chart(charts, "feature_importance", draw)


def create_classifier_summary(
    classifier: Any,
    X_train: Any,
    X_test: Any,
    y_train: Any,
    y_test: Any,
    nrows: int = 1000,
    log_charts: bool = True,
) -> dict[str, Any]:
    """The summary of a fitted classifier on its test set (see the module docstring for the fields).

    `X_train`/`y_train` are kept for symmetry with neptune-sklearn's signature; the scores and charts
    are on the test set.
    """
    summary = _common(classifier)
    from sklearn import metrics

    y_true = np.asarray(y_test)
    y_pred = classifier.predict(X_test)
    labels = np.unique(np.concatenate([y_true, np.asarray(y_pred)]))
    scores: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_true, y_pred)),
        "precision_macro": float(metrics.precision_score(y_true, y_pred, average="macro", zero_division=0)),
        "recall_macro": float(metrics.recall_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    scores["class"] = {
        str(label): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    proba = classifier.predict_proba(X_test) if hasattr(classifier, "predict_proba") else None
    classes = list(getattr(classifier, "classes_", labels))
    if proba is not None:
        scores["log_loss"] = float(metrics.log_loss(y_true, proba, labels=classes))
        if len(classes) == 2:
            scores["roc_auc"] = float(metrics.roc_auc_score(y_true, proba[:, 1]))
        elif len(np.unique(y_true)) == len(classes):
            scores["roc_auc"] = float(metrics.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    summary["test"] = {"scores": scores, "predictions": _predictions(y_true, y_pred, proba, classes, nrows)}
    if log_charts:
        charts: dict[str, File] = {}
        _chart(
            charts,
            "confusion_matrix",
            lambda ax: metrics.ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=ax, colorbar=False),
        )
        score = proba if proba is not None else _decision(classifier, X_test)
        if score is not None:
            _chart(
                charts,
                "roc_curve",
                lambda ax: _curves(ax, metrics.roc_curve, y_true, score, classes, roc=True),
            )
            _chart(
                charts,
                "precision_recall_curve",
                lambda ax: _curves(ax, metrics.precision_recall_curve, y_true, score, classes, roc=False),
            )
        _draw_importance(charts, classifier, X_test)
        summary["diagnostics_charts"] = charts
    return summary


def create_regressor_summary(
    regressor: Any,
    X_train: Any,
    X_test: Any,
    y_train: Any,
    y_test: Any,
    nrows: int = 1000,
    log_charts: bool = True,
) -> dict[str, Any]:
    """The summary of a fitted regressor on its test set (see the module docstring for the fields)."""
    summary = _common(regressor)
    from sklearn import metrics

    y_true = np.asarray(y_test, dtype=float)
    y_pred = np.asarray(regressor.predict(X_test), dtype=float)
    mse = float(metrics.mean_squared_error(y_true, y_pred))
    scores: dict[str, Any] = {
        "r2": float(metrics.r2_score(y_true, y_pred)),
        "explained_variance": float(metrics.explained_variance_score(y_true, y_pred)),
        "mean_absolute_error": float(metrics.mean_absolute_error(y_true, y_pred)),
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "median_absolute_error": float(metrics.median_absolute_error(y_true, y_pred)),
    }
    if y_true.ndim == 1:
        scores["max_error"] = float(metrics.max_error(y_true, y_pred))
    summary["test"] = {"scores": scores, "predictions": _predictions(y_true, y_pred, None, [], nrows)}
    if log_charts:
        charts: dict[str, File] = {}
        if y_true.ndim == 1:
            _chart(
                charts,
                "residuals",
                lambda ax: metrics.PredictionErrorDisplay.from_predictions(
                    y_true, y_pred, kind="residual_vs_predicted", ax=ax
                ),
            )
            _chart(
                charts,
                "prediction_error",
                lambda ax: metrics.PredictionErrorDisplay.from_predictions(
                    y_true, y_pred, kind="actual_vs_predicted", ax=ax
                ),
            )
        _draw_importance(charts, regressor, X_test)
        summary["diagnostics_charts"] = charts
    return summary


def _decision(classifier: Any, x: Any) -> np.ndarray | None:
    if not hasattr(classifier, "decision_function"):
        return None
    scores = np.asarray(classifier.decision_function(x), dtype=float)
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


def _curves(
    ax: Any, curve: Any, y_true: np.ndarray, score: np.ndarray, classes: list[Any], roc: bool
) -> None:
    """One ROC or precision-recall curve per class (one-vs-rest; only the positive class of two)."""
    shown = classes[1:] if len(classes) == 2 else classes
    for label in shown:
        column = classes.index(label)
        first, second, _ = curve(y_true == label, score[:, column])
        x, y = (first, second) if roc else (second, first)
        ax.plot(x, y, label=f"class {label}")
    if roc:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set_xlabel("false positive rate" if roc else "recall")
    ax.set_ylabel("true positive rate" if roc else "precision")
    ax.set_title("ROC curve" if roc else "Precision-recall curve")
    ax.legend(loc="best")


def _predictions(
    y_true: np.ndarray, y_pred: Any, proba: np.ndarray | None, classes: list[Any], nrows: int
) -> File:
    """The first `nrows` test predictions as a CSV file."""
    import pandas as pd

    count = min(nrows, len(y_true))
    frame = pd.DataFrame({"y_true": list(y_true[:count]), "y_pred": list(np.asarray(y_pred)[:count])})
    if proba is not None:
        for index, label in enumerate(classes):
            frame[f"proba_{label}"] = proba[:count, index]
    return File.from_content(frame.to_csv(index=False), extension="csv")
