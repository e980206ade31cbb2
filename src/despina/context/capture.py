"""RunContext: everything a run records by itself, started with the run and stopped with it.

sys/ bookkeeping (hostname, mode, heartbeat, running time), source files, git, dependencies and
environment (once, for a new run), hardware monitoring, stdout/stderr and the traceback of a
failure (for every process writing to the run, under its own `monitoring/<key>/`). Every capture is
best effort: a failure to capture is reported once and never fails the run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from despina.client import field_types as ft
from despina.client.operations import AssignAtom
from despina.context.heartbeat import Heartbeat
from despina.exceptions import DespinaWarning
from despina.types import File

if TYPE_CHECKING:
    from despina.client.run import Run
    from despina.context.console import LineCapture
    from despina.context.monitoring import HardwareMonitor


@dataclass(frozen=True)
class ContextOptions:
    """The init_run switches of what a run captures."""

    source_files: str | Sequence[str] | None = None
    git_ref: bool = True
    dependencies: str | os.PathLike[str] | None = None
    capture_stdout: bool = True
    capture_stderr: bool = True
    capture_hardware_metrics: bool = True
    capture_traceback: bool = True
    monitoring_interval: float = 10.0
    monitoring_namespace: str | None = None


def _warn(what: str, exc: BaseException) -> None:
    warnings.warn(
        f"Despina could not capture {what}: {type(exc).__name__}: {exc}", DespinaWarning, stacklevel=3
    )


class RunContext:
    """Starts and stops the captures of one run in this process."""

    def __init__(self, run: Run, options: ContextOptions, ping_interval: float) -> None:
        from despina.context.monitoring import process_key

        self.run = run
        self.options = options
        self.hostname = socket.gethostname()
        self.key = process_key(self.hostname, os.getpid(), run.custom_run_id)
        self.namespace = options.monitoring_namespace or f"monitoring/{self.key}"
        self._ping_interval = ping_interval
        self._started = time.monotonic()
        self._running_before = 0.0
        self._heartbeat: Heartbeat | None = None
        self._monitor: HardwareMonitor | None = None
        self._captures: list[LineCapture] = []
        self._console_lock = threading.RLock()  # reentrant: a traceback append may print to stderr

    # -- start -------------------------------------------------------------------------------------

    def start(self, *, new_run: bool, running_before: float) -> None:
        run = self.run
        self._running_before = running_before
        run._emit_internal(AssignAtom("sys/hostname", ft.STRING, self.hostname))
        run._emit_internal(AssignAtom("sys/mode", ft.STRING, run.mode))
        self.beat()
        run[f"{self.namespace}/hostname"] = self.hostname
        run[f"{self.namespace}/pid"] = str(os.getpid())
        if new_run:
            self._capture_source()
            if self.options.git_ref:
                self._capture_git()
            if self.options.dependencies is not None:
                self._capture_dependencies()
            self._capture_environment()
        if self.options.capture_hardware_metrics:
            self._start_monitoring()
        for name, wanted in (
            ("stdout", self.options.capture_stdout),
            ("stderr", self.options.capture_stderr),
        ):
            if wanted:
                self._start_console(name)
        self._heartbeat = Heartbeat(self.beat, self._ping_interval, f"despina-heartbeat-{run.id}")
        self._heartbeat.start()

    def beat(self) -> None:
        """Write the heartbeat: the time now and how long the run has been running in all."""
        run = self.run
        run._emit_internal(AssignAtom("sys/ping_time", ft.DATETIME, datetime.now(timezone.utc)))
        running = self._running_before + (time.monotonic() - self._started)
        run._emit_internal(AssignAtom("sys/running_time", ft.FLOAT, round(running, 3)))

    def _capture_source(self) -> None:
        from despina.context.source import capture_source

        try:
            captured = capture_source(self.options.source_files)
            if captured.entrypoint:
                self.run["source_code/entrypoint"] = captured.entrypoint
            if captured.files:
                self.run["source_code/files"].upload_files([str(p) for p in captured.files])
            if captured.notebook_history:
                self.run["source_code/notebook_history"].upload(
                    File.from_content(captured.notebook_history, extension="py")
                )
        except Exception as exc:
            _warn("the source files", exc)

    def _capture_git(self) -> None:
        from despina.context.git import git_info

        try:
            info = git_info()
            if info is None:
                return
            git: dict[str, Any] = {
                "commit_id": info.commit_id,
                "message": info.message,
                "author_name": info.author_name,
                "author_email": info.author_email,
                "commit_date": info.commit_date,
                "dirty": info.dirty,
            }
            if info.branch is not None:
                git["branch"] = info.branch
            if info.remote_url is not None:
                git["remote_url"] = info.remote_url
            self.run["source_code/git"] = git
            if info.diff:
                self.run["source_code/git/diff"].upload(File.from_content(info.diff, extension="patch"))
        except Exception as exc:
            _warn("the git repository state", exc)

    def _capture_dependencies(self) -> None:
        from despina.context.dependencies import installed_requirements, read_requirements

        try:
            spec = self.options.dependencies
            if spec == "infer":
                content: str | bytes = installed_requirements()
            else:
                content = read_requirements(spec)  # type: ignore[arg-type]
            self.run["source_code/requirements"].upload(File.from_content(content, extension="txt"))
        except FileNotFoundError:
            raise  # a requirements path that does not exist is the caller's mistake: say so
        except Exception as exc:
            _warn("the dependencies", exc)

    def _capture_environment(self) -> None:
        from despina.context.environment import environment_fields

        try:
            self.run["environment"] = environment_fields()
        except Exception as exc:
            _warn("the environment", exc)

    def _start_monitoring(self) -> None:
        from despina.context.monitoring import HardwareMonitor

        namespace = self.namespace
        run = self.run

        def log_float(name: str, value: float) -> None:
            run[f"{namespace}/{name}"].append(value)

        def log_warning(message: str) -> None:
            run[f"{namespace}/warnings"].append(message)

        try:
            self._monitor = HardwareMonitor(log_float, log_warning, self.options.monitoring_interval)
            self._monitor.start()
        except Exception as exc:
            _warn("hardware metrics", exc)

    def _start_console(self, name: str) -> None:
        from despina.context.console import install

        path = f"{self.namespace}/{name}"
        run = self.run
        lock = self._console_lock

        def on_line(line: str) -> None:
            with lock:  # lines from several threads: one series, steps in order
                run[path].append(line)

        def on_error(message: str) -> None:
            warnings.warn(f"Despina stopped capturing {name}: {message}", DespinaWarning, stacklevel=2)

        try:
            self._captures.append(install(name, on_line, on_error))  # type: ignore[arg-type]
        except Exception as exc:
            _warn(name, exc)

    # -- failure and stop --------------------------------------------------------------------------

    def record_failure(self, text: str) -> None:
        """Store a traceback (one point per line) under the monitoring namespace."""
        if not self.options.capture_traceback:
            return
        path = f"{self.namespace}/traceback"
        with self._console_lock:
            for line in text.rstrip("\n").splitlines():
                self.run[path].append(line)

    def stop(self) -> None:
        """Stop the threads and captures; the last heartbeat records the final running time."""
        from despina.context.console import uninstall

        for capture in reversed(self._captures):
            with contextlib.suppress(Exception):  # restoring the terminal must not fail stop()
                uninstall(capture)
        self._captures.clear()
        if self._monitor is not None:
            self._monitor.stop()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self.beat()
