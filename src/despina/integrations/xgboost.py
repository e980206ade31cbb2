"""XGBoost integration: a training callback that writes a boosting run to a Despina run.

    import despina, xgboost as xgb
    from despina.integrations.xgboost import DespinaCallback

    run = despina.init_run(project="team/churn")
    booster = xgb.train(params, dtrain, num_boost_round=200,
                        evals=[(dtrain, "train"), (dvalid, "valid")],
                        callbacks=[DespinaCallback(run)])

Fields, under `base_namespace` ("training" by default):

- `<eval set>/<metric>`: every evaluation metric of every evaluation set, a float series stepped by
  iteration (0-based), e.g. `valid/logloss`; with `xgboost.cv`, the mean, and the standard deviation
  as `<metric>_std`;
- `params/<name>`: the training parameters as the booster reports them (numbers as numbers);
  `booster_config/`: the booster's whole configuration (`Booster.save_config()`);
- `best/iteration`, `best/score`, `best/metric`: early stopping's best iteration and score when it
  ran, else the best point of the metric it would watch (the last metric of the last evaluation set;
  AUC, MAP, NDCG and precision are maximised, other metrics minimised);
- `feature_importance/<type>/<feature>` for weight, gain, cover, total_gain and total_cover, and
  `plots/feature_importance` (gain, a PNG; needs matplotlib), with `log_importance=True`;
- `booster`: the trained model as JSON (`xgb.Booster(model_file=...)` loads it), with `log_model=True`;
- `source_code/integrations/xgboost` on the run: XGBoost's version.

Importing this module does not import XGBoost; `DespinaCallback` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from despina.integrations._fields import IntegrationWarning

if TYPE_CHECKING:
    from despina.integrations._xgboost_callback import DespinaCallback

__all__ = ["DespinaCallback", "IntegrationWarning"]


def __getattr__(name: str) -> Any:
    # XGBoost accepts only subclasses of its TrainingCallback: define ours (and import XGBoost) on use.
    if name == "DespinaCallback":
        try:
            from despina.integrations import _xgboost_callback
        except ImportError as exc:
            raise ImportError(
                'despina.integrations.xgboost needs xgboost; install it with `pip install "despina[xgboost]"`'
            ) from exc
        return _xgboost_callback.DespinaCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
