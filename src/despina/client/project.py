"""Project: read a project's runs back as a table (`fetch_runs_table(...).to_pandas()`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from despina.backends import Backend, backend_for
from despina.client import field_types as ft
from despina.client.run import resolve_project
from despina.config import read_settings
from despina.exceptions import DespinaConfigError, ReadOnlyRunError
from despina.query import parse_operand
from despina.query.trash import with_trash
from despina.store.base import FieldValue
from despina.store.runs_columns import RunsColumns, cell

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

RUN_STATES = ("running", "finished", "failed", "crashed")


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class RunsTable:
    """Rows of a project's runs; one column per field path.

    `fetch_runs_table` builds it from typed columns (`of_columns`: the store's columnar read, Arrow
    over HTTP), in the store's order. A table of row dicts (`RunsTable(rows, ...)`) keeps its order
    when `presorted`; otherwise `to_rows` sorts the rows by `sort_by`'s cell value.
    """

    def __init__(
        self,
        rows: list[dict[str, FieldValue]],
        sort_by: str,
        ascending: bool,
        limit: int | None,
        *,
        presorted: bool = False,
    ) -> None:
        self._rows = rows
        self._sort_by = sort_by
        self._ascending = ascending
        self._limit = limit
        self._presorted = presorted
        self._columns: RunsColumns | None = None

    @classmethod
    def of_columns(cls, columns: RunsColumns) -> RunsTable:
        """A table of typed columns, in their order (the store sorted and limited them)."""
        table = cls([], "sys/id", True, None, presorted=True)
        table._columns = columns
        return table

    def select(self, run_ids: Iterable[str] | None = None, limit: int | None = None) -> RunsTable:
        """The runs among `run_ids` (when given), in this table's order, at most `limit` of them."""
        if self._columns is not None:
            return RunsTable.of_columns(self._columns.select(run_ids, limit))
        rows = self._rows
        if run_ids is not None:
            keep = set(run_ids)
            rows = [row for row in rows if "sys/id" in row and row["sys/id"].value in keep]
        return RunsTable(rows, self._sort_by, self._ascending, limit, presorted=self._presorted)

    def __len__(self) -> int:
        if self._columns is not None:
            return self._columns.length
        return len(self._rows) if self._limit is None else min(self._limit, len(self._rows))

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per run: path -> cell (a series as its last value, a set as its sorted members
        joined with ","), for the fields the run has."""
        if self._columns is not None:
            return self._columns.to_rows()
        rows = [{path: cell(field) for path, field in row.items()} for row in self._rows]
        if self._presorted:
            return rows if self._limit is None else rows[: self._limit]
        present = [r for r in rows if r.get(self._sort_by) is not None]
        missing = [r for r in rows if r.get(self._sort_by) is None]
        try:
            present.sort(key=lambda r: r[self._sort_by], reverse=not self._ascending)
        except TypeError:
            present.sort(key=lambda r: str(r[self._sort_by]), reverse=not self._ascending)
        ordered = present + missing  # runs without the field go last, whatever the direction
        return ordered if self._limit is None else ordered[: self._limit]

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame: `sys/id` first, then the other columns sorted by path."""
        import pandas as pd

        if self._columns is not None:
            return self._columns.to_pandas()
        rows = self.to_rows()
        seen: dict[str, set[str]] = {}
        for row in self._rows:
            for path, field in row.items():
                seen.setdefault(path, set()).add(field.type)
        # A column is typed only when every run agrees on the field's type; otherwise it holds objects.
        types = {path: next(iter(kinds)) if len(kinds) == 1 else "mixed" for path, kinds in seen.items()}
        columns = ["sys/id", *sorted(c for c in types if c != "sys/id")]
        frame: pd.DataFrame = pd.DataFrame(rows, columns=columns)
        for column in columns:
            type_ = types.get(column)
            missing = bool(frame[column].isna().any())
            if type_ == ft.DATETIME:
                frame[column] = pd.to_datetime(frame[column], utc=True)
            elif type_ == ft.INT:
                # A run without the field leaves a hole: pandas' nullable Int64 keeps the ints exact.
                frame[column] = frame[column].astype("Int64" if missing else "int64")
            elif type_ == ft.BOOL:
                frame[column] = frame[column].astype("boolean" if missing else bool)
            elif type_ in (ft.FLOAT, ft.FLOAT_SERIES):
                frame[column] = frame[column].astype("float64")
        return frame

    def to_polars(self) -> pl.DataFrame:
        """The same table as a polars DataFrame (needs polars installed), with the same column types."""
        try:
            import polars as pl
        except ImportError as exc:
            raise ImportError("to_polars() needs polars: pip install polars") from exc
        frame: pl.DataFrame = pl.from_pandas(self.to_pandas())
        return frame


