"""SqlStore: the store contract on SQLAlchemy Core (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from despina.client import field_types as ft
from despina.client.codec import datetime_to_micros
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    AssignArtifact,
    AssignAtom,
    AssignFile,
    DeleteField,
    FileRef,
    Operation,
    RemoveStrings,
)
from despina.exceptions import (
    DespinaError,
    FieldTypeError,
    ProjectNotFoundError,
    RunDeletionError,
    RunNotFoundError,
)
from despina.query.trash import TRASHED
from despina.store.base import (
    FieldValue,
    IngestResult,
    RunCreate,
    RunInfo,
    RunSeries,
    RunsPage,
    SeriesBuckets,
    SeriesData,
    SeriesSummary,
    Store,
)
from despina.store.blobs.base import BlobStore
from despina.store.blobs.local import LocalBlobStore
from despina.store.downsample import bucketize, bucketize_steps
from despina.store.even_steps import EvenSteps
from despina.store.gc_pause import cyclic_gc_paused
from despina.store.runs_columns import ColumnBuilder, RunsColumns, cell
from despina.store.series_codec import EvenStride, decode_chunk, decode_chunk_for_buckets, encode_chunk
from despina.store.sql import schema as t
from despina.store.sql.blob_gc import DEFAULT_OLDER_THAN, GarbageReport, collect_garbage
from despina.store.sql.field_rows import FIELD_COLUMNS, SERIES_COLUMNS, field_value, series_summary
from despina.store.sql.migrate import MigrateMode, prepare_schema
from despina.store.sql.runs_cells import SHOWN_SERIES, CellReader, sys_columns
from despina.store.sql.runs_query import RunsQuery

CHUNK_POINTS = 10_000
_RUN_COLUMN_PATHS = {
    "sys/name": "name",
    "sys/description": "description",
    "sys/state": "state",
    "sys/failed": "failed",
    "sys/ping_time": "ping_time",
}
# Derived from the run's record; nobody assigns them.
_DERIVED_SYS_PATHS = frozenset(
    {
        "sys",
        "sys/id",
        "sys/owner",
        "sys/creation_time",
        "sys/modification_time",
        "sys/custom_run_id",
        "sys/tags",
    }
)
DEFAULT_CRASH_TIMEOUT = 60.0
_T = TypeVar("_T")


def _now() -> float:
    return time.time()


def _ts_to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _float_columns(value: float) -> tuple[float | None, str | None]:
    """SQLite turns NaN into NULL, so NaN is kept as a marker next to a NULL number."""
    return (None, "nan") if math.isnan(value) else (value, None)


def _derive_key(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z]", "", name.rsplit("/", 1)[-1]).upper()[:3] or "RUN"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}{n}"
    return key


# PostgreSQL's "try the transaction again" errors: serialization failure and deadlock. Both roll the
# whole transaction back, so running it again is safe.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


def _is_transient(exc: OperationalError) -> bool:
    """A conflict with another writer that goes away when the transaction is run again."""
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message  # SQLite


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, value: str | None) -> bool | None:
    """SQLite's REGEXP (`value REGEXP pattern` calls regexp(pattern, value)): Python's re, searched."""
    if pattern is None or value is None:
        return None
    return _compiled(pattern).search(value) is not None


def database_url(url: str) -> str:
    """`url` as SQLAlchemy should open it: `postgresql://` and `postgres://` use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


READ_MMAP_BYTES = 1 << 30


