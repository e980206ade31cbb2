"""Run: one training run, opened by `despina.init_run(...)`.

Every write becomes an operation in the run's journal before the call returns; a sender applies the
journal to the backend (see journal.py and sender.py). Modes only change who drains the journal:

- `async` (default): a background thread, every `flush_period` seconds;
- `sync`: the caller, before each call returns;
- `offline`: nobody until `despina sync`;
- `debug`: no journal and no store (values are still validated);
- `read-only`: no writes at all (they raise).
"""

from __future__ import annotations

import atexit
import html
import os
import re
import shutil
import sys
import threading
import traceback
import warnings
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from despina.backends import Backend, backend_for
from despina.client import field_types as ft
from despina.client.deferred import DeferredCreation
from despina.client.files import copy_blob_to, stage_file
from despina.client.handler import Handler, SeriesState, _nest
from despina.client.journal import JournalWriter, new_writer_id
from despina.client.operations import AppendPoints, AssignAtom, DeleteField, FileRef, Operation
from despina.client.paths import check_user_writable, validate_path
from despina.client.sender import Sender
from despina.client.sync import record_run_id
from despina.config import MODES, Settings, read_settings
from despina.context import failure
from despina.context.capture import ContextOptions, RunContext
from despina.exceptions import (
    DespinaConfigError,
    DespinaWarning,
    FieldPathError,
    FieldTypeError,
    InactiveRunError,
    MissingFieldError,
    NoStoreError,
    ReadOnlyRunError,
    ServerUnavailableError,
)
from despina.store.base import FieldValue, RunCreate, RunInfo, SeriesData
from despina.types import File

_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_SYS_TYPES = {
    "sys/id": ft.STRING,
    "sys/name": ft.STRING,
    "sys/description": ft.STRING,
    "sys/owner": ft.STRING,
    "sys/state": ft.STRING,
    "sys/failed": ft.BOOL,
    "sys/tags": ft.STRING_SET,
    "sys/creation_time": ft.DATETIME,
    "sys/modification_time": ft.DATETIME,
}


def resolve_project(project: str | None, settings: Settings) -> str:
    """The project name from the argument or DESPINA_PROJECT, validated."""
    name = project or settings.project
    if not name:
        raise DespinaConfigError("no project given: pass project='workspace/name' or set DESPINA_PROJECT")
    if not isinstance(name, str) or not _PROJECT_NAME.match(name):
        raise DespinaConfigError(
            f"project {name!r} is not a valid name; use 'workspace/project' of letters, digits, '_', '-', '.'"
        )
    return name


def _tags(tags: str | Iterable[str] | None) -> tuple[str, ...]:
    if tags is None:
        return ()
    items = [tags] if isinstance(tags, str) else list(tags)
    for tag in items:
        if not isinstance(tag, str) or not tag:
            raise DespinaConfigError(f"tags must be non-empty strings; got {tag!r}")
    return tuple(dict.fromkeys(items))


