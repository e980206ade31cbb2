"""Downsampling a float series for a chart: equal step intervals, and per interval the first, last,
smallest and largest point and the count (min/max per bucket, so a spike or a dip is never lost).

Everything is vectorised with numpy over the points in step order: a binary search per bucket edge
for where each bucket starts, then the buckets as rows of a matrix for the extremes, so a
100,000-point line costs well under a millisecond.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from despina.store.base import SeriesBuckets, SeriesData

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Passes that move bucket edges a point at a time to agree with `_bucket_of` (rounding moves them by
# one; only many equal steps at an edge need more, and those buckets are numbered point by point).
_EDGE_FIXES = 4


class Steps(Protocol):
    """Steps in increasing order, read by position: an array of them (`ArraySteps`), or a run of
    evenly spaced chunks (`despina.store.even_steps.EvenSteps`) that never builds one."""

    def __len__(self) -> int: ...

    def at(self, positions: IntArray) -> FloatArray:
        """The steps at `positions`."""
        ...

    def search(self, targets: FloatArray) -> IntArray:
        """Per target, the first position whose step is at least it."""
        ...

    def array(self) -> FloatArray:
        """Every step."""
        ...


class ArraySteps:
    """Steps held as an array."""

    def __init__(self, steps: FloatArray) -> None:
        self._steps = steps

    def __len__(self) -> int:
        return len(self._steps)

    def at(self, positions: IntArray) -> FloatArray:
        return self._steps[positions]

    def search(self, targets: FloatArray) -> IntArray:
        return np.searchsorted(self._steps, targets, side="left").astype(np.int64)

    def array(self) -> FloatArray:
        return self._steps


def bucketize(
    data: SeriesData, buckets: int, low: float | None = None, high: float | None = None
) -> SeriesBuckets:
    """`data` (float values, steps increasing, already limited to [low, high]) in `buckets` intervals
    of equal width over [low, high] (default: the first and last step). Exact when there are no more
    points than buckets. Buckets carry times when `data` has a timestamp per point (an empty
    timestamps array: none)."""
    if buckets >= 1 and len(data.steps) <= buckets:
        return SeriesBuckets(exact=True, points=data)
    steps = np.asarray(data.steps, dtype=np.float64)
    return bucketize_steps(ArraySteps(steps), data.values, data.timestamps, buckets, low, high)


def bucketize_steps(
    steps: Steps,
    values: FloatArray,
    timestamps: FloatArray,
    buckets: int,
    low: float | None = None,
    high: float | None = None,
) -> SeriesBuckets:
    """As `bucketize`, with the steps read through `steps` (which may never hold them all)."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    values = np.asarray(values, dtype=np.float64)
    count = len(steps)
    if count <= buckets:
        return SeriesBuckets(exact=True, points=SeriesData(steps.array(), timestamps, values))
    ends_of_line = steps.at(np.array([0, count - 1], dtype=np.int64))
    start = float(ends_of_line[0]) if low is None else float(low)
    stop = float(ends_of_line[1]) if high is None else float(high)
    width = (stop - start) / buckets
    starts = _bucket_starts(steps, start, width, buckets)
    ends = np.append(starts[1:], count)
    min_at, max_at = _extreme_positions(values, starts, ends)
    reported = steps.at(np.concatenate((starts, ends - 1, min_at, max_at)))
    first_step, last_step, min_step, max_step = np.split(reported, 4)
    result = SeriesBuckets(
        exact=False,
        count=(ends - starts).astype(np.int64),
        first_step=first_step,
        first_value=values[starts],
        last_step=last_step,
        last_value=values[ends - 1],
        min_step=min_step,
        min_value=values[min_at],
        max_step=max_step,
        max_value=values[max_at],
    )
    if len(timestamps) == count:  # asked for: the reader decoded them
        stamps = np.asarray(timestamps, dtype=np.float64)
        result.first_time, result.last_time = stamps[starts], stamps[ends - 1]
        result.min_time, result.max_time = stamps[min_at], stamps[max_at]
    return result


def _bucket_of(steps: FloatArray, start: float, width: float, buckets: int) -> IntArray:
    """The bucket number of each step: the one definition every path below agrees with."""
    return np.minimum(((steps - start) / width).astype(np.int64), buckets - 1)


