"""The Neptune 1.x Run and its field handlers, as thin subclasses of Despina's.

What the subclasses add, and nothing else:

- Neptune's constructor arguments (`init_run(with_id, *, project=..., api_token=..., ...)`, unknown
  keywords raise TypeError) and the NEPTUNE_* variables next to DESPINA_* ones;
- Neptune's value rules: what Neptune skipped (a list, tuple, set, None, an object it had no type for,
  a NaN or infinite float, an int outside 32 bits, a point whose step is not after the last, any write
  to a read-only run) is skipped here too, with one warning per field that names the field and how to
  keep the value (`stringify_unsupported`), where the native API raises;
- Neptune's coercions (`Float(1)`, an int field given 2.0 stores 2), value objects (`FloatSeries`,
  `StringSet`...), path forms (`"a//b/"` is `"a/b"`), `log` of a list, and the few methods Despina's
  handlers do not have (`clear`, `list_fileset_files`, `get_state`, `get_run_url`...);
- `sys/state` read back as Neptune showed it: "Active" while the run is running, else "Inactive".

Everything is stored by the native Run: a run logged through this layer is an ordinary Despina run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

from despina.client import field_types as ft
from despina.client.handler import Handler as _CoreHandler
from despina.client.paths import validate_path
from despina.client.run import Run as _CoreRun
from despina.client.values import as_mapping
from despina.compat.neptune import _env
from despina.compat.neptune.exceptions import (
    NeedExistingRunForReadOnlyMode,
    NeptuneMissingProjectNameException,
    NeptuneRunResumeAndCustomIdCollision,
    NeptuneUnsupportedFunctionalityException,
    NeptuneUnsupportedType,
    NeptuneUnsupportedValue,
    NeptuneWarning,
)
from despina.compat.neptune.types import (
    Boolean,
    Datetime,
    FileSeries,
    FileSet,
    Float,
    FloatSeries,
    GitRef,
    Integer,
    Namespace,
    String,
    StringSeries,
    StringSet,
    Value,
)
from despina.compat.neptune.utils import INT32_MAX, INT32_MIN
from despina.exceptions import ReadOnlyRunError, StepOrderError
from despina.types import File, is_file_convertible

if TYPE_CHECKING:
    from despina.client.tracking import TrackingJob

__all__ = ["FileEntry", "Handler", "Run", "init", "init_run", "state_label"]

_KEEP_HINT = (
    "To keep it, log `stringify_unsupported(value)` (from despina.compat.neptune.utils, as "
    "neptune.utils) to store it as text"
)
_NATIVE_RAISES = "The native API (`import despina`) raises for it instead."
_NATIVE_KEEPS_NAN = "The native API (`import despina`) stores NaN and infinities as they are."
_NATIVE_KEEPS_INT64 = "The native API (`import despina`) stores ints up to 64 bits."
_RUN_LEVEL_METHODS = frozenset({"exists", "get_structure", "print_structure", "stop", "sync", "wait"})
_SEABORN_GRIDS = ("FacetGrid", "PairGrid", "JointGrid")


class _Dropped:
    """The marker of a value not stored."""


_DROPPED = _Dropped()


def state_label(state: object) -> object:
    """`sys/state` as Neptune showed it: "Active" for a running run, "Inactive" for any other state."""
    if isinstance(state, str):
        return "Active" if state == "running" else "Inactive"
    return state


def normalize_path(path: object) -> str:
    """Neptune's path parsing: empty segments dropped, so "a//b/" is "a/b" ("" for the root)."""
    return "/".join(part for part in str(path).split("/") if part)


def _join(base: str, sub: object) -> str:
    return normalize_path(f"{base}/{sub}" if base else sub)


def _numpy_scalar(value: object) -> bool:
    module = type(value).__module__
    return module == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0


def _seaborn_figure(value: Any) -> Any:
    """A seaborn grid is logged as its matplotlib figure (Neptune converted it to an image too)."""
    for cls in type(value).__mro__:
        if cls.__name__ in _SEABORN_GRIDS and cls.__module__.startswith("seaborn"):
            return getattr(value, "figure", None) or getattr(value, "fig", value)
    return value


