"""`despina import despina`: read an export (see `format.py`) back into a store or a server.

Import goes through its target (`target.py`: a store, or a server over HTTP) like any writer:
`create_run`, then `ingest` of ordinary operations. That is what makes it safe to repeat:

- each run is created with a creation token derived from (source project, original id, target
  project), so importing again finds the run it created instead of making another;
- its operations come from one writer per export (`import-<export id>`), numbered the same way every
  time, and `ingest` is idempotent per (run, writer, sequence number): importing the same export
  twice, or finishing an import that was interrupted, applies nothing twice and duplicates no point.

What the round trip keeps: every field with its type and value (NaN, infinities and 64-bit integers
exactly; datetimes to the microsecond), every series point (steps, timestamps and values bitwise),
every file's content, tracked files (`track_files`: set hash, count, size and the file list, so
`fetch_hash`, `fetch_files_list` and queries on the hash give what they gave; the tracked files
themselves were never stored and stay where they were), string sets, tags, name, description,
owner, state, the failed flag, the last heartbeat, forks (parent and step; a fork still reads its
parent's points, and series a fork deleted stay deleted), and, on stores with `restore_run_times`,
creation and modification times.

What it does not keep: run numbers are assigned by the target store (in an empty target they come out
the same, in the same order). When the new id would differ from the original one, the original id
is kept as the run's custom run id, unless the run already has one; the summary maps every original
id to its new one. The store's internal layout (chunking, writers, the order in which operations
were logged) and series summaries (min, max, mean are recomputed; the mean may differ in the last
bits) are not part of the export.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
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
from despina.client.artifact_manifest import MANIFEST_EXTENSION, MANIFEST_MIME_TYPE
from despina.client.codec import micros_to_datetime
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    ArtifactRef,
    AssignArtifact,
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
from despina.transfer.format import (
    BLOBS_DIR,
    FIELDS_FILE,
    POINTS_PER_OPERATION,
    RECORD_PATHS,
    ROWS_PER_GROUP,
    RUNS_FILE,
    SCHEMAS,
    SERIES_FILE,
    ProgressCallback,
    TransferError,
    file_from_json,
    is_series,
    read_manifest,
)
from despina.transfer.target import ImportTarget, import_target

# Operations and points per `ingest` call: one transaction each, big enough to be fast, small enough
# that an interrupted import loses little work.
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RUN_ID = re.compile(r"(.+)-(\d+)")


@dataclass
class ImportSummary:
    """What an import did; `ids` maps each original run id to the id of the run in the target."""

    source_project: str
    project: str
    runs: int = 0
    created: int = 0
    operations: int = 0
    points: int = 0
    blobs: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _RunRecord:
    """One row of runs.parquet."""

    id: str
    custom_run_id: str | None
    name: str
    description: str
    owner: str
    state: str
    failed: bool
    creation_time: datetime
    modification_time: datetime
    ping_time: datetime | None
    fork_parent: str | None
    fork_step: float | None
    tags: tuple[str, ...]
    hidden_series: tuple[str, ...]


# A run's fields as import re-creates them: path -> (type, value), record and series paths left out.
_Configuration = dict[str, tuple[str, Any]]


# -- reading the export ----------------------------------------------------------------------------


def _open_parquet(directory: Path, name: str) -> pq.ParquetFile:
    """A Parquet file of the export with the columns this version needs; errors name the file."""
    path = directory / name
    if not path.is_file():
        raise TransferError(f"{path} is missing; the export is incomplete")
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise TransferError(f"{path} is not a readable Parquet file ({exc})") from None
    for expected in SCHEMAS[name]:
        index = schema.get_field_index(expected.name)
        if index < 0:
            raise TransferError(f"{path} has no column {expected.name!r}")
        if not schema.field(index).type.equals(expected.type):
            raise TransferError(
                f"{path}: column {expected.name!r} is {schema.field(index).type}, not {expected.type}"
            )
    return parquet


def _batches(parquet: pq.ParquetFile, path: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of a Parquet file; a corrupt page becomes a TransferError naming the file."""
    iterator = parquet.iter_batches(batch_size=ROWS_PER_GROUP, columns=columns)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise TransferError(f"{path} cannot be read ({exc})") from None
        yield batch


