"""The one codec for operations: bytes in the journal and on the wire.

Each encoded operation is a msgpack array `[code, version, ...fields]`; the code names the operation
type and the version lets later releases read journals written by earlier ones. Float series points,
the bulk of all traffic, skip msgpack: the journal writes them as fixed 29-byte records
(`FLOAT_POINT`) packed straight into its memory map.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from typing import Any

import msgpack
import numpy as np

from despina.client import field_types as ft
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    ArtifactRef,
    AssignArtifact,
    AssignAtom,
    AssignFile,
    DeleteField,
    FileRef,
    Operation,
    RemoveStrings,
)

# Payload kinds (first byte of a journal record's payload).
KIND_FLOAT_POINT = 1
KIND_OPERATION = 2

# kind, path id, step, timestamp, value
FLOAT_POINT = struct.Struct("<BIddd")

_VERSION = 1
_ASSIGN_ATOM, _APPEND_POINTS, _ASSIGN_FILE, _ADD_FILE_SET, _ADD_STRINGS, _REMOVE_STRINGS, _DELETE = range(
    1, 8
)
_ASSIGN_ARTIFACT = 8


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def datetime_to_micros(value: datetime) -> int:
    """Microseconds since the epoch, UTC: how datetimes travel and are stored."""
    if value.tzinfo is None:
        value = value.astimezone()  # naive means local time, as `datetime.now()` gives
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_to_datetime(micros: int) -> datetime:
    """Inverse of `datetime_to_micros`: an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=micros)


def _ref(ref: FileRef) -> list[Any]:
    return [ref.sha256, ref.size, ref.name, ref.extension, ref.mime_type]


def _unref(raw: list[Any]) -> FileRef:
    return FileRef(raw[0], int(raw[1]), raw[2], raw[3], raw[4])


def _to_plain(op: Operation) -> list[Any]:
    if isinstance(op, AssignAtom):
        value = datetime_to_micros(op.value) if isinstance(op.value, datetime) else op.value
        return [_ASSIGN_ATOM, _VERSION, op.path, op.type, value]
    if isinstance(op, AppendPoints):
        if op.type == ft.FLOAT_SERIES:
            values: Any = np.asarray(op.values, dtype="<f8").tobytes()
        elif op.type == ft.FILE_SERIES:
            values = [_ref(v) for v in op.values]
        else:
            values = list(op.values)
        seqs = None if op.seqs is None else np.asarray(op.seqs, dtype="<i8").tobytes()
        return [
            _APPEND_POINTS,
            _VERSION,
            op.path,
            op.type,
            np.asarray(op.steps, dtype="<f8").tobytes(),
            np.asarray(op.timestamps, dtype="<f8").tobytes(),
            values,
            seqs,
        ]
    if isinstance(op, AssignFile):
        return [_ASSIGN_FILE, _VERSION, op.path, _ref(op.file)]
    if isinstance(op, AddFileSetEntries):
        return [_ADD_FILE_SET, _VERSION, op.path, [[name, _ref(r)] for name, r in op.entries], op.reset]
    if isinstance(op, AddStrings):
        return [_ADD_STRINGS, _VERSION, op.path, list(op.values)]
    if isinstance(op, RemoveStrings):
        return [_REMOVE_STRINGS, _VERSION, op.path, list(op.values)]
    if isinstance(op, DeleteField):
        return [_DELETE, _VERSION, op.path]
    if isinstance(op, AssignArtifact):
        a = op.artifact
        return [_ASSIGN_ARTIFACT, _VERSION, op.path, [a.hash, a.file_count, a.total_size], _ref(op.manifest)]
    raise TypeError(f"not an operation: {op!r}")


def _from_plain(raw: list[Any]) -> Operation:
    code, version = raw[0], raw[1]
    if version != _VERSION:
        raise ValueError(f"operation version {version} is newer than this Despina understands; upgrade it")
    if code == _ASSIGN_ATOM:
        path, type_, value = raw[2], raw[3], raw[4]
        if type_ == ft.DATETIME:
            value = micros_to_datetime(value)
        return AssignAtom(path, type_, value)
    if code == _APPEND_POINTS:
        path, type_ = raw[2], raw[3]
        steps = np.frombuffer(raw[4], dtype="<f8")
        timestamps = np.frombuffer(raw[5], dtype="<f8")
        if type_ == ft.FLOAT_SERIES:
            values: Any = np.frombuffer(raw[6], dtype="<f8")
        elif type_ == ft.FILE_SERIES:
            values = [_unref(v) for v in raw[6]]
        else:
            values = list(raw[6])
        seqs = None if raw[7] is None else np.frombuffer(raw[7], dtype="<i8")
        return AppendPoints(path, type_, steps, timestamps, values, seqs)
    if code == _ASSIGN_FILE:
        return AssignFile(raw[2], _unref(raw[3]))
    if code == _ADD_FILE_SET:
        return AddFileSetEntries(raw[2], tuple((name, _unref(r)) for name, r in raw[3]), bool(raw[4]))
    if code == _ADD_STRINGS:
        return AddStrings(raw[2], tuple(raw[3]))
    if code == _REMOVE_STRINGS:
        return RemoveStrings(raw[2], tuple(raw[3]))
    if code == _DELETE:
        return DeleteField(raw[2])
    if code == _ASSIGN_ARTIFACT:
        manifest = _unref(raw[4])
        set_hash, count, size = raw[3]
        return AssignArtifact(raw[2], ArtifactRef(set_hash, int(count), int(size), manifest.sha256), manifest)
    raise ValueError(f"unknown operation code {code}")


def encode(op: Operation) -> bytes:
    """Bytes of one operation."""
    return msgpack.packb(_to_plain(op), use_bin_type=True)


def decode(data: bytes | memoryview) -> Operation:
    """The operation `encode` wrote."""
    return _from_plain(msgpack.unpackb(data, raw=False, strict_map_key=False))


def encode_batch(items: list[tuple[int, Operation]]) -> bytes:
    """Bytes of a batch of (sequence number, operation) pairs, e.g. for an HTTP request body."""
    return msgpack.packb([[seq, _to_plain(op)] for seq, op in items], use_bin_type=True)


def decode_batch(data: bytes) -> list[tuple[int, Operation]]:
    """Inverse of `encode_batch`."""
    return [(int(seq), _from_plain(raw)) for seq, raw in msgpack.unpackb(data, raw=False)]
