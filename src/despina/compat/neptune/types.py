"""`neptune.types`: File and Neptune 1.x's value objects.

`File` is Despina's own (`despina.types.File`): it has Neptune's constructors (`File(path)`,
`from_path`, `from_content`, `from_stream`, `as_image`, `as_html`, `as_pickle`, `create_from`).

The value objects say explicitly which field type a value becomes, as in Neptune::

    run["lr"] = Float(1)                       # a float field, not an int one
    run["train/loss"] = FloatSeries([0.9, 0.5, 0.4])   # replaces the series
    run["labels"] = StringSet(["cat", "dog"])
    run = neptune.init_run(git_ref=GitRef.DISABLED)

They are plain holders: the compatibility handler unpacks them into native calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from despina.types import File

__all__ = [
    "Boolean",
    "Datetime",
    "File",
    "FileSeries",
    "FileSet",
    "Float",
    "FloatSeries",
    "GitRef",
    "Integer",
    "Namespace",
    "String",
    "StringSeries",
    "StringSet",
    "Value",
]


class Value:
    """Base of Neptune's value objects: `run[path] = value_object` creates the field type it names."""

    __slots__ = ()


@dataclass(eq=True)
class Float(Value):
    """A float field (`float(value)`), even for an int value."""

    value: float

    def __post_init__(self) -> None:
        self.value = float(self.value)


@dataclass(eq=True)
class Integer(Value):
    """An int field (`int(value)`)."""

    value: int

    def __post_init__(self) -> None:
        self.value = int(self.value)


@dataclass(eq=True)
class Boolean(Value):
    """A bool field (`bool(value)`)."""

    value: bool

    def __post_init__(self) -> None:
        self.value = bool(self.value)


@dataclass(eq=True)
class String(Value):
    """A string field (`str(value)`)."""

    value: str

    def __post_init__(self) -> None:
        self.value = str(self.value)


@dataclass(eq=True)
class Datetime(Value):
    """A datetime field."""

    value: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.value, datetime):
            raise TypeError(f"Datetime takes a datetime, not {type(self.value).__name__}")


@dataclass(eq=True)
class FloatSeries(Value):
    """A whole float series: assigning it replaces the field's points. `min`, `max` and `unit` are
    accepted for Neptune's charts and not stored."""

    values: Sequence[float] | Iterable[float]
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    timestamps: Sequence[float] | None = None
    steps: Sequence[float] | None = None


@dataclass(eq=True)
class StringSeries(Value):
    """A whole string series: assigning it replaces the field's points."""

    values: Sequence[str] | Iterable[str]
    timestamps: Sequence[float] | None = None
    steps: Sequence[float] | None = None


@dataclass(eq=True, init=False)
class FileSeries(Value):
    """A whole file (image) series: assigning it replaces the field's points. Neptune's `name` and
    `description` keywords are accepted and not stored."""

    values: list[Any]
    timestamps: Sequence[float] | None = None
    steps: Sequence[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        values: Iterable[Any],
        timestamps: Sequence[float] | None = None,
        steps: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        self.values = list(values)
        self.timestamps = timestamps
        self.steps = steps
        self.extra = dict(kwargs)


@dataclass(eq=True)
class StringSet(Value):
    """A set of strings (like `sys/tags`): assigning it replaces the set."""

    values: Iterable[str]


@dataclass(eq=True)
class FileSet(Value):
    """The files matching `file_globs`: assigning it replaces the file set."""

    file_globs: str | Iterable[str]


@dataclass(eq=True)
class Namespace(Value):
    """A dict of fields, as `run[path] = dict` does."""

    value: Mapping[str, Any]


class GitRef(Value):
    """The `git_ref` argument of `init_run`: `GitRef()` (or `GitRef(repository_path=...)`) tracks the
    repository around the entry script, `GitRef.DISABLED` turns tracking off.

    Despina looks for the repository from the working directory; `repository_path` is accepted for
    compatibility and not used (see docs/neptune-compat.md).
    """

    DISABLED: ClassVar[str] = "DO_NOT_TRACK_GIT_REPOSITORY"

    __slots__ = ("repository_path",)

    def __init__(self, repository_path: str | os.PathLike[str] | None = None) -> None:
        self.repository_path = repository_path

    def __repr__(self) -> str:
        return f"GitRef(repository_path={self.repository_path!r})"