def _bucket_starts(steps: Steps, start: float, width: float, buckets: int) -> IntArray:
    """Where each non-empty bucket's points start, in step order.

    A binary search per bucket edge instead of a bucket number per point: a chart's thousand buckets
    over a million points cost a thousand searches. Rounding can put a point at an edge on the other
    side of it than `_bucket_of` does, so each edge is then moved to agree with `_bucket_of`."""
    count = len(steps)
    if not width > 0:  # every point at one step
        return np.zeros(1, dtype=np.int64)
    numbers = np.arange(1, buckets, dtype=np.int64)
    edges = steps.search((start + numbers * width).astype(np.float64))
    for _ in range(_EDGE_FIXES):
        late = edges < count
        late[late] = _bucket_of(steps.at(edges[late]), start, width, buckets) < numbers[late]
        early = edges > 0
        early[early] = _bucket_of(steps.at(edges[early] - 1), start, width, buckets) >= numbers[early]
        if not (late.any() or early.any()):
            break
        edges += late
        edges -= early
    else:  # many equal steps at an edge: number every point instead
        index = _bucket_of(steps.array(), start, width, buckets)
        return np.flatnonzero(np.diff(index, prepend=np.int64(-1))).astype(np.int64)
    bounds = np.concatenate(([0], edges, [count]))
    return bounds[:-1][bounds[:-1] < bounds[1:]]


def _extreme_positions(values: FloatArray, starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """Per bucket, the position of its first smallest and first largest value (NaN ignored; a bucket
    of only NaN points at its first point)."""
    lengths = ends - starts
    longest = int(lengths.max())
    if len(starts) > 1 and bool((lengths[:-1] == lengths[0]).all()):
        # Evenly spaced steps (the usual series): every bucket but the last holds as many points,
        # and buckets follow one another, so they are rows of a view of `values`, not a copy (a
        # million points: 3 ms less than gathering them).
        width, rows = int(lengths[0]), len(starts) - 1
        head_low, head_high = _row_extremes(values[starts[0] : starts[0] + rows * width].reshape(rows, width))
        tail_low, tail_high = _row_extremes(values[starts[-1] : ends[-1]][None, :])
        return starts + np.append(head_low, tail_low), starts + np.append(head_high, tail_high)
    if len(starts) * longest > 4 * len(values):  # a few crowded buckets: a ragged reduction
        return _extreme_positions_ragged(values, starts, ends)
    # Buckets as rows of one matrix, short rows padded with their own last point (which changes
    # neither the extremes nor where they first occur), so argmin/argmax run along rows.
    grid = np.minimum(starts[:, None] + np.arange(longest), (ends - 1)[:, None])
    low, high = _row_extremes(values[grid])
    return starts + low, starts + high


def _row_extremes(block: FloatArray) -> tuple[IntArray, IntArray]:
    """Per row of `block`, where its first smallest and first largest value are (NaN ignored; the
    row's first point when all are NaN)."""
    nan = np.isnan(block)
    if not nan.any():
        return block.argmin(axis=1), block.argmax(axis=1)
    rows = np.arange(len(block))
    low_block, high_block = np.where(nan, np.inf, block), np.where(nan, -np.inf, block)
    low, high = low_block.argmin(axis=1), high_block.argmax(axis=1)
    # A NaN stood in for by an infinity may come first: where the extreme is that infinity, it is
    # the first point that is not NaN (or the row's first point when all are NaN).
    first_number = (~nan).argmax(axis=1)
    low = np.where(low_block[rows, low] == np.inf, first_number, low)
    high = np.where(high_block[rows, high] == -np.inf, first_number, high)
    return low, high


def _extreme_positions_ragged(
    values: FloatArray, starts: IntArray, ends: IntArray
) -> tuple[IntArray, IntArray]:
    count = ends - starts
    nan = np.isnan(values)
    low_values = np.where(nan, np.inf, values)
    high_values = np.where(nan, -np.inf, values)
    minimum = np.minimum.reduceat(low_values, starts)
    maximum = np.maximum.reduceat(high_values, starts)
    segment = np.repeat(np.arange(len(starts)), count)
    min_at = _first_where(low_values == minimum[segment], segment, starts)
    max_at = _first_where(high_values == maximum[segment], segment, starts)
    # As in the matrix form: an infinite extreme is the first point that is not NaN, or the first
    # point of a bucket of only NaN.
    first_number = _first_where(~nan, segment, starts)
    min_at = np.where(minimum == np.inf, first_number, min_at)
    max_at = np.where(maximum == -np.inf, first_number, max_at)
    return min_at, max_at


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
