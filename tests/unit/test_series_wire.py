"""The line a chart draws, sent instead of the bucket arrays (`line_body`): through each bucket's
extremes in step order, keeping a first or last point that is not a number, one vertex per point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from despina.server.series_wire import line_body
from despina.store.base import SeriesBuckets, SeriesData
from despina.store.downsample import bucketize


def buckets(**arrays: list[float]) -> SeriesBuckets:
    n = len(arrays["min_step"])
    return SeriesBuckets(
        exact=False,
        count=np.full(n, 10, dtype=np.int64),
        **{k: np.array(v, dtype=np.float64) for k, v in arrays.items()},
    )


def line(body: dict[str, Any], name: str) -> list[float]:
    return list(np.frombuffer(body[name], "<f8"))


def test_each_bucket_is_drawn_as_its_extremes_in_step_order() -> None:
    body = line_body(
        buckets(
            first_step=[0, 10], first_value=[1, 5],
            min_step=[3, 10], min_value=[-7, 5],
            max_step=[2, 19], max_value=[9, 8],
            last_step=[9, 19], last_value=[2, 8],
        )
    )  # fmt: skip
    # Bucket 0: its max (step 2) comes before its min (step 3); bucket 1: min, then max. First and
    # last points lie between the extremes: no vertex of their own.
    assert line(body, "x") == [2, 3, 10, 19]
    assert line(body, "y") == [9, -7, 5, 8]
    assert body["total"] == 20 and body["exact"] is False and "t" not in body


def test_a_first_or_last_point_that_is_not_a_number_is_kept_so_a_gap_stays_a_gap() -> None:
    body = line_body(
        buckets(
            first_step=[0, 10], first_value=[np.nan, 5],
            min_step=[3, 10], min_value=[-7, 5],
            max_step=[2, 12], max_value=[9, 8],
            last_step=[9, 19], last_value=[2, np.inf],
        )
    )  # fmt: skip
    assert line(body, "x") == [0, 2, 3, 10, 12, 19]
    y = line(body, "y")
    assert np.isnan(y[0]) and y[1:5] == [9, -7, 5, 8] and y[5] == np.inf


def test_a_bucket_of_one_point_is_drawn_once() -> None:
    body = line_body(
        buckets(
            **{
                f"{c}_{p}": [4.0 if p == "step" else 1.0]
                for c in ("first", "min", "max", "last")
                for p in ("step", "value")
            }
        )
    )
    assert line(body, "x") == [4] and line(body, "y") == [1]


def test_points_carry_their_times_when_the_buckets_have_them() -> None:
    data = SeriesData(np.arange(100.0), 1000.0 + np.arange(100.0), np.sin(np.arange(100.0)))
    body = line_body(bucketize(data, 10))
    x, t = line(body, "x"), line(body, "t")
    assert len(x) == len(t) and all(time == 1000.0 + step for step, time in zip(x, t, strict=True))


@pytest.mark.parametrize("seed", range(5))
def test_the_line_holds_every_buckets_extremes_and_nothing_else(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=5000)
    values[rng.choice(5000, 50)] = np.nan
    data = SeriesData(np.arange(5000.0), np.empty(0), values)
    result = bucketize(data, 200)
    body = line_body(result)
    x, y = np.array(line(body, "x")), np.array(line(body, "y"))
    assert np.all(np.diff(x) > 0)  # step order, each point once
    assert body["total"] == 5000
    assert set(result.min_step) <= set(x) and set(result.max_step) <= set(x)
    assert np.array_equal(y, values[x.astype(int)], equal_nan=True)  # every vertex is a real point
    # Only extremes, and first/last points that are not numbers.
    allowed = set(result.min_step) | set(result.max_step)
    assert result.first_step is not None and result.first_value is not None
    assert result.last_step is not None and result.last_value is not None
    allowed |= set(result.first_step[~np.isfinite(result.first_value)])
    allowed |= set(result.last_step[~np.isfinite(result.last_value)])
    assert set(x) <= allowed


def test_exact_points_travel_as_they_are() -> None:
    data = SeriesData(np.arange(5.0), np.arange(5.0), np.arange(5.0) * 2)
    body = line_body(bucketize(data, 10))
    assert body["exact"] is True and np.frombuffer(body["values"], "<f8").tolist() == [0, 2, 4, 6, 8]
