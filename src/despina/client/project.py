"""Project: read a project's runs back as a table (`fetch_runs_table(...).to_pandas()`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from despina.backends import Backend, backend_for
from despina.client import field_types as ft
from despina.client.run import resolve_project
from despina.config import read_settings
from despina.exceptions import DespinaConfigError
from despina.store.base import FieldValue

if TYPE_CHECKING:
    import pandas as pd

RUN_STATES = ("running", "finished", "failed", "crashed")


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _cell(field: FieldValue) -> Any:
    """What a field shows as in a table cell."""
    if field.type in ft.SERIES_TYPES:
        last = field.value.last
        return last.name if field.type == ft.FILE_SERIES and last is not None else last
    if field.type == ft.STRING_SET:
        return ",".join(sorted(field.value))
    if field.type == ft.FILE:
        return field.value.name
    if field.type == ft.FILE_SET:
        return ",".join(sorted(field.value))
    return field.value


class RunsTable:
    """Rows of a project's runs; one column per field path."""

    def __init__(
        self, rows: list[dict[str, FieldValue]], sort_by: str, ascending: bool, limit: int | None
    ) -> None:
        self._rows = rows
        self._sort_by = sort_by
        self._ascending = ascending
        self._limit = limit

    def __len__(self) -> int:
        return len(self._rows) if self._limit is None else min(self._limit, len(self._rows))

    def to_rows(self) -> list[dict[str, Any]]:
        rows = [{path: _cell(field) for path, field in row.items()} for row in self._rows]
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
            if type_ == ft.DATETIME:
                frame[column] = pd.to_datetime(frame[column], utc=True)
            elif type_ == ft.INT and not frame[column].isna().any():
                frame[column] = frame[column].astype("int64")
            elif type_ == ft.BOOL and not frame[column].isna().any():
                frame[column] = frame[column].astype(bool)
            elif type_ in (ft.FLOAT, ft.FLOAT_SERIES):
                frame[column] = frame[column].astype("float64")
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
        *,
        owner: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        state: str | Iterable[str] | None = None,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
    ) -> RunsTable:
        """Runs of the project, newest first; `tags` keeps runs having all of them, `owner` and `state`
        any of the given values; `columns` limits the fields (and namespaces) read."""
        states = _as_list(state)
        for item in states or ():
            if item not in RUN_STATES:
                raise ValueError(f"state {item!r} is not one of {', '.join(RUN_STATES)}")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a non-negative int, not {limit!r}")
        wanted = None if columns is None else list(dict.fromkeys([*columns, sort_by]))
        rows = self._backend.runs_table(
            self.name, owner=_as_list(owner), tags=_as_list(tags), state=states, columns=wanted
        )
        return RunsTable(rows, sort_by, ascending, limit)

    def stop(self) -> None:
        """Nothing to release: the store is shared with this process's runs and closed at exit."""

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def init_project(project: str | None = None, *, mode: str | None = None) -> Project:
    """Open a project (default DESPINA_PROJECT) to read its runs."""
    return Project(project, mode=mode)