def _micros_columns(batch: pa.RecordBatch, names: tuple[str, ...]) -> pa.RecordBatch:
    """Timestamp columns as int64 microseconds: exact, with no trip through the local time zone."""
    arrays = [
        batch.column(i).cast(pa.int64()) if name in names else batch.column(i)
        for i, name in enumerate(batch.schema.names)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _read_runs(directory: Path) -> list[_RunRecord]:
    """Every run of the export, checked: ids unique, each fork after its parent."""
    path = directory / RUNS_FILE
    parquet = _open_parquet(directory, RUNS_FILE)
    time_columns = ("creation_time", "modification_time", "ping_time")
    records: list[_RunRecord] = []
    seen: set[str] = set()
    for batch in _batches(parquet, path, SCHEMAS[RUNS_FILE].names):
        for row in _micros_columns(batch, time_columns).to_pylist():
            try:
                record = _RunRecord(
                    id=str(row["id"]),
                    custom_run_id=row["custom_run_id"],
                    name=str(row["name"]),
                    description=str(row["description"]),
                    owner=str(row["owner"]),
                    state=str(row["state"]),
                    failed=bool(row["failed"]),
                    creation_time=micros_to_datetime(int(row["creation_time"])),
                    modification_time=micros_to_datetime(int(row["modification_time"])),
                    ping_time=None if row["ping_time"] is None else micros_to_datetime(int(row["ping_time"])),
                    fork_parent=row["fork_parent"],
                    fork_step=row["fork_step"],
                    tags=tuple(row["tags"] or ()),
                    hidden_series=tuple(row["hidden_series"] or ()),
                )
            except (TypeError, ValueError, OverflowError) as exc:
                raise TransferError(
                    f"{path}: run {row.get('id')!r} has a missing or bad value ({exc})"
                ) from None
            if record.id in seen:
                raise TransferError(f"{path} lists run {record.id!r} twice")
            if record.fork_parent is not None and record.fork_parent not in seen:
                raise TransferError(
                    f"{path}: run {record.id!r} is a fork of {record.fork_parent!r}, "
                    "which is not listed before it"
                )
            if (record.fork_parent is None) != (record.fork_step is None):
                raise TransferError(f"{path}: run {record.id!r} has a fork parent or step, not both")
            seen.add(record.id)
            records.append(record)
    return records


def _segments(
    parquet: pq.ParquetFile, path: Path, keys: tuple[str, ...]
) -> Iterator[tuple[tuple[Any, ...], pa.RecordBatch]]:
    """Consecutive rows with the same key columns, as slices of record batches.

    One key can span several slices (a long series crosses batches); callers treat them in order.
    """
    for batch in _batches(parquet, path, SCHEMAS[path.name].names):
        n = batch.num_rows
        if n == 0:
            continue
        change = np.zeros(n, dtype=bool)
        change[0] = True
        if n > 1:
            for key in keys:
                column = batch.column(key)
                differs = pc.fill_null(pc.not_equal(column.slice(1), column.slice(0, n - 1)), True)
                change[1:] |= differs.to_numpy(zero_copy_only=False)
        starts = [*np.flatnonzero(change).tolist(), n]
        for start, end in itertools.pairwise(starts):
            part = batch.slice(start, end - start)
            yield tuple(part.column(key)[0].as_py() for key in keys), part


class _RunGroups:
    """The rows of one file, handed out run by run in the order of runs.parquet."""

    def __init__(
        self, parquet: pq.ParquetFile, path: Path, keys: tuple[str, ...], order: dict[str, int]
    ) -> None:
        self._segments = _segments(parquet, path, keys)
        self._path = path
        self._order = order
        self._next: tuple[tuple[Any, ...], pa.RecordBatch] | None = None
        self._done: set[str] = set()

    def _peek(self) -> tuple[tuple[Any, ...], pa.RecordBatch] | None:
        if self._next is None:
            self._next = next(self._segments, None)
        return self._next

    def take(self, run_id: str) -> Iterator[tuple[tuple[Any, ...], pa.RecordBatch]]:
        """The rows of `run_id`: those at the head of the file, up to the first row of another run."""
        while (item := self._peek()) is not None:
            owner = item[0][0]
            if owner != run_id:
                self._check(owner, run_id)
                break
            self._next = None
            yield item
        self._done.add(run_id)

    def finish(self) -> None:
        item = self._peek()
        if item is not None:
            self._check(item[0][0], None)
            raise TransferError(f"{self._path} has rows of run {item[0][0]!r} after the runs it belongs with")

    def _check(self, owner: Any, current: str | None) -> None:
        if owner not in self._order:
            raise TransferError(f"{self._path} has rows of run {owner!r}, which {RUNS_FILE} does not list")
        if owner in self._done or (current is not None and self._order[owner] < self._order[current]):
            raise TransferError(
                f"{self._path}: the rows of run {owner!r} are not together in the order of {RUNS_FILE}"
            )


def _field_value(path: Path, run_id: str, row: dict[str, Any]) -> Any:
    """The value of a fields.parquet row, from the column of its type."""
    type_ = row["type"]
    column = {
        ft.FLOAT: "float_value",
        ft.INT: "int_value",
        ft.BOOL: "bool_value",
        ft.STRING: "string_value",
        ft.DATETIME: "datetime_value",
    }.get(type_, "json_value")
    raw = row[column]
    if raw is None:
        raise TransferError(f"{path}: run {run_id!r}, field {row['path']!r} ({type_}) has no {column}")
    try:
        if type_ == ft.DATETIME:
            return micros_to_datetime(int(raw))
        if type_ in ft.ATOM_TYPES:
            return raw
        decoded = json.loads(raw)
        if type_ == ft.FILE:
            return FileRef.from_dict(decoded)
        if type_ == ft.FILE_SET:
            return {str(name): FileRef.from_dict(ref) for name, ref in decoded.items()}
        if type_ == ft.STRING_SET:
            return {str(value) for value in decoded}
        if type_ == ft.ARTIFACT:
            return ArtifactRef.from_dict(decoded)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise TransferError(
            f"{path}: run {run_id!r}, field {row['path']!r} has a bad {column} ({exc})"
        ) from None
    raise TransferError(f"{path}: run {run_id!r}, field {row['path']!r} has an unknown type {type_!r}")


def _configuration(
    path: Path, run_id: str, segments: Iterator[tuple[tuple[Any, ...], pa.RecordBatch]]
) -> _Configuration:
    """The fields import assigns: everything but the run's record and series (those come elsewhere)."""
    fields: _Configuration = {}
    for _, batch in segments:
        for row in _micros_columns(batch, ("datetime_value",)).to_pylist():
            if (
                row["path"] in RECORD_PATHS
                or row["path"].startswith("sys/forking/")
                or is_series(row["type"])
            ):
                continue
            fields[row["path"]] = (row["type"], _field_value(path, run_id, row))
    return fields


# -- operations ------------------------------------------------------------------------------------


def _field_operation(blob_dir: Path, path: str, type_: str, value: Any) -> Operation:
    if type_ in ft.ATOM_TYPES:
        return AssignAtom(path, type_, value)
    if type_ == ft.FILE:
        return AssignFile(path, value)
    if type_ == ft.FILE_SET:
        return AddFileSetEntries(path, tuple(sorted(value.items())), reset=True)
    if type_ == ft.ARTIFACT:
        return AssignArtifact(path, value, _file_list_blob(blob_dir, path, value))
    return AddStrings(path, tuple(sorted(value)))


def _file_list_blob(blob_dir: Path, path: str, artifact: ArtifactRef) -> FileRef:
    """The blob reference of a tracked-files field's file list, as tracking made it.

    The field keeps only the sha256; the size comes from the exported blob, which staging checks
    against that sha256 before the operation is applied.
    """
    if not _SHA256.fullmatch(artifact.manifest):
        raise TransferError(f"{path!r} has a malformed file-list sha256 {artifact.manifest!r} in the export")
    source = blob_dir / artifact.manifest
    if not source.is_file():
        raise TransferError(f"{source} is missing: the export lacks the list of files tracked in {path!r}")
    return FileRef(
        artifact.manifest,
        source.stat().st_size,
        f"files.{MANIFEST_EXTENSION}",
        MANIFEST_EXTENSION,
        MANIFEST_MIME_TYPE,
    )


def _fork_corrections(
    record: _RunRecord, fields: _Configuration, parent: tuple[_Configuration, set[str]]
) -> Iterator[Operation]:
    """A new fork starts with a copy of its parent's fields and tags; undo what the original fork changed.

    The copy is of the parent as just imported (its exported state), so these operations depend on
    the export alone and come out the same on every import.
    """
    parent_fields, parent_tags = parent
    for path, (type_, value) in sorted(parent_fields.items()):
        mine = fields.get(path)
        if mine is None or mine[0] != type_:
            yield DeleteField(path)
        elif type_ == ft.STRING_SET and (extra := value - mine[1]):
            yield RemoveStrings(path, tuple(sorted(extra)))
    if extra_tags := parent_tags - set(record.tags):
        yield RemoveStrings("sys/tags", tuple(sorted(extra_tags)))
    for path in record.hidden_series:
        yield DeleteField(path)


def _series_operations(
    path: Path, run_id: str, segments: Iterator[tuple[tuple[Any, ...], pa.RecordBatch]]
) -> Iterator[AppendPoints]:
    """AppendPoints of POINTS_PER_OPERATION points at most; points read through a parent are skipped."""
    for (_, series_path, type_, inherited), batch in segments:
        if inherited:
            continue
        if type_ not in ft.SERIES_TYPES:
            raise TransferError(
                f"{path}: run {run_id!r}, {series_path!r} has an unknown series type {type_!r}"
            )
        value_column = {ft.FLOAT_SERIES: "float_value", ft.STRING_SERIES: "string_value"}.get(type_, "file")
        if batch.column(value_column).null_count:
            raise TransferError(
                f"{path}: run {run_id!r}, {series_path!r} has points without a {value_column}"
            )
        for start in range(0, batch.num_rows, POINTS_PER_OPERATION):
            part = batch.slice(start, POINTS_PER_OPERATION)
            steps = np.array(part.column("step").to_numpy(zero_copy_only=False), dtype=np.float64)
            timestamps = np.array(part.column("timestamp").to_numpy(zero_copy_only=False), dtype=np.float64)
            raw = part.column(value_column)
            values: Any
            if type_ == ft.FLOAT_SERIES:
                values = np.array(raw.to_numpy(zero_copy_only=False), dtype=np.float64)
            elif type_ == ft.STRING_SERIES:
                values = raw.to_pylist()
            else:
                try:
                    values = [file_from_json(text) for text in raw.to_pylist()]
                except (TypeError, ValueError, KeyError) as exc:
                    raise TransferError(
                        f"{path}: run {run_id!r}, {series_path!r} has a bad file ({exc})"
                    ) from None
            yield AppendPoints(series_path, type_, steps, timestamps, values)


def _record_operations(record: _RunRecord) -> Iterator[Operation]:
    """Last, so the run ends in its original state (creating and logging made it `running`)."""
    yield AssignAtom("sys/name", ft.STRING, record.name)
    yield AssignAtom("sys/description", ft.STRING, record.description)
    if record.ping_time is not None:
        yield AssignAtom("sys/ping_time", ft.DATETIME, record.ping_time)
    yield AssignAtom("sys/failed", ft.BOOL, record.failed)
    yield AssignAtom("sys/state", ft.STRING, record.state)


# -- the import ------------------------------------------------------------------------------------


class _Importer:
    def __init__(self, target: ImportTarget, directory: Path, manifest: dict[str, Any], project: str) -> None:
        self.target = target
        self.directory = directory
        self.source = str(manifest["project"])
        self.project = project
        self.writer_id = f"import-{manifest['export_id']}"[:128]
        self.summary = ImportSummary(source_project=self.source, project=project)
        self.stored_blobs: set[str] = set()
        self.restores_times = target.restores_times
        if not self.restores_times:
            self.summary.notes.append(
                f"{target.describe()} cannot restore creation and modification times; "
                "the imported runs show the time of the import"
            )
        existing = target.run_ids(project)
        numbers = [(m.group(1), int(m.group(2))) for m in map(_RUN_ID.fullmatch, existing) if m]
        self.key: str | None = numbers[0][0] if numbers else None
        self.next_number = max((n for _, n in numbers), default=0) + 1

    def token(self, record: _RunRecord) -> str:
        """Finds the run again on a later import. Creation tokens are unique across projects in the SQL
        store and limited to 128 characters: a hash of source project, original id and target project."""
        digest = hashlib.sha256(f"{self.source}\0{record.id}\0{self.project}".encode()).hexdigest()
        return f"import:{digest[:48]}"

    def custom_run_id(self, record: _RunRecord) -> str | None:
        """The run's own custom id, else its original id when the new id would be a different one."""
        if record.custom_run_id is not None:
            return record.custom_run_id
        match = _RUN_ID.fullmatch(record.id)
        if self.key is not None:
            predicted = f"{self.key}-{self.next_number}"
        elif self.project == self.source and match:
            predicted = f"{match.group(1)}-{self.next_number}"  # a new project: same name, same key
        else:
            predicted = None
        return None if predicted == record.id else record.id

    def create(self, record: _RunRecord) -> RunInfo:
        parent = None if record.fork_parent is None else self.summary.ids[record.fork_parent]
        request = RunCreate(
            project=self.project,
            owner=record.owner,
            name=record.name,
            description=record.description,
            tags=record.tags,
            custom_run_id=self.custom_run_id(record),
            creation_token=self.token(record),
            fork_run_id=parent,
            fork_step=record.fork_step,
        )
        info, created = self.target.create_run(request)
        if created:
            self.summary.created += 1
            match = _RUN_ID.fullmatch(info.id)
            if match:
                self.key, self.next_number = match.group(1), int(match.group(2)) + 1
            if self.restores_times:  # at once: a later import recognises the run by it
                self.target.restore_run_times(
                    self.project, info.id, record.creation_time, record.modification_time
                )
        elif self.restores_times and not self.same_run(info, record):
            raise TransferError(
                f"project {self.project!r} already has a run {info.id} with custom run id "
                f"{request.custom_run_id!r} that was not imported from run {record.id} of {self.source!r}; "
                "import into another project (--project)"
            )
        return info

    def same_run(self, info: RunInfo, record: _RunRecord) -> bool:
        """Whether a run found by its custom id is the one an earlier import made of `record`: its
        restored creation time (to the microsecond), and its owner where the target keeps owners."""
        if info.creation_time != record.creation_time:
            return False
        return info.owner == record.owner or not self.target.keeps_owners

    def stage_blob(self, ref: FileRef) -> None:
        """Put a file's content into the store before an operation refers to it, checking its hash."""
        if ref.sha256 in self.stored_blobs:
            return
        if not _SHA256.fullmatch(ref.sha256):
            raise TransferError(f"{ref.name!r} has a malformed sha256 {ref.sha256!r} in the export")
        if not self.target.has_blob(self.project, ref.sha256):
            source = self.directory / BLOBS_DIR / ref.sha256
            if not source.is_file():
                raise TransferError(f"{source} is missing: the export lacks the content of {ref.name!r}")
            digest = hashlib.sha256()
            with open(source, "rb") as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
            if digest.hexdigest() != ref.sha256:
                raise TransferError(f"{source} is corrupt: its content does not match its name (sha256)")
            if self.target.put_blob(self.project, source, ref.sha256):
                self.summary.blobs += 1
        self.stored_blobs.add(ref.sha256)

    def ingest(self, record: _RunRecord, run_id: str, operations: Iterator[Operation]) -> None:
        """Send the run's operations in batches, skipping those a previous import already applied."""
        applied = self.target.applied_seq(self.project, run_id, self.writer_id)

        def stage(op: Operation) -> None:
            for ref in referenced_files(op):
                self.stage_blob(ref)

        outcome = ingest_in_batches(
            self.target,
            self.project,
            run_id,
            self.writer_id,
            enumerate(operations),
            applied=applied,
            before=stage,
        )
        self.summary.operations += outcome.operations
        self.summary.points += outcome.points
        self.summary.rejected.extend(f"{record.id} -> {run_id}: {reason}" for reason in outcome.rejected)


def import_directory(
    store: Store | ImportTarget,
    directory: Path | str,
    progress: ProgressCallback | None = None,
    project: str | None = None,
) -> ImportSummary:
    """Import the export in `directory` into `project` (default: the project it was exported from), in
    a store or a server (`despina.transfer.target`).

    Safe to repeat and to resume: see the module docstring. Raises TransferError, naming the file,
    when the folder is not a complete, readable export.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    target = project or str(manifest["project"])
    records = _read_runs(directory)
    order = {record.id: i for i, record in enumerate(records)}
    fields_path, series_path = directory / FIELDS_FILE, directory / SERIES_FILE
    fields_file = _open_parquet(directory, FIELDS_FILE)
    series_file = _open_parquet(directory, SERIES_FILE)
    field_groups = _RunGroups(fields_file, fields_path, ("run_id",), order)
    series_groups = _RunGroups(series_file, series_path, ("run_id", "path", "type", "inherited"), order)
    into = import_target(store)
    importer = _Importer(into, directory, manifest, target)
    parents = {record.fork_parent for record in records if record.fork_parent is not None}
    parent_state: dict[str, tuple[_Configuration, set[str]]] = {}
    if progress is not None:
        progress(0, len(records), "")
    for done, record in enumerate(records, start=1):
        fields = _configuration(fields_path, record.id, field_groups.take(record.id))
        info = importer.create(record)
        importer.summary.ids[record.id] = info.id

        def operations(record: _RunRecord = record, fields: _Configuration = fields) -> Iterator[Operation]:
            if record.fork_parent is not None:
                yield from _fork_corrections(record, fields, parent_state[record.fork_parent])
            for path, (type_, value) in fields.items():
                yield _field_operation(directory / BLOBS_DIR, path, type_, value)
            yield from _series_operations(series_path, record.id, series_groups.take(record.id))
            yield from _record_operations(record)

        importer.ingest(record, info.id, operations())
        if importer.restores_times:  # after ingesting, which stamps the modification time
            into.restore_run_times(target, info.id, record.creation_time, record.modification_time)
        if record.id in parents:
            parent_state[record.id] = (fields, set(record.tags))
        importer.summary.runs += 1
        if progress is not None:
            progress(done, len(records), record.id)
    field_groups.finish()
    series_groups.finish()
    return importer.summary
