"""How store values travel over HTTP as JSON, exactly: the server encodes, the HTTP backend decodes.

JSON has no NaN, infinities, datetimes, sets or file references, and those must come back as they went
in (a NaN loss is a result, not a missing value). Values JSON can carry go as themselves; the rest as a
one-key object whose key starts with `$`:

    {"$float": "NaN" | "Infinity" | "-Infinity"}     {"$datetime": "2026-11-22T10:00:00.123456+00:00"}
    {"$set": [...]}   {"$file": {sha256, size, name, extension, mime_type}}   {"$series": {count, last, ...}}
    {"$artifact": {hash, file_count, total_size, manifest}}
    {"$field": {path, type, value}}

Plain objects whose keys start with `$` do not occur in store values (field paths never start with it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from despina.client.operations import ArtifactRef, FileRef
from despina.store.base import FieldValue, RunInfo, SeriesSummary

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_SUMMARY_FIELDS = tuple(f.name for f in fields(SeriesSummary))


def encode_value(value: Any) -> Any:
    """A JSON-ready form of a store value (see the module docstring)."""
    kind = type(value)
    if kind is float:  # the usual cell first: a table page encodes tens of thousands
        if value - value == 0:  # finite (NaN and infinities give NaN)
            return value
        return {"$float": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return encode_value(float(value))
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, FileRef):
        return {"$file": value.to_dict()}
    if isinstance(value, ArtifactRef):
        return {"$artifact": value.to_dict()}
    if isinstance(value, FieldValue):
        return {"$field": {"path": value.path, "type": value.type, "value": encode_value(value.value)}}
    if isinstance(value, SeriesSummary):
        # Not asdict(): it would turn a last value that is a FileRef into a plain dict.
        return {"$series": {name: encode_value(getattr(value, name)) for name in _SUMMARY_FIELDS}}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted(encode_value(v) for v in value)}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    if hasattr(value, "item"):  # numpy scalars
        return encode_value(value.item())
    raise TypeError(f"cannot send a {type(value).__name__} over the wire")


def decode_value(value: Any) -> Any:
    """Inverse of `encode_value`."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key == "$float":
            return _NON_FINITE[inner]
        if key == "$datetime":
            return datetime.fromisoformat(inner)
        if key == "$file":
            return FileRef.from_dict(inner)
        if key == "$artifact":
            return ArtifactRef.from_dict(inner)
        if key == "$set":
            return {decode_value(v) for v in inner}
        if key == "$field":
            return FieldValue(inner["path"], inner["type"], decode_value(inner["value"]))
        if key == "$series":
            return SeriesSummary(**{k: decode_value(v) for k, v in inner.items()})
    return {k: decode_value(v) for k, v in value.items()}


def encode_fields(fields: dict[str, FieldValue]) -> dict[str, Any]:
    return {path: {"type": f.type, "value": encode_value(f.value)} for path, f in fields.items()}


def decode_fields(data: dict[str, Any]) -> dict[str, FieldValue]:
    return {path: FieldValue(path, f["type"], decode_value(f["value"])) for path, f in data.items()}


def encode_run_info(info: RunInfo) -> dict[str, Any]:
    return {k: encode_value(v) for k, v in asdict(info).items()}


def decode_run_info(data: dict[str, Any]) -> RunInfo:
    return RunInfo(**{k: decode_value(v) for k, v in data.items()})


def encode_table_row(row: dict[str, FieldValue]) -> dict[str, Any]:
    """A runs table row, compactly: path -> [type, value] (the value wire-encoded)."""
    return {path: [f.type, encode_value(f.value)] for path, f in row.items()}


def decode_table_row(data: dict[str, Any]) -> dict[str, FieldValue]:
    return {path: FieldValue(path, item[0], decode_value(item[1])) for path, item in data.items()}
