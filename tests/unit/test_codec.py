"""Operations survive codec.encode/decode (journal records) and encode_batch/decode_batch (the wire)."""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import msgpack
import numpy as np
import pytest

from despina.client import codec
from despina.client import field_types as ft
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    AssignAtom,
    AssignFile,
    DeleteField,
    FileRef,
    Operation,
    RemoveStrings,
)

REF_A = FileRef("a" * 64, 1234, "weights", "pt", "application/octet-stream")
REF_B = FileRef("0123456789abcdef" * 4, 0, "empty", "", "text/plain")
REF_C = FileRef("f" * 64, 2**40, "frame_3", "png", "image/png")


def _bits(array: Any) -> list[int]:
    return np.asarray(array, dtype="<f8").view("<u8").tolist()


def assert_same_op(decoded: Operation, original: Operation) -> None:
    """Equality that also holds for AppendPoints (arrays, NaN) and reports what differs."""
    assert type(decoded) is type(original)
    if isinstance(original, AppendPoints):
        assert isinstance(decoded, AppendPoints)
        assert decoded.path == original.path
        assert decoded.type == original.type
        assert _bits(decoded.steps) == _bits(original.steps)
        assert _bits(decoded.timestamps) == _bits(original.timestamps)
        if original.type == ft.FLOAT_SERIES:
            assert _bits(decoded.values) == _bits(original.values)
        else:
            assert list(decoded.values) == list(original.values)
        if original.seqs is None:
            assert decoded.seqs is None
        else:
            assert decoded.seqs is not None
            assert np.asarray(decoded.seqs).dtype == np.int64
            assert np.asarray(decoded.seqs).tolist() == np.asarray(original.seqs).tolist()
        return
    assert decoded == original


def _points(type_: str, values: Any, seqs: Any = None) -> AppendPoints:
    n = len(values)
    return AppendPoints(
        f"series/{type_}",
        type_,
        np.arange(n, dtype=np.float64) * 0.5 + 1,
        1_700_000_000.123456 + np.arange(n, dtype=np.float64) * 1e-3,
        values,
        None if seqs is None else np.asarray(seqs, dtype=np.int64),
    )


FLOAT_VALUES = np.array([0.0, -0.0, 1.5, math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308])

ALL_OPERATIONS: list[Operation] = [
    AssignAtom("params/lr", ft.FLOAT, 0.001),
    AssignAtom("params/zero", ft.FLOAT, -0.0),
    AssignAtom("params/inf", ft.FLOAT, math.inf),
    AssignAtom("params/epochs", ft.INT, 10),
    AssignAtom("params/big", ft.INT, 2**63 - 1),
    AssignAtom("params/small", ft.INT, -(2**63)),
    AssignAtom("params/flag", ft.BOOL, True),
    AssignAtom("params/off", ft.BOOL, False),
    AssignAtom("params/name", ft.STRING, "résumé ✓ 模型"),
    AssignAtom("params/empty", ft.STRING, ""),
    AssignAtom("params/when", ft.DATETIME, datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)),
    _points(ft.FLOAT_SERIES, FLOAT_VALUES),
    _points(ft.FLOAT_SERIES, FLOAT_VALUES, seqs=[3, 5, 7, 11, 13, 17, 19, 2**40]),
    _points(ft.STRING_SERIES, ["epoch 1", "", "ünïcode ✓", "x" * 5000]),
    _points(ft.STRING_SERIES, ["a", "b"], seqs=[0, 1]),
    _points(ft.FILE_SERIES, [REF_A, REF_B, REF_C]),
    _points(ft.FLOAT_SERIES, np.array([], dtype=np.float64)),
    AssignFile("model/weights", REF_A),
    AddFileSetEntries("artifacts", (("a.txt", REF_A), ("dir/b.bin", REF_B))),
    AddFileSetEntries("artifacts", (("c.png", REF_C),), reset=True),
    AddFileSetEntries("artifacts", (), reset=True),
    AddStrings("sys/tags", ("best", "baseline", "ünï")),
    AddStrings("sys/tags", ()),
    RemoveStrings("sys/tags", ("baseline",)),
    DeleteField("train"),
    DeleteField("train/loss"),
]


@pytest.mark.parametrize("op", ALL_OPERATIONS, ids=lambda op: f"{type(op).__name__}-{op.path}")
def test_every_operation_round_trips(op: Operation) -> None:
    data = codec.encode(op)
    assert isinstance(data, bytes)
    assert_same_op(codec.decode(data), op)
    assert_same_op(codec.decode(memoryview(data)), op)  # the journal hands over memory map slices


def test_every_operation_type_is_covered() -> None:
    kinds = {type(op) for op in ALL_OPERATIONS}
    assert kinds == {
        AssignAtom,
        AppendPoints,
        AssignFile,
        AddFileSetEntries,
        AddStrings,
        RemoveStrings,
        DeleteField,
    }


def test_atom_value_types_survive() -> None:
    for op in ALL_OPERATIONS:
        if isinstance(op, AssignAtom) and op.type != ft.DATETIME:
            decoded = codec.decode(codec.encode(op))
            assert isinstance(decoded, AssignAtom)
            assert type(decoded.value) is type(op.value), op.path


def test_nan_atom_round_trips() -> None:
    decoded = codec.decode(codec.encode(AssignAtom("p", ft.FLOAT, math.nan)))
    assert isinstance(decoded, AssignAtom)
    assert decoded.type == ft.FLOAT
    assert isinstance(decoded.value, float) and math.isnan(decoded.value)


