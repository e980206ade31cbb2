"""One Despina run per `kedro run`, shared by every thread and process that runs its nodes.

The process that starts the pipeline opens the run (see hooks.py) with a custom run id. A worker of
ParallelRunner (forked or spawned) gets the RunSpec through the pickled `despina_run` dataset and joins
the same run by that id: no environment variable is left behind for the next session in the process.
"""

from __future__ import annotations

import multiprocessing.util
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from despina.client.run import Run, init_run

DISABLED_PROJECT = "kedro/disabled"


@dataclass(frozen=True)
class RunSpec:
    """What a process needs to find the pipeline's run (picklable: it travels to worker processes)."""

    project: str | None
    custom_run_id: str
    base_namespace: str
    enabled: bool


@dataclass
class _Entry:
    run: Run
    pid: int
    joined: bool


_lock = threading.Lock()
_runs: dict[str, _Entry] = {}


def new_custom_run_id() -> str:
    """A fresh key for one `kedro run` (DESPINA_CUSTOM_RUN_ID, when set, takes its place)."""
    return os.environ.get("DESPINA_CUSTOM_RUN_ID") or f"kedro-{uuid.uuid4().hex}"


def register(spec: RunSpec, opener: Callable[[], Run]) -> Run:
    """Open the pipeline's run in this process (the one that started `kedro run`)."""
    with _lock:
        run = opener()
        _runs[spec.custom_run_id] = _Entry(run, os.getpid(), joined=False)
        return run


def run_for(spec: RunSpec) -> Run:
    """The run of `spec` in this process: the one opened here, or a join of it by its custom id.

    A forked worker inherits the parent's entry, but not its threads: the pid tells them apart.
    """
    with _lock:
        entry = _runs.get(spec.custom_run_id)
        if entry is not None and entry.pid == os.getpid():
            return entry.run
        run = init_run(
            project=spec.project if spec.enabled else DISABLED_PROJECT,
            custom_run_id=spec.custom_run_id,
            mode=None if spec.enabled else "debug",
            # The starting process records the source, the environment and the monitoring; a worker
            # only adds its nodes' fields. It does not fail the shared run on its own exit either.
            source_files=[],
            git_ref=False,
            capture_stdout=False,
            capture_stderr=False,
            capture_hardware_metrics=False,
            capture_traceback=False,
            fail_on_exception=False,
            flush_period=0.5,
        )
        _runs[spec.custom_run_id] = _Entry(run, os.getpid(), joined=True)
        # A pool worker ends with os._exit after multiprocessing's finalizers: leave the run there,
        # so that what its threads (heartbeat) wrote after the last node is sent and its journal
        # folder does not outlive it.
        multiprocessing.util.Finalize(None, detach_joined, exitpriority=10)
        return run


def owns(spec: RunSpec) -> bool:
    """Whether this process opened the run of `spec` (rather than joined it as a worker)."""
    with _lock:
        entry = _runs.get(spec.custom_run_id)
        return entry is not None and entry.pid == os.getpid() and not entry.joined


def flush_joined() -> None:
    """Wait until what joined runs of this process logged is in the store.

    Worker processes end without running atexit handlers, so a worker flushes after every node.
    """
    with _lock:
        joined = [e.run for e in _runs.values() if e.joined and e.pid == os.getpid()]
    for run in joined:
        run.wait()


def detach_joined() -> None:
    """Leave the runs this process joined (a worker's exit): everything sent, no journal left."""
    with _lock:
        joined = [e.run for e in _runs.values() if e.joined and e.pid == os.getpid()]
    for run in joined:
        run.detach()


def forget(custom_run_id: str) -> None:
    """Drop the process's entry of a finished run."""
    with _lock:
        _runs.pop(custom_run_id, None)