def create_store_engine(url: str, *, write: bool = True) -> Engine:
    """An engine configured as the store uses it (SQLite: WAL, busy timeout, BEGIN IMMEDIATE to write).

    `url` may be any SQLAlchemy URL; `postgresql://` is mapped to the psycopg 3 driver. On SQLite,
    `write=False` gives an engine whose transactions begin deferred, for concurrent readers.
    """
    url = database_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not write:
            # Readers map the file instead of copying every page they read into their own cache:
            # a whole runs table (300,000 cells) read up to 1.5x faster (bench/README.md, issue 5).
            # It is address space, not memory; SQLite caps it where the platform cannot map that.
            cursor.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
        cursor.close()
        # `~` in runs queries: SQLite has no regular expressions of its own.
        dbapi_connection.create_function("regexp", 2, _regexp, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that later upgrades can fail
        # with "database is locked" no matter the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class SqlStore(Store):
    """Runs in a SQL database, file contents in a blob store.

    `migrate` says what to do with a database that is not at this Despina's schema revision (see
    `despina.store.sql.migrate.prepare_schema`): "auto" upgrades it (the embedded store), "check"
    refuses it with SchemaVersionError (a server; an empty database is created either way).

    Several processes may share one database. SQLite serializes writers with its write lock. On
    PostgreSQL, a transaction that creates a run locks its project's row (run numbers, custom run
    ids), and one that ingests locks its run's row, so writers to one run take turns while writers
    to different runs go on in parallel; serialization failures and deadlocks are retried.
    """

    def __init__(
        self,
        url: str,
        blobs: BlobStore,
        crash_timeout: float = DEFAULT_CRASH_TIMEOUT,
        *,
        migrate: MigrateMode = "auto",
    ) -> None:
        self.url = url
        self.blobs = blobs
        self.crash_timeout = crash_timeout
        self._sqlite = make_url(database_url(url)).get_backend_name() == "sqlite"
        self._write_engine = create_store_engine(url, write=True)
        self._read_engine = create_store_engine(url, write=False) if self._sqlite else self._write_engine
        try:
            self._retry(lambda: prepare_schema(self._write_engine, migrate, read_engine=self._read_engine))
        except BaseException:
            self.close()
            raise

    @property
    def engine(self) -> Engine:
        """The engine that writes (SQLite: transactions begin IMMEDIATE), for tables beside the runs."""
        return self._write_engine

    @property
    def read_engine(self) -> Engine:
        """The engine for reads (SQLite: deferred transactions, so readers never wait for the writer)."""
        return self._read_engine

    # -- connections -------------------------------------------------------------------------------

    def _retry(self, work: Callable[[], _T]) -> _T:
        delay = 0.01
        for _ in range(60):
            try:
                return work()
            except OperationalError as exc:
                if not _is_transient(exc):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        return work()

    def _write(self, work: Callable[[Connection], _T]) -> _T:
        def attempt() -> _T:
            with self._write_engine.begin() as conn:
                return work(conn)

        return self._retry(attempt)

    def _read(self, work: Callable[[Connection], _T]) -> _T:
        def attempt() -> _T:
            with self._read_engine.begin() as conn:
                return work(conn)

        return self._retry(attempt)

    def checkpoint(self) -> None:
        if not self._sqlite:
            return
        raw = self._write_engine.raw_connection()
        try:
            # Best effort: with other processes reading, SQLite folds in what it can and says busy.
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:
            pass
        finally:
            raw.close()

    def close(self) -> None:
        self._write_engine.dispose()
        self._read_engine.dispose()

    # -- runs --------------------------------------------------------------------------------------

    def _project_row(self, conn: Connection, name: str, *, create: bool, lock: bool = False) -> Any:
        """The project's row; created first when asked. `lock` holds it until the transaction ends."""
        query = select(t.projects).where(t.projects.c.name == name)
        if lock:
            # PostgreSQL: FOR NO KEY UPDATE, which still lets other transactions insert runs that
            # reference the project. SQLite renders nothing: its writers are serialized anyway.
            query = query.with_for_update(key_share=True)
        row = conn.execute(query).first()
        if row is not None or not create:
            return row
        for _ in range(100):
            taken = set(conn.execute(select(t.projects.c.key)).scalars())
            values = {"name": name, "key": _derive_key(name, taken), "run_counter": 0, "created_at": _now()}
            if self._sqlite:
                conn.execute(insert(t.projects).values(values))
            else:
                # Another process may be creating this project, or another one with the same key: the
                # insert waits for it, then does nothing. Then the project is there (same name) or
                # its key is taken, and the next round picks another.
                conn.execute(pg_insert(t.projects).values(values).on_conflict_do_nothing())
            row = conn.execute(query).first()
            if row is not None:
                return row
        raise RuntimeError(f"could not create project {name!r}: every key tried was taken concurrently")

    def _run_row(self, conn: Connection, project: str, run_id: str, *, lock: bool = False) -> Any:
        query = (
            select(t.runs)
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(t.projects.c.name == project, t.runs.c.short_id == run_id)
        )
        if lock:  # PostgreSQL: writers to one run take turns (see the class docstring)
            query = query.with_for_update(of=t.runs, key_share=True)
        row = conn.execute(query).first()
        if row is None:
            raise RunNotFoundError(f"project {project!r} has no run {run_id!r}")
        return row

    def _info(self, conn: Connection, row: Any, project: str) -> RunInfo:
        parent = None
        if row.fork_parent_id is not None:
            parent = conn.execute(select(t.runs.c.short_id).where(t.runs.c.id == row.fork_parent_id)).scalar()
        return RunInfo(
            id=row.short_id,
            project=project,
            name=row.name,
            description=row.description,
            owner=row.owner,
            state=self._state(row.state, row.ping_time, row.creation_time),
            failed=bool(row.failed),
            creation_time=_ts_to_datetime(row.creation_time),
            modification_time=_ts_to_datetime(row.modification_time),
            custom_run_id=row.custom_run_id,
            fork_parent=parent,
            fork_step=row.fork_step,
            ping_time=None if row.ping_time is None else _ts_to_datetime(row.ping_time),
        )

    def _state(self, state: str, ping_time: float | None, creation_time: float) -> str:
        """`running` with a heartbeat older than the crash timeout is `crashed`."""
        if state == "running" and _now() - (ping_time or creation_time) > self.crash_timeout:
            return "crashed"
        return state

    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        def work(conn: Connection) -> tuple[RunInfo, bool]:
            # Locked: the run number and the custom run id check below must see every run made before.
            project = self._project_row(conn, request.project, create=True, lock=True)
            for column, value in (
                ("custom_run_id", request.custom_run_id),
                ("creation_token", request.creation_token),
            ):
                if value is None:
                    continue
                existing = conn.execute(
                    select(t.runs).where(t.runs.c.project_id == project.id, t.runs.c[column] == value)
                ).first()
                if existing is not None:
                    return self._info(conn, existing, request.project), False
            parent = None
            if request.fork_run_id is not None:
                parent = self._run_row(conn, request.project, request.fork_run_id)
            number = project.run_counter + 1
            conn.execute(update(t.projects).where(t.projects.c.id == project.id).values(run_counter=number))
            now = _now()
            run_pk = conn.execute(
                insert(t.runs).values(
                    project_id=project.id,
                    number=number,
                    short_id=f"{project.key}-{number}",
                    custom_run_id=request.custom_run_id,
                    creation_token=request.creation_token,
                    name=request.name,
                    description=request.description,
                    owner=request.owner,
                    state="running",
                    failed=False,
                    creation_time=now,
                    modification_time=now,
                    fork_parent_id=None if parent is None else parent.id,
                    fork_step=request.fork_step,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            if parent is not None:
                self._copy_configuration(conn, parent.id, run_pk)
            for tag in dict.fromkeys(request.tags):
                self._add_string(conn, run_pk, "sys/tags", tag)
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_pk)).one()
            return self._info(conn, row, request.project), True

        for _ in range(3):
            try:
                return self._write(work)
            except IntegrityError:
                # Another process created the same project key, custom run id or creation token between
                # our check and insert (the project lock prevents most of these); the next try finds it.
                continue
        return self._write(work)

    def _state_filter(self, states: list[str]) -> Any:
        """SQL for "the run reads as one of `states`", crash detection included."""
        heartbeat = func.coalesce(t.runs.c.ping_time, t.runs.c.creation_time)
        stale = heartbeat < _now() - self.crash_timeout
        conditions: list[Any] = [t.runs.c.state.in_([s for s in states if s not in ("running", "crashed")])]
        if "running" in states:
            conditions.append(and_(t.runs.c.state == "running", ~stale))
        if "crashed" in states:
            conditions.append(or_(t.runs.c.state == "crashed", and_(t.runs.c.state == "running", stale)))
        return or_(*conditions)

    def _copy_configuration(self, conn: Connection, parent_pk: int, child_pk: int) -> None:
        """A fork starts with its parent's atoms, files and sets; series are read through instead."""
        for row in conn.execute(select(t.fields).where(t.fields.c.run_id == parent_pk)):
            conn.execute(insert(t.fields).values({**row._mapping, "run_id": child_pk}))
        for row in conn.execute(select(t.string_set_items).where(t.string_set_items.c.run_id == parent_pk)):
            conn.execute(insert(t.string_set_items).values({**row._mapping, "run_id": child_pk}))

    def get_run(self, project: str, run_id: str) -> RunInfo:
        return self._read(lambda conn: self._info(conn, self._run_row(conn, project, run_id), project))

    def list_projects(self) -> list[str]:
        # Sorted here: the database's collation (PostgreSQL's locale) would order names differently.
        return sorted(self._read(lambda conn: list(conn.execute(select(t.projects.c.name)).scalars())))

    # -- ingestion ---------------------------------------------------------------------------------

    def applied_seq(self, project: str, run_id: str, writer_id: str) -> int:
        def work(conn: Connection) -> int:
            run = self._run_row(conn, project, run_id)
            return self._applied(conn, run.id, writer_id)

        return self._read(work)

    def _applied(self, conn: Connection, run_pk: int, writer_id: str) -> int:
        value = conn.execute(
            select(t.writers.c.last_seq).where(
                t.writers.c.run_id == run_pk, t.writers.c.writer_id == writer_id
            )
        ).scalar()
        return -1 if value is None else int(value)

    def ingest(
        self, project: str, run_id: str, writer_id: str, items: Sequence[tuple[int, Operation]], last_seq: int
    ) -> IngestResult:
        def work(conn: Connection) -> IngestResult:
            run = self._run_row(conn, project, run_id, lock=True)
            applied = self._applied(conn, run.id, writer_id)
            if last_seq <= applied:
                return IngestResult(applied)
            # The run's field types, read once per batch: checking each operation with queries of its
            # own made a batch of a few dozen atoms cost tens of milliseconds.
            conn.info[_TYPES_KEY] = (run.id, self._load_types(conn, run.id))
            try:
                return apply_all(conn, run, applied)
            finally:
                conn.info.pop(_TYPES_KEY, None)

        def apply_all(conn: Connection, run: Any, applied: int) -> IngestResult:
            rejected: list[str] = []
            for seq, op in items:
                if isinstance(op, AppendPoints):
                    if op.seqs is not None and applied >= seq:
                        keep = op.seqs > applied
                        op = AppendPoints(
                            op.path, op.type, op.steps[keep], op.timestamps[keep], np.asarray(op.values)[keep]
                        )
                    elif seq <= applied:
                        continue
                    if len(op) and self._storable(op, rejected):
                        self._append(conn, run.id, op, rejected)
                    continue
                if seq <= applied:
                    continue
                if self._storable(op, rejected):
                    self._apply(conn, run.id, op, rejected)
            if applied < 0:
                conn.execute(insert(t.writers).values(run_id=run.id, writer_id=writer_id, last_seq=last_seq))
            else:
                conn.execute(
                    update(t.writers)
                    .where(t.writers.c.run_id == run.id, t.writers.c.writer_id == writer_id)
                    .values(last_seq=last_seq)
                )
            conn.execute(update(t.runs).where(t.runs.c.id == run.id).values(modification_time=_now()))
            return IngestResult(last_seq, rejected)

        return self._write(work)

    def _storable(self, op: Operation, rejected: list[str]) -> bool:
        """PostgreSQL text cannot hold NUL characters: such an operation is rejected, not retried forever."""
        if self._sqlite or not _has_nul(op):
            return True
        rejected.append(f"{op.path!r}: a NUL character (\\x00) cannot be stored in PostgreSQL text")
        return False

    @staticmethod
    def _load_types(conn: Connection, run_pk: int) -> _RunTypes:
        fields = conn.execute(select(t.fields.c.path, t.fields.c.type).where(t.fields.c.run_id == run_pk))
        series = conn.execute(select(t.series.c.path, t.series.c.type).where(t.series.c.run_id == run_pk))
        return _RunTypes({path: type_ for path, type_ in fields}, {path: type_ for path, type_ in series})

    def _types(self, conn: Connection, run_pk: int) -> _RunTypes:
        cached = conn.info.get(_TYPES_KEY)
        if cached is not None and cached[0] == run_pk:
            return cached[1]  # type: ignore[no-any-return]
        return self._load_types(conn, run_pk)

    def _field_type(self, conn: Connection, run_pk: int, path: str) -> str | None:
        types = self._types(conn, run_pk)
        return types.fields.get(path) or types.series.get(path)

    def _check_type(self, conn: Connection, run_pk: int, path: str, type_: str, rejected: list[str]) -> bool:
        existing = self._field_type(conn, run_pk, path)
        if existing is None or existing == type_ or (existing == ft.FLOAT and type_ == ft.INT):
            return True
        rejected.append(f"{path}: is a {existing} field, cannot take a {type_} value")
        return False

    def _apply(self, conn: Connection, run_pk: int, op: Operation, rejected: list[str]) -> None:
        if isinstance(op, AssignAtom):
            column = _RUN_COLUMN_PATHS.get(op.path)
            if column is not None:
                value = op.value.timestamp() if isinstance(op.value, datetime) else op.value
                conn.execute(update(t.runs).where(t.runs.c.id == run_pk).values({column: value}))
                return
            if op.path in _DERIVED_SYS_PATHS or op.path.startswith("sys/forking/"):
                rejected.append(f"{op.path}: is derived from the run's record and cannot be assigned")
                return
            if not self._check_type(conn, run_pk, op.path, op.type, rejected):
                return
            type_ = op.type
            if type_ == ft.INT and self._field_type(conn, run_pk, op.path) == ft.FLOAT:
                type_ = ft.FLOAT
            self._set_field(conn, run_pk, op.path, type_, **self._atom_columns(type_, op.value))
        elif isinstance(op, AssignFile):
            if self._check_type(conn, run_pk, op.path, ft.FILE, rejected):
                self._set_field(conn, run_pk, op.path, ft.FILE, text_value=json.dumps(op.file.to_dict()))
        elif isinstance(op, AddFileSetEntries):
            if not self._check_type(conn, run_pk, op.path, ft.FILE_SET, rejected):
                return
            current: dict[str, Any] = {}
            if not op.reset:
                raw = conn.execute(
                    select(t.fields.c.text_value).where(
                        t.fields.c.run_id == run_pk, t.fields.c.path == op.path
                    )
                ).scalar()
                current = json.loads(raw) if raw else {}
            current.update({name: ref.to_dict() for name, ref in op.entries})
            self._set_field(
                conn, run_pk, op.path, ft.FILE_SET, text_value=json.dumps(current, sort_keys=True)
            )
        elif isinstance(op, AssignArtifact):
            # The set hash is the field's text, so `datasets/train = "<hash>"` compares like a string;
            # the file list stays in its blob.
            if self._check_type(conn, run_pk, op.path, ft.ARTIFACT, rejected):
                artifact = op.artifact
                self._set_field(
                    conn,
                    run_pk,
                    op.path,
                    ft.ARTIFACT,
                    text_value=artifact.hash,
                    int_value=artifact.file_count,
                    float_value=float(artifact.total_size),
                    blob_sha256=artifact.manifest,
                )
        elif isinstance(op, AddStrings):
            if self._check_type(conn, run_pk, op.path, ft.STRING_SET, rejected):
                self._set_field(conn, run_pk, op.path, ft.STRING_SET)
                for value in op.values:
                    self._add_string(conn, run_pk, op.path, value)
        elif isinstance(op, RemoveStrings):
            conn.execute(
                delete(t.string_set_items).where(
                    t.string_set_items.c.run_id == run_pk,
                    t.string_set_items.c.path == op.path,
                    t.string_set_items.c.value.in_(op.values),
                )
            )
        elif isinstance(op, DeleteField):
            self._delete(conn, run_pk, op.path)

    @staticmethod
    def _atom_columns(type_: str, value: Any) -> dict[str, Any]:
        if type_ == ft.FLOAT:
            number, marker = _float_columns(float(value))
            return {"float_value": number, "text_value": marker}
        if type_ in (ft.INT, ft.BOOL):
            return {"int_value": int(value)}
        if type_ == ft.DATETIME:
            return {"int_value": value if isinstance(value, int) else datetime_to_micros(value)}
        return {"text_value": str(value)}

    def _set_field(self, conn: Connection, run_pk: int, path: str, type_: str, **values: Any) -> None:
        # blob_sha256 only when given (artifacts): an update keeps a field's type, and a row without it
        # also writes to a database of an older revision (what migration tests seed their data with).
        row = {"float_value": None, "int_value": None, "text_value": None, **values, "type": type_}
        types = self._types(conn, run_pk)
        if path in types.fields:
            conn.execute(
                update(t.fields).where(t.fields.c.run_id == run_pk, t.fields.c.path == path).values(row)
            )
        else:
            conn.execute(insert(t.fields).values(run_id=run_pk, path=path, **row))
        types.fields[path] = type_

    def _add_string(self, conn: Connection, run_pk: int, path: str, value: str) -> None:
        present = conn.execute(
            select(
                exists().where(
                    t.string_set_items.c.run_id == run_pk,
                    t.string_set_items.c.path == path,
                    t.string_set_items.c.value == value,
                )
            )
        ).scalar()
        if not present:
            conn.execute(insert(t.string_set_items).values(run_id=run_pk, path=path, value=value))

    def _delete(self, conn: Connection, run_pk: int, path: str) -> None:
        types = self._types(conn, run_pk)
        for known in (types.fields, types.series):
            for gone in [p for p in known if p == path or p.startswith(path + "/")]:
                del known[gone]
        for table in (t.fields, t.string_set_items):
            conn.execute(delete(table).where(table.c.run_id == run_pk, _at_or_under(table.c.path, path)))
        series_ids = list(
            conn.execute(
                select(t.series.c.id).where(t.series.c.run_id == run_pk, _at_or_under(t.series.c.path, path))
            ).scalars()
        )
        if series_ids:
            conn.execute(delete(t.series_chunks).where(t.series_chunks.c.series_id.in_(series_ids)))
            conn.execute(delete(t.series).where(t.series.c.id.in_(series_ids)))
        run = conn.execute(select(t.runs).where(t.runs.c.id == run_pk)).one()
        if run.fork_parent_id is not None:
            # A fork hides what it inherited under the path: a row that does not read through.
            for inherited, type_ in self._inherited_series(conn, run).items():
                if inherited == path or inherited.startswith(path + "/"):
                    conn.execute(
                        insert(t.series).values(
                            run_id=run_pk,
                            path=inherited,
                            type=type_,
                            point_count=0,
                            finite_count=0,
                            inherit=False,
                        )
                    )

    def _inherited_series(self, conn: Connection, run: Any) -> dict[str, str]:
        """Paths and types of the series a fork can read through from its ancestors."""
        paths: dict[str, str] = {}
        blocked: set[str] = set()
        current = run
        while current.fork_parent_id is not None:
            for row in conn.execute(
                select(t.series.c.path, t.series.c.inherit).where(t.series.c.run_id == current.id)
            ):
                if not row.inherit:
                    blocked.add(row.path)
            current = conn.execute(select(t.runs).where(t.runs.c.id == current.fork_parent_id)).one()
            for row in conn.execute(
                select(t.series.c.path, t.series.c.type).where(t.series.c.run_id == current.id)
            ):
                if row.path not in blocked:
                    paths.setdefault(row.path, row.type)
        return paths

    def _inherited_last_step(self, conn: Connection, run_pk: int, path: str) -> float | None:
        run = conn.execute(select(t.runs).where(t.runs.c.id == run_pk)).one()
        if run.fork_parent_id is None:
            return None
        parent = conn.execute(select(t.runs).where(t.runs.c.id == run.fork_parent_id)).one()
        data = self._series_data(conn, parent, path, (None, run.fork_step))
        return float(data.steps[-1]) if len(data.steps) else None

    def _append(self, conn: Connection, run_pk: int, op: AppendPoints, rejected: list[str]) -> None:
        row = conn.execute(
            select(t.series).where(t.series.c.run_id == run_pk, t.series.c.path == op.path)
        ).first()
        if row is None:
            if self._field_type(conn, run_pk, op.path) is not None:
                rejected.append(f"{op.path}: is not a series, cannot append to it")
                return
            conn.execute(
                insert(t.series).values(
                    run_id=run_pk, path=op.path, type=op.type, point_count=0, finite_count=0
                )
            )
            self._types(conn, run_pk).series[op.path] = op.type
            row = conn.execute(
                select(t.series).where(t.series.c.run_id == run_pk, t.series.c.path == op.path)
            ).one()
        elif row.type != op.type:
            rejected.append(f"{op.path}: is a {row.type}, cannot take {op.type} points")
            return
        steps = np.asarray(op.steps, dtype=np.float64)
        timestamps = np.asarray(op.timestamps, dtype=np.float64)
        values: Any = op.values
        # Steps must increase: a point at or below the last stored step (another writer, a bad
        # client) is skipped, never stored out of order.
        floor = row.last_step
        if floor is None and row.inherit:
            floor = self._inherited_last_step(conn, run_pk, op.path)
        floor = -math.inf if floor is None else floor
        previous = np.concatenate(([floor], np.maximum.accumulate(steps)[:-1])) if len(steps) else steps
        keep = steps > np.maximum(previous, floor)
        if not keep.all():
            bad = int((~keep).sum())
            rejected.append(
                f"{op.path}: skipped {bad} point(s) whose step did not increase (last step {floor})"
            )
            steps, timestamps = steps[keep], timestamps[keep]
            values = (
                np.asarray(values)[keep]
                if op.type == ft.FLOAT_SERIES
                else [v for v, k in zip(values, keep.tolist(), strict=True) if k]
            )
        if not len(steps):
            return
        if op.type == ft.FLOAT_SERIES:
            values = np.asarray(values, dtype=np.float64)
        elif op.type == ft.FILE_SERIES:
            values = [v.to_dict() if isinstance(v, FileRef) else v for v in values]
        else:
            values = list(values)
        self._write_chunks(conn, row.id, op.type, steps, timestamps, values)
        self._update_summary(conn, row, op.type, steps, timestamps, values)

    def _write_chunks(
        self, conn: Connection, series_id: int, type_: str, steps: Any, timestamps: Any, values: Any
    ) -> None:
        last = conn.execute(
            select(t.series_chunks)
            .where(t.series_chunks.c.series_id == series_id)
            .order_by(t.series_chunks.c.chunk_no.desc())
            .limit(1)
        ).first()
        next_no = 0
        if last is not None:
            next_no = last.chunk_no + 1
            if last.point_count < CHUNK_POINTS:
                # Top up the last chunk so small batches (sync mode) do not leave many tiny chunks.
                room = CHUNK_POINTS - last.point_count
                old_steps, old_ts, old_values = decode_chunk(last.data)
                merged = self._concat(
                    type_, (old_steps, old_ts, old_values), (steps[:room], timestamps[:room], values[:room])
                )
                conn.execute(
                    update(t.series_chunks)
                    .where(
                        t.series_chunks.c.series_id == series_id, t.series_chunks.c.chunk_no == last.chunk_no
                    )
                    .values(
                        last_step=float(merged[0][-1]),
                        point_count=len(merged[0]),
                        data=encode_chunk(type_, *merged),
                    )
                )
                steps, timestamps, values = steps[room:], timestamps[room:], values[room:]
        rows = []
        for start in range(0, len(steps), CHUNK_POINTS):
            part = slice(start, start + CHUNK_POINTS)
            rows.append(
                {
                    "series_id": series_id,
                    "chunk_no": next_no,
                    "first_step": float(steps[part][0]),
                    "last_step": float(steps[part][-1]),
                    "point_count": len(steps[part]),
                    "data": encode_chunk(type_, steps[part], timestamps[part], values[part]),
                }
            )
            next_no += 1
        if rows:
            conn.execute(insert(t.series_chunks), rows)

    @staticmethod
    def _concat(
        type_: str, first: tuple[Any, Any, Any], second: tuple[Any, Any, Any]
    ) -> tuple[Any, Any, Any]:
        steps = np.concatenate((first[0], second[0]))
        timestamps = np.concatenate((first[1], second[1]))
        if type_ == ft.FLOAT_SERIES:
            return steps, timestamps, np.concatenate((first[2], second[2]))
        return steps, timestamps, list(first[2]) + list(second[2])

    def _update_summary(
        self, conn: Connection, row: Any, type_: str, steps: Any, timestamps: Any, values: Any
    ) -> None:
        changes: dict[str, Any] = {
            "point_count": row.point_count + len(steps),
            "last_step": float(steps[-1]),
            "last_timestamp": float(timestamps[-1]),
        }
        if type_ == ft.FLOAT_SERIES:
            number, marker = _float_columns(float(values[-1]))
            changes.update(last_float=number, last_text=marker)
            finite = values[np.isfinite(values)]
            if len(finite):
                low, high, total = float(finite.min()), float(finite.max()), float(finite.sum())
                changes.update(
                    min_value=low if row.min_value is None else min(low, row.min_value),
                    max_value=high if row.max_value is None else max(high, row.max_value),
                    sum_value=total + (row.sum_value or 0.0),
                    finite_count=row.finite_count + len(finite),
                )
        elif type_ == ft.STRING_SERIES:
            changes["last_text"] = str(values[-1])
        else:
            changes["last_text"] = json.dumps(values[-1])
        conn.execute(update(t.series).where(t.series.c.id == row.id).values(changes))

    # -- reading -----------------------------------------------------------------------------------

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]:
        def work(conn: Connection) -> dict[str, FieldValue]:
            run = self._run_row(conn, project, run_id)
            info = self._info(conn, run, project)
            result = self._fields_of(conn, [run.id], {run.id: info})[run.id]
            if run.fork_parent_id is not None:
                for path, summary in self._fork_summaries(conn, run).items():
                    result[path] = FieldValue(path, summary[0], summary[1])
            if prefix:
                result = {p: v for p, v in result.items() if p == prefix or p.startswith(prefix + "/")}
            return dict(sorted(result.items()))

        return self._read(work)

    @staticmethod
    def _sys_fields(info: RunInfo) -> dict[str, FieldValue]:
        values: dict[str, tuple[str, Any]] = {
            "sys/id": (ft.STRING, info.id),
            "sys/name": (ft.STRING, info.name),
            "sys/description": (ft.STRING, info.description),
            "sys/owner": (ft.STRING, info.owner),
            "sys/state": (ft.STRING, info.state),
            "sys/failed": (ft.BOOL, info.failed),
            "sys/creation_time": (ft.DATETIME, info.creation_time),
            "sys/modification_time": (ft.DATETIME, info.modification_time),
        }
        if info.ping_time is not None:
            values["sys/ping_time"] = (ft.DATETIME, info.ping_time)
        if info.custom_run_id is not None:
            values["sys/custom_run_id"] = (ft.STRING, info.custom_run_id)
        if info.fork_parent is not None:
            values["sys/forking/parent"] = (ft.STRING, info.fork_parent)
            values["sys/forking/step"] = (ft.FLOAT, info.fork_step)
        return {path: FieldValue(path, type_, value) for path, (type_, value) in values.items()}

    def _fields_of(
        self,
        conn: Connection,
        run_pks: list[int],
        infos: dict[int, RunInfo],
        columns: Sequence[str] | None = None,
    ) -> dict[int, dict[str, FieldValue]]:
        # Only the columns asked for are read (paths, or namespaces: everything under them).
        wanted = None if columns is None else tuple(dict.fromkeys(columns))

        chosen: dict[str, bool] = {}

        def selected(path: str) -> bool:
            if path not in chosen:
                chosen[path] = (
                    wanted is None or path in wanted or any(path.startswith(c + "/") for c in wanted)
                )
            return chosen[path]

        out: dict[int, dict[str, FieldValue]] = {}
        for pk in run_pks:
            sys_fields = self._sys_fields(infos[pk])
            sys_fields["sys/tags"] = FieldValue("sys/tags", ft.STRING_SET, set())  # every run has tags
            out[pk] = {p: v for p, v in sys_fields.items() if p == "sys/id" or selected(p)}

        # Only the paths asked for, and those under the namespaces asked for, as a list per table
        # (found as the columns form finds them): one expanding IN, a statement SQLAlchemy caches.
        reader = CellReader(conn, self._sqlite, run_pks, wanted)
        try:
            projections = {
                table.name: None if wanted is None else reader.paths(table.name)
                for table in (t.fields, t.string_set_items)
            }
            projections[t.series.name] = None if wanted is None else reader.paths(t.series.name, SHOWN_SERIES)
        finally:
            reader.close()

        def projected(table: Any) -> Any:
            paths = projections[str(table.name)]
            return true() if paths is None else table.c.path.in_(paths)

        sets = t.string_set_items
        for batch in _batched(run_pks, 500):
            # Rows as tuples, by position (see field_rows).
            field_rows = select(*FIELD_COLUMNS).where(t.fields.c.run_id.in_(batch), projected(t.fields))
            for run_id, path, type_, *stored in conn.execute(field_rows):
                out[run_id][path] = FieldValue(path, type_, field_value(type_, *stored))
            set_rows = select(sets.c.run_id, sets.c.path, sets.c.value).where(
                sets.c.run_id.in_(batch), projected(sets)
            )
            for run_id, path, member in conn.execute(set_rows):
                field = out[run_id].get(path)
                if field is None or field.type != ft.STRING_SET:
                    field = out[run_id][path] = FieldValue(path, ft.STRING_SET, set())
                field.value.add(member)
            # (point_count 0: a fork's hidden inheritance; a fork's read-through is added later)
            series_rows = select(*SERIES_COLUMNS).where(
                t.series.c.run_id.in_(batch), t.series.c.point_count > 0, projected(t.series)
            )
            for run_id, path, type_, *summary in conn.execute(series_rows):
                out[run_id][path] = FieldValue(path, type_, series_summary(type_, *summary))
        return out

    def _fork_summaries(self, conn: Connection, run: Any) -> dict[str, tuple[str, SeriesSummary]]:
        """Summaries of series a fork reads through from its ancestors, merged with its own points."""
        paths = self._inherited_series(conn, run)
        own = {
            row.path: row.type
            for row in conn.execute(
                select(t.series.c.path, t.series.c.type).where(t.series.c.run_id == run.id)
            )
        }
        for path, type_ in own.items():
            paths.setdefault(path, type_)
        result: dict[str, tuple[str, SeriesSummary]] = {}
        for path, type_ in paths.items():
            data = self._series_data(conn, run, path, None)
            if not len(data.steps):
                continue
            values = data.values
            summary_args: dict[str, Any] = {}
            if type_ == ft.FLOAT_SERIES:
                finite = values[np.isfinite(values)]
                if len(finite):
                    summary_args = {
                        "min": float(finite.min()),
                        "max": float(finite.max()),
                        "mean": float(finite.mean()),
                    }
                last: Any = float(values[-1])
            elif type_ == ft.FILE_SERIES:
                last = FileRef.from_dict(values[-1])
            else:
                last = values[-1]
            result[path] = (
                type_,
                SeriesSummary(
                    len(data.steps), last, float(data.steps[-1]), float(data.timestamps[-1]), **summary_args
                ),
            )
        return result

    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData:
        def work(conn: Connection) -> SeriesData:
            run = self._run_row(conn, project, run_id)
            data = self._series_data(conn, run, path, step_range)
            type_ = self._series_type(conn, run, path)
            if type_ == ft.FILE_SERIES:
                data.values = [FileRef.from_dict(v) for v in data.values]
            return data

        return self._read(work)

    def _series_type(self, conn: Connection, run: Any, path: str) -> str | None:
        while run is not None:
            found = conn.execute(
                select(t.series.c.type).where(t.series.c.run_id == run.id, t.series.c.path == path)
            ).scalar()
            if found is not None:
                return str(found)
            run = (
                None
                if run.fork_parent_id is None
                else conn.execute(select(t.runs).where(t.runs.c.id == run.fork_parent_id)).one()
            )
        return None

    def _series_data(
        self, conn: Connection, run: Any, path: str, step_range: tuple[float | None, float | None] | None
    ) -> SeriesData:
        low, high = step_range if step_range is not None else (None, None)
        parts: list[SeriesData] = []
        own = conn.execute(
            select(t.series.c.id, t.series.c.inherit).where(
                t.series.c.run_id == run.id, t.series.c.path == path
            )
        ).first()
        if run.fork_parent_id is not None and (own is None or own.inherit):
            parent = conn.execute(select(t.runs).where(t.runs.c.id == run.fork_parent_id)).one()
            limit = run.fork_step if high is None else min(high, run.fork_step)
            parts.append(self._series_data(conn, parent, path, (low, limit)))
        series_id = None if own is None else own.id
        if series_id is not None:
            query = select(t.series_chunks.c.data).where(t.series_chunks.c.series_id == series_id)
            if low is not None:
                query = query.where(t.series_chunks.c.last_step >= low)
            if high is not None:
                query = query.where(t.series_chunks.c.first_step <= high)
            for (data,) in _chunk_rows(conn, query.order_by(t.series_chunks.c.chunk_no)):
                parts.append(_within(SeriesData(*decode_chunk(data)), low, high))
        if not parts:
            return SeriesData(np.empty(0), np.empty(0), np.empty(0))
        return _merge(parts)

    def runs_table(
        self,
        project: str,
        *,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        page = self.query_runs(
            project, owner=owner, tags=tags, state=state, columns=columns, sort_by="sys/id", ascending=True
        )
        return [dict(row) for row in page.rows]

    def query_runs(
        self,
        project: str,
        *,
        query: str | None = None,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
    ) -> RunsPage:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        plan = RunsQuery.prepare(query, sort_by, ascending, owner, tags, state)
        dialect = "sqlite" if self._sqlite else "postgresql"

        def work(conn: Connection) -> RunsPage:
            project_row = self._project_row(conn, project, create=False)
            if project_row is None:
                return RunsPage([], None)
            rows, next_cursor = plan.page(
                conn,
                project_row.id,
                runs=project_row.run_counter,
                dialect=dialect,
                state_filter=self._state_filter,
                limit=limit,
                cursor=cursor,
            )
            infos = {row.id: self._info(conn, row, project) for row in rows}
            fields = self._fields_of(conn, [row.id for row in rows], infos, columns)
            table = []
            for row in rows:
                run_fields = fields[row.id]
                if row.fork_parent_id is not None:
                    for path, (type_, summary) in self._fork_summaries(conn, row).items():
                        if columns is None or any(path == c or path.startswith(c + "/") for c in columns):
                            run_fields[path] = FieldValue(path, type_, summary)
                table.append(run_fields)
            return RunsPage(table, next_cursor)

        with cyclic_gc_paused():  # a page's or a table's cells: many objects, no cycles
            return self._read(work)

    def query_runs_columns(
        self,
        project: str,
        *,
        query: str | None = None,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
    ) -> RunsColumns:
        """`query_runs` read by column (see `despina.store.sql.runs_cells`): the same runs, order,
        cursor and cells, a few queries per column instead of objects per cell."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        plan = RunsQuery.prepare(query, sort_by, ascending, owner, tags, state)
        dialect = "sqlite" if self._sqlite else "postgresql"
        wanted = None if columns is None else tuple(dict.fromkeys(columns))

        def selected(path: str) -> bool:
            return wanted is None or path in wanted or any(path.startswith(c + "/") for c in wanted)

        def work(conn: Connection) -> RunsColumns:
            project_row = self._project_row(conn, project, create=False)
            if project_row is None:
                return RunsColumns.of(0, {})
            rows, next_cursor = plan.page(
                conn,
                project_row.id,
                runs=project_row.run_counter,
                dialect=dialect,
                state_filter=self._state_filter,
                limit=limit,
                cursor=cursor,
            )
            forks = [row for row in rows if row.fork_parent_id is not None]
            parents = {row.id: self._info(conn, row, project).fork_parent or "" for row in forks}
            builders: dict[str, ColumnBuilder] = {}
            sys_columns(
                rows, builders, selected, now=_now(), crash_timeout=self.crash_timeout, parents=parents
            )
            reader = CellReader(conn, self._sqlite, [row.id for row in rows], wanted)
            try:
                reader.read_fields(builders, len(rows))
                reader.read_sets(builders, len(rows))
                reader.read_series(builders, len(rows))
            finally:
                reader.close()
            # A fork reads its ancestors' series through (rare): summaries per forked run.
            position = {row.id: number for number, row in enumerate(rows)}
            for row in forks:
                for path, (type_, summary) in self._fork_summaries(conn, row).items():
                    if selected(path):
                        cell_value = cell(FieldValue(path, type_, summary))
                        values = np.empty(1, dtype=object)
                        values[0] = (
                            math.nan if cell_value is None and type_ == ft.FLOAT_SERIES else cell_value
                        )
                        if type_ == ft.FLOAT_SERIES:
                            values = values.astype(np.float64)
                        builders.setdefault(path, ColumnBuilder(len(rows))).add(
                            np.array([position[row.id]]), type_, values
                        )
            return RunsColumns.of(len(rows), builders, next_cursor)

        with cyclic_gc_paused():  # a page's or a table's cells: many objects, no cycles
            return self._read(work)

    def series_many(
        self,
        project: str,
        paths: Sequence[str],
        *,
        query: str | None = None,
        run_ids: Sequence[str] | None = None,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> list[RunSeries]:
        plan = RunsQuery.prepare(query, "sys/id", True)
        dialect = "sqlite" if self._sqlite else "postgresql"
        wanted = list(dict.fromkeys(paths))

        def work(conn: Connection) -> list[RunSeries]:
            project_row = self._project_row(conn, project, create=False)
            if project_row is None or not wanted:
                return []
            statement = select(t.runs).where(
                t.runs.c.project_id == project_row.id, plan.condition(dialect, self._state_filter)
            )
            if run_ids is not None:
                statement = statement.where(t.runs.c.short_id.in_(list(run_ids)))
            runs = list(conn.execute(statement.order_by(t.runs.c.number)))
            found: dict[tuple[int, str], RunSeries] = {}
            plain = {run.id: run for run in runs if run.fork_parent_id is None}
            for batch in _batched(list(plain), 500):
                found.update(self._plain_series(conn, plain, batch, wanted, step_range))
            for run in runs:
                if run.fork_parent_id is None:
                    continue
                for path in wanted:  # a fork reads through its parent: the general, slower path
                    type_ = self._series_type(conn, run, path)
                    if type_ in (ft.FLOAT_SERIES, ft.STRING_SERIES):
                        data = self._series_data(conn, run, path, step_range)
                        if len(data.steps):
                            found[(run.id, path)] = RunSeries(run.short_id, path, type_, data)
            return [found[(run.id, path)] for run in runs for path in wanted if (run.id, path) in found]

        return self._read(work)

    def _plain_series(
        self,
        conn: Connection,
        runs: dict[int, Any],
        batch: list[int],
        paths: list[str],
        step_range: tuple[float | None, float | None] | None,
    ) -> dict[tuple[int, str], RunSeries]:
        """Series of runs that are not forks, their chunks read in one query."""
        low, high = step_range if step_range is not None else (None, None)
        heads = {
            row.id: row
            for row in conn.execute(
                select(t.series.c.id, t.series.c.run_id, t.series.c.path, t.series.c.type).where(
                    t.series.c.run_id.in_(batch),
                    t.series.c.path.in_(paths),
                    t.series.c.type.in_([ft.FLOAT_SERIES, ft.STRING_SERIES]),
                    t.series.c.point_count > 0,
                )
            )
        }
        parts: dict[int, list[SeriesData]] = {}
        for series_id_batch in _batched(list(heads), 500):
            query = select(t.series_chunks.c.series_id, t.series_chunks.c.data).where(
                t.series_chunks.c.series_id.in_(series_id_batch)
            )
            if low is not None:
                query = query.where(t.series_chunks.c.last_step >= low)
            if high is not None:
                query = query.where(t.series_chunks.c.first_step <= high)
            query = query.order_by(t.series_chunks.c.series_id, t.series_chunks.c.chunk_no)
            for series_id, data in _chunk_rows(conn, query):
                parts.setdefault(series_id, []).append(_within(SeriesData(*decode_chunk(data)), low, high))
        result: dict[tuple[int, str], RunSeries] = {}
        for series_id, chunks in parts.items():
            head = heads[series_id]
            data = _merge(chunks)
            if len(data.steps):
                run = runs[head.run_id]
                result[(head.run_id, head.path)] = RunSeries(run.short_id, head.path, head.type, data)
        return result

    def series_buckets(
        self,
        project: str,
        run_id: str,
        path: str,
        *,
        buckets: int,
        step_range: tuple[float | None, float | None] | None = None,
        timestamps: bool = False,
    ) -> SeriesBuckets:
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1, not {buckets}")

        def work(conn: Connection) -> SeriesBuckets:
            run = self._run_row(conn, project, run_id)
            return self._line_buckets(conn, run, path, buckets, step_range, timestamps)

        return self._read(work)

    def series_buckets_many(
        self,
        project: str,
        lines: Sequence[tuple[str, str]],
        *,
        buckets: int,
        step_range: tuple[float | None, float | None] | None = None,
        timestamps: bool = False,
    ) -> list[SeriesBuckets | DespinaError]:
        """Runs, series heads and chunks of every line in a few set-based queries (a compare page's
        300 lines cost 4 queries, not 1,200), each series bucketed as soon as its chunks are in: its
        points are decoded one series at a time, and chunks are read 100 series per query (which
        psycopg's client-side cursor holds whole)."""
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1, not {buckets}")
        low, high = step_range if step_range is not None else (None, None)
        wanted = list(dict.fromkeys(lines))

        def work(conn: Connection) -> list[SeriesBuckets | DespinaError]:
            project_row = self._project_row(conn, project, create=False)
            runs: dict[str, Any] = {}
            if project_row is not None:
                for batch in _batched(list({run_id: None for run_id, _ in wanted}), 500):
                    runs.update(
                        (row.short_id, row)
                        for row in conn.execute(
                            select(t.runs).where(
                                t.runs.c.project_id == project_row.id, t.runs.c.short_id.in_(batch)
                            )
                        )
                    )
            plain = {row.id: row for row in runs.values() if row.fork_parent_id is None}
            paths = list({path: None for _, path in wanted})
            heads: dict[tuple[int, str], Any] = {}
            for batch in _batched(list(plain), 500):
                for head in conn.execute(
                    select(t.series.c.id, t.series.c.run_id, t.series.c.path, t.series.c.type).where(
                        t.series.c.run_id.in_(batch), t.series.c.path.in_(paths)
                    )
                ):
                    heads[(head.run_id, head.path)] = head
            floats = {head.id: head for head in heads.values() if head.type == ft.FLOAT_SERIES}
            bucketed: dict[int, SeriesBuckets] = {}
            for batch in _batched(sorted(floats), 100):
                query = select(t.series_chunks.c.series_id, t.series_chunks.c.data).where(
                    t.series_chunks.c.series_id.in_(batch)
                )
                if low is not None:
                    query = query.where(t.series_chunks.c.last_step >= low)
                if high is not None:
                    query = query.where(t.series_chunks.c.first_step <= high)
                query = query.order_by(t.series_chunks.c.series_id, t.series_chunks.c.chunk_no)
                for series_id, rows in itertools.groupby(_chunk_rows(conn, query), key=lambda row: row[0]):
                    chunks = [row[1] for row in rows]
                    result = _chunks_bucketed(chunks, buckets, low, high, timestamps)
                    # Few points: all of them, with their times, from the chunks read here (read
                    # again line by line, a comparison of 10,000 short series took 11 queries each).
                    if result is None:
                        points = [_within(SeriesData(*decode_chunk(chunk)), low, high) for chunk in chunks]
                        result = SeriesBuckets(exact=True, points=_merge(points))
                    bucketed[series_id] = result
            out: list[SeriesBuckets | DespinaError] = []
            for run_id, path in lines:
                run = runs.get(run_id)
                if run is None:
                    out.append(RunNotFoundError(f"project {project!r} has no run {run_id!r}"))
                    continue
                found = heads.get((run.id, path))
                if found is not None and found.id in bucketed:
                    out.append(bucketed[found.id])
                    continue
                try:  # a fork, an empty range or another type: one line at a time
                    out.append(self._line_buckets(conn, run, path, buckets, step_range, timestamps))
                except DespinaError as exc:
                    out.append(exc)
            return out

        return self._read(work)

    def _line_buckets(
        self,
        conn: Connection,
        run: Any,
        path: str,
        buckets: int,
        step_range: tuple[float | None, float | None] | None,
        timestamps: bool,
    ) -> SeriesBuckets:
        low, high = step_range if step_range is not None else (None, None)
        type_ = self._series_type(conn, run, path)
        if type_ is None:  # nothing logged yet: a chart with no points
            return SeriesBuckets(exact=True, points=SeriesData(np.empty(0), np.empty(0), np.empty(0)))
        if type_ != ft.FLOAT_SERIES:
            raise FieldTypeError(f"{path!r} is a {type_}; only float series are downsampled")
        own = conn.execute(
            select(t.series.c.id, t.series.c.point_count).where(
                t.series.c.run_id == run.id, t.series.c.path == path
            )
        ).first()
        if run.fork_parent_id is not None or own is None:
            data = self._series_data(conn, run, path, step_range)
            if not timestamps:
                data = SeriesData(data.steps, np.empty(0), data.values)
            return bucketize(data, buckets, low, high)
        # Chunks out of the range are never read (the index on series_id, last_step), and
        # timestamps are decoded only when asked for: a chart of a million points on a step axis
        # reads only steps and values.
        query = select(t.series_chunks.c.data).where(t.series_chunks.c.series_id == own.id)
        if low is not None:
            query = query.where(t.series_chunks.c.last_step >= low)
        if high is not None:
            query = query.where(t.series_chunks.c.first_step <= high)
        result = _chunks_bucketed(
            (row[0] for row in _chunk_rows(conn, query.order_by(t.series_chunks.c.chunk_no))),
            buckets,
            low,
            high,
            timestamps,
        )
        if result is None:  # few points: all of them, with their timestamps
            return SeriesBuckets(exact=True, points=self._series_data(conn, run, path, step_range))
        return result

    # -- blobs -------------------------------------------------------------------------------------

    def put_blob(self, source: Path, sha256: str) -> None:
        self.blobs.put_file(source, sha256)

    def has_blob(self, sha256: str) -> bool:
        # Whoever learns the content is stored may refer to it next instead of storing it again:
        # touched, garbage collection keeps it (blob_gc.py).
        if not self.blobs.exists(sha256):
            return False
        self.blobs.touch(sha256)
        return True

    def open_blob(self, sha256: str) -> BinaryIO:
        return self.blobs.open(sha256)

    # -- deleting ----------------------------------------------------------------------------------

    def delete_runs(self, project: str, run_ids: Sequence[str]) -> int:
        wanted = list(dict.fromkeys(run_ids))

        def work(conn: Connection) -> int:
            project_row = self._project_row(conn, project, create=False)
            if project_row is None:
                raise ProjectNotFoundError(f"project {project!r} not found")
            found: dict[str, int] = {}
            for names in _batched(wanted, 500):
                rows = conn.execute(
                    select(t.runs.c.short_id, t.runs.c.id).where(
                        t.runs.c.project_id == project_row.id, t.runs.c.short_id.in_(names)
                    )
                )
                found.update({short: pk for short, pk in rows})
            missing = [run_id for run_id in wanted if run_id not in found]
            if missing:
                raise RunNotFoundError(f"project {project!r} has no run {missing[0]!r}")
            pks = list(found.values())
            in_trash: set[int] = set()
            forks: list[tuple[str, int]] = []
            for pk_part in _batched(pks, 500):
                in_trash.update(
                    conn.execute(
                        select(t.fields.c.run_id).where(
                            t.fields.c.run_id.in_(pk_part),
                            t.fields.c.path == TRASHED,
                            t.fields.c.int_value == 1,
                        )
                    ).scalars()
                )
                forked = select(t.runs.c.short_id, t.runs.c.fork_parent_id)
                rows = conn.execute(forked.where(t.runs.c.fork_parent_id.in_(pk_part)))
                forks.extend((fork_id, parent_pk) for fork_id, parent_pk in rows)
            outside = [run_id for run_id in wanted if found[run_id] not in in_trash]
            if outside:
                raise RunDeletionError(
                    f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} not in the trash: "
                    "only runs in the trash are deleted for good"
                )
            by_pk = {pk: short for short, pk in found.items()}
            kept = sorted({(fork, by_pk[parent]) for fork, parent in forks if fork not in found})
            if kept:
                described = ", ".join(f"{fork} (forked from {parent})" for fork, parent in kept)
                raise RunDeletionError(
                    f"runs that stay were forked from runs to delete: {described}; "
                    "delete them too, or keep their parents"
                )
            for pk_part in _batched(pks, 500):
                series_ids = select(t.series.c.id).where(t.series.c.run_id.in_(pk_part)).scalar_subquery()
                conn.execute(delete(t.series_chunks).where(t.series_chunks.c.series_id.in_(series_ids)))
                for table in (t.series, t.string_set_items, t.fields, t.writers):
                    conn.execute(delete(table).where(table.c.run_id.in_(pk_part)))
            # Forks first, then the runs they were forked from: a run's row is never left pointing
            # at a deleted parent, whichever way the database checks its foreign keys.
            remaining = set(pks)
            while remaining:
                parents = set(
                    conn.execute(
                        select(t.runs.c.fork_parent_id).where(
                            t.runs.c.id.in_(remaining), t.runs.c.fork_parent_id.is_not(None)
                        )
                    ).scalars()
                )
                leaves = (remaining - parents) or remaining  # forks never form a cycle; be safe anyway
                conn.execute(delete(t.runs).where(t.runs.c.id.in_(leaves)))
                remaining -= leaves
            return len(pks)

        return self._write(work)

    def collect_garbage(
        self, *, older_than: float = DEFAULT_OLDER_THAN, dry_run: bool = False
    ) -> GarbageReport:
        """Delete the file contents no run refers to, untouched for `older_than` seconds (blob_gc.py)."""
        return collect_garbage(self, older_than=older_than, dry_run=dry_run)

    # -- import ------------------------------------------------------------------------------------

    def restore_run_times(
        self, project: str, run_id: str, creation_time: datetime, modification_time: datetime
    ) -> None:
        def work(conn: Connection) -> None:
            run = self._run_row(conn, project, run_id)
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run.id)
                .values(
                    creation_time=creation_time.timestamp(), modification_time=modification_time.timestamp()
                )
            )

        self._write(work)


