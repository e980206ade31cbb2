"""Stored field and series rows made back into values: the columns a read selects, and what each row
becomes (a field's value, a series' summary).

Rows are read as plain tuples, by position: a runs page of every field is some 100,000 rows, and
SQLAlchemy's by-name attribute access on a row took about a microsecond a column, a third of the
page's time.
"""

from __future__ import annotations

import json
import math
from typing import Any

from despina.client import field_types as ft
from despina.client.codec import micros_to_datetime
from despina.client.operations import ArtifactRef, FileRef
from despina.store.base import SeriesSummary
from despina.store.sql import schema as t

# The order field_value's and series_summary's arguments follow.
FIELD_COLUMNS = (
    t.fields.c.run_id,
    t.fields.c.path,
    t.fields.c.type,
    t.fields.c.float_value,
    t.fields.c.int_value,
    t.fields.c.text_value,
    t.fields.c.blob_sha256,
)
SERIES_COLUMNS = (
    t.series.c.run_id,
    t.series.c.path,
    t.series.c.type,
    t.series.c.point_count,
    t.series.c.last_step,
    t.series.c.last_timestamp,
    t.series.c.last_float,
    t.series.c.last_text,
    t.series.c.min_value,
    t.series.c.max_value,
    t.series.c.sum_value,
    t.series.c.finite_count,
)


def float_from(number: float | None, marker: str | None) -> float | None:
    """A stored float: SQLite keeps a NaN as NULL, so the text column marks it "nan"."""
    if number is None:
        return math.nan if marker == "nan" else None
    return float(number)


def field_value(
    type_: str, number: float | None, integer: int | None, text: str | None, blob_sha256: str | None
) -> Any:
    """The value of a field row (FIELD_COLUMNS after run_id and path)."""
    if type_ == ft.FLOAT:
        return float_from(number, text)
    if type_ == ft.INT:
        return int(integer)  # type: ignore[arg-type]
    if type_ == ft.BOOL:
        return bool(integer)
    if type_ == ft.DATETIME:
        return micros_to_datetime(int(integer))  # type: ignore[arg-type]
    if type_ == ft.STRING:
        return text
    if type_ == ft.FILE:
        return FileRef.from_dict(json.loads(text))  # type: ignore[arg-type]
    if type_ == ft.FILE_SET:
        return {name: FileRef.from_dict(ref) for name, ref in json.loads(text or "{}").items()}
    if type_ == ft.STRING_SET:
        return set()
    if type_ == ft.ARTIFACT:
        return ArtifactRef(text, int(integer), int(number), blob_sha256)  # type: ignore[arg-type]
    raise ValueError(f"unknown field type {type_!r}")


def series_summary(
    type_: str,
    count: int,
    last_step: float | None,
    last_timestamp: float | None,
    last_float: float | None,
    last_text: str | None,
    min_value: float | None,
    max_value: float | None,
    sum_value: float | None,
    finite_count: int,
) -> SeriesSummary:
    """The summary of a series row (SERIES_COLUMNS after run_id and path)."""
    if type_ == ft.FLOAT_SERIES:
        last: Any = float_from(last_float, last_text)
    elif type_ == ft.STRING_SERIES:
        last = last_text
    else:
        last = FileRef.from_dict(json.loads(last_text)) if last_text else None
    mean = sum_value / finite_count if finite_count and sum_value is not None else None
    return SeriesSummary(count, last, last_step, last_timestamp, min_value, max_value, mean)
