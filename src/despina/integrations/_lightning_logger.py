"""The Lightning logger itself; imported by :mod:`despina.integrations.lightning` on first use, because
it subclasses Lightning's `Logger` and so needs Lightning at import time."""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from despina.client.handler import Handler
from despina.client.run import Run, init_run
from despina.integrations._fields import FieldLog, LazyRun, join, resolve, to_number
from despina.types import File

try:  # the unified `lightning` package first, then the standalone `pytorch_lightning`
    import lightning as _lightning_package
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.loggers.logger import Logger
    from lightning.pytorch.utilities import rank_zero_only
    from lightning.pytorch.utilities.model_summary.model_summary import ModelSummary
except ImportError:  # pragma: no cover - exercised only where just pytorch_lightning is installed
    import pytorch_lightning as _lightning_package  # type: ignore[no-redef, unused-ignore]
    from lightning_fabric.loggers.logger import rank_zero_experiment  # type: ignore[no-redef, unused-ignore]
    from pytorch_lightning.loggers.logger import Logger  # type: ignore[assignment, unused-ignore]
    from pytorch_lightning.utilities import rank_zero_only  # type: ignore[no-redef, unused-ignore]
    from pytorch_lightning.utilities.model_summary.model_summary import (  # type: ignore[assignment, unused-ignore]
        ModelSummary,
    )

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.nn import Module

INTEGRATION = "lightning"
INTEGRATION_VERSION_KEY = "source_code/integrations/lightning"


