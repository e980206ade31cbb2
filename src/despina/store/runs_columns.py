"""The runs table in columns: one typed array per field path, how it is built and how it travels.

A row-per-run table of `FieldValue`s costs a Python object per cell, which is what made a 10,000-run
table slow to read. Here each column is one array of its field type, with a `present` mask for the
runs that lack the field:

    float, floatSeries             float64 (NaN and infinities are values, not holes)
    int                            int64                 bool   bool
    datetime                       int64 microseconds since the epoch, UTC
    string, stringSeries, ...      object array of str: a string set or file set joined with ","
                                   (sorted), a file by its name, an artifact by its hash
    mixed (runs disagree on type)  object array of the cells themselves

Cells are what a table shows (`cell`): a series shows its last value. `to_pandas` gives the same frame
the row form did (`sys/id` first, then columns by path; `Int64`/`boolean` where a run lacks an int or
bool field, datetimes in UTC). Over HTTP the table is an Arrow IPC stream (`to_arrow`/`from_arrow`):
one column per path, the field type in the column's metadata, a missing cell as null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from despina.client import field_types as ft
from despina.store.base import FieldValue

if TYPE_CHECKING:
    import pandas as pd

MIXED = "mixed"
TYPE_KEY = b"despina.type"
CURSOR_KEY = b"despina.next_cursor"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# The array each field type is kept in (see the module docstring).
_KIND = {
    ft.FLOAT: "float",
    ft.FLOAT_SERIES: "float",
    ft.INT: "int",
    ft.BOOL: "bool",
    ft.DATETIME: "datetime",
}
_DTYPES = {"float": np.float64, "int": np.int64, "bool": np.bool_, "datetime": np.int64, "text": object}


def kind_of(type_: str) -> str:
    """The array kind of a field type: float, int, bool, datetime, or text (object arrays)."""
    return _KIND.get(type_, "text")


def cell(item: FieldValue) -> Any:
    """What a field shows as in a table cell."""
    if item.type in ft.SERIES_TYPES:
        last = item.value.last
        return last.name if item.type == ft.FILE_SERIES and last is not None else last
    if item.type == ft.STRING_SET:
        return ",".join(sorted(item.value))
    if item.type == ft.FILE:
        return item.value.name
    if item.type == ft.FILE_SET:
        return ",".join(sorted(item.value))
    if item.type == ft.ARTIFACT:
        return item.value.hash  # the data version, as `datasets/train = "<hash>"` filters it
    return item.value


def micros_of(value: datetime) -> int:
    """A datetime as whole microseconds since the epoch (exact, unlike a float timestamp)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def seconds_to_micros(seconds: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Float timestamps as microseconds, rounded as `datetime.fromtimestamp` rounds them (half to
    even on the fraction), so a column agrees with the run's `RunInfo` to the microsecond."""
    fraction, whole = np.modf(seconds)
    return whole.astype(np.int64) * 1_000_000 + np.round(fraction * 1e6).astype(np.int64)


def _empty(kind: str, length: int) -> npt.NDArray[Any]:
    if kind == "text":
        return np.full(length, None, dtype=object)
    return np.zeros(length, dtype=_DTYPES[kind])


def _python(kind: str, values: npt.NDArray[Any]) -> list[Any]:
    """Array values as the Python cells a row shows."""
    if kind == "datetime":
        return [micros_to_utc(int(v)) for v in values]
    return list(values.tolist())


def micros_to_utc(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass
class TableColumn:
    """One column: its field type (or MIXED), values in that type's array, and which runs have it."""

    type: str
    values: npt.NDArray[Any]
    present: npt.NDArray[np.bool_]

    @property
    def kind(self) -> str:
        return "mixed" if self.type == MIXED else kind_of(self.type)

    def cells(self) -> list[Any]:
        """Python cells, None where a run lacks the field."""
        values = self.values if self.kind == "mixed" else _python(self.kind, self.values)
        return [v if p else None for v, p in zip(values, self.present.tolist(), strict=True)]

    def take(self, index: npt.NDArray[np.intp]) -> TableColumn:
        return TableColumn(self.type, self.values[index], self.present[index])


@dataclass
class ColumnBuilder:
    """Collects a column in segments (rows, field type, values); a later segment overrides an earlier
    one for the same row, which is how a series or set stored under a path wins over other rows."""

    length: int
    segments: list[tuple[npt.NDArray[np.intp], str, Any]] = field(default_factory=list)

    def add(self, rows: npt.NDArray[np.intp], type_: str, values: Any) -> None:
        if len(rows):
            self.segments.append((np.asarray(rows, dtype=np.intp), type_, values))

    def build(self) -> TableColumn | None:
        """The column (None when no run has the field)."""
        if not self.segments:
            return None
        types = list(dict.fromkeys(type_ for _, type_, _ in self.segments))
        codes = np.full(self.length, -1, dtype=np.int32)
        for rows, type_, _ in self.segments:
            codes[rows] = types.index(type_)
        final = np.unique(codes[codes >= 0])
        present = codes >= 0
        if len(final) == 1:
            type_ = types[int(final[0])]
            kind = kind_of(type_)
            values = _empty(kind, self.length)
            for rows, seg_type, seg_values in self.segments:
                if seg_type == type_:
                    values[rows] = seg_values
            return TableColumn(type_, values, present)
        # Runs disagree on the field's type: the column holds each run's cell as it is.
        mixed = np.full(self.length, None, dtype=object)
        for rows, seg_type, seg_values in self.segments:
            array: npt.NDArray[Any] = np.asarray(seg_values, dtype=_DTYPES[kind_of(seg_type)])
            cells = np.empty(len(rows), dtype=object)
            cells[:] = _python(kind_of(seg_type), array)
            mixed[rows] = cells
        return TableColumn(MIXED, mixed, present)


@dataclass
class RunsColumns:
    """A page of the runs table in columns (`sys/id` always among them), in the query's order, and
    the cursor of the next page (None on the last one)."""

    length: int
    columns: dict[str, TableColumn]
    next_cursor: str | None = None

    # -- building ---------------------------------------------------------------------------------

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, FieldValue]], next_cursor: str | None = None) -> RunsColumns:
        """The columns of row-form runs (what a store without a columnar read answers)."""
        builders: dict[str, ColumnBuilder] = {"sys/id": ColumnBuilder(len(rows))}
        by_type: dict[tuple[str, str], tuple[list[int], list[Any]]] = {}
        for number, row in enumerate(rows):
            for path, item in row.items():
                rows_of, cells = by_type.setdefault((path, item.type), ([], []))
                rows_of.append(number)
                value = cell(item)
                if item.type == ft.DATETIME and value is not None:
                    value = micros_of(value)
                elif kind_of(item.type) == "float" and value is None:
                    value = math.nan
                cells.append(value)
        for (path, type_), (rows_of, cells) in by_type.items():
            builder = builders.setdefault(path, ColumnBuilder(len(rows)))
            values = np.empty(len(cells), dtype=object)
            values[:] = cells
            kind = kind_of(type_)
            builder.add(
                np.asarray(rows_of, dtype=np.intp),
                type_,
                values if kind == "text" else values.astype(_DTYPES[kind]),
            )
        return cls.of(len(rows), builders, next_cursor)

    @classmethod
    def of(
        cls, length: int, builders: dict[str, ColumnBuilder], next_cursor: str | None = None
    ) -> RunsColumns:
        columns: dict[str, TableColumn] = {}
        for path, builder in builders.items():
            column = builder.build()
            if column is not None:
                columns[path] = column
        if "sys/id" not in columns:
            columns["sys/id"] = TableColumn(ft.STRING, np.empty(length, dtype=object), np.zeros(length, bool))
        columns = {"sys/id": columns.pop("sys/id"), **columns}
        return cls(length, columns, next_cursor)

    @classmethod
    def concat(cls, parts: Sequence[RunsColumns]) -> RunsColumns:
        """Pages one after the other (the last page's cursor)."""
        if len(parts) == 1:
            return parts[0]
        total = sum(part.length for part in parts)
        builders: dict[str, ColumnBuilder] = {}
        offset = 0
        for part in parts:
            for path, column in part.columns.items():
                rows = np.flatnonzero(column.present)
                builder = builders.setdefault(path, ColumnBuilder(total))
                if column.type == MIXED:
                    for row in rows:
                        value = column.values[row]
                        type_ = _type_of_cell(value)
                        stored = micros_of(value) if type_ == ft.DATETIME else value
                        builder.add(np.array([row + offset]), type_, [stored])
                else:
                    builder.add(rows + offset, column.type, column.values[rows])
            offset += part.length
        return cls.of(total, builders, parts[-1].next_cursor if parts else None)

    def select(self, run_ids: Iterable[str] | None = None, limit: int | None = None) -> RunsColumns:
        """The runs among `run_ids` (when given), in this order, at most `limit` of them."""
        index = np.arange(self.length)
        if run_ids is not None:
            keep = set(run_ids)
            ids = self.columns["sys/id"].values
            index = np.array([i for i in index.tolist() if ids[i] in keep], dtype=np.intp)
        if limit is not None:
            index = index[:limit]
        columns = {path: column.take(index) for path, column in self.columns.items()}
        return RunsColumns(len(index), columns, self.next_cursor)

    # -- reading ----------------------------------------------------------------------------------

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per run: path -> cell, for the fields the run has."""
        rows: list[dict[str, Any]] = [{} for _ in range(self.length)]
        for path, column in self.columns.items():
            for row, value, present in zip(rows, column.cells(), column.present.tolist(), strict=True):
                if present:
                    row[path] = value
        return rows

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame: `sys/id` first, then the columns by path (see the module docstring)."""
        import pandas as pd

        names = ["sys/id", *sorted(p for p, c in self.columns.items() if p != "sys/id" and c.present.any())]
        data = {name: _series(self.columns[name]) for name in names}
        frame: pd.DataFrame = pd.DataFrame(data, columns=names, index=pd.RangeIndex(self.length))
        return frame

    # -- Arrow ------------------------------------------------------------------------------------

    def to_arrow(self) -> bytes:
        """An Arrow IPC stream of one record batch (see the module docstring)."""
        import pyarrow as pa

        arrays, fields_ = [], []
        for path, column in self.columns.items():
            array = _arrow_array(column)
            arrays.append(array)
            fields_.append(pa.field(path, array.type, metadata={TYPE_KEY: column.type.encode()}))
        metadata = {CURSOR_KEY: (self.next_cursor or "").encode()}
        batch = pa.record_batch(arrays, schema=pa.schema(fields_, metadata=metadata))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return bytes(sink.getvalue().to_pybytes())

    @classmethod
    def from_arrow(cls, body: bytes) -> RunsColumns:
        import pyarrow as pa

        table = pa.ipc.open_stream(pa.py_buffer(body)).read_all().combine_chunks()
        cursor = (table.schema.metadata or {}).get(CURSOR_KEY, b"").decode() or None
        columns: dict[str, TableColumn] = {}
        for schema_field, chunked in zip(table.schema, table.columns, strict=True):
            type_ = (schema_field.metadata or {}).get(TYPE_KEY, b"").decode()
            columns[schema_field.name] = _from_arrow_array(type_, chunked.combine_chunks())
        return cls(table.num_rows, columns, cursor)


