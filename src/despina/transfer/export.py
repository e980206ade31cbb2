"""`despina export`: a project's runs, fields, series and files as Parquet plus blob files.

Everything is read through the Store contract (`runs_table`, `get_run`, `fields`, `series`,
`open_blob`), so any store can be exported, and a server's project too (`source.py`). Runs are
written one at a time and Parquet row groups are flushed every ROWS_PER_GROUP rows: memory holds one
run's fields and one series at a time, never the whole project. The layout is described in `format.py`.

A consistent snapshot needs a project no run is writing to; a run still logging is exported as it
was when it was read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from despina.client import field_types as ft
from despina.client.codec import datetime_to_micros
from despina.exceptions import ProjectNotFoundError
from despina.store.base import FieldValue, RunInfo, SeriesData, SeriesSummary
from despina.transfer.format import (
    BLOBS_DIR,
    FIELDS_FILE,
    FIELDS_SCHEMA,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    ROWS_PER_GROUP,
    RUNS_FILE,
    RUNS_SCHEMA,
    SERIES_FILE,
    SERIES_SCHEMA,
    ProgressCallback,
    TransferError,
    file_json,
    finite_or_none,
    is_series,
)
from despina.transfer.source import ExportSource

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote (the same counts go into the manifest)."""

    project: str
    directory: Path
    export_id: str
    runs: int
    fields: int
    series: int
    points: int
    blobs: int
    blob_bytes: int