class DespinaLogger(Logger):
    """Log a Lightning training to a Despina run: `Trainer(logger=DespinaLogger(run))`.

    `run` is a Run, a namespace of one (`run["stage1"]`), or None: the logger then creates a run in
    `project` (default DESPINA_PROJECT; `init_run_kwargs` are passed to `init_run`) when it first has
    something to log, in the rank-zero process only. Fields go under `base_namespace` (see
    docs/integrations.md): `hyperparams/`, every metric at the trainer's global step (under `prefix`
    when given), `model/summary`, and, with `log_model_checkpoints`, the checkpoints `ModelCheckpoint`
    keeps (`model/checkpoints/<name>`, best and last) with `model/best_model_path`,
    `model/best_model_score` and `model/best_k_models/<name>`.

    Multi-GPU / multi-process (DDP, FSDP, DeepSpeed): only the process of global rank zero writes;
    the other ranks log nothing (metrics logged with `sync_dist=True` are already reduced across ranks
    when rank zero receives them). A tracking failure warns (`IntegrationWarning`) and training goes on.
    """

    LOGGER_JOIN_CHAR = "/"

    def __init__(
        self,
        run: Run | Handler | None = None,
        project: str | None = None,
        base_namespace: str = "training",
        log_model_checkpoints: bool = True,
        prefix: str = "",
        **init_run_kwargs: Any,
    ) -> None:
        super().__init__()
        if run is not None and (project is not None or init_run_kwargs):
            raise ValueError("give DespinaLogger a run, or project= (and init_run arguments), not both")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        self._base_namespace = base_namespace
        self._prefix = prefix.strip("/")
        self._log_model_checkpoints = log_model_checkpoints
        self._lazy: LazyRun | None = None
        self._log: FieldLog | None = None
        self._run_id: str | None = None  # kept across pickling (spawned processes reopen the run)
        self._project: str | None = None
        self._namespace = ""
        if run is None:
            self._lazy = LazyRun(project, init_run_kwargs)
            self._project = self._lazy.project
            if not isinstance(base_namespace, str):
                raise TypeError(f"base_namespace must be a str, not {type(base_namespace).__name__}")
        else:
            root, self._namespace = resolve(run, "")
            self._log = FieldLog(root, join(self._namespace, base_namespace), INTEGRATION)
            self._log.version(INTEGRATION, str(_lightning_package.__version__))
        self._uploaded: dict[str, float] = {}  # checkpoint name -> mtime of the file uploaded under it
        self._summary_logged = False

    # -- the run --------------------------------------------------------------------------------------

    def _field_log(self) -> FieldLog | None:
        """Where to write, creating (or, in a spawned process, reopening) the run on first use."""
        if self._log is not None:
            return self._log
        root: Run | None = None
        if self._run_id is not None:
            try:
                root = init_run(project=self._project, with_id=self._run_id)
            except Exception:
                root = None
        elif self._lazy is not None:
            root = self._lazy.get(INTEGRATION)
        if root is None:
            return None
        self._log = FieldLog(root, join(self._namespace, self._base_namespace), INTEGRATION)
        self._log.version(INTEGRATION, str(_lightning_package.__version__))
        return self._log

    @property
    @rank_zero_experiment
    def experiment(self) -> Run | None:
        """The run (None if it could not be created); on ranks other than zero, a do-nothing stand-in."""
        log = self._field_log()
        return None if log is None else log.root

    @property
    def run(self) -> Run | None:
        """The run, as `experiment`: `logger.run["extra"] = 1`, `logger.run.stop()`."""
        run: Run | None = self.experiment
        return run

    @property
    def name(self) -> str:
        """The name checkpoint folders are made under (`<default_root_dir>/<name>/<version>/`)."""
        return "despina"

    @property
    def version(self) -> str | None:
        """The run's id (its checkpoints go to a folder named after it)."""
        run = self.experiment
        return run.id if isinstance(run, Run) else self._run_id

    @property
    def save_dir(self) -> str | None:
        return None

    def __getstate__(self) -> dict[str, Any]:
        # A Run cannot be pickled, and a spawned process (ddp_spawn) must log to the same run: pickle its
        # id and reopen it there. The run is created here, in the parent, so that every process agrees.
        state = self.__dict__.copy()
        log = self._field_log() if getattr(rank_zero_only, "rank", 0) == 0 else self._log
        if log is not None:
            state["_run_id"] = log.root.id
            state["_project"] = log.root.project
        state["_log"] = None
        state["_lazy"] = None
        return state

    # -- Lightning's Logger interface -------------------------------------------------------------

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """`hyperparams/<name>`: the module's (and datamodule's) `save_hyperparameters()`."""
        log = self._field_log()
        if log is None:
            return
        values = vars(params) if isinstance(params, Namespace) else params
        if isinstance(values, Mapping) and values:
            log.put_params("hyperparams", values)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Each metric as a float series at the trainer's global step."""
        log = self._field_log()
        if log is None:
            return
        for key, value in metrics.items():
            number = to_number(value)
            if number is None:
                log.warn(f"metric:{key}", f"metric {key!r} is not a number ({type(value).__name__}); skipped")
                continue
            path = join(self._prefix, key)
            log.append(path, number, float(step) if step is not None else log.next_step(path))

    @rank_zero_only
    def log_graph(self, model: Module, input_array: Any = None) -> None:
        """`model/summary`: Lightning's model summary (every layer, parameter counts) as a text file."""
        log = self._field_log()
        if log is None:
            return
        try:
            # Lightning hands its LightningModule here; the base class types it as any Module.
            summary = str(ModelSummary(model, max_depth=-1))  # type: ignore[arg-type]
        except Exception as exc:
            log.warn("summary", f"could not summarise the model: {type(exc).__name__}: {exc}")
            return
        log.upload(join(self._prefix, "model/summary"), File.from_content(summary, extension="txt"))

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """The checkpoints the callback keeps, as files, and which one is best."""
        if not self._log_model_checkpoints:
            return
        log = self._field_log()
        if log is None:
            return
        model = join(self._prefix, "model")
        folder = getattr(checkpoint_callback, "dirpath", None)
        paths: dict[str, str] = {}  # name in the run -> file
        for key in ("last_model_path", "best_model_path"):
            value = getattr(checkpoint_callback, key, "")
            if value:
                paths[_checkpoint_name(value, folder)] = value
        best_k = dict(getattr(checkpoint_callback, "best_k_models", {}) or {})
        for value in best_k:
            paths[_checkpoint_name(value, folder)] = value
        for name, file in sorted(paths.items()):
            if not os.path.isfile(file):
                continue
            mtime = os.path.getmtime(file)
            if self._uploaded.get(name) == mtime:
                continue  # the same file as last time: do not copy it again
            if log.upload(f"{model}/checkpoints/{name}", file):
                self._uploaded[name] = mtime
        for stale in sorted(set(self._uploaded) - set(paths)):
            # ModelCheckpoint deleted it (no longer among the top k): the run follows.
            log.delete(f"{model}/checkpoints/{stale}")
            del self._uploaded[stale]
        best_path = getattr(checkpoint_callback, "best_model_path", "")
        if best_path:
            log.put(f"{model}/best_model_path", str(best_path))
        best_score = to_number(getattr(checkpoint_callback, "best_model_score", None))
        if best_score is not None:
            log.put(f"{model}/best_model_score", best_score)
        last_path = getattr(checkpoint_callback, "last_model_path", "")
        if last_path:
            log.put(f"{model}/last_model_path", str(last_path))
        if best_k:
            log.delete(f"{model}/best_k_models")
            for file, score in best_k.items():
                number = to_number(score)
                if number is not None:
                    log.put(f"{model}/best_k_models/{_checkpoint_name(file, folder)}", number)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """At the end of fit/validate/test: wait until what was logged is on disk."""
        log = self._log
        if log is None:
            return
        try:
            log.root.wait(disk_only=True)
        except Exception as exc:
            log.warn("wait", f"could not flush the run: {type(exc).__name__}: {exc}")


def _checkpoint_name(file: str, folder: str | None) -> str:
    """A checkpoint's field name: its path under the checkpoint folder, without `.ckpt`."""
    path = Path(file)
    try:
        relative = path.relative_to(folder) if folder else Path(path.name)
    except ValueError:
        relative = Path(path.name)
    name = relative.as_posix()
    return name[: -len(".ckpt")] if name.endswith(".ckpt") else name
