"""Kedro integration: every `kedro run` is one Despina run.

Installed with Despina (`pip install "despina[kedro]"`), the plugin registers itself through Kedro's
entry points: its hooks (`kedro.hooks`) and `kedro despina init` (`kedro.project_commands`), which writes
`conf/base/despina.yml` and `conf/local/credentials_despina.yml`. Inside a node, take `despina_run` as
an input to log to the run; DespinaFileDataset and DespinaMetricsDataset upload files and log metrics
from the catalog. See docs/kedro.md for the fields.

Kedro is imported only when one of the Kedro-specific names below is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DespinaFileDataset",
    "DespinaHooks",
    "DespinaMetricsDataset",
    "DespinaRunDataset",
    "despina_hooks",
]

_HOME = {
    "DespinaFileDataset": "datasets",
    "DespinaMetricsDataset": "datasets",
    "DespinaRunDataset": "datasets",
    "DespinaHooks": "hooks",
    "despina_hooks": "hooks",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
