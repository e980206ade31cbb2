"""Downsampling a float series for a chart: equal step intervals, and per interval the first, last,
smallest and largest point and the count (min/max per bucket, so a spike or a dip is never lost).

Everything is vectorised with numpy over the points in step order: one pass to find each point's
bucket, `reduceat` for the extremes, and searches for where each bucket starts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from despina.store.base import SeriesBuckets, SeriesData

FloatArray = npt.NDArray[np.float64]


def bucketize(
    data: SeriesData, buckets: int, low: float | None = None, high: float | None = None
) -> SeriesBuckets:
    """`data` (float values, steps increasing, already limited to [low, high]) in `buckets` intervals
    of equal width over [low, high] (default: the first and last step). Exact when there are no more
    points than buckets."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    steps = np.asarray(data.steps, dtype=np.float64)
    values = np.asarray(data.values, dtype=np.float64)
    if len(steps) <= buckets:
        return SeriesBuckets(exact=True, points=data)
    start = float(steps[0]) if low is None else float(low)
    stop = float(steps[-1]) if high is None else float(high)
    width = (stop - start) / buckets
    if width > 0:
        index = np.minimum(((steps - start) / width).astype(np.int64), buckets - 1)
    else:  # every point at one step
        index = np.zeros(len(steps), dtype=np.int64)
    # Steps increase, so bucket numbers do too: each non-empty bucket is one run of equal numbers.
    starts = np.flatnonzero(np.diff(index, prepend=np.int64(-1)))
    ends = np.append(starts[1:], len(steps))
    count = (ends - starts).astype(np.int64)

    nan = np.isnan(values)
    low_values = np.where(nan, np.inf, values)
    high_values = np.where(nan, -np.inf, values)
    minimum = np.minimum.reduceat(low_values, starts)
    maximum = np.maximum.reduceat(high_values, starts)
    segment = np.repeat(np.arange(len(starts)), count)
    min_at = _first_where(low_values == minimum[segment], segment, starts)
    max_at = _first_where(high_values == maximum[segment], segment, starts)
    # A bucket of only NaN: its extremes are its first point, which is NaN.
    only_nan = np.add.reduceat((~nan).astype(np.int64), starts) == 0
    min_at[only_nan] = starts[only_nan]
    max_at[only_nan] = starts[only_nan]
    return SeriesBuckets(
        exact=False,
        count=count,
        first_step=steps[starts],
        first_value=values[starts],
        last_step=steps[ends - 1],
        last_value=values[ends - 1],
        min_step=steps[min_at],
        min_value=values[min_at],
        max_step=steps[max_at],
        max_value=values[max_at],
    )


def _first_where(
    mask: npt.NDArray[np.bool_], segment: npt.NDArray[np.int64], starts: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    """Per segment, the index of its first point where `mask` holds (its start when none does)."""
    positions = np.flatnonzero(mask)
    owners = segment[positions]
    found = np.searchsorted(owners, np.arange(len(starts)))
    result: npt.NDArray[np.intp] = starts.copy()
    hit = found < len(positions)
    hit[hit] &= owners[found[hit]] == np.arange(len(starts))[hit]
    result[hit] = positions[found[hit]]
    return result
