"""LightGBM integration: a training callback that writes a boosting run to a Despina run.

    import despina, lightgbm as lgb
    from despina.integrations.lightgbm import DespinaCallback

    run = despina.init_run(project="team/churn")
    callback = DespinaCallback(run)
    booster = lgb.train(params, train_set, num_boost_round=200,
                        valid_sets=[train_set, valid_set], valid_names=["train", "valid"],
                        callbacks=[callback])

Fields, under `base_namespace` ("training" by default):

- `<eval set>/<metric>`: every evaluation metric of every validation set, a float series stepped by
  iteration (0-based), e.g. `valid/binary_logloss`; with `lightgbm.cv`, the mean, and the standard
  deviation as `<metric>_std`;
- `params/<name>`: the parameters LightGBM trains with;
- `best/iteration` (0-based, the step of the series), `best/score`, `best/metric`: early stopping's
  best iteration when it ran (LightGBM's `booster.best_iteration` minus one), else the best point of
  the first metric of the last validation set;
- `feature_importance/split/<feature>`, `feature_importance/gain/<feature>` and
  `plots/feature_importance` (gain, a PNG; needs matplotlib), with `log_importance=True`;
- `booster`: the trained model as LightGBM's text format (`lgb.Booster(model_file=...)` loads it),
  with `log_model=True`;
- `source_code/integrations/lightgbm` on the run: LightGBM's version.

LightGBM has no end-of-training hook: the callback logs the summary (best, importance, booster) at the
last scheduled iteration. When early stopping ends training before that, call
`callback.log_summary(booster)` once `lgb.train` returns (it is harmless to call it in any case).

A LightGBM callback is any callable; importing this module does not import LightGBM.
"""

from __future__ import annotations

from typing import Any

from despina.client.handler import Handler
from despina.client.run import Run
from despina.integrations._boosting import best_of, log_best, log_figure, log_importance
from despina.integrations._fields import FieldLog, IntegrationWarning, open_log, require, to_number
from despina.types import File

__all__ = ["DespinaCallback", "IntegrationWarning"]

INTEGRATION = "lightgbm"


class DespinaCallback:
    """Log a LightGBM training to a Despina run: `lgb.train(..., callbacks=[cb])`, or
    `LGBMClassifier().fit(..., callbacks=[cb])`.

    `run` is a Run, a namespace of one, or None (a run is created in `project`, default
    DESPINA_PROJECT). See the module docstring for the fields. A tracking failure warns and training
    goes on.
    """

    # After LightGBM's record_evaluation (20), before its early stopping (30): an iteration that early
    # stopping ends is still logged.
    order = 25
    before_iteration = False

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
        self._lightgbm = require("lightgbm", "lightgbm", INTEGRATION)
        self._log = open_log("DespinaCallback", INTEGRATION, run, base_namespace, project, init_run_kwargs)
        self.run: Run | None = None if self._log is None else self._log.root
        self._log_model = log_model
        self._log_importance = log_importance
        self._max_num_features = max_num_features
        self._history: dict[tuple[str, str], list[float]] = {}
        self._higher_better: dict[tuple[str, str], bool] = {}
        self._started = False

    def __deepcopy__(self, memo: dict[int, Any]) -> DespinaCallback:
        # scikit-learn's clone() deep-copies parameters; a Run cannot be copied, and a copy should log
        # to the same run anyway.
        return self

    def __call__(self, env: Any) -> None:
        log = self._log
        if log is None:
            return
        if not self._started or env.iteration == env.begin_iteration:
            self._started = True
            self._history, self._higher_better = {}, {}
            log.version(INTEGRATION, str(self._lightgbm.__version__))
            log.put_params("params", env.params)
        for result in env.evaluation_result_list or ():
            data, metric, value, higher_better = result[0], result[1], result[2], result[3]
            number = to_number(value)
            if number is None:
                continue
            log.append(f"{data}/{metric}", number, env.iteration)
            if len(result) > 4 and result[4] is not None:  # lightgbm.cv: the standard deviation
                log.append(f"{data}/{metric}_std", result[4], env.iteration)
            self._history.setdefault((data, metric), []).append(number)
            self._higher_better[(data, metric)] = bool(higher_better)
        if env.iteration + 1 == env.end_iteration and isinstance(env.model, self._lightgbm.Booster):
            self.log_summary(env.model)

    def log_summary(self, booster: Any) -> None:
        """Log the best iteration and score, the feature importance and the booster itself."""
        log = self._log
        if log is None:
            return
        self._log_best(log, booster)
        if self._log_importance:
            self._log_importance_of(log, booster)
        if self._log_model:
            try:
                text = booster.model_to_string()
            except Exception as exc:
                log.warn("model", f"could not save the booster: {type(exc).__name__}: {exc}")
            else:
                log.upload("booster", File.from_content(text, extension="txt"))

    def _log_best(self, log: FieldLog, booster: Any) -> None:
        if not self._history:
            return
        data = list(self._history)[-1][0]
        key = next(k for k in self._history if k[0] == data)  # the first metric of the last set
        name = f"{key[0]}/{key[1]}"
        stopped_at = int(getattr(booster, "best_iteration", 0) or 0)
        history = self._history[key]
        if 0 < stopped_at <= len(history):  # early stopping ran: LightGBM counts iterations from 1
            log_best(log, stopped_at - 1, history[stopped_at - 1], name)
            return
        best = best_of(history, self._higher_better.get(key, False))
        if best is not None:
            log_best(log, best[0], best[1], name)

    def _log_importance_of(self, log: FieldLog, booster: Any) -> None:
        try:
            names = [str(name) for name in booster.feature_name()]
            importance = {
                kind: dict(
                    zip(names, map(float, booster.feature_importance(importance_type=kind)), strict=True)
                )
                for kind in ("split", "gain")
            }
        except Exception as exc:
            log.warn("importance", f"no feature importance: {type(exc).__name__}: {exc}")
            return
        log_importance(log, importance)
        if any(importance["gain"].values()):
            lightgbm = self._lightgbm
            log_figure(
                log,
                "plots/feature_importance",
                lambda ax: lightgbm.plot_importance(
                    booster, ax=ax, importance_type="gain", max_num_features=self._max_num_features
                ),
            )
