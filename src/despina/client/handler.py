"""Field handlers: what `run["a/b"]` returns. Every write and read of a field goes through one.

`append` of a number to a float series has a fast path (no operation object, no allocation beyond
the record): it is the call training loops make millions of times.
"""

from __future__ import annotations

import glob
import os
import struct
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from despina.client import field_types as ft
from despina.client import values as conv
from despina.client.codec import FLOAT_POINT
from despina.client.journal import FLOAT_PAYLOAD_SIZE, HEADER, JournalWriter
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    AssignAtom,
    AssignFile,
    RemoveStrings,
)
from despina.client.paths import check_user_writable, join_path
from despina.exceptions import FieldTypeError, MissingFieldError, StepOrderError
from despina.types import File, is_file_convertible

if TYPE_CHECKING:
    import pandas as pd

    from despina.client.artifact_manifest import ArtifactFile
    from despina.client.run import Run
    from despina.client.tracking import TrackingJob

_time = time.time
_pack_float = FLOAT_POINT.pack
_header_bytes = HEADER.pack
_crc32 = zlib.crc32


class SeriesState:
    """What the client remembers of a series it writes: its type and last step."""

    __slots__ = ("auto", "last", "path_id", "type", "writer")

    def __init__(self, type_: str, last: float | None) -> None:
        self.type = type_
        self.last = -float("inf") if last is None else last
        self.auto = 0.0 if last is None else last + 1.0
        self.path_id = -1
        self.writer: JournalWriter | None = None  # set when this series may take the fast path


