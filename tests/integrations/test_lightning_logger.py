"""DespinaLogger logs a real (tiny, CPU) Lightning training: hyperparameters, metrics at the global step,
the model summary and the checkpoints ModelCheckpoint keeps, read back path by path."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("lightning.pytorch", reason="the lightning extra is not installed")
torch = pytest.importorskip("torch", reason="the lightning extra is not installed")

import lightning  # noqa: E402
from conftest import PROJECT, reopen, series, text_of  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import despina  # noqa: E402
from despina.integrations.lightning import DespinaLogger, IntegrationWarning  # noqa: E402

BATCHES = 4  # per epoch
EPOCHS = 2


class Regressor(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, hidden: int = 8, lr: float = 0.05, layers: tuple[int, ...] = (8, 4)) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loaders() -> tuple[DataLoader[Any], DataLoader[Any]]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCHES * 8, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
    data = TensorDataset(x, y)
    return DataLoader(data, batch_size=8), DataLoader(data, batch_size=16)


def fit(logger: DespinaLogger, root: Path, accelerator: str = "cpu", **trainer_kwargs: Any) -> Any:
    torch.manual_seed(0)
    checkpoint = pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=1, save_last=True)
    trainer = pl.Trainer(
        accelerator=accelerator,
        max_epochs=EPOCHS,
        logger=logger,
        callbacks=[checkpoint],
        default_root_dir=str(root),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        **trainer_kwargs,
    )
    train, val = loaders()
    trainer.fit(Regressor(), train, val)
    return checkpoint


def test_logs_hyperparams_metrics_summary_and_checkpoints(run: despina.Run, tmp_path: Path) -> None:
    checkpoint = fit(DespinaLogger(run), tmp_path)
    read = reopen(run)

    assert read["source_code/integrations/lightning"].fetch() == lightning.__version__
    assert read["training/hyperparams"].fetch() == {"hidden": 8, "lr": 0.05, "layers": "(8, 4)"}

    steps = BATCHES * EPOCHS
    train_loss = series(read, "training/train/loss_step")
    assert [step for step, _ in train_loss] == [float(s) for s in range(steps)]
    assert all(value > 0 for _, value in train_loss)
    val_loss = series(read, "training/val_loss")
    assert [step for step, _ in val_loss] == [float(BATCHES - 1), float(steps - 1)]
    assert [step for step, _ in series(read, "training/train/loss_epoch")] == [
        float(BATCHES - 1),
        float(steps - 1),
    ]
    assert [value for _, value in series(read, "training/epoch")] == [0.0] * BATCHES + [1.0] * BATCHES

    summary = text_of(read, "training/model/summary", tmp_path)
    assert "net.0" in summary and "Linear" in summary and "Trainable params" in summary

    best_name = Path(checkpoint.best_model_path).stem
    assert read["training/model/best_model_path"].fetch() == checkpoint.best_model_path
    assert read["training/model/best_model_score"].fetch() == pytest.approx(min(v for _, v in val_loss))
    assert read["training/model/last_model_path"].fetch() == checkpoint.last_model_path
    assert read["training/model/best_k_models"].fetch() == {
        best_name: pytest.approx(float(checkpoint.best_model_score))
    }
    stored = read.get_structure()["training"]["model"]["checkpoints"]
    assert set(stored) == {"last", best_name}
    for name, local in (("last", checkpoint.last_model_path), (best_name, checkpoint.best_model_path)):
        copy = read[f"training/model/checkpoints/{name}"].download(tmp_path / "ckpt" / f"{name}.ckpt")
        assert copy.read_bytes() == Path(local).read_bytes()
    state = torch.load(tmp_path / "ckpt" / f"{best_name}.ckpt", weights_only=False)
    assert state["hyper_parameters"]["hidden"] == 8
    read.stop()


def test_prefix_namespace_and_no_checkpoints(run: despina.Run, tmp_path: Path) -> None:
    fit(
        DespinaLogger(run["stage1"], base_namespace="fit", prefix="pre", log_model_checkpoints=False),
        tmp_path,
    )
    read = reopen(run)
    assert read["stage1/fit/hyperparams/lr"].fetch() == 0.05
    assert len(series(read, "stage1/fit/pre/val_loss")) == EPOCHS
    assert read.exists("stage1/fit/pre/model/summary")
    assert not read.exists("stage1/fit/pre/model/checkpoints")
    assert not read.exists("training")
    read.stop()


def test_creates_its_own_run_in_the_project(tmp_path: Path) -> None:
    logger = DespinaLogger(project=PROJECT, name="lightning-made", capture_hardware_metrics=False)
    fit(logger, tmp_path, max_steps=2)
    made = logger.run
    assert isinstance(made, despina.Run) and logger.version == made.id
    read = reopen(made)
    assert read["sys/name"].fetch() == "lightning-made"
    assert len(series(read, "training/train/loss_step")) == 2
    read.stop()


def test_a_stopped_run_warns_and_training_goes_on(run: despina.Run, tmp_path: Path) -> None:
    run.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checkpoint = fit(DespinaLogger(run), tmp_path)
    assert Path(checkpoint.best_model_path).is_file()  # training finished
    ours = [w for w in caught if issubclass(w.category, IntegrationWarning)]
    assert ours and "was stopped" in str(ours[0].message)
    assert len(ours) == 1  # once, not once per metric and step


def test_run_and_project_together_are_refused(run: despina.Run) -> None:
    with pytest.raises(ValueError, match="not both"):
        DespinaLogger(run, project=PROJECT)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_training_on_a_gpu_logs_its_metrics_and_the_gpu_readings(tmp_path: Path) -> None:
    """The run's hardware monitoring reads the GPU the model trains on (`gpu/0` is `cuda:0`)."""
    run = despina.init_run(
        project=PROJECT,
        capture_stdout=False,
        capture_stderr=False,
        monitoring_interval=0.2,
        source_files=[],
        git_ref=False,
    )
    fit(DespinaLogger(run), tmp_path, accelerator="gpu", devices=1)
    held = torch.ones(64, 1024, 1024, device="cuda")  # 256 MiB the readings must show
    time.sleep(1.0)
    read = reopen(run)
    del held
    assert len(series(read, "training/train/loss_step")) == BATCHES * EPOCHS
    monitoring = f"monitoring/{next(iter(read.get_structure()['monitoring']))}"
    memory = [value for _, value in series(read, f"{monitoring}/gpu/0/memory_used")]
    utilization = [value for _, value in series(read, f"{monitoring}/gpu/0/utilization")]
    assert memory and max(memory) > 0.25  # GiB: at least the tensor held on the device
    assert utilization and all(0 <= value <= 100 for value in utilization)
    read.stop()
