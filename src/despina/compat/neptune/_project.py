"""The Neptune 1.x Project: `init_project(...).fetch_runs_table(...).to_pandas()`.

A thin wrapper over `despina.Project`: Neptune's arguments (`tag=`, `id=`, `state="active"`/
`"inactive"`, `trashed=`, `progress_bar=`), Neptune's table (`to_pandas()`, `to_rows()` of entries,
iteration) and `sys/state` shown as "Active"/"Inactive".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from despina.client.project import Project as _CoreProject
from despina.client.project import RunsTable
from despina.compat.neptune import _env
from despina.compat.neptune._run import state_label
from despina.compat.neptune.exceptions import (
    NeptuneMissingProjectNameException,
    NeptuneUnsupportedFunctionalityException,
    NeptuneUserApiInputException,
)
from despina.config import read_settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Project", "Table", "TableEntry", "get_project", "init_project"]

# Neptune's two run states, in Despina's terms (a crashed run is no longer active either).
_STATES = {"active": ("running",), "inactive": ("finished", "failed", "crashed")}
_NATIVE_STATES = ("running", "finished", "failed", "crashed")


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _states(state: str | Iterable[str] | None) -> list[str] | None:
    """Neptune's "active"/"inactive" (any case) as Despina states; Despina's own names pass too."""
    items = _as_list(state)
    if items is None:
        return None
    states: list[str] = []
    for item in items:
        key = str(item).lower()
        if key in _STATES:
            states.extend(_STATES[key])
        elif key in _NATIVE_STATES:
            states.append(key)
        else:
            raise ValueError(
                f"state {item!r} is not 'active' or 'inactive' "
                f"(Despina also takes {', '.join(_NATIVE_STATES)})"
            )
    return list(dict.fromkeys(states))


def _column_order(column: str) -> tuple[int, str]:
    """Neptune's order of table columns: sys/ first, monitoring/ last, the rest by path between."""
    if column == "sys/id":
        return (0, "")
    if column.startswith("sys/"):
        return (1, column)
    if column.startswith("monitoring/"):
        return (3, column)
    return (2, column)


class _Cell:
    """`entry["path"]`: one value of a table row."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def get(self) -> Any:
        return self._value

    def download(self, destination: str | None = None) -> None:
        raise NeptuneUnsupportedFunctionalityException(
            "files are not downloaded from a runs table; open the run (init_run(with_id=..., "
            "mode='read-only')) and call run[path].download()"
        )


class TableEntry:
    """One run of a runs table: `entry["parameters/lr"].get()`."""

    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    def __getitem__(self, path: str) -> _Cell:
        return _Cell(self.get_attribute_value(path))

    def get_attribute_value(self, path: str) -> Any:
        if path not in self._row:
            raise KeyError(f"the table has no column {path!r} for run {self._row.get('sys/id')}")
        return self._row[path]

    def __repr__(self) -> str:
        return f"<TableEntry {self._row.get('sys/id')}>"


class Table:
    """What `fetch_runs_table` returns: `to_pandas()`, `to_rows()`, iteration over entries."""

    def __init__(self, table: RunsTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def _rows(self) -> list[dict[str, Any]]:
        rows = self._table.to_rows()
        for row in rows:
            if "sys/state" in row:
                row["sys/state"] = state_label(row["sys/state"])
        return rows

    def to_rows(self) -> list[TableEntry]:
        return [TableEntry(row) for row in self._rows()]

    def __iter__(self) -> Iterator[TableEntry]:
        return iter(self.to_rows())

    def to_pandas(self) -> pd.DataFrame:
        """One row per run, one column per field (series: their last value); `sys/state` reads
        "Active"/"Inactive"; columns in Neptune's order (sys/ first, monitoring/ last)."""
        frame = self._table.to_pandas()
        if "sys/state" in frame.columns:
            frame["sys/state"] = frame["sys/state"].map(state_label)
        columns: list[str] = sorted(map(str, frame.columns), key=_column_order)
        ordered: pd.DataFrame = frame[columns]
        return ordered