class Project:
    """A project of the store, for reading its runs."""

    def __init__(self, project: str | None = None, *, mode: str | None = None) -> None:
        settings = read_settings()
        self.mode = mode or "async"
        if self.mode in ("offline", "debug"):
            raise DespinaConfigError(
                f"a project cannot be opened in {self.mode} mode: there is no store to read"
            )
        self.name = resolve_project(project, settings)
        self._backend: Backend = backend_for(settings)

    def fetch_runs_table(
        self,
        query: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
        owner: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        state: str | Iterable[str] | None = None,
        trashed: bool | None = False,
    ) -> RunsTable:
        """Runs of the project, newest first, filtered, sorted and limited by the store.

        `query` is a runs query (e.g. `'train/acc > 0.9 and sys/tags contains "best"'`, see `despina.query`);
        `tags` keeps runs having all of them, `owner` and `state` any of the given values (all filters
        together). Runs moved to the trash are left out, as in the web UI's table; `trashed=True` reads only
        those, `trashed=None` every run. `sort_by` is any field path (a series sorts by its last value) or an
        aggregate such as `"min(val/loss)"`; runs without it come last. `columns` limits the fields read
        (paths or namespaces; `sys/id` and the sort field always come). Raises QueryError for a query that is
        not valid, naming the position.
        """
        states = _as_list(state)
        for item in states or ():
            if item not in RUN_STATES:
                raise ValueError(f"state {item!r} is not one of {', '.join(RUN_STATES)}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a non-negative int, not {limit!r}")
        sort_path = parse_operand(sort_by).path
        wanted = None if columns is None else list(dict.fromkeys(["sys/id", *columns, sort_path]))
        columns_read = self._backend.query_runs_columns(
            self.name,
            query=with_trash(query, trashed),
            columns=wanted,
            sort_by=sort_by,
            ascending=ascending,
            limit=limit,
            owner=_as_list(owner),
            tags=_as_list(tags),
            state=states,
        )
        return RunsTable.of_columns(columns_read)

    def delete_runs(self, run_ids: str | Iterable[str]) -> int:
        """Delete runs in the trash for good, with their fields, series and points; returns how many.

        Only runs in the trash are deleted (move them there in the web UI first), and a run only with
        every run forked from it; otherwise RunDeletionError names the runs and nothing is deleted.
        On a server this needs the owner role on the project.
        """
        if self.mode == "read-only":
            raise ReadOnlyRunError(f"project {self.name!r} is open read-only: nothing can be deleted")
        wanted = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        if not wanted:
            return 0
        return self._backend.delete_runs(self.name, wanted)

    def fetch_series(
        self,
        paths: str | Sequence[str],
        query: str | None = None,
        *,
        step_range: tuple[float | None, float | None] | None = None,
        runs: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Float (and string) series of many runs in one read, as a long DataFrame with columns run,
        path, step, value, timestamp: every point exactly (NaN kept), runs in creation order.

        `query` picks the runs (as in fetch_runs_table), `runs` limits them to these ids, and
        `step_range` (low, high; either may be None) the steps. A server streams it as Apache Arrow.
        """
        wanted = [paths] if isinstance(paths, str) else list(paths)
        table = self._backend.series_table(
            self.name,
            wanted,
            query=query,
            run_ids=None if runs is None else list(runs),
            step_range=step_range,
        )
        return table.to_pandas()

    def stop(self) -> None:
        """Nothing to release: the store is shared with this process's runs and closed at exit."""

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def init_project(project: str | None = None, *, mode: str | None = None) -> Project:
    """Open a project (default DESPINA_PROJECT) to read its runs."""
    return Project(project, mode=mode)
