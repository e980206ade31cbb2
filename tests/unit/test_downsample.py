"""Downsampling keeps every bucket's extremes, first and last points and counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from despina.store.base import SeriesData
from despina.store.downsample import bucketize


def series(values: np.ndarray, steps: np.ndarray | None = None) -> SeriesData:
    steps = np.arange(len(values), dtype=np.float64) if steps is None else steps
    return SeriesData(steps, steps + 1e9, values)


@pytest.mark.parametrize("seed", range(5))
def test_every_bucket_keeps_its_extremes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    steps = np.cumsum(rng.integers(1, 5, size=5000)).astype(np.float64)  # uneven steps
    values = rng.normal(size=5000)
    values[rng.integers(0, 5000, size=50)] = np.nan
    values[1234] = 1e6  # a spike and a dip that averaging would hide
    values[4321] = -1e6
    result = bucketize(series(values, steps), 100)
    assert not result.exact
    assert result.count is not None and result.count.sum() == 5000
    width = (steps[-1] - steps[0]) / 100
    bucket_of = np.minimum(((steps - steps[0]) / width).astype(int), 99)
    non_empty = np.unique(bucket_of)
    assert len(result.count) == len(non_empty)
    for i, bucket in enumerate(non_empty):
        inside = bucket_of == bucket
        points, finite = values[inside], values[inside][~np.isnan(values[inside])]
        assert result.count[i] == inside.sum()
        assert result.first_step[i] == steps[inside][0] and result.last_step[i] == steps[inside][-1]
        assert np.array_equal(result.first_value[i : i + 1], points[:1], equal_nan=True)
        assert result.min_value[i] == finite.min() and result.max_value[i] == finite.max()
        # The extreme points are real points of the bucket.
        assert values[steps == result.min_step[i]][0] == finite.min()
        assert values[steps == result.max_step[i]][0] == finite.max()
    assert 1e6 in result.max_value and -1e6 in result.min_value


def test_fewer_points_than_buckets_come_back_exactly() -> None:
    data = series(np.array([1.0, math.nan, 3.0]))
    result = bucketize(data, 10)
    assert result.exact and result.points is data


def test_a_bucket_of_only_nan_shows_nan_and_ranges_set_the_buckets() -> None:
    values = np.array([1.0, 2.0, np.nan, np.nan, 5.0, 6.0])
    result = bucketize(series(values), 3, low=0.0, high=6.0)
    assert list(result.count) == [2, 2, 2]
    assert math.isnan(result.min_value[1]) and math.isnan(result.max_value[1])
    assert list(result.min_value[[0, 2]]) == [1.0, 5.0]
    with pytest.raises(ValueError, match="at least 1"):
        bucketize(series(values), 0)


def reference_buckets(steps: np.ndarray, values: np.ndarray, buckets: int) -> list[tuple[float, ...]]:
    """Per non-empty bucket, point by point: count, first, last, first smallest and first largest."""
    start, width = steps[0], (steps[-1] - steps[0]) / buckets
    rows: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        number = min(int((step - start) / width), buckets - 1) if width > 0 else 0
        rows.setdefault(number, []).append(i)
    out = []
    for members in rows.values():
        finite = [i for i in members if not math.isnan(values[i])]
        low = min(finite, key=lambda i: (values[i], i)) if finite else members[0]
        high = min(finite, key=lambda i: (-values[i], i)) if finite else members[0]
        out.append((len(members), steps[members[0]], steps[members[-1]], steps[low], steps[high]))
    return out


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.sampled_from([0.0, 0.1, 1.0, 1.0, 1.0, 3.0, 250.0]), min_size=2, max_size=400),
    raw=st.lists(
        st.sampled_from([0.0, 1.0, -1.0, 2.5, math.nan, math.inf, -math.inf]), min_size=400, max_size=400
    ),
    buckets=st.integers(1, 60),
    origin=st.sampled_from([0.0, -7.3, 1e6 + 0.1]),
)
def test_buckets_agree_with_numbering_every_point(
    gaps: list[float], raw: list[float], buckets: int, origin: float
) -> None:
    """Uneven steps, repeated steps, crowded and empty buckets, NaN and infinities: each bucket is
    what numbering the points one by one gives (the fast edge search and row-wise extremes, and the
    ragged fallback for crowded buckets, must never disagree with it)."""
    steps = origin + np.cumsum(np.array(gaps))
    values = np.array(raw[: len(steps)])
    result = bucketize(series(values, steps), buckets)
    if len(steps) <= buckets:
        assert result.exact
        return
    got = list(
        zip(result.count, result.first_step, result.last_step, result.min_step, result.max_step, strict=True)
    )
    assert got == reference_buckets(steps, values, buckets)


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(2, 400),
    raw=st.lists(
        st.sampled_from([0.0, 1.0, -1.0, 2.5, math.nan, math.inf, -math.inf]), min_size=400, max_size=400
    ),
    buckets=st.integers(1, 60),
    stride=st.sampled_from([1.0, 0.5, 3.0]),
)
def test_evenly_spaced_steps_agree_with_numbering_every_point(
    count: int, raw: list[float], buckets: int, stride: float
) -> None:
    """Evenly spaced steps, the usual series: buckets of equal length (all but the last), read as
    rows of the values themselves, still agree with numbering the points one by one."""
    steps = stride * np.arange(count, dtype=np.float64)
    values = np.array(raw[:count])
    result = bucketize(series(values, steps), buckets)
    if count <= buckets:
        assert result.exact
        return
    got = list(
        zip(result.count, result.first_step, result.last_step, result.min_step, result.max_step, strict=True)
    )
    assert got == reference_buckets(steps, values, buckets)


@pytest.mark.parametrize("repeats", [1, 10])
def test_a_point_on_a_rounded_bucket_edge_goes_where_its_bucket_number_says(repeats: int) -> None:
    """0.1 + 6 x (1/3 / 13) rounds to 0.25384615384615383, which the bucket number puts in bucket 5
    but a search for the edge would start bucket 6 with; repeated, the edge cannot just step over it."""
    on_edge = 0.25384615384615383
    steps = np.sort(np.concatenate([np.linspace(0.1, 0.43333333333333335, 60), np.full(repeats, on_edge)]))
    values = np.arange(len(steps), dtype=np.float64)[::-1].copy()
    result = bucketize(series(values, steps), 13)
    got = list(
        zip(result.count, result.first_step, result.last_step, result.min_step, result.max_step, strict=True)
    )
    assert got == reference_buckets(steps, values, 13)


def test_one_crowded_bucket_among_sparse_ones_keeps_every_extreme() -> None:
    """3,000 points in the first of 100 buckets and one point in each other: too ragged for the
    matrix of buckets, so the extremes come from a reduction over the points themselves."""
    rng = np.random.default_rng(7)
    steps = np.concatenate([np.linspace(0.0, 0.5, 3000), np.arange(1.0, 100.0)])
    values = rng.choice([0.0, 1.0, -1.0, 2.5, math.nan, math.inf, -math.inf], size=len(steps))
    result = bucketize(series(values, steps), 100)
    got = list(
        zip(result.count, result.first_step, result.last_step, result.min_step, result.max_step, strict=True)
    )
    assert got == reference_buckets(steps, values, 100)
