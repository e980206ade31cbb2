"""Compact encoding of a chunk of series points (the bulk of stored data).

A float chunk stores values as raw float64 (NaN and infinities exactly), timestamps as int64
microsecond deltas compressed with zlib, and steps either as (first, stride) when evenly spaced, the
usual case, or as compressed float64. About 9 bytes per point. String and file chunks are msgpack,
compressed.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, NamedTuple

import msgpack
import numpy as np
import numpy.typing as npt

from despina.client import field_types as ft

_FLOAT_FORMAT = 1
_PACKED_FORMAT = 2
_HEAD = struct.Struct("<BI")  # format, count
_EVEN_STEPS = struct.Struct("<Bdd")  # 0, first step, stride
_LEN = struct.Struct("<I")

FloatArray = npt.NDArray[np.float64]


class EvenStride(NamedTuple):
    """A chunk's steps as stored when evenly spaced: `first + stride * i` for i below `size`."""

    first: float
    stride: float
    size: int

    def steps(self) -> FloatArray:
        """Every step, exactly as a chunk decodes them."""
        return self.first + self.stride * np.arange(self.size, dtype=np.float64)


def _encode_steps(steps: FloatArray) -> bytes:
    if len(steps) >= 1:
        stride = float(steps[1] - steps[0]) if len(steps) > 1 else 1.0
        if np.array_equal(steps, steps[0] + stride * np.arange(len(steps), dtype=np.float64)):
            return _EVEN_STEPS.pack(0, float(steps[0]), stride)
    packed = zlib.compress(np.ascontiguousarray(steps, dtype="<f8").tobytes(), 1)
    return bytes((1,)) + _LEN.pack(len(packed)) + packed


def _decode_steps(data: bytes, offset: int, count: int) -> tuple[FloatArray, int]:
    if data[offset] == 0:
        _, first, stride = _EVEN_STEPS.unpack_from(data, offset)
        return EvenStride(first, stride, count).steps(), offset + _EVEN_STEPS.size
    (size,) = _LEN.unpack_from(data, offset + 1)
    start = offset + 1 + _LEN.size
    raw = zlib.decompress(data[start : start + size])
    return np.frombuffer(raw, dtype="<f8").astype(np.float64), start + size


def _encode_timestamps(timestamps: FloatArray) -> bytes:
    micros = np.round(np.asarray(timestamps, dtype=np.float64) * 1e6).astype("<i8")
    deltas = np.diff(micros, prepend=np.int64(0)).astype("<i8")
    packed = zlib.compress(deltas.tobytes(), 1)
    return _LEN.pack(len(packed)) + packed


def _decode_timestamps(data: bytes, offset: int) -> tuple[FloatArray, int]:
    (size,) = _LEN.unpack_from(data, offset)
    start = offset + _LEN.size
    deltas = np.frombuffer(zlib.decompress(data[start : start + size]), dtype="<i8")
    return np.cumsum(deltas).astype(np.float64) / 1e6, start + size


def encode_chunk(type_: str, steps: FloatArray, timestamps: FloatArray, values: Any) -> bytes:
    """Bytes for a chunk of points of a series of `type_`."""
    count = len(steps)
    if type_ == ft.FLOAT_SERIES:
        return b"".join(
            (
                _HEAD.pack(_FLOAT_FORMAT, count),
                _encode_steps(steps),
                _encode_timestamps(timestamps),
                np.ascontiguousarray(values, dtype="<f8").tobytes(),
            )
        )
    body = msgpack.packb(
        [
            np.ascontiguousarray(steps, dtype="<f8").tobytes(),
            np.ascontiguousarray(timestamps, dtype="<f8").tobytes(),
            list(values),
        ],
        use_bin_type=True,
    )
    return _HEAD.pack(_PACKED_FORMAT, count) + zlib.compress(body, 1)


def decode_chunk(data: bytes) -> tuple[FloatArray, FloatArray, Any]:
    """(steps, timestamps, values) of a chunk; values are a float64 array or a list."""
    fmt, count = _HEAD.unpack_from(data, 0)
    if fmt == _FLOAT_FORMAT:
        steps, offset = _decode_steps(data, _HEAD.size, count)
        timestamps, offset = _decode_timestamps(data, offset)
        values = np.frombuffer(data, dtype="<f8", count=count, offset=offset).astype(np.float64)
        return steps, timestamps, values
    if fmt == _PACKED_FORMAT:
        raw_steps, raw_ts, values = msgpack.unpackb(zlib.decompress(data[_HEAD.size :]), raw=False)
        steps = np.frombuffer(raw_steps, dtype="<f8").astype(np.float64)
        timestamps = np.frombuffer(raw_ts, dtype="<f8").astype(np.float64)
        return steps, timestamps, values
    raise ValueError(f"unknown series chunk format {fmt}")


def decode_chunk_for_buckets(
    data: bytes, timestamps: bool
) -> tuple[FloatArray | EvenStride, FloatArray, Any]:
    """(steps, timestamps, values) of a chunk for downsampling: evenly spaced steps as their
    EvenStride, not one float per point; timestamps only when asked for (else empty). The values are
    a read-only view of `data`: downsampling joins chunks into a new array anyway, and a copy here
    cost a pass over every point of a compare page."""
    fmt, count = _HEAD.unpack_from(data, 0)
    if fmt != _FLOAT_FORMAT:
        all_steps, times, values = decode_chunk(data)
        return all_steps, times if timestamps else np.empty(0), values
    offset = _HEAD.size
    steps: FloatArray | EvenStride
    if data[offset] == 0:
        _, first, stride = _EVEN_STEPS.unpack_from(data, offset)
        steps, offset = EvenStride(first, stride, count), offset + _EVEN_STEPS.size
    else:
        steps, offset = _decode_steps(data, offset, count)
    if timestamps:
        times, offset = _decode_timestamps(data, offset)
    else:
        (size,) = _LEN.unpack_from(data, offset)
        times, offset = np.empty(0), offset + _LEN.size + size
    return steps, times, np.frombuffer(data, dtype="<f8", count=count, offset=offset)
