"""Stored series chunks decode to exactly the points that were encoded, compactly."""

from __future__ import annotations

import math
import struct
import time

import numpy as np
import pytest

from despina.client import field_types as ft
from despina.store.series_codec import decode_chunk, encode_chunk


def _bits(array: object) -> list[int]:
    return np.asarray(array, dtype="<f8").view("<u8").tolist()


def _round_trip_floats(steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> None:
    data = encode_chunk(ft.FLOAT_SERIES, steps, timestamps, values)
    got_steps, got_ts, got_values = decode_chunk(data)
    for got in (got_steps, got_ts, got_values):
        assert isinstance(got, np.ndarray)
        assert got.dtype == np.float64
        assert len(got) == len(steps)
    assert _bits(got_steps) == _bits(steps)
    assert _bits(got_values) == _bits(values)
    np.testing.assert_array_equal(np.round(got_ts * 1e6), np.round(np.asarray(timestamps) * 1e6))


@pytest.mark.parametrize(
    "steps",
    [
        np.arange(1000, dtype=np.float64),
        np.arange(5, 5005, 5, dtype=np.float64),
        np.arange(-10, 10, dtype=np.float64),
        0.5 + 0.25 * np.arange(400),
        np.array([42.0]),
        np.array([3.0, 7.0]),
    ],
    ids=["0..999", "by-5", "negative", "quarter", "one", "two"],
)
def test_evenly_spaced_steps_round_trip(steps: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    ts = 1_700_000_000.0 + np.arange(len(steps)) * 0.01
    _round_trip_floats(steps, ts, rng.standard_normal(len(steps)))


def test_evenly_spaced_steps_are_stored_compactly() -> None:
    n = 1000
    even = encode_chunk(ft.FLOAT_SERIES, np.arange(n, dtype=np.float64), np.zeros(n), np.zeros(n))
    rng = np.random.default_rng(1)
    irregular_steps = np.cumsum(rng.uniform(0.1, 2.0, n))
    irregular = encode_chunk(ft.FLOAT_SERIES, irregular_steps, np.zeros(n), np.zeros(n))
    assert len(even) < len(irregular)
    assert len(even) < 8 * n + 200  # the steps cost (next to) nothing


def test_nearly_even_steps_are_not_rounded_onto_a_grid() -> None:
    steps = np.arange(100, dtype=np.float64)
    steps[57] = 57.000000001
    _round_trip_floats(steps, np.zeros(100), np.ones(100))
    # summing 0.1 drifts away from 0.1 * i in the last bits; every step must still come back exactly
    drifting = np.cumsum(np.full(1000, 0.1))
    assert not np.array_equal(drifting, drifting[0] + 0.1 * np.arange(1000))
    _round_trip_floats(drifting, np.zeros(1000), np.arange(1000.0))


def test_irregular_float_steps_round_trip_exactly() -> None:
    rng = np.random.default_rng(2)
    steps = np.cumsum(rng.uniform(1e-9, 1e6, 2000))
    steps[10] = np.nextafter(steps[10], steps[11])
    ts = 1_700_000_000.0 + np.cumsum(rng.uniform(0, 5, 2000))
    _round_trip_floats(steps, ts, rng.standard_normal(2000))
    _round_trip_floats(np.array([0.0, 1.0, 3.0, 3.5, 1e15]), np.zeros(5), np.zeros(5))


def test_nan_and_infinite_values_are_kept_bit_for_bit() -> None:
    odd_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF4_0000_0000_0001))[0]
    values = np.array([math.nan, -math.nan, odd_nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.0])
    steps = np.arange(len(values), dtype=np.float64)
    _round_trip_floats(steps, np.full(len(values), 1_700_000_000.0), values)
    _, _, got = decode_chunk(encode_chunk(ft.FLOAT_SERIES, steps, np.zeros(len(values)), values))
    np.testing.assert_array_equal(got, values)  # NaN equal to NaN
    assert math.copysign(1.0, got[5]) == -1.0