_TYPES_KEY = "despina.ingest_types"


@dataclass
class _RunTypes:
    """Field and series types of the run a batch is applied to (see `SqlStore.ingest`)."""

    fields: dict[str, str]
    series: dict[str, str]


def _has_nul(op: Operation) -> bool:
    """Whether an operation carries a NUL character in text that is stored as a database string."""
    texts: Iterable[Any] = ()
    if isinstance(op, AssignAtom):
        texts = (op.value,)
    elif isinstance(op, (AddStrings, RemoveStrings)) or (
        isinstance(op, AppendPoints) and op.type == ft.STRING_SERIES
    ):
        texts = op.values
    return "\x00" in op.path or any(isinstance(v, str) and "\x00" in v for v in texts)


def _at_or_under(column: Any, path: str) -> Any:
    """`column` is `path` or lies under it; case-sensitive (SQLite's LIKE is not)."""
    prefix = path + "/"
    return or_(column == path, func.substr(column, 1, len(prefix)) == prefix)


def _chunks_bucketed(
    chunks: Iterable[bytes], buckets: int, low: float | None, high: float | None, timestamps: bool
) -> SeriesBuckets | None:
    """A float series' chunks (in order) bucketed over [low, high], with times when `timestamps`;
    None when the range holds no more points than buckets, which a chart then reads exactly. Over
    the whole series, evenly spaced chunks keep their steps as (first, stride) (EvenSteps): only the
    steps of the points reported are computed."""
    steps_parts: list[Any] = []
    time_parts, value_parts = [], []
    for chunk in chunks:
        steps, times, values = decode_chunk_for_buckets(chunk, timestamps)
        if low is not None or high is not None:
            steps = steps.steps() if isinstance(steps, EvenStride) else steps
            mask = _step_mask(steps, low, high)
            steps, values = steps[mask], values[mask]
            times = times[mask] if timestamps else times
        steps_parts.append(steps)
        time_parts.append(times)
        value_parts.append(values)
    if sum(part.size if isinstance(part, EvenStride) else len(part) for part in steps_parts) <= buckets:
        return None
    values = np.concatenate(value_parts)
    stamps = np.concatenate(time_parts)
    if all(isinstance(part, EvenStride) for part in steps_parts) and EvenSteps.usable(steps_parts):
        return bucketize_steps(EvenSteps(steps_parts), values, stamps, buckets, low, high)
    steps_array = np.concatenate([p.steps() if isinstance(p, EvenStride) else p for p in steps_parts])
    return bucketize(SeriesData(steps_array, stamps, values), buckets, low, high)


