"""`neptune.new.integrations.optuna`: the same as `despina.compat.neptune.integrations.optuna`."""

from __future__ import annotations

from despina.compat.neptune.integrations.optuna import (
    NEPTUNE_INTEGRATION_VERSION_KEY,
    NeptuneCallback,
    load_study_from_run,
    log_study_metadata,
)

__all__ = ["NEPTUNE_INTEGRATION_VERSION_KEY", "NeptuneCallback", "load_study_from_run", "log_study_metadata"]