def test_timestamps_keep_the_microsecond() -> None:
    rng = np.random.default_rng(3)
    micros = 1_700_000_000_000_000 + np.cumsum(rng.integers(0, 2_000_000, 5000))
    ts = micros / 1e6
    steps = np.arange(5000, dtype=np.float64)
    _, got, _ = decode_chunk(encode_chunk(ft.FLOAT_SERIES, steps, ts, np.zeros(5000)))
    assert np.round(got * 1e6).astype(np.int64).tolist() == micros.tolist()
    assert np.max(np.abs(got - ts)) < 1e-6


def test_timestamps_that_go_backwards_and_repeat() -> None:
    ts = np.array([1_700_000_010.000001, 1_700_000_000.5, 1_700_000_000.5, 0.0, 1_700_000_020.999999])
    _round_trip_floats(np.arange(5, dtype=np.float64), ts, np.arange(5, dtype=np.float64))


def test_float_values_given_as_a_list() -> None:
    steps, got_ts, values = decode_chunk(
        encode_chunk(ft.FLOAT_SERIES, [1.0, 2.0], [10.0, 20.0], [0.5, math.inf])
    )
    assert steps.tolist() == [1.0, 2.0]
    assert got_ts.tolist() == [10.0, 20.0]
    assert values.tolist() == [0.5, math.inf]


def test_an_empty_float_chunk() -> None:
    empty = np.array([], dtype=np.float64)
    steps, ts, values = decode_chunk(encode_chunk(ft.FLOAT_SERIES, empty, empty, empty))
    assert (len(steps), len(ts), len(values)) == (0, 0, 0)


def test_string_chunks_round_trip() -> None:
    values = ["epoch 1", "", "ünïcode ✓ 模型", "line\nbreak", "x" * 10_000, "\0"]
    steps = np.array([1.0, 2.0, 4.0, 8.0, 9.5, 100.0])
    ts = 1_700_000_000.123456 + np.arange(6, dtype=np.float64)
    got_steps, got_ts, got_values = decode_chunk(encode_chunk(ft.STRING_SERIES, steps, ts, values))
    assert _bits(got_steps) == _bits(steps)
    assert _bits(got_ts) == _bits(ts)
    assert got_values == values


def test_file_reference_chunks_round_trip() -> None:
    refs = [
        {"sha256": "a" * 64, "size": 12, "name": "frame_0", "extension": "png", "mime_type": "image/png"},
        {"sha256": "b" * 64, "size": 2**40, "name": "frame_1", "extension": "", "mime_type": "text/plain"},
    ]
    steps = np.array([0.0, 1.0])
    ts = np.array([1_700_000_000.5, 1_700_000_001.25])
    got_steps, got_ts, got_values = decode_chunk(encode_chunk(ft.FILE_SERIES, steps, ts, refs))
    assert got_steps.tolist() == [0.0, 1.0]
    assert got_ts.tolist() == ts.tolist()
    assert got_values == refs


def test_string_chunks_are_compressed() -> None:
    values = ["loss is going down nicely"] * 1000
    data = encode_chunk(ft.STRING_SERIES, np.arange(1000.0), np.zeros(1000), values)
    assert len(data) < len("".join(values)) // 4


def test_unknown_chunk_format_raises() -> None:
    data = bytearray(encode_chunk(ft.FLOAT_SERIES, np.array([1.0]), np.array([1.0]), np.array([1.0])))
    data[0] = 99
    with pytest.raises(ValueError, match="99"):
        decode_chunk(bytes(data))


def test_realistic_float_chunk_costs_under_10_bytes_per_point() -> None:
    n = 10_000
    rng = np.random.default_rng(4)
    steps = np.arange(n, dtype=np.float64)
    start = time.time()
    ts = np.array([start + i * 1e-3 for i in range(n)])
    values = np.cumsum(rng.standard_normal(n))  # a noisy metric: values themselves do not compress
    data = encode_chunk(ft.FLOAT_SERIES, steps, ts, values)
    assert len(data) / n < 10
    _round_trip_floats(steps, ts, values)