def _type_of_cell(value: Any) -> str:
    if isinstance(value, bool):
        return ft.BOOL
    if isinstance(value, int):
        return ft.INT
    if isinstance(value, float):
        return ft.FLOAT
    if isinstance(value, datetime):
        return ft.DATETIME
    return ft.STRING


def _series(column: TableColumn) -> Any:
    """A column as the pandas array `to_pandas` gives it (the row form's dtypes)."""
    import pandas as pd

    kind, present = column.kind, column.present
    full = bool(present.all())
    if kind == "float":
        return np.where(present, column.values, np.nan)
    if kind == "int":
        return column.values if full else pd.arrays.IntegerArray(column.values, ~present)
    if kind == "bool":
        return column.values if full else pd.arrays.BooleanArray(column.values, ~present)
    if kind == "datetime":
        stamps = column.values.astype("datetime64[us]")
        stamps[~present] = np.datetime64("NaT")
        return pd.DatetimeIndex(stamps).tz_localize("UTC")
    values = column.values.copy()
    values[~present] = np.nan
    return values


def _is_none(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    return np.fromiter((v is None for v in values), dtype=bool, count=len(values))


def _arrow_array(column: TableColumn) -> Any:
    import pyarrow as pa

    from despina.store.wire import encode_value

    missing = ~column.present
    kind = column.kind
    if kind == "float":
        return pa.array(column.values, pa.float64(), mask=missing)
    if kind in ("int", "bool"):
        return pa.array(column.values, pa.int64() if kind == "int" else pa.bool_(), mask=missing)
    if kind == "datetime":
        return pa.array(column.values, pa.int64(), mask=missing).cast(pa.timestamp("us", tz="UTC"))
    if kind == "text":
        values = column.values
        return pa.array(values, pa.string(), mask=missing | _is_none(values))
    # Mixed: each cell as its wire JSON, which keeps its type (NaN, datetimes).
    text = [
        json.dumps(encode_value(v)) if p else None for v, p in zip(column.values, column.present, strict=True)
    ]
    return pa.array(text, pa.string())


def _from_arrow_array(type_: str, array: Any) -> TableColumn:
    import pyarrow as pa

    from despina.store.wire import decode_value

    present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if type_ == MIXED:
        cells = [None if v is None else decode_value(json.loads(v)) for v in array.to_pylist()]
        values = np.empty(len(cells), dtype=object)
        values[:] = cells
        return TableColumn(MIXED, values, present)
    kind = kind_of(type_)
    if kind == "text":
        return TableColumn(type_, array.to_numpy(zero_copy_only=False).astype(object), present)
    if kind == "datetime":
        array = array.cast(pa.int64())
    filler = {"float": math.nan, "int": 0, "bool": False, "datetime": 0}[kind]
    values = array.fill_null(filler).to_numpy(zero_copy_only=False).astype(_DTYPES[kind])
    return TableColumn(type_, values, present)


__all__ = ["MIXED", "ColumnBuilder", "RunsColumns", "TableColumn", "cell", "kind_of", "micros_of"]
