"""What every training-framework integration shares: where it logs, and writing there without ever
stopping training.

A framework calls an integration from inside its training loop; an exception raised there would end a
training run that may have taken hours, for the sake of one field. So every write goes through
:class:`FieldLog`, which turns any failure (a stopped or read-only run, a value of the wrong type, a full
disk) into an :class:`IntegrationWarning`, issued once per kind of failure. Configuration mistakes
(no project, a bad `base_namespace`) still raise, at construction, before training starts.
"""

from __future__ import annotations

import importlib
import math
import threading
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from despina.client.handler import Handler
from despina.client.run import Run, init_run, resolve_project
from despina.config import read_settings
from despina.exceptions import DespinaWarning
from despina.utils import stringify_unsupported

__all__ = [
    "FieldLog",
    "IntegrationWarning",
    "LazyRun",
    "check_run_arguments",
    "join",
    "open_log",
    "require",
    "resolve",
    "to_number",
]


class IntegrationWarning(DespinaWarning):
    """A field a training-framework integration meant to log was not logged.

    The integration warns rather than raises: a tracking problem must not stop training.
    """


def require(module: str, extra: str, integration: str) -> ModuleType:
    """Import `module`, or say which extra installs it: the frameworks are optional."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"despina.integrations.{integration} needs {module.split('.')[0]}; "
            f'install it with `pip install "despina[{extra}]"`'
        ) from exc


def join(base: str, sub: str) -> str:
    """`base/sub`, without empty parts."""
    return "/".join(part for part in (base.strip("/"), sub.strip("/")) if part)


def resolve(run: Run | Handler, base_namespace: str) -> tuple[Run, str]:
    """The root run and the namespace (possibly "") that an integration's paths are relative to."""
    if isinstance(run, Handler):
        root, prefix = run.get_root_object(), run.path
    elif isinstance(run, Run):
        root, prefix = run, ""
    else:
        raise TypeError(
            f"run must be a despina Run or a namespace of one (run['training']), not {type(run).__name__}"
        )
    if not isinstance(base_namespace, str):
        raise TypeError(f"base_namespace must be a str, not {type(base_namespace).__name__}")
    return root, join(prefix, base_namespace)