class Handler:
    """A field or namespace of a run, addressed by its path."""

    __slots__ = ("_fast", "_path", "_run")

    def __init__(self, run: Run, path: str) -> None:
        self._run = run
        self._path = path
        self._fast: SeriesState | None = None

    def __repr__(self) -> str:
        return f"<Handler {self._path!r} of {self._run!r}>"

    @property
    def path(self) -> str:
        return self._path

    def __getitem__(self, sub: str) -> Handler:
        return self._run[join_path(self._path, sub)]

    def __setitem__(self, sub: str, value: Any) -> None:
        self[sub].assign(value)

    def __delitem__(self, sub: str) -> None:
        self._run.pop(join_path(self._path, sub))

    def get_root_object(self) -> Run:
        return self._run

    # -- writes ------------------------------------------------------------------------------------

    def assign(self, value: Any, *, wait: bool = False) -> None:
        """Set the field (or, for a dict, every field under this namespace)."""
        run = self._run
        run._check_writable()
        mapping = conv.as_mapping(value)
        if mapping is not None:
            for key, item in mapping.items():
                if not isinstance(key, str):
                    key = str(key)
                self[key].assign(item)
            run._after_write(wait)
            return
        check_user_writable(self._path)
        if self._path == "sys/tags":
            self.clear_and_add(value)
            return
        if isinstance(value, File) or is_file_convertible(value):
            self.upload(value, wait=wait)
            return
        type_, normalized = conv.atom(self._path, value)
        existing = run._type_of(self._path)
        if existing == ft.FLOAT and type_ == ft.INT:
            type_, normalized = ft.FLOAT, float(normalized)
        if self._path in ("sys/name", "sys/description") and type_ != ft.STRING:
            raise FieldTypeError(f"{self._path} must be a str, not {type(value).__name__}")
        run._declare(self._path, type_)
        run._emit(AssignAtom(self._path, type_, normalized), wait)

    def clear_and_add(self, values: str | Iterable[str]) -> None:
        current = set(self.fetch()) if self._run._can_read() else set()
        self.add(values)
        remove = current - set(_strings(self._path, values))
        if remove:
            self.remove(sorted(remove))

    def upload(self, value: Any, *, wait: bool = False) -> None:
        """Store a file: a path, a `File`, or a figure/image/DataFrame converted to one."""
        run = self._run
        run._check_writable()
        check_user_writable(self._path)
        file = File.create_from(value)
        run._declare(self._path, ft.FILE)
        ref = run._stage(file, self._path.rsplit("/", 1)[-1])
        run._emit(AssignFile(self._path, ref), wait)

    def upload_files(self, globs: str | Iterable[str], *, wait: bool = False) -> None:
        """Add the files matching `globs` to a file set (relative to their common folder)."""
        run = self._run
        run._check_writable()
        check_user_writable(self._path)
        patterns = [globs] if isinstance(globs, (str, os.PathLike)) else list(globs)
        matched: list[Path] = []
        for pattern in patterns:
            for name in sorted(glob.glob(os.fspath(pattern), recursive=True)):
                path = Path(name)
                if path.is_dir():
                    matched.extend(sorted(p for p in path.rglob("*") if p.is_file()))
                elif path.is_file():
                    matched.append(path)
        if not matched:
            raise FileNotFoundError(f"no files match {patterns!r} for {self._path!r}")
        absolute = [p.absolute() for p in matched]
        base = Path(os.path.commonpath([p.parent for p in absolute]))
        run._declare(self._path, ft.FILE_SET)
        entries = tuple(
            (p.relative_to(base).as_posix(), run._stage(File(p), p.name)) for p in dict.fromkeys(absolute)
        )
        run._emit(AddFileSetEntries(self._path, entries), wait)

    def track_files(
        self, path: str | os.PathLike[str], *, destination: str | None = None, wait: bool = False
    ) -> TrackingJob:
        """Record a version of files by content, without uploading them: a file, a folder (recursively),
        a glob, or an `s3://bucket/prefix` location. Hashing runs in the background (`wait=True`
        blocks); a new version is recorded only when something changed. `destination` puts the files
        under that folder of the set, keeping files tracked into other destinations."""
        from despina.client.tracking import track_files

        return track_files(self._run, self._path, os.fspath(path), destination, wait)

    def append(
        self, value: Any, step: float | None = None, timestamp: float | None = None, *, wait: bool = False
    ) -> None:
        """Add a point to a series (float, string or file), at `step` (default: last step + 1)."""
        fast = self._fast
        cls = value.__class__
        if fast is not None and timestamp is None and not wait and (cls is float or cls is int):
            if step is None:
                step = fast.auto
            elif (step.__class__ is not int and step.__class__ is not float) or not step > fast.last:
                self._append(value, step, timestamp, wait)
                return
            try:
                payload = _pack_float(1, fast.path_id, step, _time(), value)
            except (struct.error, OverflowError):
                raise FieldTypeError(f"{value!r} for {self._path!r} does not fit in a 64-bit float") from None
            record = _header_bytes(FLOAT_PAYLOAD_SIZE, _crc32(payload)) + payload
            # JournalWriter.put_float_record's common case, inlined: no lock (one mmap.write is
            # atomic under the GIL) and one Python frame less on the hottest call there is.
            writer: JournalWriter = fast.writer  # type: ignore[assignment]  # set on every fast series
            try:
                mm = writer._mm
                if mm.tell() < writer._limit:  # type: ignore[union-attr]
                    mm.write(record)  # type: ignore[union-attr]
                else:
                    writer.put_float_record(record)  # a new segment first
            except (ValueError, AttributeError):  # the segment changed (or closed) under us
                writer.put_float_record(record)
            fast.last = step  # only once the point is in the journal
            fast.auto = step + 1.0
            return
        self._append(value, step, timestamp, wait)

    def log(
        self, value: Any, step: float | None = None, timestamp: float | None = None, *, wait: bool = False
    ) -> None:
        """Alias of `append` (Neptune's older name)."""
        self.append(value, step, timestamp, wait=wait)

    def _append(self, value: Any, step: Any, timestamp: Any, wait: bool) -> None:
        run = self._run
        run._check_writable()
        check_user_writable(self._path)
        mapping = conv.as_mapping(value)
        if mapping is not None:
            for key, item in mapping.items():
                self[str(key)].append(item, step=step, timestamp=timestamp)
            run._after_write(wait)
            return
        type_ = run._type_of(self._path) or conv.series_type(self._path, value)
        if type_ not in ft.SERIES_TYPES:
            raise FieldTypeError(
                f"{self._path!r} is a {type_} field; append works on series. Use another path, or "
                f"`del run[{self._path!r}]` first"
            )
        state = run._series_state(self._path, type_)
        point_step = state.auto if step is None else conv.step_of(self._path, step)
        if not point_step > state.last:
            raise StepOrderError(
                f"step {point_step:g} for {self._path!r} is not greater than its last step {state.last:g}; "
                "steps must increase. Omit step= to continue after the last one"
            )
        ts = conv.timestamp_of(self._path, timestamp)
        ts = _time() if ts is None else ts
        if type_ == ft.FLOAT_SERIES:
            number = conv.float_point(self._path, value)
            state.last, state.auto = point_step, point_step + 1.0
            run._emit_float(self._path, state, point_step, ts, number, wait)
            self._fast = state if state.writer is not None else None
            return
        if type_ == ft.STRING_SERIES:
            if not isinstance(value, str):
                raise FieldTypeError(f"{self._path!r} is a string series; {value!r} is not a str")
            point: Any = value
        else:
            point = run._stage(File.create_from(value), f"{self._path.rsplit('/', 1)[-1]}_{point_step:g}")
        state.last, state.auto = point_step, point_step + 1.0
        op = AppendPoints(self._path, type_, _arr([point_step]), _arr([ts]), [point])
        run._emit(op, wait)

    def extend(
        self,
        values: Any,
        steps: Sequence[float] | None = None,
        timestamps: Sequence[float] | None = None,
        *,
        wait: bool = False,
    ) -> None:
        """Append many points; `steps` and `timestamps`, when given, must match `values` in length."""
        mapping = conv.as_mapping(values)
        if mapping is not None:
            for key, items in mapping.items():
                self[str(key)].extend(items, steps=steps, timestamps=timestamps)
            self._run._after_write(wait)
            return
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise FieldTypeError(
                f"extend({self._path!r}) takes a list of values, not {type(values).__name__}"
            )
        count = len(values)
        for name, given in (("steps", steps), ("timestamps", timestamps)):
            if given is not None and len(given) != count:
                raise ValueError(
                    f"{name} has {len(given)} items but there are {count} values for {self._path!r}"
                )
        for i, value in enumerate(values):
            self.append(
                value,
                step=None if steps is None else steps[i],
                timestamp=None if timestamps is None else timestamps[i],
            )
        self._run._after_write(wait)

    def add(self, values: str | Iterable[str], *, wait: bool = False) -> None:
        """Add strings to a string set (`run["sys/tags"].add("best")`)."""
        run = self._run
        run._check_writable()
        check_user_writable(self._path)
        run._declare(self._path, ft.STRING_SET)
        run._emit(AddStrings(self._path, tuple(_strings(self._path, values))), wait)

    def remove(self, values: str | Iterable[str], *, wait: bool = False) -> None:
        """Remove strings from a string set."""
        run = self._run
        run._check_writable()
        check_user_writable(self._path)
        run._declare(self._path, ft.STRING_SET)
        run._emit(RemoveStrings(self._path, tuple(_strings(self._path, values))), wait)

    def pop(self, path: str | None = None, *, wait: bool = False) -> None:
        self._run.pop(self._path if path is None else join_path(self._path, path), wait=wait)

    # -- reads -------------------------------------------------------------------------------------

    def fetch(self) -> Any:
        """The field's value (an atom, a set of strings), or a dict of the atoms under a namespace."""
        fields = self._run._read_fields(self._path)
        field = fields.get(self._path)
        if field is None:
            if not fields:
                raise MissingFieldError(f"run {self._run._label()} has no field {self._path!r}")
            return _nest({p: f.value for p, f in fields.items() if f.type in ft.ATOM_TYPES}, self._path)
        if field.type in ft.SERIES_TYPES:
            return field.value.last
        if field.type == ft.STRING_SET:
            return set(field.value)
        if field.type == ft.ARTIFACT:
            return field.value.hash
        return field.value

    def fetch_last(self) -> Any:
        """The last value of a series."""
        field = self._run._read_field(self._path)
        if field.type not in ft.SERIES_TYPES:
            raise FieldTypeError(f"{self._path!r} is a {field.type} field, not a series; use fetch()")
        return field.value.last

    def fetch_values(
        self, *, include_timestamp: bool = True, step_range: tuple[float | None, float | None] | None = None
    ) -> pd.DataFrame:
        """All points of a series as a DataFrame with columns step, value (and timestamp)."""
        import pandas as pd

        field = self._run._read_field(self._path)
        if field.type not in ft.SERIES_TYPES:
            raise FieldTypeError(f"{self._path!r} is a {field.type} field, not a series; use fetch()")
        if field.type == ft.FILE_SERIES:
            data = self._run._read_series(self._path, step_range)
        else:
            data = self._run._read_series_points(self._path, step_range)
        frame: pd.DataFrame = pd.DataFrame({"step": data.steps, "value": data.values})
        if include_timestamp:
            frame["timestamp"] = pd.to_datetime(data.timestamps, unit="s", utc=True)
        return frame

    def download(self, destination: str | os.PathLike[str] | None = None) -> Path:
        """Write a file (or a file set, or a file series) to `destination`; returns where."""
        run = self._run
        field = run._read_field(self._path)
        leaf = self._path.rsplit("/", 1)[-1]
        if field.type == ft.FILE:
            ref = field.value
            target = (
                Path(destination)
                if destination is not None
                else Path(f"{leaf}.{ref.extension}" if ref.extension else leaf)
            )
            if target.is_dir():
                target = target / ref.name
            run._download_blob(ref.sha256, target)
            return target
        if field.type == ft.FILE_SET:
            folder = Path(destination) if destination is not None else Path(leaf)
            for name, ref in field.value.items():
                run._download_blob(ref.sha256, folder / name)
            return folder
        if field.type == ft.FILE_SERIES:
            folder = Path(destination) if destination is not None else Path(leaf)
            data = run._read_series(self._path, None)
            for step, ref in zip(data.steps.tolist(), data.values, strict=True):
                run._download_blob(ref.sha256, folder / f"{step:g}.{ref.extension}")
            return folder
        if field.type == ft.ARTIFACT:
            from despina.client.locations import fetch_files
            from despina.client.tracking import download_destination, load_manifest

            manifest = load_manifest(run, field.value)
            label = f"{self._path!r} of run {run._label()}"
            return fetch_files(manifest, download_destination(self._path, destination), label)
        raise FieldTypeError(f"{self._path!r} is a {field.type} field; only files can be downloaded")

    def download_last(self, destination: str | os.PathLike[str] | None = None) -> Path:
        field = self._run._read_field(self._path)
        if field.type != ft.FILE_SERIES or field.value.last is None:
            raise FieldTypeError(f"{self._path!r} is not a non-empty file series")
        ref = field.value.last
        target = Path(destination) if destination is not None else Path(ref.name)
        if target.is_dir():
            target = target / ref.name
        self._run._download_blob(ref.sha256, target)
        return target

    def fetch_files_list(self) -> list[str] | list[ArtifactFile]:
        """Names of the files in a file set; for tracked files, each file's record (path, size, hash,
        hash_type, mtime, location)."""
        field = self._run._read_field(self._path)
        if field.type == ft.ARTIFACT:
            from despina.client.tracking import load_manifest

            return list(load_manifest(self._run, field.value).files)
        if field.type != ft.FILE_SET:
            raise FieldTypeError(f"{self._path!r} is a {field.type} field, not a file set")
        return sorted(field.value)

    def fetch_hash(self) -> str:
        """The set hash of tracked files (64 hex characters)."""
        field = self._run._read_field(self._path)
        if field.type != ft.ARTIFACT:
            raise FieldTypeError(f"{self._path!r} is a {field.type} field, not tracked files (track_files)")
        return str(field.value.hash)

    def fetch_extension(self) -> str:
        field = self._run._read_field(self._path)
        if field.type != ft.FILE:
            raise FieldTypeError(f"{self._path!r} is a {field.type} field, not a file")
        return str(field.value.extension)


def _strings(path: str, values: str | Iterable[str]) -> list[str]:
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if not isinstance(item, str):
            raise FieldTypeError(f"{path!r} holds strings; {item!r} is a {type(item).__name__}")
    return items


def _arr(items: list[float]) -> Any:
    import numpy as np

    return np.asarray(items, dtype=np.float64)


def _nest(flat: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """{"a/b": 1} under prefix "a" -> {"b": 1}; without prefix, the whole tree."""
    tree: dict[str, Any] = {}
    cut = len(prefix) + 1 if prefix else 0
    for path, value in flat.items():
        parts = path[cut:].split("/")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree
