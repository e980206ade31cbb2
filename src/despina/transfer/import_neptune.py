"""`despina import neptune PATH`: read the Parquet layout of Neptune's official exporter.

`neptune-exporter export --data-path D --files-path F` writes, per project, one folder
`D/<project>/` with the runs' rows in `<run id>_part_<n>.parquet` (part 0 is renamed last, so a run
without it is incomplete and is skipped), and the downloaded files under `F`. Every Parquet file has
one schema, one row per attribute value or series point:

    project_id string, run_id string, attribute_path string, attribute_type string,
    step decimal128(18, 6), timestamp timestamp[ms, UTC],
    int_value int64, float_value float64, string_value string, bool_value bool,
    datetime_value timestamp[ms, UTC], string_set_value list<string>,
    file_value struct<path: string>, histogram_value struct<type, edges, values>

`attribute_type` is one of float, int, string, bool, datetime, string_set, float_series,
string_series, histogram_series, file, file_set, file_series, artifact; `file_value.path` is relative
to the files folder. Forks are the attributes `sys/forking/parent` (the parent's run id) and
`sys/forking/step`.

PATH is either the folder holding `data/` and `files/` or the data folder itself (then `--files-path`
names the files folder, default PATH/files).

Like `import despina`, this goes through its target (a store, or a server) and is safe to repeat:
each run is created with a creation token derived from (project, Neptune run id) and its operations
come from one writer (`import-neptune`) numbered the same way every time, so a second import applies
nothing.

Mapping: the Neptune run id (`sys/id`, else the exporter's run id) becomes the custom run id;
`sys/name`, `sys/description`, `sys/owner`, `sys/tags`, `sys/failed`, `sys/ping_time` and the fork go to
the run's record, `sys/creation_time` and `sys/modification_time` are restored, `sys/state`
(Active/Inactive) becomes running/finished (failed when `sys/failed`). Every other `sys/` attribute is
kept under `neptune/sys/...`. Histogram series have no Despina type: each point is kept as JSON
(`{"type", "edges", "values"}`) in a string series of the same path. A file set is a folder on disk,
imported as a file set; an `artifact` is its `files_list.json`, imported as a file.
"""

from __future__ import annotations

import hashlib
import json
import math
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from despina.client import field_types as ft
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    AssignAtom,
    AssignFile,
    DeleteField,
    FileRef,
    Operation,
    RemoveStrings,
    referenced_files,
)
from despina.store.base import RunCreate, RunInfo, Store
from despina.transfer.batches import ingest_in_batches
from despina.transfer.format import POINTS_PER_OPERATION, ProgressCallback, TransferError
from despina.transfer.target import ImportTarget, import_target

WRITER_ID = "import-neptune"
_PART = "_part_"
_COLUMNS = ("project_id", "run_id", "attribute_path", "attribute_type")
_ATOMS = {
    "float": (ft.FLOAT, "float_value"),
    "int": (ft.INT, "int_value"),
    "string": (ft.STRING, "string_value"),
    "bool": (ft.BOOL, "bool_value"),
    "datetime": (ft.DATETIME, "datetime_value"),
}
_SERIES = {
    "float_series": ft.FLOAT_SERIES,
    "string_series": ft.STRING_SERIES,
    "file_series": ft.FILE_SERIES,
    "histogram_series": ft.STRING_SERIES,
}
# sys/ attributes that become the run's record rather than fields.
_RECORD = frozenset(
    {
        "sys/id",
        "sys/name",
        "sys/description",
        "sys/owner",
        "sys/tags",
        "sys/state",
        "sys/failed",
        "sys/ping_time",
        "sys/creation_time",
        "sys/modification_time",
        "sys/forking/parent",
        "sys/forking/step",
    }
)


@dataclass
class NeptuneImportSummary:
    """What an import did; `ids` maps (project, Neptune run id) to the Despina run id."""

    projects: list[str] = field(default_factory=list)
    runs: int = 0
    created: int = 0
    operations: int = 0
    points: int = 0
    blobs: int = 0
    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Run:
    """One exported run: its Parquet parts and what the first pass learnt of it."""

    project: str
    run_id: str
    parts: list[Path]
    parent: str | None = None
    fork_step: float | None = None


def _folders(path: Path, files_path: Path | None) -> tuple[Path, Path]:
    data = path / "data" if (path / "data").is_dir() else path
    files = files_path if files_path is not None else path / "files"
    return data, files


