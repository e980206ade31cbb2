"""The Keras callback itself; imported by :mod:`despina.integrations.keras` on first use, because it
subclasses `keras.callbacks.Callback` and so needs Keras at import time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from despina.client.handler import Handler
from despina.client.run import Run
from despina.integrations._fields import FieldLog, LazyRun, resolve, to_number
from despina.types import File

INTEGRATION = "keras"


class DespinaCallback(keras.callbacks.Callback):  # type: ignore[misc]  # Keras is not typed for mypy
    """Log a Keras 3 training (any backend) to a Despina run: `model.fit(..., callbacks=[cb])`.

    `run` is a Run, a namespace of one, or None: the callback then creates a run in `project` (default
    DESPINA_PROJECT; `init_run_kwargs` go to `init_run`). Fields go under `base_namespace`:
    `train/batch/<metric>` (with `log_on_batch`; step = batches seen since the callback was made),
    `train/epoch/<metric>` and `validation/epoch/<metric>` (step = epoch), `validation/batch/<metric>`,
    `test/batch/<metric>` and `test/epoch/<metric>` (`model.evaluate` outside `fit`), `model/summary`
    and `model/optimizer_config/`. A tracking failure warns and training goes on.
    """

    def __init__(
        self,
        run: Run | Handler | None = None,
        base_namespace: str = "training",
        log_on_batch: bool = True,
        project: str | None = None,
        **init_run_kwargs: Any,
    ) -> None:
        super().__init__()
        if run is not None and (project is not None or init_run_kwargs):
            raise ValueError("give DespinaCallback a run, or project= (and init_run arguments), not both")
        self._lazy = LazyRun(project, init_run_kwargs) if run is None else None
        self._log: FieldLog | None = None
        if run is not None:
            root, base = resolve(run, base_namespace)
            self._log = FieldLog(root, base, INTEGRATION)
        elif not isinstance(base_namespace, str):
            raise TypeError(f"base_namespace must be a str, not {type(base_namespace).__name__}")
        self._base_namespace = base_namespace
        self._log_on_batch = log_on_batch
        self._in_fit = False
        self._counters = {"train": 0, "validation": 0, "test": 0, "test_epoch": 0}

    @property
    def run(self) -> Run | None:
        """The run the callback logs to (created on first use when none was given)."""
        log = self._field_log()
        return None if log is None else log.root

    def _field_log(self) -> FieldLog | None:
        if self._log is None and self._lazy is not None:
            root = self._lazy.get(INTEGRATION)
            if root is not None:
                root_run, base = resolve(root, self._base_namespace)
                self._log = FieldLog(root_run, base, INTEGRATION)
        return self._log

    def _metrics(self, namespace: str, logs: Mapping[str, Any] | None, step: float) -> None:
        log = self._field_log()
        if log is None or not logs:
            return
        for name, value in logs.items():
            number = to_number(value)
            if number is None:
                continue
            if namespace.startswith("train/") and name.startswith("val_"):
                log.append(f"validation/epoch/{name[len('val_') :]}", number, step)
            else:
                log.append(f"{namespace}/{name}", number, step)

    # -- Keras hooks --------------------------------------------------------------------------------

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._in_fit = True
        log = self._field_log()
        if log is None:
            return
        log.version(INTEGRATION, str(keras.__version__))
        log.put("model/backend", str(keras.backend.backend()))
        lines: list[str] = []
        try:
            self.model.summary(print_fn=lambda text, *args, **kwargs: lines.append(str(text)))
        except Exception as exc:
            log.warn("summary", f"could not summarise the model: {type(exc).__name__}: {exc}")
        if lines:
            log.upload("model/summary", File.from_content("\n".join(lines), extension="txt"))
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            try:
                config = optimizer.get_config()
            except Exception as exc:
                log.warn("optimizer", f"could not read the optimizer's config: {type(exc).__name__}: {exc}")
            else:
                log.put_params("model/optimizer_config", config)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._in_fit = False

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._log_on_batch:
            self._metrics("train/batch", logs, self._counters["train"])
        self._counters["train"] += 1

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._metrics("train/epoch", logs, epoch)

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        # Keras runs the validation of `fit` through the test hooks: tell the two apart.
        kind = "validation" if self._in_fit else "test"
        if self._log_on_batch:
            self._metrics(f"{kind}/batch", logs, self._counters[kind])
        self._counters[kind] += 1

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._in_fit:  # fit reports validation results in on_epoch_end, as val_<metric>
            self._metrics("test/epoch", logs, self._counters["test_epoch"])
            self._counters["test_epoch"] += 1
