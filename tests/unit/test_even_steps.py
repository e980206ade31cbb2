"""Steps of evenly spaced chunks read without building them (EvenSteps): every step, every search
and every bucket is bit for bit what the decoded steps give."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from despina.client import field_types as ft
from despina.store.base import SeriesBuckets, SeriesData
from despina.store.downsample import bucketize, bucketize_steps
from despina.store.even_steps import EvenSteps
from despina.store.series_codec import EvenStride, decode_chunk, decode_chunk_for_buckets, encode_chunk

STRIDES = [1.0, 0.1, 0.5, 3.0, 1 / 3, 1e-7]
ORIGINS = [0.0, -7.3, 1e6 + 0.1, 0.25384615384615383]
POINT_VALUES = [0.0, 1.0, -1.0, 2.5, math.nan, math.inf, -math.inf]
TIMES = ("first_time", "last_time", "min_time", "max_time")


def chunks_of(origin: float, stride: float, sizes: list[int], gaps: list[int]) -> list[EvenStride]:
    """Chunks of `sizes` points, each starting `gap` strides after the previous chunk's last step
    (the gap of a resumed run, or none)."""
    out, first = [], origin
    for size, gap in zip(sizes, gaps, strict=False):
        out.append(EvenStride(first, stride, size))
        first = out[-1].steps()[-1] + stride * (1 + gap)
    return out


chunk_layouts = st.tuples(
    st.sampled_from(ORIGINS),
    st.sampled_from(STRIDES),
    st.lists(st.integers(1, 60), min_size=1, max_size=8),
    st.lists(st.sampled_from([0, 0, 0, 1, 17]), min_size=8, max_size=8),
)


@settings(max_examples=200, deadline=None)
@given(layout=chunk_layouts, fractions=st.lists(st.floats(-0.2, 1.2), min_size=1, max_size=40))
def test_steps_and_searches_are_those_of_the_decoded_steps(
    layout: tuple[float, float, list[int], list[int]], fractions: list[float]
) -> None:
    chunks = chunks_of(*layout)
    assert EvenSteps.usable(chunks)
    steps = EvenSteps(chunks)
    decoded = np.concatenate([chunk.steps() for chunk in chunks])
    assert len(steps) == len(decoded)
    assert np.array_equal(steps.array(), decoded)
    assert np.array_equal(steps.at(np.arange(len(decoded))), decoded)
    assert np.array_equal(steps.at(np.arange(len(decoded))[::-1]), decoded[::-1])
    low, high = decoded[0], decoded[-1]
    # Targets on steps exactly, just either side of them, and between and beyond them.
    targets = np.concatenate(
        [
            decoded,
            np.nextafter(decoded, -np.inf),
            np.nextafter(decoded, np.inf),
            low + (high - low) * np.array(fractions),
        ]
    )
    assert np.array_equal(steps.search(targets), np.searchsorted(decoded, targets, side="left"))


@settings(max_examples=200, deadline=None)
@given(
    layout=chunk_layouts,
    raw=st.lists(st.sampled_from(POINT_VALUES), min_size=480, max_size=480),
    buckets=st.integers(1, 60),
    timed=st.booleans(),
)
def test_buckets_are_those_of_the_decoded_steps(
    layout: tuple[float, float, list[int], list[int]], raw: list[float], buckets: int, timed: bool
) -> None:
    chunks = chunks_of(*layout)
    decoded = np.concatenate([chunk.steps() for chunk in chunks])
    values = np.array(raw[: len(decoded)])
    stamps = decoded + 1e9 if timed else np.empty(0)
    expected = bucketize(SeriesData(decoded, stamps, values), buckets)
    got = bucketize_steps(EvenSteps(chunks), values, stamps, buckets)
    assert got.exact == expected.exact
    if got.exact:
        assert got.points is not None and expected.points is not None
        assert np.array_equal(got.points.steps, expected.points.steps)
        return
    assert np.array_equal(got.count, expected.count)
    names = SeriesBuckets.BUCKET_ARRAYS + (TIMES if timed else ())
    for name in names:
        assert np.array_equal(getattr(got, name), getattr(expected, name), equal_nan=True), name


def test_chunks_that_arithmetic_cannot_search_are_refused() -> None:
    assert not EvenSteps.usable([])
    assert not EvenSteps.usable([EvenStride(0.0, 0.0, 5)])  # one step repeated
    assert not EvenSteps.usable([EvenStride(0.0, 1.0, 5), EvenStride(4.0, 1.0, 5)])  # overlapping
    assert not EvenSteps.usable([EvenStride(0.0, 1.0, 0)])
    assert EvenSteps.usable([EvenStride(0.0, 0.0, 1), EvenStride(1.0, 2.0, 3)])  # one point: no stride


def test_a_chunk_is_decoded_in_the_form_bucketing_reads() -> None:
    even = 2.0 + 0.5 * np.arange(10, dtype=np.float64)
    uneven = np.array([0.0, 1.0, 5.0])
    for steps in (even, uneven):
        stamps, values = steps + 1e9, np.linspace(0, 1, len(steps))
        data = encode_chunk(ft.FLOAT_SERIES, steps, stamps, values)
        form, times, got_values = decode_chunk_for_buckets(data, timestamps=True)
        full_steps, full_times, full_values = decode_chunk(data)
        assert isinstance(form, EvenStride) == (steps is even)
        assert np.array_equal(form.steps() if isinstance(form, EvenStride) else form, full_steps)
        assert np.array_equal(times, full_times) and np.array_equal(got_values, full_values)
        assert len(decode_chunk_for_buckets(data, timestamps=False)[1]) == 0
