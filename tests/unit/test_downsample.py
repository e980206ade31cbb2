"""Downsampling keeps every bucket's extremes, first and last points and counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