class Project:
    """`neptune.init_project(...)`: a project, to read its runs table.

    `api_token`, `flush_period`, `proxies` and the `async_*` arguments are checked and ignored (the
    embedded store has no accounts, and reading has nothing to flush). Project-level fields
    (`project["key"] = ...`) are not supported by Despina.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        api_token: str | None = None,
        mode: str | None = None,
        flush_period: float = 5,
        proxies: dict[str, str] | None = None,
        async_lag_callback: Any = None,
        async_lag_threshold: float = 1800.0,
        async_no_progress_callback: Any = None,
        async_no_progress_threshold: float = 300.0,
        **kwargs: Any,
    ) -> None:
        legacy_name = kwargs.pop("name", None)  # neptune 0.x called it name=; 1.x still took it
        _env.reject_extra_kwargs("init_project", kwargs)
        for label, value in (
            ("project", project),
            ("name", legacy_name),
            ("api_token", api_token),
            ("mode", mode),
        ):
            _env.verify_type(label, value, (str, type(None)))
        _env.verify_type("proxies", proxies, (dict, type(None)))
        for label, number in (
            ("flush_period", flush_period),
            ("async_lag_threshold", async_lag_threshold),
            ("async_no_progress_threshold", async_no_progress_threshold),
        ):
            _env.verify_number(label, number)
        name = project or legacy_name or _env.from_env(_env.PROJECT_VARIABLES)
        if name is None:
            raise NeptuneMissingProjectNameException(
                "no project given: pass project='workspace/name', or set NEPTUNE_PROJECT (or DESPINA_PROJECT)"
            )
        if mode == "offline":
            raise NeptuneUserApiInputException("Project can't be initialized in OFFLINE mode")
        # Reading a project needs the store: debug mode (no store for runs) still reads it here.
        self._project = _CoreProject(name, mode=None if mode in (None, "debug") else mode)
        self.mode = mode or "async"

    @property
    def name(self) -> str:
        return self._project.name

    def fetch_runs_table(
        self,
        *,
        query: str | None = None,
        id: str | Iterable[str] | None = None,  # Neptune's keyword name
        state: str | Iterable[str] | None = None,
        owner: str | Iterable[str] | None = None,
        tag: str | Iterable[str] | None = None,
        columns: Sequence[str] | None = None,
        trashed: bool | None = False,
        limit: int | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        progress_bar: object = None,
        tags: str | Iterable[str] | None = None,
    ) -> Table:
        """The project's runs, newest first (Neptune's arguments).

        `id`, `state` ("active" = running, "inactive" = finished, failed or crashed) and `owner` keep runs
        matching any value given; `tag` (or `tags`) keeps runs having all of them; `columns` limits the fields
        read (`sys/id` and `sort_by` always come); `trashed` as in Neptune: False leaves out runs in the
        trash, True reads only those, None every run. An NQL `query` (`` `train/acc`:float > 0.9 AND ... ``)
        is compiled to SQL by Despina's query language, which reads Neptune's spellings.
        """
        if query is not None and any(item is not None for item in (id, state, owner, tag, tags)):
            raise NeptuneUserApiInputException(
                "query cannot be combined with id, state, owner or tag; use either"
            )
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
            raise ValueError(f"limit must be a positive int, not {limit!r}")
        wanted_tags = [*(_as_list(tag) or []), *(_as_list(tags) or [])]
        wanted_columns = None if columns is None else list(dict.fromkeys(["sys/id", *columns]))
        table = self._project.fetch_runs_table(
            query=query,
            owner=owner,
            tags=wanted_tags or None,
            state=_states(state),
            columns=wanted_columns,
            sort_by=sort_by,
            ascending=ascending,
            trashed=trashed,
        )
        return Table(table.select(_as_list(id), limit))

    def get_url(self) -> str:
        return read_settings().web_url(f"/p/{quote(self.name)}")

    def wait(self, *, disk_only: bool = False) -> None:
        """Nothing to wait for: a project object only reads."""

    def sync(self, *, wait: bool = True) -> None:
        """Nothing to sync: a project object only reads."""

    def stop(self, *, seconds: float | None = None) -> None:
        self._project.stop()

    def __getitem__(self, path: str) -> Any:
        raise NeptuneUnsupportedFunctionalityException(
            f"project-level fields (project[{path!r}]) are not supported by Despina; log them to a run"
        )

    def __setitem__(self, path: str, value: Any) -> None:
        self.__getitem__(path)

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Project {self.name!r}>"


# `neptune.init_project(...)` is the Project constructor, as in neptune 1.x (`init_project = Project`).
init_project = Project


def get_project(
    name: str | None = None, api_token: str | None = None, proxies: dict[str, str] | None = None
) -> Project:
    """The older `neptune.get_project(name=...)`: a project opened read-only."""
    return Project(name, api_token=api_token, proxies=proxies, mode="read-only")
