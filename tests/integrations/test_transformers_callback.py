"""DespinaCallback logs a real (tiny, CPU) Hugging Face Trainer run: a BERT built from a config (nothing
downloaded), trained on tensors made here; arguments, model config, metrics and checkpoints read back."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

transformers = pytest.importorskip("transformers", reason="the transformers extra is not installed")
torch = pytest.importorskip("torch", reason="the transformers extra is not installed")

from conftest import reopen, series  # noqa: E402

import despina  # noqa: E402
from despina.integrations.transformers import DespinaCallback, IntegrationWarning, register  # noqa: E402

SAMPLES, BATCH, EPOCHS = 16, 8, 2
STEPS = SAMPLES // BATCH * EPOCHS


class Sequences(torch.utils.data.Dataset):  # type: ignore[misc]
    """Token ids whose label is whether token 7 occurs: no tokenizer, no download."""

    def __init__(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 20, (SAMPLES, 12), generator=generator)
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, index: int) -> dict[str, Any]:
        ids = self.ids[index]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": self.labels[index]}


def trainer(tmp_path: Path, callbacks: list[Any], **arguments: Any) -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=24,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    defaults: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": BATCH,
        "per_device_eval_batch_size": BATCH,
        "num_train_epochs": EPOCHS,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "seed": 0,
    }
    defaults.update(arguments)
    return transformers.Trainer(
        model=transformers.BertForSequenceClassification(config),
        args=transformers.TrainingArguments(**defaults),
        train_dataset=Sequences(0),
        eval_dataset=Sequences(1),
        callbacks=callbacks,
    )


def test_logs_arguments_config_metrics_and_checkpoints(run: despina.Run, tmp_path: Path) -> None:
    t = trainer(tmp_path, [DespinaCallback(run, log_checkpoints="last")])
    t.train()
    final = t.evaluate()
    read = reopen(run)

    assert read["source_code/integrations/transformers"].fetch() == transformers.__version__
    assert read["finetuning/trainer_parameters/learning_rate"].fetch() == pytest.approx(1e-3)
    assert read["finetuning/trainer_parameters/num_train_epochs"].fetch() == EPOCHS
    assert read["finetuning/model_parameters/hidden_size"].fetch() == 16
    assert read["finetuning/model_parameters/model_type"].fetch() == "bert"

    loss = series(read, "finetuning/train/loss")
    assert [s for s, _ in loss] == [float(s) for s in range(1, STEPS + 1)]
    assert all(v > 0 for _, v in loss)
    assert [s for s, _ in series(read, "finetuning/train/learning_rate")] == [
        float(s) for s in range(1, STEPS + 1)
    ]
    assert series(read, "finetuning/train/train_loss")[0][0] == STEPS
    eval_loss = series(read, "finetuning/eval/loss")
    # one evaluation per epoch; the evaluate() after training lands at the same global step as the
    # last one, so it is dropped (with a warning) unless its value is the same, as it is here
    assert [s for s, _ in eval_loss] == [float(STEPS // EPOCHS), float(STEPS)]
    assert eval_loss[-1][1] == pytest.approx(final["eval_loss"])

    checkpoints = read.get_structure()["finetuning"]["checkpoints"]
    assert list(checkpoints) == [f"checkpoint-{STEPS}"]  # "last": the earlier one was removed
    files = read[f"finetuning/checkpoints/checkpoint-{STEPS}"].fetch_files_list()
    assert "config.json" in files and "model.safetensors" in files and "trainer_state.json" in files
    read.stop()


def test_report_to_after_register_creates_a_run(tmp_path: Path) -> None:
    register()
    t = trainer(tmp_path, [], report_to="despina", save_strategy="no", eval_strategy="no")
    callbacks = [c for c in t.callback_handler.callbacks if isinstance(c, DespinaCallback)]
    assert len(callbacks) == 1
    t.train()
    made = callbacks[0].run
    assert isinstance(made, despina.Run)
    read = reopen(made)
    assert len(series(read, "finetuning/train/loss")) == STEPS
    assert read["finetuning/trainer_parameters/report_to"].fetch() == "['despina']"
    read.stop()


def test_best_checkpoint_and_a_stopped_run(run: despina.Run, tmp_path: Path) -> None:
    t = trainer(
        tmp_path,
        [DespinaCallback(run, base_namespace="ft", log_checkpoints="best", log_parameters=False)],
        load_best_model_at_end=True,
        metric_for_best_model="loss",
    )
    t.train()
    read = reopen(run)
    best = t.state.best_model_checkpoint
    assert read["ft/best_model_checkpoint"].fetch() == best
    assert read["ft/best_metric"].fetch() == pytest.approx(t.state.best_metric)
    assert "model.safetensors" in read["ft/checkpoints/best"].fetch_files_list()
    assert not read.exists("ft/trainer_parameters")
    read.stop()

    # The same run, now stopped: a second training warns once and finishes.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = trainer(tmp_path / "again", [DespinaCallback(run)], save_strategy="no", eval_strategy="no")
        again.train()
    assert again.state.global_step == STEPS
    ours = [w for w in caught if issubclass(w.category, IntegrationWarning)]
    assert len(ours) == 1 and "was stopped" in str(ours[0].message)