def _describe(value: object) -> str:
    """`None`, `nan`, `4294967296`, or `a list` / `a numpy.ndarray` (what was skipped, briefly)."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"a {name}"


@dataclass(frozen=True)
class FileEntry:
    """One entry of `list_fileset_files()`, as Neptune's `neptune.api.models.FileEntry`."""

    name: str
    size: int | None
    mtime: datetime | None
    file_type: Literal["file", "directory"]


class Handler(_CoreHandler):
    """`run[path]`: Despina's handler with Neptune 1.x's value rules and extra methods."""

    __slots__ = ()

    # -- addressing --------------------------------------------------------------------------------

    def __getitem__(self, sub: str) -> Handler:
        return cast(Handler, self._run[_join(self._path, sub)])

    def __setitem__(self, sub: str, value: Any) -> None:
        self[sub].assign(value)

    def __delitem__(self, sub: str) -> None:
        self.pop(sub)

    def __getattr__(self, name: str) -> Any:
        if name in _RUN_LEVEL_METHODS:
            raise AttributeError(
                f"{name}() is a method of the run, not of a field handler: you called "
                f"run[{self._path!r}].{name}(), but probably want run.{name}(). To reach the run from a "
                f"handler: run[{self._path!r}].get_root_object().{name}()"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        type_ = self._run._type_of(self._path)
        return f'<{type_ or "Unassigned"} field at "{self._path}">'

    @property
    def container(self) -> _CoreRun:
        """The run this field belongs to (Neptune's `handler.container`)."""
        return self._run

    # -- skipping what Neptune skipped ---------------------------------------------------------------

    def _drop(self, value: object, reason: str, hint: str, native: str, category: type[Warning]) -> _Dropped:
        _env.warn_once(
            self._run,
            self._path,
            f"Despina did not log {_describe(value)} to {self._path!r}: {reason}. Neptune 1.x skipped such "
            f"values and so does despina.compat.neptune (this warning comes once per field). {hint} {native}",
            category,
        )
        return _DROPPED

    def _unsupported(self, value: object) -> _Dropped:
        expand = (
            " (or `stringify_unsupported(value, expand=True)` to log each item as a field)"
            if isinstance(value, (list, tuple, set, frozenset))
            else ""
        )
        return self._drop(
            value,
            "Neptune could not log values of this type",
            f"{_KEEP_HINT}{expand}.",
            _NATIVE_RAISES,
            NeptuneUnsupportedType,
        )

    def _not_finite(self, value: float) -> _Dropped:
        return self._drop(
            value,
            "Neptune's float fields and series could not hold NaN or an infinity",
            f"{_KEEP_HINT} ('nan', 'inf'), or log a finite number.",
            _NATIVE_KEEPS_NAN,
            NeptuneUnsupportedValue,
        )

    def _read_only(self) -> None:
        _env.warn_once(
            self._run,
            "<read-only>",
            f"Run {self._run.id} is open in read-only mode: nothing is saved (Neptune 1.x ignored writes to "
            "a read-only run, and despina.compat.neptune does too). Open it with another mode to write. "
            + _NATIVE_RAISES,
            NeptuneWarning,
        )

    def _atom(self, value: Any) -> Any:
        """The value as the run stores it in this field, Neptune's way, or _DROPPED."""
        if _numpy_scalar(value):
            value = value.item()
        if isinstance(value, (str, datetime)):
            return value
        if not isinstance(value, (bool, int, float)):
            if value is None or isinstance(value, (list, tuple, set, frozenset, bytes, bytearray)):
                return self._unsupported(value)
            try:  # Neptune stored anything float() accepts (Decimal, a 0-d tensor) as a float
                value = float(value)
            except (TypeError, ValueError, OverflowError):
                return self._unsupported(value)
        existing = self._run._type_of(self._path)
        if existing == ft.BOOL:
            return bool(value)
        if existing == ft.FLOAT or (existing != ft.INT and isinstance(value, float)):
            number = float(value)
            return number if math.isfinite(number) else self._not_finite(number)
        if isinstance(value, bool) and existing != ft.INT:
            return value
        if isinstance(value, float):  # an int field: Neptune stored int(value)
            if not math.isfinite(value):
                return self._not_finite(value)
            if not value.is_integer():
                _env.warn_once(
                    self._run,
                    self._path,
                    f"{self._path!r} is an int field: Neptune 1.x stored {value!r} as {int(value)}, and "
                    "despina.compat.neptune does the same. Log floats to a new field to keep them whole.",
                    NeptuneWarning,
                )
        number_i = int(value)
        if not INT32_MIN <= number_i <= INT32_MAX and existing in (None, ft.INT):
            return self._drop(
                value,
                f"it is outside the 32-bit range ({INT32_MIN} to {INT32_MAX}) of Neptune's int fields",
                "To keep it, log `float(value)`, or `stringify_unsupported(value)` (from "
                "despina.compat.neptune.utils, as neptune.utils).",
                _NATIVE_KEEPS_INT64,
                NeptuneUnsupportedValue,
            )
        return number_i

    def _point(self, value: Any) -> Any:
        """A series point as the run stores it, Neptune's way, or _DROPPED (for values that are not a
        plain float or int, which append checks itself)."""
        if isinstance(value, (str, File)) or as_mapping(value) is not None:
            return value
        if _numpy_scalar(value):
            value = value.item()
        if isinstance(value, (bool, int)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else self._not_finite(value)
        value = _seaborn_figure(value)
        if is_file_convertible(value) or type(value).__module__ == "numpy":
            return value  # an image (a figure, a PIL image, an array)
        if value is None or isinstance(value, (list, tuple, set, frozenset, bytes, bytearray)):
            return self._unsupported(value)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return self._unsupported(value)
        return number if math.isfinite(number) else self._not_finite(number)

    # -- writes ------------------------------------------------------------------------------------

    def assign(self, value: Any, *, wait: bool = False) -> None:
        """Set the field (a dict: every field under this namespace); Neptune's types and skips."""
        try:
            self._assign(value, wait)
        except ReadOnlyRunError:
            self._read_only()

    def _assign(self, value: Any, wait: bool) -> None:
        run = self._run
        if isinstance(value, _CoreHandler):  # Neptune copied the value of another field
            value = value.fetch()
        if isinstance(value, Value):
            self._assign_value(value, wait)
            return
        mapping = as_mapping(value)
        if mapping is not None:
            run._check_writable()
            for key, item in mapping.items():
                sub = normalize_path(key)
                if not sub:
                    _env.warn_once(
                        run,
                        f"{self._path}/<empty key>",
                        f"Despina did not log the value of the empty key {key!r} under {self._path!r}: "
                        "Neptune 1.x skipped keys that name no field. Give it a name to keep it.",
                        NeptuneUnsupportedType,
                    )
                    continue
                self[sub].assign(item)
            run._after_write(wait)
            return
        if self._path == "sys/tags":
            super().assign(value, wait=wait)
            return
        value = _seaborn_figure(value)
        if isinstance(value, File) or is_file_convertible(value):
            super().assign(value, wait=wait)
            return
        stored = self._atom(value)
        if stored is not _DROPPED:
            super().assign(stored, wait=wait)

    def _assign_value(self, value: Value, wait: bool) -> None:
        """A Neptune value object: the field type it names, replacing series and sets."""
        if isinstance(value, (Float, Integer, Boolean, String, Datetime)):
            if isinstance(value, Float) and not math.isfinite(value.value):
                self._not_finite(value.value)
                return
            if isinstance(value, Integer) and not INT32_MIN <= value.value <= INT32_MAX:
                self._assign(value.value, wait)  # skipped with the int warning
                return
            _CoreHandler.assign(self, value.value, wait=wait)
        elif isinstance(value, Namespace):
            self._assign(dict(value.value), wait)
        elif isinstance(value, (FloatSeries, StringSeries, FileSeries)):
            self._clear_existing()
            self.extend(list(value.values), steps=value.steps, timestamps=value.timestamps, wait=wait)
        elif isinstance(value, StringSet):
            items = [value.values] if isinstance(value.values, str) else list(value.values)
            if self._path == "sys/tags":
                _CoreHandler.clear_and_add(self, items)
            else:
                self._clear_existing()
                _CoreHandler.add(self, items, wait=wait)
        elif isinstance(value, FileSet):
            self._clear_existing()
            _CoreHandler.upload_files(self, value.file_globs, wait=wait)
        elif isinstance(value, GitRef):
            raise NeptuneUnsupportedFunctionalityException(
                "a GitRef is an init_run argument (git_ref=...); it cannot be assigned to a field"
            )
        else:
            raise TypeError(f"cannot assign a {type(value).__name__} value object")

    def _clear_existing(self) -> None:
        if self._run._type_of(self._path) is not None:
            self._run.pop(self._path)

    def upload(self, value: Any, *, wait: bool = False, **kwargs: Any) -> None:
        """Store a file (a path, a File, a figure...); `include_plotlyjs=` goes to plotly's page."""
        try:
            value = _seaborn_figure(value)
            if kwargs and not isinstance(value, (File, str, os.PathLike)):
                value = File.as_html(value, **kwargs)
            super().upload(value, wait=wait)
        except ReadOnlyRunError:
            self._read_only()

    def upload_files(self, globs: str | Iterable[str], *, wait: bool = False) -> None:
        try:
            super().upload_files(globs, wait=wait)
        except ReadOnlyRunError:
            self._read_only()

    def append(
        self,
        value: Any,
        step: float | None = None,
        timestamp: float | None = None,
        *,
        wait: bool = False,
        **kwargs: Any,
    ) -> None:
        """Add a point to a series; a point Neptune skipped (NaN, a list, a step not after the last...)
        is skipped with a warning. Neptune's `name=`/`description=` of file points are not stored."""
        cls = value.__class__
        if cls is float:
            if value - value != 0.0:  # NaN or an infinity, without a function call on the hot path
                self._not_finite(value)
                return
        elif cls is not int:
            value = self._point(value)
            if value is _DROPPED:
                return
        try:
            _CoreHandler.append(self, value, step, timestamp, wait=wait)
        except StepOrderError as exc:
            _env.warn_once(
                self._run,
                f"{self._path}<step>",
                f"Despina did not log a point to {self._path!r}: {exc}. Neptune's server rejected such "
                "points while the script went on, and despina.compat.neptune skips them too. "
                + _NATIVE_RAISES,
                NeptuneWarning,
            )
        except ReadOnlyRunError:
            self._read_only()

    def log(
        self,
        value: Any,
        step: float | None = None,
        timestamp: float | None = None,
        *,
        wait: bool = False,
        **kwargs: Any,
    ) -> None:
        """Neptune's older `log`: one value like `append`, or a list of values like `extend`."""
        if isinstance(value, (list, tuple, set)):
            values = list(value)
            if not values:
                if self._run._type_of(self._path) is None:
                    raise ValueError("Cannot deduce value type: `value` cannot be empty")
                return
            if step is not None and len(values) > 1:
                raise ValueError("Collection of values are not supported for explicitly defined 'step'.")
            self.extend(
                values,
                steps=None if step is None else [step],
                timestamps=None if timestamp is None else [timestamp] * len(values),
                wait=wait,
            )
            return
        self.append(value, step, timestamp, wait=wait)

    def extend(
        self,
        values: Any,
        steps: Sequence[float] | None = None,
        timestamps: Sequence[float] | None = None,
        *,
        wait: bool = False,
        **kwargs: Any,
    ) -> None:
        """Append many points (any iterable: a list, a numpy array, a pandas Series by position)."""
        if as_mapping(values) is None and not isinstance(values, (str, bytes)):
            if isinstance(values, Iterable):
                values = list(values)
            steps = None if steps is None else list(steps)
            timestamps = None if timestamps is None else list(timestamps)
        super().extend(values, steps=steps, timestamps=timestamps, wait=wait)

    def add(self, values: str | Iterable[str], *, wait: bool = False) -> None:
        try:
            super().add(values, wait=wait)
        except ReadOnlyRunError:
            self._read_only()

    def remove(self, values: str | Iterable[str], *, wait: bool = False) -> None:
        try:
            super().remove(values, wait=wait)
        except ReadOnlyRunError:
            self._read_only()

    def clear(self, *, wait: bool = False) -> None:
        """Empty a string set (remove every string), or a series (its points are deleted)."""
        try:
            type_ = self._run._type_of(self._path)
            if type_ == ft.STRING_SET:
                current = self.fetch() if self._run._can_read() else set()
                if current:
                    super().remove(sorted(current), wait=wait)
            elif type_ is not None:
                self._run.pop(self._path, wait=wait)
        except ReadOnlyRunError:
            self._read_only()

    def pop(self, path: str | None = None, *, wait: bool = False) -> None:
        try:
            target = self._path if path is None else _join(self._path, path)
            self._run.pop(target, wait=wait)
        except ReadOnlyRunError:
            self._read_only()

    def delete_files(self, paths: str | Iterable[str], *, wait: bool = False) -> None:
        raise NeptuneUnsupportedFunctionalityException(
            "deleting files from a file set is not supported by Despina; assign a new FileSet instead"
        )

    def track_files(
        self, path: str | os.PathLike[str], *, destination: str | None = None, wait: bool = False
    ) -> TrackingJob:
        """Record files by content without uploading them (Despina's artifacts: see Handler.track_files).
        Unlike Neptune, tracking the same location again replaces the files under `destination` (all
        of them without one) instead of adding to them, so a re-tracked folder is its current state."""
        return super().track_files(path, destination=destination, wait=wait)

    # -- reads -------------------------------------------------------------------------------------

    def fetch(self) -> Any:
        """The field's value (a dict of atoms for a namespace); `sys/state` reads "Active"/"Inactive"."""
        value = super().fetch()
        if self._path == "sys/state":
            return state_label(value)
        if self._path == "sys" and isinstance(value, dict) and "state" in value:
            value["state"] = state_label(value["state"])
        return value

    def fetch_values(
        self,
        *,
        include_timestamp: bool | None = True,
        progress_bar: object = None,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> Any:
        """All points of a series as a DataFrame (step, value, timestamp); `progress_bar` is accepted."""
        return super().fetch_values(include_timestamp=bool(include_timestamp), step_range=step_range)

    def download(
        self, destination: str | os.PathLike[str] | None = None, progress_bar: object = None
    ) -> Path:
        """Write the file(s) to `destination`. Into a folder, a file is named after the field and its
        extension (Neptune's naming: `run["model/weights"]` gives `weights.pkl`)."""
        if destination is not None and Path(destination).is_dir():
            field = self._run._read_field(self._path)
            if field.type == ft.FILE:
                leaf = self._path.rsplit("/", 1)[-1]
                ext = field.value.extension
                destination = Path(destination) / (f"{leaf}.{ext}" if ext else leaf)
        return super().download(destination)

    def download_last(
        self, destination: str | os.PathLike[str] | None = None, progress_bar: object = None
    ) -> Path:
        return super().download_last(destination)

    def list_fileset_files(self, path: str | None = None) -> list[FileEntry]:
        """The files and folders directly inside a file set (or inside its folder `path`)."""
        names = self._run._read_field(self._path)
        if names.type != ft.FILE_SET:
            raise TypeError(f"{self._path!r} is a {names.type} field, not a file set")
        prefix = normalize_path(path or "")
        entries: dict[str, FileEntry] = {}
        for name, ref in names.value.items():
            if prefix:
                if not name.startswith(prefix + "/"):
                    continue
                name = name[len(prefix) + 1 :]
            head, _, rest = name.partition("/")
            if rest:
                entries.setdefault(head, FileEntry(head, None, None, "directory"))
            else:
                entries[head] = FileEntry(head, int(ref.size), None, "file")
        return [entries[key] for key in sorted(entries)]


class Run(_CoreRun):
    """`neptune.init_run(...)` / `neptune.Run(...)`: a Despina run with Neptune 1.x's arguments.

    Arguments with no meaning for Despina (`api_token`, `proxies`, the `async_*` callbacks and
    thresholds) are checked and ignored; unknown keywords raise TypeError. The project comes from the
    argument, else DESPINA_PROJECT, else NEPTUNE_PROJECT; the mode and the custom run id likewise
    (DESPINA_* win over NEPTUNE_*). See docs/neptune-compat.md for every difference from Neptune.
    """

    def __init__(
        self,
        with_id: str | None = None,
        *,
        project: str | None = None,
        api_token: str | None = None,
        custom_run_id: str | None = None,
        mode: str | None = None,
        name: str | None = None,
        description: str | None = None,
        tags: str | Iterable[str] | None = None,
        source_files: str | Sequence[str] | None = None,
        capture_stdout: bool | None = None,
        capture_stderr: bool | None = None,
        capture_hardware_metrics: bool | None = None,
        fail_on_exception: bool = True,
        monitoring_namespace: str | None = None,
        flush_period: float = 5,
        proxies: dict[str, str] | None = None,
        capture_traceback: bool = True,
        git_ref: GitRef | str | bool | None = None,
        dependencies: str | os.PathLike[str] | None = None,
        async_lag_callback: Any = None,
        async_lag_threshold: float = 1800.0,
        async_no_progress_callback: Any = None,
        async_no_progress_threshold: float = 300.0,
        **kwargs: Any,
    ) -> None:
        _env.reject_extra_kwargs(
            "init_run", kwargs, {"run": "; to resume a run, pass with_id='KEY-N' (or use neptune.init)"}
        )
        for label, value in (
            ("with_id", with_id),
            ("project", project),
            ("api_token", api_token),
            ("custom_run_id", custom_run_id),
            ("mode", mode),
            ("name", name),
            ("description", description),
            ("monitoring_namespace", monitoring_namespace),
        ):
            _env.verify_type(label, value, (str, type(None)))
        for label, flag in (
            ("capture_stdout", capture_stdout),
            ("capture_stderr", capture_stderr),
            ("capture_hardware_metrics", capture_hardware_metrics),
        ):
            _env.verify_type(label, flag, (bool, type(None)))
        _env.verify_type("fail_on_exception", fail_on_exception, bool)
        _env.verify_type("capture_traceback", capture_traceback, bool)
        _env.verify_type("proxies", proxies, (dict, type(None)))
        _env.verify_type("dependencies", dependencies, (str, os.PathLike, type(None)))
        _env.verify_strings("tags", tags)
        _env.verify_strings("source_files", source_files)
        for label, number in (
            ("flush_period", flush_period),
            ("async_lag_threshold", async_lag_threshold),
            ("async_no_progress_threshold", async_no_progress_threshold),
        ):
            _env.verify_number(label, number)
        for label, callback in (
            ("async_lag_callback", async_lag_callback),
            ("async_no_progress_callback", async_no_progress_callback),
        ):
            if callback is not None and not callable(callback):
                raise TypeError(f"{label} must be a callable or None (was {type(callback).__name__})")
        if not isinstance(git_ref, (GitRef, str, bool, type(None))) or (
            isinstance(git_ref, str) and git_ref != GitRef.DISABLED
        ):
            raise TypeError(f"git_ref must be a GitRef, GitRef.DISABLED or bool (was {git_ref!r})")

        # api_token is type-checked above and otherwise unused, as NEPTUNE_API_TOKEN: the embedded store
        # has no accounts (a Despina server will read DESPINA_API_TOKEN).
        run_mode = mode or _env.from_env(_env.MODE_VARIABLES)
        project_name = project or _env.from_env(_env.PROJECT_VARIABLES)
        if project_name is None and run_mode == "offline":
            project_name = _env.OFFLINE_PROJECT
        if project_name is None and run_mode != "debug":
            raise NeptuneMissingProjectNameException(
                "no project given: pass project='workspace/name', or set NEPTUNE_PROJECT (or DESPINA_PROJECT)"
            )
        if with_id is not None and custom_run_id is not None:
            raise NeptuneRunResumeAndCustomIdCollision(
                "pass either with_id (resume a run) or custom_run_id (join or start one), not both"
            )
        if run_mode == "read-only" and with_id is None:
            raise NeedExistingRunForReadOnlyMode("read-only mode opens an existing run: pass with_id='KEY-N'")
        if custom_run_id is None and with_id is None:
            custom_run_id = _env.from_env(_env.CUSTOM_RUN_ID_VARIABLES)
        if isinstance(tags, str):
            tags = [tags]
        super().__init__(
            project_name,
            with_id=with_id,
            custom_run_id=custom_run_id,
            mode=run_mode,
            name=name,
            description=description,
            tags=tags,
            flush_period=float(flush_period),
            fail_on_exception=fail_on_exception,
            source_files=source_files,
            git_ref=False if git_ref == GitRef.DISABLED else None if git_ref is None else bool(git_ref),
            dependencies=dependencies,
            capture_stdout=capture_stdout,
            capture_stderr=capture_stderr,
            capture_hardware_metrics=capture_hardware_metrics,
            capture_traceback=capture_traceback,
            monitoring_namespace=monitoring_namespace or _env.from_env(_env.MONITORING_NAMESPACE_VARIABLES),
        )

    # -- fields ------------------------------------------------------------------------------------

    def __getitem__(self, path: str) -> Handler:
        handler = self._handlers.get(path)
        if handler is None:
            normalized = normalize_path(path)
            handler = self._handlers.get(normalized)
            if handler is None:
                handler = Handler(self, validate_path(normalized))
                self._handlers[normalized] = handler
        return cast(Handler, handler)

    def __delitem__(self, path: str) -> None:
        self.pop(path)

    def assign(self, value: dict[str, Any], *, wait: bool = False) -> None:
        """Assign a dict at the root: each key becomes a field or namespace (Neptune's skips apply)."""
        mapping = as_mapping(value)
        if mapping is None:
            raise TypeError(f"run.assign() takes a dict, not {type(value).__name__}")
        for key, item in mapping.items():
            path = normalize_path(key)
            if path:
                self[path].assign(item)
            else:
                _env.warn_once(
                    self,
                    "<empty key>",
                    f"Despina did not log the value of the empty key {key!r}: Neptune 1.x skipped keys that "
                    "name no field. Give it a name to keep it.",
                    NeptuneUnsupportedType,
                )
        self._after_write(wait)

    def pop(self, path: str, *, wait: bool = False) -> None:
        """Delete a field, or every field under a namespace."""
        try:
            super().pop(normalize_path(path), wait=wait)
        except ReadOnlyRunError:
            self[path]._read_only()

    def exists(self, path: str) -> bool:
        return super().exists(normalize_path(path))

    def fetch(self) -> dict[str, Any]:
        """Every atom field as a nested dict; `sys/state` reads "Active"/"Inactive"."""
        tree = super().fetch()
        sys_tree = tree.get("sys")
        if isinstance(sys_tree, dict) and "state" in sys_tree:
            sys_tree["state"] = state_label(sys_tree["state"])
        return tree

    # -- Neptune's other run methods ---------------------------------------------------------------

    def get_state(self) -> str:
        """Neptune's client-side state: "started" until `stop()`, then "stopped"."""
        return "stopped" if self._stopped else "started"

    def get_root_object(self) -> Run:
        return self

    def get_run_url(self) -> str:
        """Neptune's older name of `get_url`."""
        return self.get_url()

    def ping(self) -> None:
        """Nothing to do: the run's heartbeat thread keeps it alive."""

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)


# `neptune.init_run(...)` is the Run constructor, as in neptune 1.x (`init_run = Run`).
init_run = Run


def init(
    project: str | None = None,
    api_token: str | None = None,
    run: str | None = None,
    custom_run_id: str | None = None,
    mode: str | None = None,
    name: str | None = None,
    description: str | None = None,
    tags: str | Iterable[str] | None = None,
    source_files: str | Sequence[str] | None = None,
    capture_stdout: bool | None = None,
    capture_stderr: bool | None = None,
    capture_hardware_metrics: bool | None = None,
    fail_on_exception: bool = True,
    monitoring_namespace: str | None = None,
    flush_period: float = 5,
    proxies: dict[str, str] | None = None,
    capture_traceback: bool = True,
    **kwargs: Any,
) -> Run:
    """The older `neptune.new.init(project=..., api_token=..., run="KEY-N")`: `run` resumes that run
    (it is `with_id` of init_run); without it a new run starts."""
    _env.reject_extra_kwargs("init", kwargs, {"with_id": "; init() names it run='KEY-N'"})
    return Run(
        run,
        project=project,
        api_token=api_token,
        custom_run_id=custom_run_id,
        mode=mode,
        name=name,
        description=description,
        tags=tags,
        source_files=source_files,
        capture_stdout=capture_stdout,
        capture_stderr=capture_stderr,
        capture_hardware_metrics=capture_hardware_metrics,
        fail_on_exception=fail_on_exception,
        monitoring_namespace=monitoring_namespace,
        flush_period=flush_period,
        proxies=proxies,
        capture_traceback=capture_traceback,
    )
