"""How a downsampled series travels (msgpack with raw little-endian arrays), for one or many series:
as its buckets, or as the line a chart draws through them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from fastapi import Query

from despina.store.base import SeriesBuckets

SeriesForm = Literal["buckets", "line"]
# The `form` query parameter of the endpoints that send downsampled series.
FormQuery = Annotated[
    SeriesForm,
    Query(description="`buckets`: the arrays of each bucket; `line`: the line a chart draws (x, y, t)."),
]


def series_body(result: SeriesBuckets, form: SeriesForm) -> dict[str, Any]:
    """The body of one downsampled series in the form asked for."""
    return line_body(result) if form == "line" else buckets_body(result)


def buckets_body(result: SeriesBuckets) -> dict[str, Any]:
    """`exact` true with `steps`, `timestamps`, `values`; or per bucket `count` (int64) and the
    first/last/min/max step and value arrays (float64), and their times when they were read."""
    body: dict[str, Any] = {"exact": result.exact}
    if result.exact:
        assert result.points is not None
        body.update(
            steps=np.asarray(result.points.steps, "<f8").tobytes(),
            timestamps=np.asarray(result.points.timestamps, "<f8").tobytes(),
            values=np.asarray(result.points.values, "<f8").tobytes(),
        )
    else:
        assert result.count is not None
        body["count"] = np.asarray(result.count, "<i8").tobytes()
        for name in result.BUCKET_ARRAYS:
            body[name] = np.asarray(getattr(result, name), "<f8").tobytes()
        for name in result.TIME_ARRAYS:  # present when asked for (`timestamps`)
            if getattr(result, name) is not None:
                body[name] = np.asarray(getattr(result, name), "<f8").tobytes()
    return body


def line_body(result: SeriesBuckets) -> dict[str, Any]:
    """A downsampled series as the line a chart draws: `exact` points as in `buckets_body`, or
    `x`, `y` (and `t` with times) through each bucket's smallest and largest point in step order,
    with `total`, the points the range holds.

    A bucket is a pixel column or two wide, so its min-to-max stroke is its whole picture: its
    first and last points lie between them. They are kept only when not a number, so a gap stays a
    gap. One point that is several of these at once is sent once. This is a third of the bytes of
    the bucket arrays, for the same drawing."""
    if result.exact:
        return buckets_body(result)
    assert result.count is not None and result.min_step is not None and result.max_step is not None
    assert result.first_step is not None and result.last_step is not None
    assert result.min_value is not None and result.max_value is not None
    assert result.first_value is not None and result.last_value is not None
    low_first = result.min_step <= result.max_step

    def in_drawing_order(part: str) -> npt.NDArray[np.float64]:
        """Per bucket, `part` (step, value or time) of its first point, its earlier extreme, its
        later extreme and its last point: a bucket per row."""
        first, low, high, last = (
            getattr(result, f"{corner}_{part}") for corner in ("first", "min", "max", "last")
        )
        return np.column_stack((first, np.where(low_first, low, high), np.where(low_first, high, low), last))

    steps, values = in_drawing_order("step"), in_drawing_order("value")
    keep = np.column_stack(
        (
            ~np.isfinite(result.first_value),
            np.ones((len(low_first), 2), dtype=bool),
            ~np.isfinite(result.last_value),
        )
    )
    x, y = steps[keep], values[keep]
    # A point at the step of the one before it is that point again (a bucket of one point is its
    # own first, min, max and last).
    fresh = np.ones(len(x), dtype=bool)
    fresh[1:] = x[1:] != x[:-1]
    body: dict[str, Any] = {
        "exact": False,
        "total": int(np.sum(result.count)),
        "x": np.ascontiguousarray(x[fresh], "<f8").tobytes(),
        "y": np.ascontiguousarray(y[fresh], "<f8").tobytes(),
    }
    if result.min_time is not None:  # asked for: all four corners carry times
        body["t"] = np.ascontiguousarray(in_drawing_order("time")[keep][fresh], "<f8").tobytes()
    return body