def to_number(value: Any) -> float | None:
    """A metric as a float (Python and numpy numbers, one-element tensors and arrays), or None."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            result = item()
        except (ValueError, RuntimeError, TypeError):  # more than one element
            return None
        if isinstance(result, (bool, int, float)):
            return float(result)
    return None


class LazyRun:
    """A run an integration creates itself, on first use: under multi-process training only the
    process that logs (rank zero) should create one, and only once it has something to log.

    The project is resolved at construction, so a missing project raises before training starts.
    """

    def __init__(self, project: str | None, init_run_kwargs: Mapping[str, Any]) -> None:
        self.project = resolve_project(project, read_settings())
        self.init_run_kwargs = dict(init_run_kwargs)
        self.run: Run | None = None
        self.failed = False

    def get(self, integration: str) -> Run | None:
        """The run, created on the first call; None (after one warning) if it cannot be created."""
        if self.run is None and not self.failed:
            try:
                self.run = init_run(project=self.project, **self.init_run_kwargs)
            except Exception as exc:
                self.failed = True
                warnings.warn(
                    f"despina.integrations.{integration} could not create a run in {self.project!r}, so "
                    f"training goes on without tracking: {type(exc).__name__}: {exc}",
                    IntegrationWarning,
                    stacklevel=3,
                )
        return self.run


def check_run_arguments(
    owner: str, run: Run | Handler | None, project: str | None, init_run_kwargs: Mapping[str, Any]
) -> None:
    """A run, or where to create one: not both."""
    if run is not None and (project is not None or init_run_kwargs):
        raise ValueError(f"give {owner} a run, or project= (and init_run arguments), not both")


def open_log(
    owner: str,
    integration: str,
    run: Run | Handler | None,
    base_namespace: str,
    project: str | None,
    init_run_kwargs: Mapping[str, Any],
) -> FieldLog | None:
    """The FieldLog of a callback made in the process that trains: on the user's run, or on a run
    created now in `project`; None (after a warning) when that run cannot be created."""
    check_run_arguments(owner, run, project, init_run_kwargs)
    if not isinstance(base_namespace, str):
        raise TypeError(f"base_namespace must be a str, not {type(base_namespace).__name__}")
    if run is None:
        run = LazyRun(project, init_run_kwargs).get(integration)
        if run is None:
            return None
    root, base = resolve(run, base_namespace)
    return FieldLog(root, base, integration)


class FieldLog:
    """Writes an integration's fields under one namespace of a run; never raises.

    Series points are appended at explicit steps; a point whose step is not past the series' last step
    is dropped (with one warning per series, unless it repeats the last point exactly, as Lightning's
    `epoch` metric does at every log call of an epoch).
    """

    def __init__(self, root: Run, base: str, integration: str) -> None:
        self.root = root
        self.base = base
        self.integration = integration
        self._last: dict[str, tuple[float, Any]] = {}
        self._warned: set[str] = set()
        self._lock = threading.RLock()

    def path(self, sub: str) -> str:
        return join(self.base, sub)

    def warn(self, key: str, message: str) -> None:
        """Warn once per `key`: a run that was stopped must not print one warning per batch."""
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        warnings.warn(f"despina.integrations.{self.integration}: {message}", IntegrationWarning, stacklevel=4)

    def _failed(self, path: str, exc: Exception) -> None:
        # The text of the error, not the path, is the key: a stopped run says the same for every field.
        text = str(exc).replace(repr(path), "<field>")
        self.warn(
            f"{type(exc).__name__}:{text}",
            f"could not log {path!r}; training goes on: {type(exc).__name__}: {exc}",
        )

    def put(self, sub: str, value: Any, *, absolute: bool = False) -> None:
        """Set a field; a mapping sets every leaf under `sub`; None values are skipped."""
        path = sub if absolute else self.path(sub)
        if isinstance(value, Mapping):
            for key, item in value.items():
                self.put(join(path, str(key)), item, absolute=True)
            return
        if value is None:
            return
        try:
            self.root[path] = value
        except Exception as exc:
            self._failed(path, exc)

    def put_params(self, sub: str, params: Mapping[str, Any]) -> None:
        """A configuration: nested mappings kept as namespaces, everything else made loggable."""
        self.put(sub, stringify_unsupported(dict(params)))

    def append(self, sub: str, value: Any, step: float) -> bool:
        """Append a point at `step`; False when it was not logged."""
        path = self.path(sub)
        number = to_number(value)
        point: Any = number if number is not None else value
        with self._lock:
            last = self._last.get(path)
            if last is not None and not step > last[0]:
                if not (step == last[0] and _same(point, last[1])):
                    self.warn(
                        f"step:{path}",
                        f"dropped a point of {path!r} at step {step:g}: its last point is at step "
                        f"{last[0]:g}, and steps must increase",
                    )
                return False
            try:
                self.root[path].append(point, step=step)
            except Exception as exc:
                self._failed(path, exc)
                return False
            self._last[path] = (step, point)
            return True

    def next_step(self, sub: str) -> float:
        """The step after the last point this log appended to `sub` (0 for a new series)."""
        last = self._last.get(self.path(sub))
        return 0.0 if last is None else last[0] + 1.0

    def upload(self, sub: str, value: Any) -> bool:
        """Store a file (a path, a File, a figure); False when it was not stored."""
        path = self.path(sub)
        try:
            self.root[path].upload(value)
        except Exception as exc:
            self._failed(path, exc)
            return False
        return True

    def upload_files(self, sub: str, globs: str | list[str]) -> bool:
        """Store the files matching `globs` as a file set."""
        path = self.path(sub)
        try:
            self.root[path].upload_files(globs)
        except Exception as exc:
            self._failed(path, exc)
            return False
        return True

    def delete(self, sub: str) -> None:
        """Remove a field or namespace, if the run has it."""
        path = self.path(sub)
        try:
            if self.root.exists(path):
                self.root.pop(path)
        except Exception as exc:
            self._failed(path, exc)

    def version(self, integration_key: str, version: str) -> None:
        """`source_code/integrations/<key>` on the root run: the framework version."""
        self.put(f"source_code/integrations/{integration_key}", version, absolute=True)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:
        return False
