"""PyTorch Lightning integration: a `Logger` that writes a training to a Despina run.

    import despina
    from lightning.pytorch import Trainer
    from despina.integrations.lightning import DespinaLogger

    run = despina.init_run(project="team/cassava")
    trainer = Trainer(logger=DespinaLogger(run), max_epochs=10)
    trainer.fit(model, datamodule)

or `DespinaLogger(project="team/cassava")` to let the logger create the run (in the rank-zero process
only, when it first logs). Fields, under `base_namespace` ("training" by default):

- `hyperparams/<name>`: what the module (and datamodule) saved with `save_hyperparameters()`;
- `<prefix>/<metric>`: every metric `self.log(...)` reports, a float series at the trainer's global step;
- `<prefix>/model/summary`: the model summary (text file);
- `<prefix>/model/checkpoints/<name>`: the checkpoints ModelCheckpoint keeps (best k and last, `<name>`
  their file name without `.ckpt`; one it deletes is removed from the run too),
  `model/best_model_path`, `model/best_model_score`, `model/last_model_path`,
  `model/best_k_models/<name>` = score (with `log_model_checkpoints=True`);
- `source_code/integrations/lightning` on the run: Lightning's version.

Only the process of global rank zero writes (see docs/integrations.md for multi-GPU training). Works with
the `lightning` package, or `pytorch_lightning` when that is the one installed. Importing this module does
not import Lightning; `DespinaLogger` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from despina.integrations._fields import IntegrationWarning

if TYPE_CHECKING:
    from despina.integrations._lightning_logger import DespinaLogger

__all__ = ["DespinaLogger", "IntegrationWarning"]


def __getattr__(name: str) -> Any:
    # DespinaLogger subclasses Lightning's Logger, so defining it imports Lightning: do so on first use.
    if name == "DespinaLogger":
        try:
            from despina.integrations import _lightning_logger
        except ImportError as exc:
            raise ImportError(
                "despina.integrations.lightning needs lightning (or pytorch_lightning); install it with "
                '`pip install "despina[lightning]"`'
            ) from exc
        return _lightning_logger.DespinaLogger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
