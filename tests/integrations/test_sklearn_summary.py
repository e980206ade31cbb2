"""Classifier and regressor summaries of real (small) scikit-learn models, assigned to a namespace and
read back path by path: parameters, test scores, predictions, the pickled model and the charts."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn", reason="the sklearn extra is not installed")
pytest.importorskip("matplotlib", reason="the sklearn extra is not installed")

from conftest import reopen
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

import despina
from despina.integrations.sklearn import create_classifier_summary, create_regressor_summary


def png(run: despina.Run, path: str, tmp_path: Path) -> bytes:
    assert run[path].fetch_extension() == "png"
    return run[path].download(tmp_path / "charts" / f"{path.replace('/', '_')}.png").read_bytes()


def test_classifier_summary(run: despina.Run, tmp_path: Path) -> None:
    x, y = load_wine(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    model = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x_train, y_train)
    run["rf"] = create_classifier_summary(model, x_train, x_test, y_train, y_test, nrows=10)
    read = reopen(run)

    assert read["rf/model_class"].fetch() == "sklearn.ensemble._forest.RandomForestClassifier"
    assert read["rf/all_params/n_estimators"].fetch() == 20
    assert read["rf/all_params/max_depth"].fetch() == 4
    predicted = model.predict(x_test)
    scores = read["rf/test/scores"].fetch()
    assert scores["accuracy"] == pytest.approx(accuracy_score(y_test, predicted))
    assert scores["f1_macro"] == pytest.approx(f1_score(y_test, predicted, average="macro"))
    assert scores["roc_auc"] == pytest.approx(
        roc_auc_score(y_test, model.predict_proba(x_test), multi_class="ovr")
    )
    assert set(scores["class"]) == {"0", "1", "2"}
    assert sum(c["support"] for c in scores["class"].values()) == len(y_test)

    table = pd.read_csv(io.StringIO(read["rf/test/predictions"].download(tmp_path / "p.csv").read_text()))
    assert list(table.columns) == ["y_true", "y_pred", "proba_0", "proba_1", "proba_2"]
    assert len(table) == 10 and list(table["y_pred"]) == list(predicted[:10])

    restored = pickle.loads(read["rf/pickled_model"].download(tmp_path / "m.pkl").read_bytes())
    assert list(restored.predict(x_test)) == list(predicted)
    for chart in ("confusion_matrix", "roc_curve", "precision_recall_curve", "feature_importance"):
        assert png(read, f"rf/diagnostics_charts/{chart}", tmp_path).startswith(b"\x89PNG")
    read.stop()


def test_binary_classifier_without_charts(run: despina.Run) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = (x[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(x[:80], y[:80])
    run["lr"] = create_classifier_summary(model, x[:80], x[80:], y[:80], y[80:], log_charts=False)
    read = reopen(run)
    assert read["lr/test/scores/roc_auc"].fetch() == pytest.approx(
        roc_auc_score(y[80:], model.predict_proba(x[80:])[:, 1])
    )
    assert not read.exists("lr/diagnostics_charts")
    read.stop()


def test_regressor_summary(run: despina.Run, tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True)
    model = Ridge(alpha=0.5).fit(x[:300], y[:300])
    run["ridge"] = create_regressor_summary(model, x[:300], x[300:], y[:300], y[300:])
    read = reopen(run)
    scores = read["ridge/test/scores"].fetch()
    assert scores["r2"] == pytest.approx(r2_score(y[300:], model.predict(x[300:])))
    assert scores["root_mean_squared_error"] == pytest.approx(np.sqrt(scores["mean_squared_error"]))
    assert read["ridge/all_params/alpha"].fetch() == 0.5
    for chart in ("residuals", "prediction_error", "feature_importance"):
        assert png(read, f"ridge/diagnostics_charts/{chart}", tmp_path).startswith(b"\x89PNG")
    read.stop()


def test_an_unfitted_model_is_refused() -> None:
    x = np.zeros((4, 2))
    with pytest.raises(NotFittedError):
        create_regressor_summary(Ridge(), x, x, np.zeros(4), np.zeros(4))
