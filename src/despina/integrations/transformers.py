"""Hugging Face Transformers integration: a `TrainerCallback` that writes a `Trainer` run to Despina.

    import despina
    from despina.integrations.transformers import DespinaCallback

    run = despina.init_run(project="team/nlp")
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=valid,
                      callbacks=[DespinaCallback(run, log_checkpoints="best")])

or, with the run made by the callback in DESPINA_PROJECT:

    from despina.integrations.transformers import register
    register()                                     # adds "despina" to Transformers' report_to names
    args = TrainingArguments(..., report_to="despina")

Fields, under `base_namespace` ("finetuning" by default, as Transformers' own Neptune callback):

- `trainer_parameters/<name>`: the training arguments (`TrainingArguments.to_sanitized_dict()`);
- `model_parameters/<name>`: the model's configuration (`model.config.to_dict()`);
- `train/<metric>` (loss, learning_rate, grad_norm, epoch, and at the end train_runtime, train_loss,
  ...), `eval/<metric>` (eval_loss -> `eval/loss`) and `test/<metric>`: float series at the global step;
- `best_model_checkpoint`, `best_metric`: when the Trainer tracks a best model;
- `checkpoints/checkpoint-<step>` (file sets of the checkpoint folders) with `log_checkpoints="all"`
  or `"last"` (only the latest is kept), `checkpoints/best` with `log_checkpoints="best"`;
- `source_code/integrations/transformers` on the run: Transformers' version.

Importing this module does not import Transformers; `DespinaCallback` and `register` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from despina.integrations._fields import IntegrationWarning, require

if TYPE_CHECKING:
    from despina.integrations._transformers_callback import DespinaCallback

__all__ = ["REPORT_TO_NAME", "DespinaCallback", "IntegrationWarning", "register"]

REPORT_TO_NAME = "despina"


def _callback_class() -> Any:
    require("transformers", "transformers", "transformers")
    from despina.integrations import _transformers_callback

    return _transformers_callback.DespinaCallback


def register() -> None:
    """Make `TrainingArguments(report_to="despina")` (and `report_to="all"`'s list) use DespinaCallback.

    Transformers keeps its reporting integrations in a public table, `INTEGRATION_TO_CALLBACK`; this
    adds ours to it. The Trainer then creates the callback with no arguments: it logs to a new run in
    DESPINA_PROJECT.
    """
    callback = _callback_class()
    from transformers.integrations import integration_utils

    integration_utils.INTEGRATION_TO_CALLBACK[REPORT_TO_NAME] = callback


def __getattr__(name: str) -> Any:
    # DespinaCallback subclasses transformers.TrainerCallback: define it (and import Transformers) on use.
    if name == "DespinaCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
