"""DespinaCallback logs a real (tiny, CPU) Keras 3 training: batch and epoch metrics, validation,
evaluation, the optimizer configuration and the model summary, read back path by path."""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

# Keras picks its backend at import: torch when it is there (the lightning extra brings it), else jax.
if "KERAS_BACKEND" not in os.environ:
    os.environ["KERAS_BACKEND"] = "torch" if importlib.util.find_spec("torch") else "jax"
keras = pytest.importorskip("keras", minversion="3.0", reason="the keras extra is not installed")
if importlib.util.find_spec(os.environ["KERAS_BACKEND"]) is None:
    pytest.skip(f"Keras' backend {os.environ['KERAS_BACKEND']} is not installed", allow_module_level=True)

from conftest import reopen, series, text_of  # noqa: E402

import despina  # noqa: E402
from despina.integrations.keras import DespinaCallback, IntegrationWarning  # noqa: E402


def model_and_data() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -1.0, 0.5, 2.0], dtype="float32"))[:, None]
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    return model, x, y


def test_logs_batches_epochs_validation_evaluation_and_model(run: despina.Run, tmp_path: Path) -> None:
    model, x, y = model_and_data()
    callback = DespinaCallback(run)
    # 48 training samples in batches of 16 (3 batches), 16 for validation (1 batch), 2 epochs.
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, callbacks=[callback], verbose=0)
    test_loss, test_mae = model.evaluate(x[:32], y[:32], batch_size=16, callbacks=[callback], verbose=0)
    read = reopen(run)

    assert read["source_code/integrations/keras"].fetch() == keras.__version__
    assert read["training/model/backend"].fetch() == os.environ["KERAS_BACKEND"]
    assert [s for s, _ in series(read, "training/train/batch/loss")] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [s for s, _ in series(read, "training/train/batch/mae")] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    for metric in ("loss", "mae"):
        epochs = series(read, f"training/train/epoch/{metric}")
        assert [s for s, _ in epochs] == [0.0, 1.0]
        assert [v for _, v in epochs] == pytest.approx(history.history[metric])
        validation = series(read, f"training/validation/epoch/{metric}")
        assert [v for _, v in validation] == pytest.approx(history.history[f"val_{metric}"])
    assert not read.exists("training/train/epoch/val_loss")
    assert [s for s, _ in series(read, "training/validation/batch/loss")] == [0.0, 1.0]
    assert [s for s, _ in series(read, "training/test/batch/loss")] == [0.0, 1.0]
    assert series(read, "training/test/epoch/loss") == [(0.0, pytest.approx(test_loss))]
    assert series(read, "training/test/epoch/mae") == [(0.0, pytest.approx(test_mae))]

    optimizer = read["training/model/optimizer_config"].fetch()
    assert optimizer["name"] == "adam"
    assert optimizer["learning_rate"] == pytest.approx(0.01)
    summary = text_of(read, "training/model/summary", tmp_path)
    assert "hidden" in summary and "Dense" in summary and "Total params" in summary
    read.stop()


def test_epochs_only_and_own_run(tmp_path: Path) -> None:
    model, x, y = model_and_data()
    callback = DespinaCallback(base_namespace="keras", log_on_batch=False, capture_hardware_metrics=False)
    model.fit(x, y, batch_size=32, epochs=3, callbacks=[callback], verbose=0)
    made = callback.run
    assert isinstance(made, despina.Run)
    read = reopen(made)
    assert [s for s, _ in series(read, "keras/train/epoch/loss")] == [0.0, 1.0, 2.0]
    assert not read.exists("keras/train/batch")
    assert not read.exists("keras/validation")
    read.stop()


def test_a_read_only_run_warns_and_training_goes_on(run: despina.Run) -> None:
    run["x"] = 1
    read_only = reopen(run)
    model, x, y = model_and_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=16, epochs=2, callbacks=[DespinaCallback(read_only)], verbose=0)
    assert len(history.history["loss"]) == 2
    ours = [w for w in caught if issubclass(w.category, IntegrationWarning)]
    assert len(ours) == 1 and "read-only" in str(ours[0].message)
    read_only.stop()
