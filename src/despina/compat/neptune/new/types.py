"""`neptune.new.types`: the same as `despina.compat.neptune.types`."""

from __future__ import annotations

from despina.compat.neptune.types import (
    Boolean,
    Datetime,
    File,
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
