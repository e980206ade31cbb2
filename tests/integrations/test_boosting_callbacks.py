"""The XGBoost and LightGBM callbacks log a real (tiny) boosting run: every metric of every evaluation set
per iteration, parameters, best iteration and score, feature importance (fields and figure) and the
booster as a file that loads back into the library."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import reopen, series

import despina
from despina.integrations._fields import IntegrationWarning

FEATURES = ["age", "income", "visits", "noise_a", "noise_b"]
ROUNDS = 8


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, len(FEATURES)))
    y = ((x[:, 0] + 0.8 * x[:, 1] - 0.5 * x[:, 2] + rng.normal(scale=0.5, size=300)) > 0).astype(float)
    return x[:200], y[:200], x[200:], y[200:]


def is_png(run: despina.Run, path: str, tmp_path: Path) -> bool:
    target = run[path].download(tmp_path / "png" / f"{path.replace('/', '_')}.png")
    return run[path].fetch_extension() == "png" and target.read_bytes().startswith(b"\x89PNG")


# -- XGBoost ------------------------------------------------------------------------------------------


def xgb_train(callback: Any, **kwargs: Any) -> tuple[Any, dict[str, Any], Any]:
    xgb = pytest.importorskip("xgboost", reason="the xgboost extra is not installed")
    x, y, xv, yv = data()
    dtrain = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    dvalid = xgb.DMatrix(xv, label=yv, feature_names=FEATURES)
    history: dict[str, Any] = {}
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "eval_metric": ["logloss", "auc"]}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=kwargs.pop("rounds", ROUNDS),
        evals=[(dtrain, "train"), (dvalid, "valid")],
        evals_result=history,
        callbacks=[callback],
        verbose_eval=False,
        **kwargs,
    )
    return booster, history, dvalid


def test_xgboost_logs_metrics_params_best_importance_and_booster(run: despina.Run, tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost", reason="the xgboost extra is not installed")
    from despina.integrations.xgboost import DespinaCallback

    booster, history, dvalid = xgb_train(DespinaCallback(run))
    read = reopen(run)

    assert read["source_code/integrations/xgboost"].fetch() == xgb.__version__
    for data_name in ("train", "valid"):
        for metric in ("logloss", "auc"):
            points = series(read, f"training/{data_name}/{metric}")
            assert [s for s, _ in points] == [float(i) for i in range(ROUNDS)]
            assert [v for _, v in points] == pytest.approx(history[data_name][metric])
    params = read["training/params"].fetch()
    assert params["objective"] == "binary:logistic"
    assert params["max_depth"] == 3 and params["eta"] == pytest.approx(0.3)
    assert read["training/booster_config/learner/objective/name"].fetch() == "binary:logistic"

    aucs = history["valid"]["auc"]  # the last metric of the last set, maximised
    assert read["training/best/metric"].fetch() == "valid/auc"
    assert read["training/best/iteration"].fetch() == aucs.index(max(aucs))
    assert read["training/best/score"].fetch() == pytest.approx(max(aucs))

    gain = read["training/feature_importance/gain"].fetch()
    assert gain == pytest.approx(booster.get_score(importance_type="gain"))
    assert set(gain) <= set(FEATURES) and {"age", "income"} <= set(gain)
    assert read["training/feature_importance/weight"].fetch() == booster.get_score(importance_type="weight")
    assert is_png(read, "training/plots/feature_importance", tmp_path)

    stored = read["training/booster"].download(tmp_path / "booster.json")
    assert read["training/booster"].fetch_extension() == "json"
    np.testing.assert_allclose(xgb.Booster(model_file=str(stored)).predict(dvalid), booster.predict(dvalid))
    read.stop()


def test_xgboost_early_stopping_best_is_xgboosts(run: despina.Run) -> None:
    pytest.importorskip("xgboost", reason="the xgboost extra is not installed")
    from despina.integrations.xgboost import DespinaCallback

    booster, history, _ = xgb_train(
        DespinaCallback(run, base_namespace="es", log_model=False), rounds=200, early_stopping_rounds=3
    )
    read = reopen(run)
    assert read["es/best/iteration"].fetch() == booster.best_iteration
    assert read["es/best/score"].fetch() == pytest.approx(booster.best_score)
    assert len(series(read, "es/valid/auc")) == len(history["valid"]["auc"]) < 200
    assert not read.exists("es/booster")
    read.stop()


def test_xgboost_stopped_run_warns_and_training_goes_on(run: despina.Run) -> None:
    pytest.importorskip("xgboost", reason="the xgboost extra is not installed")
    from despina.integrations.xgboost import DespinaCallback

    callback = DespinaCallback(run)
    run.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        booster, _, _ = xgb_train(callback)
    assert booster.num_boosted_rounds() == ROUNDS
    ours = [w for w in caught if issubclass(w.category, IntegrationWarning)]
    assert len(ours) == 1 and "was stopped" in str(ours[0].message)


# -- LightGBM -----------------------------------------------------------------------------------------


def lgb_train(callback: Any, rounds: int = ROUNDS, **kwargs: Any) -> tuple[Any, dict[str, Any], np.ndarray]:
    lgb = pytest.importorskip("lightgbm", reason="the lightgbm extra is not installed")
    x, y, xv, yv = data()
    train = lgb.Dataset(x, label=y, feature_name=FEATURES, free_raw_data=False)
    valid = lgb.Dataset(xv, label=yv, reference=train)
    history: dict[str, Any] = {}
    params = {
        "objective": "binary",
        "metric": ["binary_logloss", "auc"],
        "num_leaves": 7,
        "learning_rate": 0.2,
        "verbose": -1,
        "seed": 0,
        "deterministic": True,
        "num_threads": 1,
    }
    callbacks = [callback, lgb.record_evaluation(history), *kwargs.pop("callbacks", [])]
    booster = lgb.train(
        params,
        train,
        num_boost_round=rounds,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=callbacks,
    )
    return booster, history, xv


def test_lightgbm_logs_metrics_params_best_importance_and_booster(run: despina.Run, tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm", reason="the lightgbm extra is not installed")
    from despina.integrations.lightgbm import DespinaCallback

    booster, history, xv = lgb_train(DespinaCallback(run))
    read = reopen(run)

    assert read["source_code/integrations/lightgbm"].fetch() == lgb.__version__
    for data_name in ("train", "valid"):
        for metric in ("binary_logloss", "auc"):
            points = series(read, f"training/{data_name}/{metric}")
            assert [s for s, _ in points] == [float(i) for i in range(ROUNDS)]
            assert [v for _, v in points] == pytest.approx(history[data_name][metric])
    params = read["training/params"].fetch()
    assert params["num_leaves"] == 7 and params["learning_rate"] == pytest.approx(0.2)
    assert params["objective"] == "binary"

    losses = history["valid"]["binary_logloss"]  # the first metric of the last set, minimised
    assert read["training/best/metric"].fetch() == "valid/binary_logloss"
    assert read["training/best/iteration"].fetch() == losses.index(min(losses))
    assert read["training/best/score"].fetch() == pytest.approx(min(losses))

    gain = read["training/feature_importance/gain"].fetch()
    expected = dict(zip(FEATURES, booster.feature_importance(importance_type="gain"), strict=True))
    assert gain == pytest.approx(expected)
    split = read["training/feature_importance/split"].fetch()
    assert split == dict(
        zip(FEATURES, booster.feature_importance(importance_type="split").tolist(), strict=True)
    )
    assert is_png(read, "training/plots/feature_importance", tmp_path)

    stored = read["training/booster"].download(tmp_path / "booster.txt")
    np.testing.assert_allclose(lgb.Booster(model_file=str(stored)).predict(xv), booster.predict(xv))
    read.stop()


def test_lightgbm_early_stopping_and_log_summary(run: despina.Run) -> None:
    lgb = pytest.importorskip("lightgbm", reason="the lightgbm extra is not installed")
    from despina.integrations.lightgbm import DespinaCallback

    callback = DespinaCallback(run, log_importance=False)
    booster, history, _ = lgb_train(
        callback, rounds=300, callbacks=[lgb.early_stopping(3, first_metric_only=True, verbose=False)]
    )
    callback.log_summary(booster)
    read = reopen(run)
    assert len(series(read, "training/valid/auc")) == len(history["valid"]["auc"]) < 300
    assert read["training/best/iteration"].fetch() == booster.best_iteration - 1
    assert read["training/best/score"].fetch() == pytest.approx(booster.best_score["valid"]["binary_logloss"])
    assert read.exists("training/booster") and not read.exists("training/feature_importance")
    read.stop()


def test_lightgbm_read_only_run_warns_and_training_goes_on(run: despina.Run) -> None:
    pytest.importorskip("lightgbm", reason="the lightgbm extra is not installed")
    from despina.integrations.lightgbm import DespinaCallback

    run["x"] = 1
    read_only = reopen(run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        booster, _, _ = lgb_train(DespinaCallback(read_only))
    assert booster.current_iteration() == ROUNDS
    ours = [w for w in caught if issubclass(w.category, IntegrationWarning)]
    assert len(ours) == 1 and "read-only" in str(ours[0].message)
    read_only.stop()
