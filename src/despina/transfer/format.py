"""The export format, shared by `export.py` and `import_despina.py`.

A Despina export is a folder that any Parquet reader understands, so the data never depends on
Despina to be read:

- `runs.parquet`: one row per run (its record: id, custom run id, name, description, owner, state,
  failed, creation/modification/ping time, fork parent and step, tags, and the inherited series a
  fork deleted).
- `fields.parquet`: one row per field as `Store.fields` shows it (run id, path, type and one typed
  value column: float, int, bool, string, datetime in UTC microseconds, or JSON for files, file sets,
  string sets, series summaries and tracked files). `sys/` fields are included, so the table is the
  whole run. Tracked files (`track_files`, type `artifact`) are the field's value as
  `ArtifactRef.to_dict()` shows it: set hash, file count, total size and the sha256 of the blob that
  holds the file list.
- `series.parquet`: one row per point (run id, path, type, step, timestamp in float seconds since the
  epoch, float/string value or file reference as JSON). A fork's points read through from its parent
  are flagged `inherited`, so the file holds every curve as a reader sees it and import knows which
  points to re-create.
- `blobs/<sha256>`: the content of every file any field or point refers to, and the file list of
  every tracked-files field (a gzip JSON document, see `despina.client.artifact_manifest`).
- `manifest.json`: format and version, project, counts, Despina version; written last, so a folder
  without one is an export that did not finish.

Versions: 2 added tracked-files fields; the files of version 1 have the same columns and no such
rows, so an export of either version imports. A Despina that reads only version 1 refuses a version 2
export by its manifest instead of failing on a field type it does not know.

Rows of one run are contiguous in `fields.parquet` and `series.parquet`, in the order of
`runs.parquet` (parents before their forks), so import can stream them run by run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from despina.client import field_types as ft
from despina.client.operations import FileRef
from despina.exceptions import DespinaError

FORMAT_NAME = "despina-export"
FORMAT_VERSION = 2

MANIFEST = "manifest.json"
RUNS_FILE = "runs.parquet"
FIELDS_FILE = "fields.parquet"
SERIES_FILE = "series.parquet"
BLOBS_DIR = "blobs"

# Points per AppendPoints when importing, and rows per Parquet row group when exporting: large enough
# for throughput, small enough that neither side holds much of a long series at once.
POINTS_PER_OPERATION = 10_000
ROWS_PER_GROUP = 65_536

# Fields of `Store.fields` that are the run's record (runs.parquet) rather than data: import restores
# them through the record (RunCreate, `sys/state`...), never as fields.
RECORD_PATHS = frozenset(
    {
        "sys/id",
        "sys/name",
        "sys/description",
        "sys/owner",
        "sys/state",
        "sys/failed",
        "sys/creation_time",
        "sys/modification_time",
        "sys/ping_time",
        "sys/custom_run_id",
        "sys/tags",
        "sys/forking/parent",
        "sys/forking/step",
    }
)

_TIME = pa.timestamp("us", tz="UTC")

RUNS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("custom_run_id", pa.string()),
        pa.field("name", pa.string(), nullable=False),
        pa.field("description", pa.string(), nullable=False),
        pa.field("owner", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),
        pa.field("failed", pa.bool_(), nullable=False),
        pa.field("creation_time", _TIME, nullable=False),
        pa.field("modification_time", _TIME, nullable=False),
        pa.field("ping_time", _TIME),
        pa.field("fork_parent", pa.string()),
        pa.field("fork_step", pa.float64()),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("hidden_series", pa.list_(pa.string()), nullable=False),
    ]
)

FIELDS_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("float_value", pa.float64()),
        pa.field("int_value", pa.int64()),
        pa.field("bool_value", pa.bool_()),
        pa.field("string_value", pa.string()),
        pa.field("datetime_value", _TIME),
        pa.field("json_value", pa.string()),
    ]
)

SERIES_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("step", pa.float64(), nullable=False),
        pa.field("timestamp", pa.float64(), nullable=False),
        pa.field("float_value", pa.float64()),
        pa.field("string_value", pa.string()),
        pa.field("file", pa.string()),
        pa.field("inherited", pa.bool_(), nullable=False),
    ]
)

SCHEMAS = {RUNS_FILE: RUNS_SCHEMA, FIELDS_FILE: FIELDS_SCHEMA, SERIES_FILE: SERIES_SCHEMA}

# (runs done, runs in all, the run being worked on): what a progress bar needs.
ProgressCallback = Callable[[int, int, str], None]


class TransferError(DespinaError):
    """An export or import cannot go on: the folder is missing, incomplete, corrupt or not empty."""


def file_json(ref: FileRef) -> str:
    """A file reference as JSON text (stable key order, so equal references give equal text)."""
    return json.dumps(ref.to_dict(), sort_keys=True)


def file_from_json(text: str) -> FileRef:
    return FileRef.from_dict(json.loads(text))


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of an export folder, checked: every error names the file and what is wrong."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise TransferError(f"{directory} is not a folder")
    if not path.is_file():
        raise TransferError(
            f"{path} is missing: {directory} is not a Despina export, or its export did not finish"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TransferError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise TransferError(f'{path} is not the manifest of a Despina export (no "format": {FORMAT_NAME!r})')
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TransferError(
            f"{path} has format version {version!r}; this Despina reads version {FORMAT_VERSION} or older. "
            "Upgrade Despina to import it"
        )
    for key in ("project", "export_id"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise TransferError(f"{path} has no {key!r}")
    return manifest


def is_series(type_: str) -> bool:
    return type_ in ft.SERIES_TYPES


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a summary statistic that is not finite is left out."""
    return value if value is not None and math.isfinite(value) else None