def _chunk_rows(conn: Connection, statement: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a query of chunks. On PostgreSQL in psycopg's binary format: chunks travel as
    their bytes, where the text format sends them hex-escaped, twice the size, and parses them (the
    100 chunks of a 1,000,000-point series: 28 ms as text, 7 ms binary)."""
    if conn.dialect.name != "postgresql":
        yield from conn.execute(statement)
        return
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    cursor = conn.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), compiled.params)
        yield from cursor
    finally:
        cursor.close()


def _step_mask(steps: Any, low: float | None, high: float | None) -> Any:
    mask = np.ones(len(steps), dtype=bool)
    if low is not None:
        mask &= steps >= low
    if high is not None:
        mask &= steps <= high
    return mask


def _within(data: SeriesData, low: float | None, high: float | None) -> SeriesData:
    """The points of `data` with steps in [low, high]."""
    if low is None and high is None:
        return data
    mask = _step_mask(data.steps, low, high)
    if mask.all():
        return data
    values = (
        data.values[mask]
        if isinstance(data.values, np.ndarray)
        else [v for v, m in zip(data.values, mask.tolist(), strict=True) if m]
    )
    return SeriesData(data.steps[mask], data.timestamps[mask], values)


def _merge(parts: list[SeriesData]) -> SeriesData:
    """Consecutive pieces of one series as one."""
    if len(parts) == 1:
        return parts[0]
    steps = np.concatenate([p.steps for p in parts])
    timestamps = np.concatenate([p.timestamps for p in parts])
    if all(isinstance(p.values, np.ndarray) for p in parts):
        return SeriesData(steps, timestamps, np.concatenate([p.values for p in parts]))
    values = [v for p in parts for v in (p.values.tolist() if isinstance(p.values, np.ndarray) else p.values)]
    return SeriesData(steps, timestamps, values)


_Item = TypeVar("_Item")


def _batched(items: list[_Item], size: int) -> Iterable[list[_Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_store(
    db_url: str,
    blobs: BlobStore,
    *,
    crash_timeout: float = DEFAULT_CRASH_TIMEOUT,
    migrate: MigrateMode = "check",
) -> SqlStore:
    """A store on the database `db_url` (`sqlite:///path`, `postgresql://user:pw@host/db`, ...).

    `migrate="check"` (the default, for servers) creates the schema in an empty database and raises
    SchemaVersionError for one at another revision, with what to run; `migrate="auto"` upgrades it.
    """
    return SqlStore(db_url, blobs, crash_timeout, migrate=migrate)


def open_embedded_store(home: Path, crash_timeout: float = DEFAULT_CRASH_TIMEOUT) -> SqlStore:
    """The store of a local Despina home folder: SQLite in `despina.db`, blobs in `blobs/`.

    The home belongs to one user, so an older database is upgraded when it is opened.
    """
    home.mkdir(parents=True, exist_ok=True)
    return SqlStore(
        f"sqlite:///{home / 'despina.db'}", LocalBlobStore(home / "blobs"), crash_timeout, migrate="auto"
    )


__all__ = [
    "CHUNK_POINTS",
    "SqlStore",
    "create_store_engine",
    "database_url",
    "open_embedded_store",
    "open_store",
]