def _runs_in(project_dir: Path) -> dict[str, list[Path]]:
    """Run file prefix -> its complete parts in order (runs lacking part 0 are being written)."""
    runs: dict[str, dict[int, Path]] = {}
    for part in project_dir.glob(f"*{_PART}*.parquet"):
        prefix, _, number = part.name[: -len(".parquet")].rpartition(_PART)
        if number.isdigit():
            runs.setdefault(prefix, {})[int(number)] = part
    return {prefix: [parts[n] for n in sorted(parts)] for prefix, parts in sorted(runs.items()) if 0 in parts}


def _read(path: Path, **kwargs: Any) -> pa.Table:
    try:
        return pq.read_table(path, **kwargs)
    except (pa.ArrowException, OSError) as exc:
        raise TransferError(f"{path} is not a readable Parquet file ({exc})") from None


def _scan(data: Path) -> dict[str, list[_Run]]:
    """First pass: projects and runs, with fork parents, reading only the key columns."""
    projects: dict[str, list[_Run]] = {}
    if not data.is_dir():
        raise TransferError(f"{data} is not a folder")
    for project_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        for parts in _runs_in(project_dir).values():
            head = _read(parts[0], columns=["project_id", "run_id"])
            if head.num_rows == 0:
                continue
            run = _Run(str(head["project_id"][0].as_py()), str(head["run_id"][0].as_py()), parts)
            for part in parts:
                table = _read(part, columns=["attribute_path", "string_value", "float_value", "step"])
                mask = pc.is_in(table["attribute_path"], pa.array(["sys/forking/parent", "sys/forking/step"]))
                for row in table.filter(mask).to_pylist():
                    if row["attribute_path"] == "sys/forking/parent":
                        run.parent = row["string_value"]
                    elif row["float_value"] is not None:
                        run.fork_step = float(row["float_value"])
            projects.setdefault(run.project, []).append(run)
    if not projects:
        raise TransferError(
            f"{data} holds no run exported by neptune-exporter (<project>/<run>_part_0.parquet)"
        )
    return projects


def _parents_first(runs: list[_Run]) -> list[_Run]:
    by_id = {run.run_id: run for run in runs}
    ordered: list[_Run] = []
    seen: set[str] = set()

    def visit(run: _Run, trail: frozenset[str]) -> None:
        if run.run_id in seen:
            return
        if run.parent in by_id and run.parent not in trail:
            visit(by_id[run.parent], trail | {run.run_id})
        seen.add(run.run_id)
        ordered.append(run)

    for run in sorted(runs, key=lambda r: r.run_id):
        visit(run, frozenset())
    return ordered


def _seconds(column: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.float64]]:
    """ms timestamps as float seconds (a missing one as 0)."""
    micros = pc.fill_null(column.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()), 0)
    return np.asarray(micros.to_numpy(), dtype=np.float64) / 1000.0