class _ParquetSink:
    """One Parquet file written in row groups of about ROWS_PER_GROUP rows, so memory stays bounded."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._batches: list[pa.RecordBatch] = []
        self._pending = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._batches.append(batch)
        self._pending += batch.num_rows
        self.rows += batch.num_rows
        if self._pending >= ROWS_PER_GROUP:
            self.flush()

    def add_rows(self, columns: dict[str, list[Any]]) -> None:
        self.add(pa.RecordBatch.from_pydict(columns, schema=self.schema))

    def flush(self) -> None:
        if self._batches:
            table = pa.Table.from_batches(self._batches, schema=self.schema).combine_chunks()
            self._writer.write_table(table, row_group_size=ROWS_PER_GROUP)
            self._batches, self._pending = [], 0

    def close(self) -> None:
        self.flush()
        self._writer.close()


def _prepare(directory: Path) -> None:
    """An export never mixes with other files: the folder must be new or empty."""
    if directory.exists():
        if not directory.is_dir():
            raise TransferError(f"{directory} is a file; export into a new or empty folder")
        if any(directory.iterdir()):
            raise TransferError(f"{directory} is not empty; export into a new or empty folder")
    directory.mkdir(parents=True, exist_ok=True)


def _series_summary(summary: SeriesSummary) -> str:
    """A series shows in fields.parquet with its summary (its points are in series.parquet)."""
    return json.dumps(
        {
            "count": summary.count,
            "last_step": finite_or_none(summary.last_step),
            "last_timestamp": finite_or_none(summary.last_timestamp),
            "min": finite_or_none(summary.min),
            "max": finite_or_none(summary.max),
            "mean": finite_or_none(summary.mean),
        }
    )


def _field_columns(run_id: str, fields: dict[str, FieldValue]) -> dict[str, list[Any]]:
    """fields.parquet columns for one run: each field fills the one value column of its type."""
    columns: dict[str, list[Any]] = {name: [] for name in FIELDS_SCHEMA.names}
    for path, field in fields.items():
        row: dict[str, Any] = dict.fromkeys(FIELDS_SCHEMA.names)
        row.update(run_id=run_id, path=path, type=field.type)
        value = field.value
        if field.type == ft.FLOAT:
            row["float_value"] = float(value)
        elif field.type == ft.INT:
            row["int_value"] = int(value)
        elif field.type == ft.BOOL:
            row["bool_value"] = bool(value)
        elif field.type == ft.STRING:
            row["string_value"] = str(value)
        elif field.type == ft.DATETIME:
            row["datetime_value"] = datetime_to_micros(value)  # exact microseconds, not via a float
        elif field.type == ft.FILE:
            row["json_value"] = file_json(value)
        elif field.type == ft.FILE_SET:
            row["json_value"] = json.dumps(
                {name: ref.to_dict() for name, ref in value.items()}, sort_keys=True
            )
        elif field.type == ft.STRING_SET:
            row["json_value"] = json.dumps(sorted(value))
        elif field.type == ft.ARTIFACT:
            row["json_value"] = json.dumps(value.to_dict(), sort_keys=True)
        elif is_series(field.type):
            row["json_value"] = _series_summary(value)
        else:
            raise TransferError(
                f"run {run_id}: field {path!r} has a type this export does not know: {field.type}"
            )
        for name in FIELDS_SCHEMA.names:
            columns[name].append(row[name])
    return columns


def _referenced(fields: dict[str, FieldValue]) -> list[tuple[str, str, str]]:
    """(field path, sha256, what it is) for every blob a field (not a series point) refers to.

    A tracked-files field refers to the blob of its file list; the files it lists are not in the
    store (tracking uploads nothing), so they are not in the export either.
    """
    found: list[tuple[str, str, str]] = []
    for path, field in fields.items():
        if field.type == ft.FILE:
            found.append((path, field.value.sha256, field.value.name))
        elif field.type == ft.FILE_SET:
            found.extend((f"{path}/{name}", ref.sha256, ref.name) for name, ref in field.value.items())
        elif field.type == ft.ARTIFACT:
            found.append((path, field.value.manifest, "the list of tracked files"))
    return found


def _same_points(type_: str, full: SeriesData, prefix: SeriesData) -> bool:
    """Whether `full` starts with exactly the points of `prefix` (NaN and -0.0 compared bitwise)."""
    n = len(prefix.steps)
    if len(full.steps) < n:
        return False
    for mine, theirs in ((full.steps, prefix.steps), (full.timestamps, prefix.timestamps)):
        if not np.array_equal(_bits(mine[:n]), _bits(theirs)):
            return False
    if type_ == ft.FLOAT_SERIES:
        return bool(np.array_equal(_bits(full.values[:n]), _bits(prefix.values)))
    return list(full.values[:n]) == list(prefix.values)


def _bits(values: Any) -> npt.NDArray[np.int64]:
    """Float64 values as their bit patterns: NaN equals NaN, -0.0 differs from 0.0."""
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64)


def _series_batch(run_id: str, path: str, type_: str, data: SeriesData, inherited: int) -> pa.RecordBatch:
    """series.parquet rows of one series; the first `inherited` points are read through a fork's parent."""
    n = len(data.steps)
    flags = np.zeros(n, dtype=bool)
    flags[:inherited] = True
    floats = strings = files = None
    if type_ == ft.FLOAT_SERIES:
        floats = pa.array(np.asarray(data.values, dtype=np.float64), type=pa.float64())
    elif type_ == ft.STRING_SERIES:
        strings = pa.array(list(data.values), type=pa.string())
    else:
        files = pa.array([file_json(ref) for ref in data.values], type=pa.string())
    columns = [
        pa.repeat(pa.scalar(run_id, pa.string()), n),
        pa.repeat(pa.scalar(path, pa.string()), n),
        pa.repeat(pa.scalar(type_, pa.string()), n),
        pa.array(np.asarray(data.steps, dtype=np.float64), type=pa.float64()),
        pa.array(np.asarray(data.timestamps, dtype=np.float64), type=pa.float64()),
        floats if floats is not None else pa.nulls(n, pa.float64()),
        strings if strings is not None else pa.nulls(n, pa.string()),
        files if files is not None else pa.nulls(n, pa.string()),
        pa.array(flags, type=pa.bool_()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SERIES_SCHEMA)


class _Exporter:
    """The state of one export: open Parquet files, blobs already copied, running counts."""

    def __init__(self, store: ExportSource, project: str, directory: Path) -> None:
        self.store = store
        self.project = project
        self.directory = directory
        self.blob_dir = directory / BLOBS_DIR
        self.runs = _ParquetSink(directory / RUNS_FILE, RUNS_SCHEMA)
        self.fields = _ParquetSink(directory / FIELDS_FILE, FIELDS_SCHEMA)
        self.series = _ParquetSink(directory / SERIES_FILE, SERIES_SCHEMA)
        self.series_count = 0
        self.points = 0
        self.blobs: set[str] = set()
        self.blob_bytes = 0

    def close(self) -> None:
        for sink in (self.runs, self.fields, self.series):
            sink.close()

    def copy_blob(self, sha256: str, name: str, where: str) -> None:
        """Copy a blob once, checking its content against its hash on the way (a corrupt store says so)."""
        if sha256 in self.blobs:
            return
        if not _SHA256.fullmatch(sha256):  # it becomes a file name: never a path
            raise TransferError(f"{where}: {name!r} refers to a malformed sha256 {sha256!r}")
        self.blob_dir.mkdir(exist_ok=True)
        target = self.blob_dir / sha256
        partial = self.blob_dir / f".{sha256}.partial"
        digest = hashlib.sha256()
        size = 0
        try:
            with self.store.open_blob(sha256) as source, open(partial, "wb") as sink:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    sink.write(chunk)
                    size += len(chunk)
        except (OSError, ValueError) as exc:
            partial.unlink(missing_ok=True)
            raise TransferError(
                f"{where}: the content of {name!r} ({sha256[:12]}) cannot be read from the store ({exc})"
            ) from None
        if digest.hexdigest() != sha256:
            partial.unlink()
            raise TransferError(
                f"{where}: the stored content of {name!r} does not match its sha256 {sha256}; "
                "the store's blob is corrupt"
            )
        os.replace(partial, target)
        self.blobs.add(sha256)
        self.blob_bytes += size

    def export_run(self, run_id: str) -> None:
        info = self.store.get_run(self.project, run_id)
        fields = self.store.fields(self.project, run_id)
        self.fields.add_rows(_field_columns(run_id, fields))
        for where, sha256, name in _referenced(fields):
            self.copy_blob(sha256, name, f"run {run_id}, {where}")
        hidden = self._export_series(info, fields)
        tags = fields.get("sys/tags")
        self.runs.add_rows(
            {
                "id": [info.id],
                "custom_run_id": [info.custom_run_id],
                "name": [info.name],
                "description": [info.description],
                "owner": [info.owner],
                "state": [info.state],
                "failed": [info.failed],
                "creation_time": [datetime_to_micros(info.creation_time)],
                "modification_time": [datetime_to_micros(info.modification_time)],
                "ping_time": [None if info.ping_time is None else datetime_to_micros(info.ping_time)],
                "fork_parent": [info.fork_parent],
                "fork_step": [info.fork_step],
                "tags": [sorted(tags.value) if tags is not None else []],
                "hidden_series": [hidden],
            }
        )

    def _export_series(self, info: RunInfo, fields: dict[str, FieldValue]) -> list[str]:
        """Write the run's points; return the parent's series a fork deleted (they must not read through).

        A fork's series read through its parent's points up to the fork step. Those points are
        written too (flagged `inherited`), and import re-creates only the others. When a fork's
        series does not start with its parent's points, the fork deleted what it inherited: the
        path is listed as hidden so import deletes it from the new fork before logging its points.
        """
        parent_series: dict[str, str] = {}
        if info.fork_parent is not None:
            parent_series = {
                path: field.type
                for path, field in self.store.fields(self.project, info.fork_parent).items()
                if is_series(field.type)
            }
        hidden: list[str] = []

        def inherited_points(path: str) -> SeriesData | None:
            if path not in parent_series or info.fork_parent is None:
                return None
            data = self.store.series(self.project, info.fork_parent, path, (None, info.fork_step))
            return data if len(data.steps) else None

        for path, field in fields.items():
            if not is_series(field.type):
                continue
            data = self.store.series(self.project, info.id, path)
            data.steps = np.asarray(data.steps, dtype=np.float64)
            data.timestamps = np.asarray(data.timestamps, dtype=np.float64)
            inherited = 0
            prefix = inherited_points(path)
            if prefix is not None:
                if _same_points(field.type, data, prefix):
                    inherited = len(prefix.steps)
                else:
                    hidden.append(path)
            if field.type == ft.FILE_SERIES:
                for step, ref in zip(data.steps.tolist(), data.values, strict=True):
                    self.copy_blob(ref.sha256, ref.name, f"run {info.id}, {path} at step {step:g}")
            self.series.add(_series_batch(info.id, path, field.type, data, inherited))
            self.series_count += 1
            self.points += len(data.steps)
        for path in parent_series:
            shown = fields.get(path)
            if (shown is None or not is_series(shown.type)) and inherited_points(path) is not None:
                hidden.append(path)
        return sorted(hidden)


def export_project(
    store: ExportSource, project: str, directory: Path | str, progress: ProgressCallback | None = None
) -> ExportSummary:
    """Write every run of `project` into `directory` (new or empty); see `format.py` for the layout.
    `store` is a store, or a server's project (`source.ServerSource`).

    Raises ProjectNotFoundError for a project the store does not have, TransferError when the folder
    is not empty or a blob cannot be read. On failure the files written so far are removed again, so
    the folder can be reused.
    """
    directory = Path(directory)
    projects = store.list_projects()
    if project not in projects:
        known = ", ".join(projects[:10]) + (", ..." if len(projects) > 10 else "") if projects else "none"
        raise ProjectNotFoundError(f"there is no project {project!r} to export (projects: {known})")
    _prepare(directory)
    run_ids = [str(row["sys/id"].value) for row in store.runs_table(project, columns=["sys/id"])]
    exporter = _Exporter(store, project, directory)
    try:
        if progress is not None:
            progress(0, len(run_ids), "")
        for done, run_id in enumerate(run_ids, start=1):
            exporter.export_run(run_id)
            if progress is not None:
                progress(done, len(run_ids), run_id)
        exporter.close()
        summary = ExportSummary(
            project=project,
            directory=directory,
            export_id=uuid.uuid4().hex,
            runs=len(run_ids),
            fields=exporter.fields.rows,
            series=exporter.series_count,
            points=exporter.points,
            blobs=len(exporter.blobs),
            blob_bytes=exporter.blob_bytes,
        )
        _write_manifest(summary)
    except BaseException:
        with contextlib.suppress(Exception):  # the original error is the one to report
            exporter.close()
        for name in (RUNS_FILE, FIELDS_FILE, SERIES_FILE, MANIFEST):
            (directory / name).unlink(missing_ok=True)
        shutil.rmtree(directory / BLOBS_DIR, ignore_errors=True)
        raise
    return summary


def _write_manifest(summary: ExportSummary) -> None:
    """The manifest goes last and atomically: its presence says the export is complete."""
    from despina import __version__

    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "export_id": summary.export_id,
        "project": summary.project,
        "despina_version": __version__,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "counts": {
            "runs": summary.runs,
            "fields": summary.fields,
            "series": summary.series,
            "points": summary.points,
            "blobs": summary.blobs,
            "blob_bytes": summary.blob_bytes,
        },
        "files": {
            "runs": RUNS_FILE,
            "fields": FIELDS_FILE,
            "series": SERIES_FILE,
            "blobs": f"{BLOBS_DIR}/<sha256>",
        },
    }
    partial = summary.directory / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, summary.directory / MANIFEST)
