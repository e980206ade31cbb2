"""The Transformers callback itself; imported by :mod:`despina.integrations.transformers` on first use,
because it subclasses `transformers.TrainerCallback`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import transformers
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from despina.client.handler import Handler
from despina.client.run import Run
from despina.integrations._fields import FieldLog, LazyRun, check_run_arguments, resolve, to_number

INTEGRATION = "transformers"
CheckpointPolicy = Literal["all", "last", "best"]


class DespinaCallback(TrainerCallback):
    """Log a Hugging Face `Trainer` to a Despina run: `Trainer(..., callbacks=[DespinaCallback(run)])`,
    or `TrainingArguments(report_to="despina")` after :func:`despina.integrations.transformers.register`.

    `run` is a Run, a namespace of one, or None: a run is then created in `project` (default
    DESPINA_PROJECT; `init_run_kwargs` go to `init_run`) when training begins, in the main process only.
    Fields under `base_namespace` ("finetuning"): `trainer_parameters/`, `model_parameters/`, every
    logged metric as `train/<name>`, `eval/<name>` or `test/<name>` at the global step, and with
    `log_checkpoints` the checkpoints: "all" (each saved one), "last" (only the latest) or "best" (the
    best one, at the end; needs `load_best_model_at_end`/`metric_for_best_model`).
    A tracking failure warns and training goes on.
    """

    def __init__(
        self,
        run: Run | Handler | None = None,
        base_namespace: str = "finetuning",
        log_checkpoints: CheckpointPolicy | None = None,
        log_parameters: bool = True,
        project: str | None = None,
        **init_run_kwargs: Any,
    ) -> None:
        check_run_arguments("DespinaCallback", run, project, init_run_kwargs)
        if log_checkpoints not in (None, "all", "last", "best"):
            raise ValueError(
                f"log_checkpoints must be None, 'all', 'last' or 'best', not {log_checkpoints!r}"
            )
        if not isinstance(base_namespace, str):
            raise TypeError(f"base_namespace must be a str, not {type(base_namespace).__name__}")
        self._given = run
        self._lazy = LazyRun(project, init_run_kwargs) if run is None else None
        self._base_namespace = base_namespace
        self._log_checkpoints = log_checkpoints
        self._log_parameters = log_parameters
        self._log: FieldLog | None = None
        self._last_checkpoint: str | None = None

    @property
    def run(self) -> Run | None:
        """The run the callback logs to (None until training begins when the callback creates it)."""
        return None if self._log is None else self._log.root

    def _field_log(self, state: TrainerState) -> FieldLog | None:
        """Only the main process logs (under DDP every process runs the callbacks)."""
        if not state.is_world_process_zero:
            return None
        if self._log is None:
            run = self._given
            if run is None and self._lazy is not None:
                run = self._lazy.get(INTEGRATION)
            if run is None:
                return None
            root, base = resolve(run, self._base_namespace)
            self._log = FieldLog(root, base, INTEGRATION)
        return self._log

    # -- Trainer events -------------------------------------------------------------------------------

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        log = self._field_log(state)
        if log is None:
            return
        log.version(INTEGRATION, str(transformers.__version__))
        if not self._log_parameters:
            return
        try:
            log.put_params("trainer_parameters", args.to_sanitized_dict())
        except Exception as exc:
            log.warn("args", f"could not read the training arguments: {type(exc).__name__}: {exc}")
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            try:
                log.put_params("model_parameters", config.to_dict())
            except Exception as exc:
                log.warn("config", f"could not read the model config: {type(exc).__name__}: {exc}")

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        log = self._field_log(state)
        if log is None or not logs:
            return
        for key, value in logs.items():
            number = to_number(value)
            if number is None:
                continue
            log.append(_metric_path(key), number, state.global_step)

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._log_checkpoints not in ("all", "last"):
            return
        log = self._field_log(state)
        if log is None:
            return
        name = f"checkpoint-{state.global_step}"
        folder = Path(args.output_dir or ".") / name
        if not folder.is_dir():
            log.warn(f"missing:{name}", f"checkpoint folder {folder} not found; not logged")
            return
        if _upload_folder(log, f"checkpoints/{name}", folder):
            if self._log_checkpoints == "last" and self._last_checkpoint not in (None, name):
                log.delete(f"checkpoints/{self._last_checkpoint}")
            self._last_checkpoint = name

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        log = self._field_log(state)
        if log is None:
            return
        best = state.best_model_checkpoint
        if best:
            log.put("best_model_checkpoint", str(best))
            if state.best_metric is not None:
                log.put("best_metric", float(state.best_metric))
            if self._log_checkpoints == "best" and os.path.isdir(best):
                _upload_folder(log, "checkpoints/best", Path(best))
        elif self._log_checkpoints == "best":
            log.warn("best", "log_checkpoints='best' needs a best checkpoint (metric_for_best_model); none")
        try:
            log.root.wait(disk_only=True)
        except Exception as exc:
            log.warn("wait", f"could not flush the run: {type(exc).__name__}: {exc}")


def _metric_path(key: str) -> str:
    """Trainer's `eval_loss` -> `eval/loss`, `test_accuracy` -> `test/accuracy`, `loss` -> `train/loss`."""
    for prefix in ("eval", "test"):
        if key.startswith(f"{prefix}_"):
            return f"{prefix}/{key[len(prefix) + 1 :]}"
    return f"train/{key}"


def _upload_folder(log: FieldLog, sub: str, folder: Path) -> bool:
    """Every file of a checkpoint folder, as one file set (paths relative to the folder)."""
    files = sorted(str(path) for path in folder.rglob("*") if path.is_file())
    if not files:
        return False
    return log.upload_files(sub, files)