class _Importer:
    def __init__(self, target: ImportTarget, files: Path, summary: NeptuneImportSummary) -> None:
        self.target = target
        self.files = files
        self.summary = summary
        self.refs: dict[Path, FileRef] = {}
        self.sources: dict[str, Path] = {}  # sha256 -> a file with that content
        self.staged: set[tuple[str, str]] = set()  # (project, sha256) put into the target
        self.restores_times = target.restores_times

    # -- files ---------------------------------------------------------------------------------------

    def file_ref(self, relative: str | None, what: str) -> FileRef | None:
        """A downloaded file's reference (its content is put when an operation first refers to it, in
        the run's project); None (with a note) when it is not there."""
        if not relative:
            return None
        source = self.files / relative
        if source in self.refs:
            return self.refs[source]
        if not source.is_file():
            self.summary.notes.append(f"{what}: {source} is missing; not imported")
            return None
        digest = hashlib.sha256()
        with open(source, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        sha = digest.hexdigest()
        self.sources.setdefault(sha, source)
        mime = mimetypes.guess_type(source.name, strict=False)[0] or "application/octet-stream"
        ref = FileRef(sha, source.stat().st_size, source.name, source.suffix.lstrip("."), mime)
        self.refs[source] = ref
        return ref

    def file_set(self, relative: str | None, what: str) -> tuple[tuple[str, FileRef], ...] | None:
        if not relative or not (self.files / relative).is_dir():
            return None if not relative else self._single(relative, what)
        root = self.files / relative
        entries = []
        for item in sorted(p for p in root.rglob("*") if p.is_file()):
            ref = self.file_ref(str(item.relative_to(self.files)), what)
            if ref is not None:
                entries.append((item.relative_to(root).as_posix(), ref))
        return tuple(entries)

    def _single(self, relative: str, what: str) -> tuple[tuple[str, FileRef], ...] | None:
        ref = self.file_ref(relative, what)
        return None if ref is None else ((ref.name, ref),)

    # -- a run ---------------------------------------------------------------------------------------

    def import_run(self, run: _Run, parents: dict[str, tuple[set[str], set[str]]]) -> None:
        table = pa.concat_tables([_read(part) for part in run.parts], promote_options="default")
        is_point = pc.is_in(table["attribute_type"], pa.array(list(_SERIES)))
        atoms = table.filter(pc.invert(is_point))
        record: dict[str, Any] = {}
        fields: list[Operation] = []
        paths: set[str] = set()
        for row in atoms.to_pylist():
            op = self.field_operation(run, row, record)
            if op is not None:
                fields.append(op)
                paths.add(op.path)
        tags = sorted(record.get("sys/tags") or ())
        state = str(record.get("sys/state") or "").lower()
        failed = bool(record.get("sys/failed") or False)
        parent_id = self.summary.ids.get((run.project, run.parent)) if run.parent else None
        if run.parent and parent_id is None:
            self.summary.notes.append(
                f"{run.project} {run.run_id}: fork parent {run.parent} is not in the export; "
                "imported unforked"
            )
        original = str(record.get("sys/id") or run.run_id)
        digest = hashlib.sha256(f"{run.project}\0{run.run_id}".encode()).hexdigest()
        request = RunCreate(
            project=run.project,
            owner=str(record.get("sys/owner") or "neptune"),
            name=str(record.get("sys/name") or original),
            description=str(record.get("sys/description") or ""),
            tags=tuple(tags),
            custom_run_id=original,
            creation_token=f"import-neptune:{digest[:48]}",
            fork_run_id=parent_id,
            fork_step=run.fork_step if parent_id else None,
        )
        info, created = self.target.create_run(request)
        self.summary.ids[(run.project, run.run_id)] = info.id
        self.summary.created += int(created)
        created_at, modified_at = record.get("sys/creation_time"), record.get("sys/modification_time")
        if created and self.restores_times and isinstance(created_at, datetime):
            self.target.restore_run_times(run.project, info.id, created_at, modified_at or created_at)

        def operations() -> Iterator[Operation]:
            if parent_id is not None and run.parent in parents:
                parent_paths, parent_tags = parents[run.parent]
                for path in sorted(parent_paths - paths):  # a new fork starts with its parent's fields
                    yield DeleteField(path)
                if extra := parent_tags - set(tags):
                    yield RemoveStrings("sys/tags", tuple(sorted(extra)))
            yield from fields
            yield from self.series_operations(run, table.filter(is_point), parent_id is not None)
            yield AssignAtom("sys/name", ft.STRING, request.name)
            yield AssignAtom("sys/description", ft.STRING, request.description)
            if isinstance(record.get("sys/ping_time"), datetime):
                yield AssignAtom("sys/ping_time", ft.DATETIME, record["sys/ping_time"])
            yield AssignAtom("sys/failed", ft.BOOL, failed)
            finished = state in ("inactive", "idle", "finished", "")
            yield AssignAtom(
                "sys/state", ft.STRING, "failed" if failed else "finished" if finished else "running"
            )

        self.ingest(run, info, operations())
        if self.restores_times and isinstance(created_at, datetime):
            self.target.restore_run_times(run.project, info.id, created_at, modified_at or created_at)
        parents[run.run_id] = (paths, set(tags))

    def field_operation(self, run: _Run, row: dict[str, Any], record: dict[str, Any]) -> Operation | None:
        path, type_ = str(row["attribute_path"]), str(row["attribute_type"])
        if path in _RECORD:
            column = _ATOMS[type_][1] if type_ in _ATOMS else "string_set_value"
            record[path] = row.get(column)
            return None
        if path.startswith("sys/"):
            path = f"neptune/{path}"
        what = f"{run.project} {run.run_id} {path}"
        if type_ in _ATOMS:
            despina_type, column = _ATOMS[type_]
            value = row[column]
            if value is None:
                return None
            return AssignAtom(path, despina_type, value)
        if type_ == "string_set":
            return AddStrings(path, tuple(sorted(row["string_set_value"] or ())))
        relative = (row.get("file_value") or {}).get("path")
        if type_ in ("file", "artifact"):
            ref = self.file_ref(relative, what)
            return None if ref is None else AssignFile(path, ref)
        if type_ == "file_set":
            entries = self.file_set(relative, what)
            return None if entries is None else AddFileSetEntries(path, entries, reset=True)
        self.summary.notes.append(f"{what}: attribute type {type_!r} is not imported")
        return None

    def series_operations(self, run: _Run, points: pa.Table, forked: bool) -> Iterator[AppendPoints]:
        paths, types = points["attribute_path"].to_pylist(), points["attribute_type"].to_pylist()
        keys = sorted(set(zip(paths, types, strict=True)))
        for path, type_ in keys:
            mask = pc.and_(
                pc.equal(points["attribute_path"], path), pc.equal(points["attribute_type"], type_)
            )
            rows = points.filter(mask)
            steps_column = pc.fill_null(rows["step"].cast(pa.float64()), 0.0)
            rows = rows.set_column(rows.schema.get_field_index("step"), "step", steps_column)
            rows = rows.sort_by([("step", "ascending")])
            if forked and run.fork_step is not None:  # points up to the fork step read through the parent
                rows = rows.filter(pc.greater(rows["step"], run.fork_step))
            if rows.num_rows == 0:
                continue
            target = f"neptune/{path}" if path.startswith("sys/") else path
            steps = np.asarray(rows["step"].to_numpy(), dtype=np.float64)
            timestamps = _seconds(rows["timestamp"])
            values: Any
            if type_ == "float_series":
                values = np.asarray(pc.fill_null(rows["float_value"], math.nan).to_numpy(), dtype=np.float64)
            elif type_ == "string_series":
                values = [value or "" for value in rows["string_value"].to_pylist()]
            elif type_ == "histogram_series":
                values = [json.dumps(value) for value in rows["histogram_value"].to_pylist()]
            else:
                what = f"{run.project} {run.run_id} {path}"
                refs = [self.file_ref((v or {}).get("path"), what) for v in rows["file_value"].to_pylist()]
                keep = np.array([ref is not None for ref in refs], dtype=bool)
                steps, timestamps = steps[keep], timestamps[keep]
                values = [ref for ref in refs if ref is not None]
            for start in range(0, len(steps), POINTS_PER_OPERATION):
                end = start + POINTS_PER_OPERATION
                yield AppendPoints(
                    target, _SERIES[type_], steps[start:end], timestamps[start:end], values[start:end]
                )

    def ingest(self, run: _Run, info: RunInfo, operations: Iterator[Operation]) -> None:
        applied = self.target.applied_seq(run.project, info.id, WRITER_ID)

        def stage_blobs(op: Operation) -> None:
            for ref in referenced_files(op):
                if (run.project, ref.sha256) in self.staged:
                    continue
                source = self.sources[ref.sha256]
                if not self.target.has_blob(run.project, ref.sha256) and self.target.put_blob(
                    run.project, source, ref.sha256
                ):
                    self.summary.blobs += 1
                self.staged.add((run.project, ref.sha256))

        outcome = ingest_in_batches(
            self.target,
            run.project,
            info.id,
            WRITER_ID,
            enumerate(operations),
            applied=applied,
            before=stage_blobs,
        )
        self.summary.operations += outcome.operations
        self.summary.points += outcome.points
        self.summary.rejected.extend(f"{run.run_id} -> {info.id}: {reason}" for reason in outcome.rejected)


def import_neptune(
    store: Store | ImportTarget,
    path: Path | str,
    files_path: Path | str | None = None,
    progress: ProgressCallback | None = None,
) -> NeptuneImportSummary:
    """Import every complete run of a neptune-exporter export (see the module docstring)."""
    data, files = _folders(Path(path), None if files_path is None else Path(files_path))
    projects = _scan(data)
    summary = NeptuneImportSummary(projects=sorted(projects))
    target = import_target(store)
    importer = _Importer(target, files, summary)
    if not importer.restores_times:
        summary.notes.append(f"{target.describe()} cannot restore creation and modification times")
    total = sum(len(runs) for runs in projects.values())
    if progress is not None:
        progress(0, total, "")
    for project in sorted(projects):
        parents: dict[str, tuple[set[str], set[str]]] = {}
        for run in _parents_first(projects[project]):
            importer.import_run(run, parents)
            summary.runs += 1
            if progress is not None:
                progress(summary.runs, total, run.run_id)
    return summary