def test_nan_payload_and_signed_zero_are_kept_bit_for_bit_in_float_series() -> None:
    odd_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
    values = np.array([odd_nan, -math.nan, -0.0, math.inf, -math.inf])
    op = _points(ft.FLOAT_SERIES, values)
    decoded = codec.decode(codec.encode(op))
    assert isinstance(decoded, AppendPoints)
    assert _bits(decoded.values) == _bits(values)
    np.testing.assert_array_equal(decoded.values, values)  # NaN compares equal to NaN here


def test_float_values_given_as_a_list_decode_to_an_array() -> None:
    op = AppendPoints("s", ft.FLOAT_SERIES, np.array([1.0, 2.0]), np.array([10.0, 20.0]), [0.5, math.nan])
    decoded = codec.decode(codec.encode(op))
    assert isinstance(decoded, AppendPoints)
    assert isinstance(decoded.values, np.ndarray)
    np.testing.assert_array_equal(decoded.values, [0.5, math.nan])
    assert len(decoded) == 2


def test_file_series_values_decode_to_file_refs() -> None:
    decoded = codec.decode(codec.encode(_points(ft.FILE_SERIES, [REF_A, REF_C])))
    assert isinstance(decoded, AppendPoints)
    assert decoded.values == [REF_A, REF_C]
    assert all(isinstance(v, FileRef) for v in decoded.values)


def test_aware_datetimes_keep_the_instant_and_microseconds() -> None:
    for value in (
        datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 14, 30, 15, 999999, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 5, 1, 7, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(1960, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc),  # before the epoch
        datetime(1970, 1, 1, tzinfo=timezone.utc),
    ):
        decoded = codec.decode(codec.encode(AssignAtom("t", ft.DATETIME, value)))
        assert isinstance(decoded, AssignAtom)
        assert decoded.type == ft.DATETIME
        assert isinstance(decoded.value, datetime)
        assert decoded.value.tzinfo is not None
        assert decoded.value == value
        assert decoded.value.utcoffset() == timedelta(0)


@pytest.fixture(params=[None, "America/New_York", "Asia/Kolkata"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run under the machine's zone and under zones with whole and half-hour offsets from UTC."""
    if request.param is None or not hasattr(time, "tzset"):
        yield
        return
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.usefixtures("local_zone")
def test_naive_datetimes_are_local_time() -> None:
    naive = datetime(2024, 5, 1, 12, 30, 15, 654321)
    decoded = codec.decode(codec.encode(AssignAtom("t", ft.DATETIME, naive)))
    assert isinstance(decoded, AssignAtom)
    assert isinstance(decoded.value, datetime)
    assert decoded.value.tzinfo is not None
    assert decoded.value == naive.astimezone()  # the same instant
    assert decoded.value.astimezone().replace(tzinfo=None) == naive  # shown in local time: what was logged


def test_datetime_micros_helpers_are_inverse() -> None:
    for micros in (0, 1, -1, 1_714_566_615_123_456, -315_619_200_000_001):
        assert codec.datetime_to_micros(codec.micros_to_datetime(micros)) == micros
    assert codec.datetime_to_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone.utc)) == 1_000_005


def test_batch_round_trip_keeps_order_and_sequence_numbers() -> None:
    items = [(seq * 3 + 1, op) for seq, op in enumerate(ALL_OPERATIONS)]
    items.append((2**62, DeleteField("last")))
    data = codec.encode_batch(items)
    assert isinstance(data, bytes)
    decoded = codec.decode_batch(data)
    assert [seq for seq, _ in decoded] == [seq for seq, _ in items]
    assert all(type(seq) is int for seq, _ in decoded)
    for (_, got), (_, want) in zip(decoded, items, strict=True):
        assert_same_op(got, want)


def test_empty_batch() -> None:
    assert codec.decode_batch(codec.encode_batch([])) == []


def test_unknown_version_raises() -> None:
    raw = msgpack.unpackb(codec.encode(DeleteField("a")), raw=False)
    raw[1] = raw[1] + 1
    with pytest.raises(ValueError, match="version"):
        codec.decode(msgpack.packb(raw, use_bin_type=True))


def test_unknown_version_in_a_batch_raises() -> None:
    newer = msgpack.packb([[0, [1, 99, "p", ft.INT, 1]]], use_bin_type=True)
    with pytest.raises(ValueError, match="version 99"):
        codec.decode_batch(newer)


def test_unknown_operation_code_raises() -> None:
    raw = msgpack.unpackb(codec.encode(DeleteField("a")), raw=False)
    raw[0] = 99
    with pytest.raises(ValueError, match="99"):
        codec.decode(msgpack.packb(raw, use_bin_type=True))


def test_encoding_a_non_operation_raises() -> None:
    with pytest.raises(TypeError, match="not an operation"):
        codec.encode("train/loss")  # type: ignore[arg-type]


def test_float_point_record_layout() -> None:
    # the journal relies on this fixed size: kind, path id, step, timestamp, value
    assert codec.FLOAT_POINT.size == 29
    packed = codec.FLOAT_POINT.pack(codec.KIND_FLOAT_POINT, 7, 2.0, 1.5e9, math.nan)
    kind, path_id, step, ts, value = codec.FLOAT_POINT.unpack(packed)
    assert (kind, path_id, step, ts) == (codec.KIND_FLOAT_POINT, 7, 2.0, 1.5e9)
    assert math.isnan(value)
