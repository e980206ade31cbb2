"""The runs table's cells read by column: a few set-based queries per path, pivoted into arrays.

For the runs of a page (their primary keys, in the page's order) and the columns asked for, each
path's atoms come from `fields`, its series' last values from `series` (the summary row; chunks are
never read), set members from `string_set_items`. Queries go through the raw DBAPI cursor: rows are
plain tuples, turned into one array per (path, type) without an object per cell beyond what the
driver makes. The run set travels as one parameter (SQLite: a JSON array read by `json_each`;
PostgreSQL: an array), whatever its size.

Precedence per run and path matches the row form (`SqlStore._fields_of`): a series wins over a set,
a set over another field row, a field row over the run's own `sys/` columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from despina.client import field_types as ft
from despina.store.runs_columns import ColumnBuilder

# From this many runs, a page that covers most of a key range reads the range (see `_runs`).
RANGE_MIN_RUNS = 2_000

# On SQLite a cell travels as (run, value, type unless the common one): the value is picked from
# its type's column in SQL, and the type is NULL for the common type, so a float cell costs the
# driver two new objects instead of four (the 190,000 field cells of a 10,000-run table: 0.43 s ->
# 0.37 s fetched and transposed). PostgreSQL cannot put a float, an integer and a text in one
# column (CASE needs one type), so it keeps a column per type.
SQLITE_FIELD_COLUMNS = (
    f"run_id, CASE type WHEN '{ft.FLOAT}' THEN float_value"
    f" WHEN '{ft.INT}' THEN int_value WHEN '{ft.BOOL}' THEN int_value WHEN '{ft.DATETIME}' THEN int_value"
    f" ELSE text_value END, NULLIF(type, '{ft.FLOAT}')"
)
SQLITE_SERIES_COLUMNS = (
    f"run_id, CASE type WHEN '{ft.FLOAT_SERIES}' THEN last_float ELSE last_text END,"
    f" NULLIF(type, '{ft.FLOAT_SERIES}')"
)

# The tables cells come from (the order `_namespaces` probes them in), and the most namespace probes
# in one statement (a result column each).
CELL_TABLES = ("fields", "string_set_items", "series")
MAX_PROBES = 1_000

# A fork's inherited series it has not written to yet (no points of its own) are hidden.
SHOWN_SERIES = " AND point_count > 0"


class CellReader:
    """Reads cells of `run_pks` (in table order) into column builders, one table at a time."""

    def __init__(self, conn: Connection, sqlite: bool, run_pks: Sequence[int], columns: Sequence[str] | None):
        self._conn = conn
        self._sqlite = sqlite
        self._pks = np.asarray(run_pks, dtype=np.int64)
        self._order = np.argsort(self._pks, kind="stable")
        self._sorted = self._pks[self._order]
        self.wanted = None if columns is None else list(dict.fromkeys(columns))
        self._mark = "?" if sqlite else "%s"
        self._cursor: Any = conn.connection.cursor()
        self._probed: dict[str, tuple[bool, ...]] | None = None  # see _namespaces

    # -- SQL helpers ------------------------------------------------------------------------------

    def _runs(self) -> tuple[str, list[Any]]:
        """The condition "run_id is one of the page's runs". When they are most of a key range (a
        whole table), the range is scanned and strangers are dropped after (`_rows_of`): an index
        range costs less than a set probe per row."""
        if not len(self._pks):
            return "1 = 0", []
        low, high = int(self._sorted[0]), int(self._sorted[-1])
        # Only for many runs: with `path = ?` beside it, the planner reads every row of the path
        # from its index and keeps those in range, which a page of 100 runs must not pay for.
        if len(self._pks) >= RANGE_MIN_RUNS and 2 * len(self._pks) >= high - low + 1:
            return f"run_id BETWEEN {self._mark} AND {self._mark}", [low, high]
        return self._set("run_id", self._pks.tolist())

    def _set(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column` is one of `values`: one bound parameter for any number of them."""
        if self._sqlite:
            return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(list(values))]
        return f"{column} = ANY(%s)", [list(values)]

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = self._cursor.fetchall()
        return rows

    def _rows_of(self, run_ids: Sequence[int]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Table rows of run primary keys, and which of the keys are the page's runs at all."""
        keys = np.asarray(run_ids, dtype=np.int64)
        positions = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        ours = self._sorted[positions] == keys
        return self._order[positions[ours]].astype(np.intp), ours

    def paths(self, table: str, extra: str = "") -> list[str]:
        """The paths to read from `table`: the columns asked for that are paths, and every path under
        those that are namespaces (a path range; everything when no columns were given)."""
        runs, params = self._runs()
        if self.wanted is None:
            sql = f"SELECT DISTINCT path FROM {table} WHERE {runs}{extra}"
            return sorted(row[0] for row in self._query(sql, params))
        found: list[str] = list(self.wanted)
        if not found:
            return found
        under = self._under()
        for namespace, hit in zip(list(found), self._namespaces()[table], strict=True):
            if hit:
                sql = f"SELECT DISTINCT path FROM {table} WHERE {under} AND {runs}{extra}"
                found.extend(row[0] for row in self._query(sql, [namespace + "/", namespace + "0", *params]))
        return list(dict.fromkeys(found))

    def _under(self) -> str:
        """A path in the range under a namespace: "0" follows "/", so the paths between "c/" and "c0"
        are exactly those under "c/" (compared bytewise)."""
        path = "path" if self._sqlite else 'path COLLATE "C"'
        return f"{path} > {self._mark} AND {path} < {self._mark}"

    def _namespaces(self) -> dict[str, tuple[bool, ...]]:
        """Per table, which of the columns asked for are namespaces there at all: an index probe
        each, for the three tables in one statement (a round trip each cost PostgreSQL 2-3 ms), or a
        few for many columns (SQLite allows at most 2,000 result columns)."""
        if self._probed is None:
            under, wanted = self._under(), self.wanted or []
            probes = [(table, namespace) for table in CELL_TABLES for namespace in wanted]
            hits: list[bool] = []
            for start in range(0, len(probes), MAX_PROBES):
                batch = probes[start : start + MAX_PROBES]
                sql = ", ".join(f"EXISTS (SELECT 1 FROM {table} WHERE {under})" for table, _ in batch)
                bounds = [bound for _, namespace in batch for bound in (namespace + "/", namespace + "0")]
                (row,) = self._query(f"SELECT {sql}", bounds)
                hits.extend(bool(hit) for hit in row)
            count = len(wanted)
            self._probed = {
                table: tuple(hits[number * count : (number + 1) * count])
                for number, table in enumerate(CELL_TABLES)
            }
        return self._probed

    # -- tables -----------------------------------------------------------------------------------

    def _rows_by_path(
        self, columns: str, table: str, paths: list[str], extra: str = ""
    ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """(path, rows of `columns`) for each of `paths` some run of the page has, in that order."""
        runs, params = self._runs()
        if len(self._pks) < RANGE_MIN_RUNS or not self._sqlite:
            # A page: every cell in one statement, a primary-key lookup per run and path. PostgreSQL
            # reads a whole table this way too: one bitmap scan of the table's heap for all paths
            # took 0.3 s for 19 columns of 10,000 runs where a statement per path took 1-1.7 s
            # (each path's rows lie on every heap page).
            in_paths, path_params = self._set("path", paths)
            sql = f"SELECT path, {columns} FROM {table} WHERE {runs} AND {in_paths}{extra}"
            grouped: dict[str, list[tuple[Any, ...]]] = {}
            for row in self._query(sql, [*params, *path_params]):
                grouped.setdefault(row[0], []).append(row[1:])
            yield from ((path, grouped[path]) for path in paths if path in grouped)
            return
        # Most of a table: a query per path (its rows from the path's index), pivoted as it comes.
        sql = f"SELECT {columns} FROM {table} WHERE path = {self._mark} AND {runs}{extra}"
        for path in paths:
            rows = self._query(sql, [path, *params])
            if rows:
                yield path, rows

    def read_fields(self, builders: dict[str, ColumnBuilder], length: int) -> None:
        """Atoms, files, file sets and set markers."""
        if self._sqlite:
            columns, common = SQLITE_FIELD_COLUMNS, ft.FLOAT
        else:
            columns, common = "run_id, type, float_value, int_value, text_value", None
        for path, rows in self._rows_by_path(columns, "fields", self.paths("fields")):
            if common is None:
                run_col, type_col, float_col, int_col, text_col = zip(*rows, strict=True)
            else:  # one value column serves every type
                run_col, float_col, type_col = zip(*rows, strict=True)
                int_col = text_col = float_col
            builder = builders.setdefault(path, ColumnBuilder(length))
            for type_, pick in _by_type(type_col, common):
                table_rows, ours = self._rows_of(_take(run_col, pick))
                values = _atom_values(type_, pick, float_col, int_col, text_col)
                builder.add(table_rows, type_, values if ours.all() else values[ours])

    def read_sets(self, builders: dict[str, ColumnBuilder], length: int) -> None:
        """String set members, joined sorted with "," per run and path."""
        runs, params = self._runs()
        paths = self.paths("string_set_items")
        if not paths:
            return
        in_paths, path_params = self._set("path", paths)
        sql = f"SELECT path, run_id, value FROM string_set_items WHERE {in_paths} AND {runs}"
        members: dict[str, dict[int, list[str]]] = {}
        for path, run_id, value in self._query(sql, [*path_params, *params]):
            members.setdefault(path, {}).setdefault(run_id, []).append(value)
        for path, by_run in members.items():
            builder = builders.setdefault(path, ColumnBuilder(length))
            values = np.empty(len(by_run), dtype=object)
            values[:] = [",".join(sorted(items)) for items in by_run.values()]
            table_rows, ours = self._rows_of(list(by_run))
            builder.add(table_rows, ft.STRING_SET, values[ours])

    def read_series(self, builders: dict[str, ColumnBuilder], length: int) -> None:
        """Series as their last value (from the summary row; a fork's hidden series are skipped)."""
        extra = SHOWN_SERIES
        paths = self.paths("series", extra)
        if self._sqlite:
            columns, common = SQLITE_SERIES_COLUMNS, ft.FLOAT_SERIES
        else:
            columns, common = "run_id, type, last_float, last_text", None
        for path, rows in self._rows_by_path(columns, "series", paths, extra):
            if common is None:
                run_col, type_col, float_col, text_col = zip(*rows, strict=True)
            else:
                run_col, float_col, type_col = zip(*rows, strict=True)
                text_col = float_col
            builder = builders.setdefault(path, ColumnBuilder(length))
            for type_, pick in _by_type(type_col, common):
                table_rows, ours = self._rows_of(_take(run_col, pick))
                values = _last_values(type_, pick, float_col, text_col)
                builder.add(table_rows, type_, values if ours.all() else values[ours])

    def close(self) -> None:
        self._cursor.close()


def _by_type(
    types: tuple[str | None, ...], common: str | None
) -> list[tuple[str, slice | npt.NDArray[np.intp]]]:
    """(type, which rows) for each type among `types` (None: `common`); a slice of all when there
    is one type."""
    distinct = set(types)
    if len(distinct) == 1:
        only = types[0]
        return [(common if only is None else only, slice(None))]  # type: ignore[list-item]
    array = np.asarray(types, dtype=object)
    return [
        (common if type_ is None else type_, np.flatnonzero(array == type_))  # type: ignore[misc]
        for type_ in sorted(distinct, key=str)
    ]


def _take(column: tuple[Any, ...], pick: slice | npt.NDArray[np.intp]) -> Any:
    if isinstance(pick, slice):
        return column
    return [column[i] for i in pick.tolist()]


def _floats(column: Any) -> npt.NDArray[np.float64]:
    # None (SQLite's NaN, stored as NULL beside a "nan" marker) becomes NaN.
    return np.asarray(column, dtype=np.float64)


def _objects(values: Iterable[Any]) -> npt.NDArray[Any]:
    items = list(values)
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _atom_values(
    type_: str, pick: slice | npt.NDArray[np.intp], floats: Any, ints: Any, texts: Any
) -> npt.NDArray[Any]:
    if type_ == ft.FLOAT:
        return _floats(_take(floats, pick))
    if type_ in (ft.INT, ft.DATETIME):
        return np.asarray(_take(ints, pick), dtype=np.int64)
    if type_ == ft.BOOL:
        flags: npt.NDArray[np.bool_] = np.asarray(_take(ints, pick), dtype=np.int64) != 0
        return flags
    text = _take(texts, pick)
    if type_ == ft.FILE:
        return _objects(json.loads(v)["name"] for v in text)
    if type_ == ft.FILE_SET:
        return _objects(",".join(sorted(json.loads(v or "{}"))) for v in text)
    if type_ == ft.STRING_SET:
        return _objects("" for _ in text)  # members come from string_set_items
    return _objects(text)  # strings; an artifact shows its hash


def _last_values(type_: str, pick: slice | npt.NDArray[np.intp], floats: Any, texts: Any) -> npt.NDArray[Any]:
    if type_ == ft.FLOAT_SERIES:
        return _floats(_take(floats, pick))
    text = _take(texts, pick)
    if type_ == ft.FILE_SERIES:
        return _objects(json.loads(v)["name"] if v else None for v in text)
    return _objects(text)


__all__ = ["SHOWN_SERIES", "CellReader"]


def sys_columns(
    rows: Sequence[Any],
    builders: dict[str, ColumnBuilder],
    selected: Any,
    *,
    now: float,
    crash_timeout: float,
    parents: dict[int, str],
) -> None:
    """The `sys/` fields that come from the runs' own rows (as `SqlStore._sys_fields` shows them):
    a `running` run whose heartbeat is older than the crash timeout reads `crashed`."""
    from despina.store.runs_columns import seconds_to_micros

    length = len(rows)
    every = np.arange(length, dtype=np.intp)

    def column(path: str, type_: str, values: Any, present: Any = None) -> None:
        if path != "sys/id" and not selected(path):
            return
        index = every if present is None else np.flatnonzero(present)
        array = values if present is None else values[index]
        builders.setdefault(path, ColumnBuilder(length)).add(index, type_, array)

    # Transposed once (in C): a column of the runs rows per name, not an attribute read per cell.
    names = list(rows[0]._fields) if length else []
    transposed = list(zip(*rows, strict=True)) if length else []

    def raw(name: str) -> Sequence[Any]:
        return transposed[names.index(name)] if length else ()

    def objects(name: str) -> npt.NDArray[Any]:
        return _objects(raw(name))

    def floats(name: str) -> npt.NDArray[np.float64]:
        return _floats(raw(name))

    column("sys/id", ft.STRING, objects("short_id"))
    column("sys/name", ft.STRING, objects("name"))
    column("sys/description", ft.STRING, objects("description"))
    column("sys/owner", ft.STRING, objects("owner"))
    states = objects("state")
    created, pinged = floats("creation_time"), floats("ping_time")
    heartbeat = np.where(np.isnan(pinged), created, pinged)
    states[(states == "running") & (now - heartbeat > crash_timeout)] = "crashed"
    column("sys/state", ft.STRING, states)
    column("sys/failed", ft.BOOL, np.asarray(raw("failed"), dtype=bool))
    column("sys/creation_time", ft.DATETIME, seconds_to_micros(created))
    column("sys/modification_time", ft.DATETIME, seconds_to_micros(floats("modification_time")))
    has_ping = ~np.isnan(pinged)
    column("sys/ping_time", ft.DATETIME, seconds_to_micros(np.where(has_ping, pinged, 0.0)), has_ping)
    custom = objects("custom_run_id")
    column(
        "sys/custom_run_id",
        ft.STRING,
        custom,
        np.fromiter((v is not None for v in custom), dtype=bool, count=length),
    )
    forked = np.asarray([pk in parents for pk in raw("id")], dtype=bool)
    column("sys/forking/parent", ft.STRING, _objects(parents.get(pk) for pk in raw("id")), forked)
    column("sys/forking/step", ft.FLOAT, floats("fork_step"), forked)
    column("sys/tags", ft.STRING_SET, np.full(length, "", dtype=object))  # every run has tags
