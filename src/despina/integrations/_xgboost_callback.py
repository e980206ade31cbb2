"""The XGBoost callback itself; imported by :mod:`despina.integrations.xgboost` on first use, because
it subclasses `xgboost.callback.TrainingCallback` (XGBoost checks callbacks' type)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import xgboost

from despina.client.handler import Handler
from despina.client.run import Run
from despina.integrations._boosting import best_of, log_best, log_figure, log_importance, number_or_text
from despina.integrations._fields import FieldLog, open_log, to_number
from despina.types import File

INTEGRATION = "xgboost"
IMPORTANCE_TYPES = ("weight", "gain", "cover", "total_gain", "total_cover")
# XGBoost's early stopping maximizes these metrics (xgboost/callback.py, EarlyStopping).
_MAXIMIZED = ("auc", "aucpr", "pre", "pre@", "map", "ndcg", "auc@", "aucpr@", "map@", "ndcg@")
# The sections of the booster's configuration whose keys are the training parameters.
_PARAM_SECTIONS = (
    ("learner", "learner_train_param"),
    ("learner", "generic_param"),
    ("learner", "gradient_booster", "tree_train_param"),
    ("learner", "gradient_booster", "gbtree_model_param"),
    ("learner", "gradient_booster", "gbtree_train_param"),
    ("learner", "gradient_booster", "linear_train_param"),
    ("learner", "gradient_booster", "updater", "coord_descent", "linear_train_param"),
)


class DespinaCallback(xgboost.callback.TrainingCallback):
    """Log an XGBoost training to a Despina run: `xgboost.train(..., callbacks=[cb])`, or
    `XGBClassifier(callbacks=[cb])`.

    `run` is a Run, a namespace of one, or None (a run is created in `project`, default
    DESPINA_PROJECT). Fields under `base_namespace` ("training"): `<eval set>/<metric>` per iteration,
    `params/`, `booster_config/`, `feature_importance/<type>/<feature>` and `plots/feature_importance`
    (with `log_importance`), `booster` (the model as JSON, with `log_model`), `best/iteration`,
    `best/score` and `best/metric`. A tracking failure warns and training goes on.
    """

    def __init__(
        self,
        run: Run | Handler | None = None,
        base_namespace: str = "training",
        log_model: bool = True,
        log_importance: bool = True,
        max_num_features: int | None = None,
        project: str | None = None,
        **init_run_kwargs: Any,
    ) -> None:
        super().__init__()
        self._log = open_log("DespinaCallback", INTEGRATION, run, base_namespace, project, init_run_kwargs)
        self.run: Run | None = None if self._log is None else self._log.root
        self._log_model = log_model
        self._log_importance = log_importance
        self._max_num_features = max_num_features
        self._history: dict[tuple[str, str], list[float]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> DespinaCallback:
        # scikit-learn's clone() deep-copies an estimator's parameters; a Run cannot be copied, and a
        # copy should log to the same run anyway.
        return self

    def before_training(self, model: Any) -> Any:
        self._history = {}
        log = self._log
        if log is None:
            return model
        log.version(INTEGRATION, str(xgboost.__version__))
        if isinstance(model, xgboost.Booster):
            try:
                config = json.loads(model.save_config())
            except Exception as exc:
                log.warn("config", f"could not read the booster's config: {type(exc).__name__}: {exc}")
            else:
                log.put_params("booster_config", config)
                log.put("params", _params(config))
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]) -> bool:
        log = self._log
        if log is None:
            return False
        for data, metrics in evals_log.items():
            for metric, values in metrics.items():
                if not values:
                    continue
                last = values[-1]
                if isinstance(last, tuple):  # xgboost.cv: (mean, standard deviation)
                    mean, std = last
                    log.append(f"{data}/{metric}_std", std, epoch)
                    last = mean
                number = to_number(last)
                if number is None:
                    continue
                log.append(f"{data}/{metric}", number, epoch)
                self._history.setdefault((data, metric), []).append(number)
        return False  # never asks to stop

    def after_training(self, model: Any) -> Any:
        log = self._log
        if log is None:
            return model
        self._log_best(log, model)
        if not isinstance(model, xgboost.Booster):  # xgboost.cv hands over its folds: nothing to store
            return model
        if self._log_importance:
            importance: dict[str, dict[str, float]] = {}
            for kind in IMPORTANCE_TYPES:
                try:
                    scores = model.get_score(importance_type=kind)
                    importance[kind] = {
                        str(k): float(v) for k, v in scores.items() if not isinstance(v, list)
                    }
                except Exception as exc:
                    log.warn(f"importance:{kind}", f"no {kind} importance: {type(exc).__name__}: {exc}")
            log_importance(log, importance)
            if importance.get("gain"):
                log_figure(
                    log,
                    "plots/feature_importance",
                    lambda ax: xgboost.plot_importance(
                        model, ax=ax, importance_type="gain", max_num_features=self._max_num_features
                    ),
                )
        if self._log_model:
            try:
                raw = bytes(model.save_raw(raw_format="json"))
            except Exception as exc:
                log.warn("model", f"could not save the booster: {type(exc).__name__}: {exc}")
            else:
                log.upload("booster", File.from_content(raw, extension="json"))
        return model

    def _log_best(self, log: FieldLog, model: Any) -> None:
        """Early stopping's best iteration and score when it ran; else the best point of the metric it
        would have watched (the last metric of the last evaluation set)."""
        if not self._history:
            return
        data, metric = list(self._history)[-1]
        name = f"{data}/{metric}"
        attributes = model.attributes() if isinstance(model, xgboost.Booster) else {}
        best_iteration, best_score = attributes.get("best_iteration"), attributes.get("best_score")
        if best_iteration is not None and best_score is not None:
            log_best(log, int(best_iteration), float(best_score), name)
            return
        maximize = metric.startswith(_MAXIMIZED)
        best = best_of(self._history[(data, metric)], maximize)
        if best is not None:
            log_best(log, best[0], best[1], name)


def _params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The training parameters out of the booster's configuration, as numbers where they are numbers."""
    params: dict[str, Any] = {}
    for section in _PARAM_SECTIONS:
        node: Any = config
        for key in section:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping):
            params.update(
                {k: number_or_text(v) for k, v in node.items() if not isinstance(v, (Mapping, list))}
            )
    objective = config.get("learner", {}).get("objective", {})
    if isinstance(objective, Mapping) and "name" in objective:
        params["objective"] = objective["name"]
    return params