class Run:
    """A run: fields addressed by path, written through a crash-proof journal.

    Start a new run, or resume one (`with_id="KEY-12"`), or join one (`custom_run_id=...`).

    Project defaults to DESPINA_PROJECT, mode to DESPINA_MODE (else "async"). Without a server
    configured the run goes to the embedded store in DESPINA_HOME (default ./.despina).

    A run records by itself (each switch turns one off): the entry script or `source_files` globs
    under `source_code/`, the git state (`git_ref=False`), installed packages
    (`dependencies="infer"` or a requirements file), the environment, hardware metrics every
    `monitoring_interval` seconds, stdout/stderr and the traceback of a failure under
    `monitoring/<process key>/`, and a heartbeat that tells a killed run (`crashed`) from a live one.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        with_id: str | None = None,
        custom_run_id: str | None = None,
        mode: str | None = None,
        name: str | None = None,
        description: str | None = None,
        tags: str | Iterable[str] | None = None,
        flush_period: float = 5.0,
        fork_run_id: str | None = None,
        fork_step: float | None = None,
        fail_on_exception: bool = True,
        source_files: str | Sequence[str] | None = None,
        git_ref: bool | None = None,
        dependencies: str | os.PathLike[str] | None = None,
        capture_stdout: bool | None = None,
        capture_stderr: bool | None = None,
        capture_hardware_metrics: bool | None = None,
        capture_traceback: bool = True,
        monitoring_interval: float = 10.0,
        monitoring_namespace: str | None = None,
    ) -> None:
        settings = read_settings()
        self._settings = settings
        self.mode = mode or settings.mode
        if self.mode not in MODES:
            raise DespinaConfigError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if not isinstance(flush_period, (int, float)) or flush_period <= 0:
            raise DespinaConfigError(
                f"flush_period must be a positive number of seconds, not {flush_period!r}"
            )
        custom_run_id = custom_run_id or (settings.custom_run_id if with_id is None else None)
        if with_id is not None and custom_run_id is not None:
            raise DespinaConfigError("pass either with_id (resume a run) or custom_run_id, not both")
        if (fork_run_id is None) != (fork_step is None):
            raise DespinaConfigError("forking needs both fork_run_id and fork_step")
        if fork_run_id is not None and (with_id is not None or custom_run_id is not None):
            raise DespinaConfigError(
                "fork_run_id starts a new run; it cannot be combined with with_id or custom_run_id"
            )
        if self.mode == "read-only" and with_id is None:
            raise DespinaConfigError("read-only mode opens an existing run: pass with_id='KEY-N'")
        for label, value in (("name", name), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise DespinaConfigError(f"{label} must be a str, not {type(value).__name__}")
        self.project = (
            resolve_project(project, settings) if self.mode != "debug" or project else "debug/debug"
        )
        if not isinstance(monitoring_interval, (int, float)) or monitoring_interval <= 0:
            raise DespinaConfigError(
                f"monitoring_interval must be a positive number of seconds, not {monitoring_interval!r}"
            )
        if dependencies is not None and dependencies != "infer" and not Path(dependencies).is_file():
            raise DespinaConfigError(f"dependencies={dependencies!r} is neither 'infer' nor an existing file")
        self.custom_run_id = custom_run_id
        context_options = ContextOptions(
            source_files=source_files,
            git_ref=git_ref is not False,
            dependencies=dependencies,
            capture_stdout=capture_stdout is not False,
            capture_stderr=capture_stderr is not False,
            capture_hardware_metrics=capture_hardware_metrics is not False,
            capture_traceback=capture_traceback,
            monitoring_interval=float(monitoring_interval),
            monitoring_namespace=monitoring_namespace,
        )
        self._context: RunContext | None = None
        self._running_before = 0.0
        self._tags = _tags(tags)
        self._fail_on_exception = fail_on_exception
        self._handlers: dict[str, Handler] = {}
        self._types: dict[str, str] = dict(_SYS_TYPES)
        self._namespaces: set[str] = {"sys"}
        self._series: dict[str, SeriesState] = {}
        self._stopped = False
        self._failed = False
        self._backend: Backend | None = None
        self._writer: JournalWriter | None = None
        self._sender: Sender | None = None
        self.id: str | None = with_id
        self.writer_id = new_writer_id()

        request = RunCreate(
            project=self.project,
            owner=settings.user,
            name=name if name is not None else "Untitled",
            description=description or "",
            tags=self._tags,
            custom_run_id=custom_run_id,
            creation_token=self.writer_id,
            fork_run_id=fork_run_id,
            fork_step=None if fork_step is None else float(fork_step),
        )
        existing = False
        deferred = False
        self._deferred: DeferredCreation | None = None
        self._sender_lock = threading.Lock()
        if self.mode not in ("debug", "offline"):
            self._backend = backend_for(settings)
            for live in list(_live_runs):
                # Resuming or forking a run this process still writes: apply its journal first, so
                # what it logged so far is what the new handle sees and inherits.
                if live.project == self.project and live.id is not None and live.id in (with_id, fork_run_id):
                    live.wait()
            if with_id is not None:
                info = self._backend.get_run(self.project, with_id)
                existing = True
            else:
                try:
                    info, created = self._backend.create_run(request)
                except ServerUnavailableError as exc:
                    if self.mode not in ("async", "sync"):
                        raise
                    info, created = None, True
                    deferred = True
                    warnings.warn(
                        f"{exc}; training goes on: the run is logged on disk and will be created and sent "
                        "when the server answers (or by `despina sync`)",
                        DespinaWarning,
                        stacklevel=2,
                    )
                existing = not created
            if info is not None:
                self.id = info.id
                self._load_structure()
        if self.mode not in ("debug", "read-only"):
            self.journal_folder: Path | None = settings.home / "journal" / self.writer_id
            self._writer = JournalWriter(
                self.journal_folder,
                {
                    "writer_id": self.writer_id,
                    "project": self.project,
                    "run_id": self.id,
                    "create": None if self.id is not None else request.to_dict(),
                    "mode": self.mode,
                },
            )
            if self._backend is not None and self.id is not None:
                self._sender = Sender(
                    self._backend, self.journal_folder, self.project, self.id, self.writer_id, self._writer
                )
        else:
            self.journal_folder = None
        if existing and self.mode != "read-only":
            # A resumed run is running again; new name/description/tags given on resume apply too.
            self._emit(AssignAtom("sys/state", ft.STRING, "running"), False)
            if name is not None:
                self["sys/name"] = name
            if description is not None:
                self["sys/description"] = description
            if self._tags:
                self["sys/tags"].add(list(self._tags))
        if self.mode in ("async", "sync", "offline"):
            self._context = RunContext(self, context_options, settings.ping_interval)
            self._context.start(new_run=not existing, running_before=self._running_before)
            failure.install(_fail_live_runs)
        if deferred and self._backend is not None:
            self._deferred = DeferredCreation(
                self._backend, request, lambda info: self._created_late(info, flush_period)
            )
            self._deferred.start()
        if self._sender is not None and self.mode == "async":
            self._sender.start(float(flush_period))
        if self._sender is not None and self.mode == "sync":
            self._sender.drain()
        if self.mode != "read-only":
            _live_runs.add(self)

    def _created_late(self, info: RunInfo, flush_period: float) -> None:
        """The server answered after all (see client/deferred.py): start sending the journal."""
        assert self._backend is not None and self.journal_folder is not None and self._writer is not None
        with self._sender_lock:
            if self._stopped:
                return  # `despina sync` will create the same run from the journal
            record_run_id(self.journal_folder, info.id)
            self.id = info.id
            self._sender = Sender(
                self._backend, self.journal_folder, self.project, info.id, self.writer_id, self._writer
            )
            self._sender.start(float(flush_period))

    # -- structure ---------------------------------------------------------------------------------

    def _load_structure(self) -> None:
        """Learn the fields a run already has (resume, shared custom id, fork), to check types and steps."""
        assert self._backend is not None and self.id is not None
        for path, field in self._backend.fields(self.project, self.id).items():
            self._types[path] = field.type
            self._add_namespaces(path)
            if field.type in ft.SERIES_TYPES:
                self._series[path] = SeriesState(field.type, field.value.last_step)
            elif path == "sys/running_time" and isinstance(field.value, float):
                self._running_before = field.value

    def _add_namespaces(self, path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            self._namespaces.add("/".join(parts[:i]))

    def _type_of(self, path: str) -> str | None:
        return self._types.get(path)

    def _declare(self, path: str, type_: str) -> None:
        existing = self._types.get(path)
        if existing == type_:
            return
        if existing is not None:
            raise FieldTypeError(
                f"{path!r} is a {existing} field; it cannot take a {type_} value. "
                f"Log to another path, or `del run[{path!r}]` first"
            )
        if path in self._namespaces:
            raise FieldPathError(
                f"{path!r} is a namespace holding other fields; it cannot be a {type_} field"
            )
        parts = path.split("/")
        for i in range(1, len(parts)):
            ancestor = "/".join(parts[:i])
            if ancestor in self._types:
                raise FieldPathError(
                    f"cannot create {path!r}: {ancestor!r} is a {self._types[ancestor]} field, "
                    "not a namespace"
                )
        self._types[path] = type_
        self._add_namespaces(path)

    def _series_state(self, path: str, type_: str) -> SeriesState:
        state = self._series.get(path)
        if state is None:
            self._declare(path, type_)
            state = self._series[path] = SeriesState(type_, None)
        if type_ == ft.FLOAT_SERIES and state.writer is None and self.mode in ("async", "offline"):
            assert self._writer is not None
            state.path_id = self._writer.intern(path)
            state.writer = self._writer
        return state

    # -- writing (called by handlers) --------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._stopped:
            raise InactiveRunError(
                f"run {self._label()} was stopped; resume it with init_run(with_id=...) to write"
            )
        if self.mode == "read-only":
            raise ReadOnlyRunError(f"run {self._label()} is open read-only; open it in another mode to write")

    def _emit(self, op: Operation, wait: bool) -> None:
        if self._writer is not None:
            self._writer.put_op(op)
        self._after_write(wait)

    def _emit_float(
        self, path: str, state: SeriesState, step: float, timestamp: float, value: float, wait: bool
    ) -> None:
        if self._writer is None:
            return
        if state.writer is not None:
            state.writer.put_float(state.path_id, step, timestamp, value)
        else:
            import numpy as np

            self._writer.put_op(
                AppendPoints(
                    path, ft.FLOAT_SERIES, np.array([step]), np.array([timestamp]), np.array([value])
                )
            )
        self._after_write(wait)

    def _emit_internal(self, op: Operation) -> None:
        """Despina's own writes (sys/ bookkeeping): no user-path checks."""
        if self._writer is not None and not self._stopped:
            self._writer.put_op(op)
            self._after_write(False)

    def _fail(self, traceback_text: str) -> None:
        """The process is failing (uncaught exception, SIGTERM): keep the traceback, end as failed."""
        if self._stopped:
            return
        if self._context is not None:
            self._context.record_failure(traceback_text)
        if self._fail_on_exception:
            self._failed = True
        self.stop()

    def _after_write(self, wait: bool) -> None:
        if self._sender is not None and (wait or self.mode == "sync"):
            self._sender.drain()

    def _stage(self, file: File, default_name: str) -> FileRef:
        staging = None if self._writer is None else self._writer.folder / "blobs"
        return stage_file(file, staging, default_name)

    # -- the mapping interface ---------------------------------------------------------------------

    def __getitem__(self, path: str) -> Handler:
        handler = self._handlers.get(path)
        if handler is None:
            handler = self._handlers[validate_path(path)] = Handler(self, path)
        return handler

    def __setitem__(self, path: str, value: Any) -> None:
        self[path].assign(value)

    def __delitem__(self, path: str) -> None:
        self.pop(path)

    def assign(self, value: dict[str, Any], *, wait: bool = False) -> None:
        """Assign a dict at the root: each key becomes a field or namespace."""
        for key, item in value.items():
            self[str(key)].assign(item)
        self._after_write(wait)

    def pop(self, path: str, *, wait: bool = False) -> None:
        """Delete a field, or every field under a namespace."""
        self._check_writable()
        validate_path(path)
        check_user_writable(path)
        if path not in self._types and path not in self._namespaces:
            raise MissingFieldError(f"run {self._label()} has no field {path!r}")
        for known in [p for p in self._types if p == path or p.startswith(path + "/")]:
            del self._types[known]
            self._series.pop(known, None)
            handler = self._handlers.get(known)
            if handler is not None:
                handler._fast = None
        self._namespaces = {n for n in self._namespaces if n != path and not n.startswith(path + "/")}
        for known in self._types:
            self._add_namespaces(known)
        self._emit(DeleteField(path), wait)

    def exists(self, path: str) -> bool:
        """Whether a field or namespace exists at `path`."""
        if path in self._types or path in self._namespaces:
            return True
        if self._can_read():
            fields = self._read_fields(path)
            return bool(fields)
        return False

    # -- reading -----------------------------------------------------------------------------------

    def _label(self) -> str:
        return self.id or f"(offline run in {self.journal_folder})"

    def _can_read(self) -> bool:
        return self._backend is not None and self.id is not None

    def _require_store(self) -> Backend:
        if self._backend is None or self.id is None:
            raise NoStoreError(
                f"run {self._label()} is in {self.mode} mode and has no store to read from"
                + ("; run `despina sync` first" if self.mode == "offline" else "")
            )
        if self._sender is not None and not self._stopped:
            self._sender.drain()  # read your own writes
        return self._backend

    def _read_fields(self, prefix: str | None) -> dict[str, FieldValue]:
        backend = self._require_store()
        assert self.id is not None
        return backend.fields(self.project, self.id, prefix)

    def _read_field(self, path: str) -> FieldValue:
        field = self._read_fields(path).get(path)
        if field is None:
            raise MissingFieldError(f"run {self._label()} has no field {path!r}")
        return field

    def _read_series(self, path: str, step_range: tuple[float | None, float | None] | None) -> SeriesData:
        backend = self._require_store()
        assert self.id is not None
        return backend.series(self.project, self.id, path, step_range)

    def _read_series_points(
        self, path: str, step_range: tuple[float | None, float | None] | None
    ) -> SeriesData:
        """A float or string series through the bulk read (one run of `Project.fetch_series`: from a
        server, an Arrow stream); backends without it read the series alone."""
        backend = self._require_store()
        assert self.id is not None
        try:
            table = backend.series_table(self.project, [path], run_ids=[self.id], step_range=step_range)
        except NotImplementedError:
            return backend.series(self.project, self.id, path, step_range)
        return SeriesData(table.steps, table.timestamps, table.values)

    def _download_blob(self, sha256: str, target: Path) -> None:
        backend = self._require_store()
        with backend.open_blob(self.project, sha256) as stream:
            copy_blob_to(stream, target)

    def fetch(self) -> dict[str, Any]:
        """Every atom field of the run as a nested dict."""
        fields = self._read_fields(None)
        return _nest({p: f.value for p, f in fields.items() if f.type in ft.ATOM_TYPES}, "")

    def get_structure(self) -> dict[str, Any]:
        """The run's fields as a nested dict of field type names."""
        if self._can_read():
            flat = {p: f.type for p, f in self._read_fields(None).items()}
        else:
            flat = dict(self._types)
        return _nest(flat, "")

    def print_structure(self) -> None:
        """Print the field tree."""
        from rich.console import Console
        from rich.tree import Tree

        def grow(node: Tree, subtree: dict[str, Any]) -> None:
            for key in sorted(subtree):
                value = subtree[key]
                if isinstance(value, dict):
                    grow(node.add(f"[bold]{key}[/bold]"), value)
                else:
                    node.add(f"{key} [dim]({value})[/dim]")

        tree = Tree(f"run {self._label()}")
        grow(tree, self.get_structure())
        Console().print(tree)

    # -- life cycle --------------------------------------------------------------------------------

    def wait(self, *, disk_only: bool = False) -> None:
        """Block until everything logged so far is in the store (or, with disk_only, on disk)."""
        if self._writer is not None:
            self._writer.flush_to_disk()
        if not disk_only and self._sender is not None:
            self._sender.drain()

    def sync(self, *, wait: bool = True) -> None:
        """Optionally wait, then reload the run's field structure from the store."""
        if wait:
            self.wait()
        if self._can_read():
            self._load_structure()

    def stop(self, *, seconds: float | None = None) -> None:
        """Finish the run: mark it finished (or failed) and send what is pending, for at most
        `seconds` (default DESPINA_STOP_TIMEOUT, 60 s). Never hangs: what is left stays on disk."""
        if self._stopped:
            return
        from despina.client.tracking import wait_for_tracking

        wait_for_tracking(self)  # a version tracked before stopping is part of the run
        if self._context is not None:
            self._context.stop()
        if self._writer is not None:
            state = "failed" if self._failed else "finished"
            if self._failed:
                self._writer.put_op(AssignAtom("sys/failed", ft.BOOL, True))
            self._writer.put_op(AssignAtom("sys/state", ft.STRING, state))
        self._close(seconds)

    def detach(self, *, seconds: float | None = None) -> None:
        """Leave the run without finishing it: for a process that joined a run another process owns
        (the same `custom_run_id`), such as a pipeline's worker. What this process logged is sent
        (for at most `seconds`, as by `stop`), its journal is closed, and removed once everything is
        in the store; the run's state is left to its owner."""
        if self._stopped:
            return
        from despina.client.tracking import wait_for_tracking

        wait_for_tracking(self)
        if self._context is not None:
            self._context.stop()
        self._close(seconds)

    def _close(self, seconds: float | None) -> None:
        """Stop sending and writing: what is sent in time leaves no journal behind; the rest stays
        on disk for `despina sync`."""
        with self._sender_lock:
            self._stopped = True
        if self._deferred is not None:
            self._deferred.stop()
        _live_runs.discard(self)
        for handler in self._handlers.values():
            handler._fast = None
        timeout = self._settings.stop_timeout if seconds is None else seconds
        done = True
        if self._sender is not None:
            done = self._sender.stop(timeout)
        if self._writer is not None:
            pending = 0 if self._sender is None else self._sender.pending()
            self._writer.close()
            assert self.journal_folder is not None
            if self._sender is not None and done and pending == 0:
                shutil.rmtree(self.journal_folder, ignore_errors=True)
                if self._backend is not None:
                    self._backend.checkpoint()
            elif self.mode == "offline":
                print(
                    f"Despina: offline run saved in {self.journal_folder}; run `despina sync` to store it.",
                    file=sys.stderr,
                )
            else:
                print(
                    f"Despina: {pending} operation(s) of run {self._label()} are not in the store yet; "
                    f"they are safe on disk in {self.journal_folder}. Run `despina sync` to send them.",
                    file=sys.stderr,
                )

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None and exc is not None:
            if self._context is not None:
                self._context.record_failure("".join(traceback.format_exception(exc_type, exc, tb)))
            if self._fail_on_exception:
                self._failed = True
        self.stop()

    def __repr__(self) -> str:
        return f"<Run {self._label()} of {self.project!r}, mode {self.mode}>"

    def _repr_html_(self) -> str:
        """In a notebook, the run as a link to its page, to watch it live."""
        label = html.escape(f"{self.project} / {self.id or 'not created yet'}")
        return (
            f'<a href="{html.escape(self.get_url())}" target="_blank" rel="noopener">{label}</a>'
            f" <span>({html.escape(self.mode)})</span>"
        )

    def get_url(self) -> str:
        """The run's page in the web UI: on the server it is sent to, else where `despina ui` serves
        this home by default (the project's page while the run has no id yet: offline, or waiting
        for the server)."""
        page = f"/p/{quote(self.project)}" + (f"/runs/{quote(self.id)}" if self.id else "")
        return self._settings.web_url(page)


_live_runs: weakref.WeakSet[Run] = weakref.WeakSet()


def _fail_live_runs(traceback_text: str) -> None:
    for run in list(_live_runs):
        run._fail(traceback_text)


@atexit.register
def _stop_live_runs() -> None:
    """At interpreter exit, stop runs the script did not stop (their data is on disk either way)."""
    for run in list(_live_runs):
        run.stop()


# `despina.init_run(...)` is the Run constructor, as `neptune.init_run` is `neptune.Run`.
init_run = Run
