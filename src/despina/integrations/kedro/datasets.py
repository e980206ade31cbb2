"""Kedro datasets that talk to the pipeline's Despina run.

- `despina_run` (DespinaRunDataset, added to the catalog by the plugin): a node that takes it as an
  input gets a Handler on the run at the base namespace (`kedro/` by default), e.g.
  `despina_run["evaluation/accuracy"] = acc` stores `kedro/evaluation/accuracy`.
- DespinaFileDataset: a binary file; what a node saves to it (bytes, str, or a matplotlib/plotly
  figure) is written to `filepath` and uploaded to `<base>/catalog/files/<name>`. Declared as
  `<name>@despina` with the filepath of another dataset, it uploads the file that dataset wrote.
- DespinaMetricsDataset: a dict of numbers saved by a node is logged under `<base>/metrics/<name>/`;
  with `filepath`, it is also written there as JSON (and loaded back from it).

The uploads and metric fields are written by the plugin's `after_dataset_saved` hook, which knows the
dataset's catalog name; the datasets themselves only store data where Kedro expects it.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset

from despina.client.handler import Handler
from despina.exceptions import DespinaConfigError
from despina.integrations.kedro.runs import RunSpec, run_for

RUN_DATASET = "despina_run"
ALIAS_SUFFIX = "@despina"


class DespinaRunDataset(AbstractDataset[Any, Handler]):
    """Loads a Handler on the pipeline's run at its base namespace; saving to it is not allowed."""

    def __init__(self, spec: RunSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> RunSpec:
        return self._spec

    def load(self) -> Handler:
        return run_for(self._spec)[self._spec.base_namespace]

    def save(self, data: Any) -> None:
        raise DespinaConfigError(
            f"{RUN_DATASET} is an input only: log through the handler a node receives, "
            f"e.g. {RUN_DATASET}['metrics/accuracy'] = 0.93"
        )

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"project": self._spec.project, "base_namespace": self._spec.base_namespace}


def _figure_bytes(data: Any, suffix: str) -> bytes | None:
    """PNG/SVG/PDF bytes of a matplotlib figure, HTML of a plotly one, or None for other objects."""
    if callable(getattr(data, "savefig", None)):
        buffer = io.BytesIO()
        data.savefig(buffer, format=(suffix or "png"), bbox_inches="tight")
        return buffer.getvalue()
    if callable(getattr(data, "to_html", None)) and type(data).__module__.startswith("plotly"):
        return str(data.to_html(include_plotlyjs="cdn")).encode()
    return None


class DespinaFileDataset(AbstractDataset[Any, bytes]):
    """A local file whose content the plugin uploads to the run: `<base>/catalog/files/<name>`.

    `save` takes bytes, str (written as UTF-8), or a figure (matplotlib: in the format of the
    file's extension, PNG by default; plotly: an HTML page); `load` returns the file's bytes.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    @property
    def filepath(self) -> Path:
        return self._filepath

    def load(self) -> bytes:
        return self._filepath.read_bytes()

    def save(self, data: Any) -> None:
        if isinstance(data, str):
            content = data.encode()
        elif isinstance(data, (bytes, bytearray, memoryview)):
            content = bytes(data)
        else:
            figure = _figure_bytes(data, self._filepath.suffix.lstrip(".").lower())
            if figure is None:
                raise DespinaConfigError(
                    f"DespinaFileDataset({str(self._filepath)!r}) saves bytes, str or a figure, "
                    f"not {type(data).__name__}"
                )
            content = figure
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        self._filepath.write_bytes(content)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": PurePosixPath(self._filepath).as_posix()}


def flatten_metrics(data: Any, where: str) -> dict[str, float]:
    """`{"a": 1, "b": {"c": 2}}` -> `{"a": 1.0, "b/c": 2.0}`; anything else than numbers is an error."""
    if not isinstance(data, dict):
        raise DespinaConfigError(f"{where} saves a dict of numbers, not {type(data).__name__}")
    flat: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update({f"{key}/{sub}": v for sub, v in flatten_metrics(value, where).items()})
        elif isinstance(value, bool) or not hasattr(value, "__float__"):
            raise DespinaConfigError(f"{where}: metric {key!r} is {value!r}, not a number")
        else:
            flat[str(key)] = float(value)
    return flat


class DespinaMetricsDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """A dict of numbers, logged as float fields `<base>/metrics/<name>/<key>` (nested dicts nest)."""

    def __init__(self, filepath: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = None if filepath is None else Path(filepath)
        self._data: dict[str, Any] | None = None
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        if self._filepath is not None and self._filepath.is_file():
            loaded: dict[str, Any] = json.loads(self._filepath.read_text())
            return loaded
        if self._data is None:
            raise DespinaConfigError("DespinaMetricsDataset: nothing was saved yet and it has no filepath")
        return self._data

    def save(self, data: dict[str, Any]) -> None:
        flat = flatten_metrics(data, "DespinaMetricsDataset")
        self._data = dict(data)
        if self._filepath is not None:
            self._filepath.parent.mkdir(parents=True, exist_ok=True)
            safe = {k: (v if math.isfinite(v) else str(v)) for k, v in flat.items()}
            self._filepath.write_text(json.dumps(safe, indent=2, sort_keys=True))

    def _exists(self) -> bool:
        return self._data is not None or (self._filepath is not None and self._filepath.is_file())

    def _describe(self) -> dict[str, Any]:
        return {"filepath": None if self._filepath is None else PurePosixPath(self._filepath).as_posix()}
