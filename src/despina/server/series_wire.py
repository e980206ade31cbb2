"""How a downsampled series travels (msgpack with raw little-endian arrays), for one or many series."""

from __future__ import annotations

from typing import Any

import numpy as np

from despina.store.base import SeriesBuckets


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
