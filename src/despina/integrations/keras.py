"""Keras 3 integration (any backend): a callback that writes a training to a Despina run.

    import despina
    from despina.integrations.keras import DespinaCallback

    run = despina.init_run(project="team/cassava")
    model.fit(x, y, validation_split=0.2, epochs=10, callbacks=[DespinaCallback(run)])

Fields, under `base_namespace` ("training" by default):

- `train/batch/<metric>`: Keras' running metrics after every batch (step: batches since the callback was
  made, so a second `fit` continues the series); off with `log_on_batch=False`;
- `train/epoch/<metric>`: the metrics of each epoch (step: the epoch);
- `validation/epoch/<metric>`: the `val_<metric>` values of each epoch, without the `val_`;
  `validation/batch/<metric>`: the validation's running metrics, batch by batch;
- `test/batch/<metric>`, `test/epoch/<metric>`: `model.evaluate(..., callbacks=[cb])` outside `fit`;
- `model/summary` (text file), `model/optimizer_config/<key>`, `model/backend`;
- `source_code/integrations/keras` on the run: Keras' version.

Importing this module does not import Keras; `DespinaCallback` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from despina.integrations._fields import IntegrationWarning

if TYPE_CHECKING:
    from despina.integrations._keras_callback import DespinaCallback

__all__ = ["DespinaCallback", "IntegrationWarning"]


def __getattr__(name: str) -> Any:
    # DespinaCallback subclasses keras.callbacks.Callback: define it (and import Keras) on first use.
    if name == "DespinaCallback":
        try:
            from despina.integrations import _keras_callback
        except ImportError as exc:
            raise ImportError(
                'despina.integrations.keras needs keras 3; install it with `pip install "despina[keras]"`'
            ) from exc
        return _keras_callback.DespinaCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
