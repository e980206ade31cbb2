"""The store contract: what every place that holds runs (SQLite, PostgreSQL, a server) must do.

Invariants every implementation keeps (the conformance suite in tests/integration/store_conformance.py
checks them):

- `ingest` is idempotent per (run, writer, sequence number): replaying a batch, or a batch that
  overlaps one already applied, never applies an operation twice and never duplicates a point.
- A batch is applied atomically: after a crash either all of it or none of it is visible.
- Operations that cannot apply (a value of another type than the field's, a step that does not
  increase) are skipped and reported in `IngestResult.rejected`; they never block the rest.
- Series points of a forked run read through to its parent's points up to the fork step.
- `sys/` fields derived from the run's record (`sys/id`, `sys/owner`, `sys/creation_time`,
  `sys/modification_time`, `sys/custom_run_id`, `sys/forking/*`, `sys/tags` as an atom) cannot be
  assigned; `sys/name`, `sys/description`, `sys/state`, `sys/failed` and `sys/ping_time` update the
  record; other `sys/` fields (hostname, mode, running time) are stored like any field.
- A run whose state is `running` but whose last heartbeat (`sys/ping_time`, else its creation) is
  older than the store's crash timeout reads as `crashed`; a new heartbeat makes it `running` again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import numpy.typing as npt

from despina.client.operations import Operation
from despina.exceptions import DespinaError

if TYPE_CHECKING:
    from despina.store.runs_columns import RunsColumns

RUN_STATES = ("running", "finished", "failed", "crashed")


@dataclass(frozen=True)
class RunInfo:
    """A run's identity and life cycle (what `sys/` shows)."""

    id: str
    project: str
    name: str
    description: str
    owner: str
    state: str
    failed: bool
    creation_time: datetime
    modification_time: datetime
    custom_run_id: str | None
    fork_parent: str | None
    fork_step: float | None
    ping_time: datetime | None = None


@dataclass(frozen=True)
class SeriesSummary:
    """What a series shows as a single value: its last point, with count and range."""

    count: int
    last: Any
    last_step: float | None
    last_timestamp: float | None
    min: float | None = None
    max: float | None = None
    mean: float | None = None


@dataclass(frozen=True)
class FieldValue:
    """One field as read back: its type and value (atoms), members (sets), refs (files) or summary."""

    path: str
    type: str
    value: Any


@dataclass
class SeriesData:
    """Points of one series, in step order."""

    steps: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.float64]
    values: Any  # float64 array for float series, a list otherwise


@dataclass
class RunsPage:
    """One page of a runs query: rows in the requested order, and the cursor of the next page (None
    on the last one). A cursor is opaque; it is only valid for the same query and sort."""

    rows: list[dict[str, FieldValue]]
    next_cursor: str | None = None


@dataclass
class RunSeries:
    """The points of one series of one run, as returned by a bulk read."""

    run_id: str
    path: str
    type: str
    data: SeriesData


@dataclass
class SeriesBuckets:
    """A series downsampled for a chart: `buckets` equal step intervals over the range asked for.

    When the range holds no more points than buckets, `exact` is True and `points` holds them all.
    Otherwise each non-empty bucket has its point count, its first and last point, and the points
    with the smallest and largest value (NaN ignored; a bucket of only NaN shows NaN), so no spike or
    dip is lost however far the chart is zoomed out. Arrays are float64, one entry per non-empty bucket.
    """

    exact: bool
    points: SeriesData | None = None
    count: npt.NDArray[np.int64] | None = None
    first_step: npt.NDArray[np.float64] | None = None
    first_value: npt.NDArray[np.float64] | None = None
    last_step: npt.NDArray[np.float64] | None = None
    last_value: npt.NDArray[np.float64] | None = None
    min_step: npt.NDArray[np.float64] | None = None
    min_value: npt.NDArray[np.float64] | None = None
    max_step: npt.NDArray[np.float64] | None = None
    max_value: npt.NDArray[np.float64] | None = None
    # Unix seconds of the first, last, smallest and largest point of each bucket; only when asked
    # for (a chart on a time axis), since reading them costs decoding every chunk's timestamps.
    first_time: npt.NDArray[np.float64] | None = None
    last_time: npt.NDArray[np.float64] | None = None
    min_time: npt.NDArray[np.float64] | None = None
    max_time: npt.NDArray[np.float64] | None = None

    BUCKET_ARRAYS = (
        "first_step",
        "first_value",
        "last_step",
        "last_value",
        "min_step",
        "min_value",
        "max_step",
        "max_value",
    )
    TIME_ARRAYS = ("first_time", "last_time", "min_time", "max_time")


@dataclass
class IngestResult:
    """The outcome of one batch: how far the writer is applied, and what was skipped and why."""

    applied_seq: int
    rejected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunCreate:
    """Everything needed to create (or find) a run."""

    project: str
    owner: str
    name: str = "Untitled"
    description: str = ""
    tags: tuple[str, ...] = ()
    custom_run_id: str | None = None
    creation_token: str | None = None  # makes creation by a replayed journal idempotent
    fork_run_id: str | None = None
    fork_step: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "owner": self.owner,
            "name": self.name,
            "description": self.description,
            "tags": list(self.tags),
            "custom_run_id": self.custom_run_id,
            "creation_token": self.creation_token,
            "fork_run_id": self.fork_run_id,
            "fork_step": self.fork_step,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunCreate:
        return cls(**{**data, "tags": tuple(data.get("tags") or ())})


class Store(ABC):
    """Metadata, series and blobs of every project's runs."""

    @abstractmethod
    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        """Create a run, or return the existing one with the same custom run id or creation token.

        The second item tells whether the run was created. The project is created on first use.
        Raises RunNotFoundError when `fork_run_id` names no run of the project.
        """

    @abstractmethod
    def get_run(self, project: str, run_id: str) -> RunInfo:
        """The run `run_id` (`KEY-N`) of `project`; RunNotFoundError if there is none."""

    @abstractmethod
    def ingest(
        self, project: str, run_id: str, writer_id: str, items: Sequence[tuple[int, Operation]], last_seq: int
    ) -> IngestResult:
        """Apply operations numbered up to `last_seq` (inclusive) from one writer, idempotently."""

    @abstractmethod
    def applied_seq(self, project: str, run_id: str, writer_id: str) -> int:
        """The highest sequence number applied for this writer (-1 for none)."""

    @abstractmethod
    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]:
        """Every field of a run (including `sys/`), or those under `prefix`."""

    @abstractmethod
    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData:
        """Points of a series (through a fork's parent), optionally limited to steps within a range."""

    @abstractmethod
    def runs_table(
        self,
        project: str,
        *,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per run (path -> value; a series as its last value), filtered by owner/tags/state."""

    def query_runs(
        self,
        project: str,
        *,
        query: str | None = None,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
    ) -> RunsPage:
        """A page of runs matching `query` (the language of `despina.query`) and the filters (`owner`,
        `state`: any of; `tags`: all of), ordered by `sort_by` (a path, or an aggregate over a float
        series such as `min(val/loss)`; runs without it last, whatever the direction), at most `limit`
        rows (None: all) after `cursor`. `columns` limits the fields read (paths or namespaces; `sys/id`
        always comes). Raises QueryError for a query or sort key that is not valid.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot query runs")

    def query_runs_columns(
        self,
        project: str,
        *,
        query: str | None = None,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
    ) -> RunsColumns:
        """`query_runs` as typed columns of table cells (see `despina.store.runs_columns`); a store
        with a columnar read answers without a Python object per cell."""
        from despina.store.runs_columns import RunsColumns

        page = self.query_runs(
            project,
            query=query,
            columns=columns,
            sort_by=sort_by,
            ascending=ascending,
            limit=limit,
            cursor=cursor,
            owner=owner,
            tags=tags,
            state=state,
        )
        return RunsColumns.from_rows(page.rows, page.next_cursor)

    def series_many(
        self,
        project: str,
        paths: Sequence[str],
        *,
        query: str | None = None,
        run_ids: Sequence[str] | None = None,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> list[RunSeries]:
        """The float and string series at `paths` of every run matching `query` (and among `run_ids`
        when given), exactly, in run creation order; runs without a path are left out."""
        raise NotImplementedError(f"{type(self).__name__} cannot read series in bulk")

    def series_buckets(
        self,
        project: str,
        run_id: str,
        path: str,
        *,
        buckets: int,
        step_range: tuple[float | None, float | None] | None = None,
        timestamps: bool = False,
    ) -> SeriesBuckets:
        """A float series downsampled to `buckets` step intervals (see SeriesBuckets); with
        `timestamps`, each bucket's points carry their times too."""
        raise NotImplementedError(f"{type(self).__name__} cannot downsample series")

    def series_buckets_many(
        self,
        project: str,
        lines: Sequence[tuple[str, str]],
        *,
        buckets: int,
        step_range: tuple[float | None, float | None] | None = None,
        timestamps: bool = False,
    ) -> list[SeriesBuckets | DespinaError]:
        """Each (run id, path) line downsampled as by `series_buckets`, in order; a line that cannot
        be drawn (no such run, not a float series) holds its error instead, so the others still draw."""
        out: list[SeriesBuckets | DespinaError] = []
        for run_id, path in lines:
            try:
                out.append(
                    self.series_buckets(
                        project, run_id, path, buckets=buckets, step_range=step_range, timestamps=timestamps
                    )
                )
            except DespinaError as exc:
                out.append(exc)
        return out

    @abstractmethod
    def put_blob(self, source: Path, sha256: str) -> None:
        """Store file content under its hash (a no-op when already stored)."""

    @abstractmethod
    def has_blob(self, sha256: str) -> bool:
        """Whether content with this hash is stored."""

    @abstractmethod
    def open_blob(self, sha256: str) -> BinaryIO:
        """Read stored content."""

    @abstractmethod
    def list_projects(self) -> list[str]:
        """Names of all projects."""

    def checkpoint(self) -> None:  # noqa: B027 - optional hook
        """Make everything written so far durable in the store's main files (SQLite: fold the WAL in)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def delete_runs(self, project: str, run_ids: Sequence[str]) -> int:
        """Delete runs for good: their fields, series, points and writers; returns how many.

        Only runs in the trash (`sys/trashed` true) are deleted, and a run only with every run forked
        from it; otherwise RunDeletionError names the runs and nothing is deleted. Run numbers are
        never given again. File contents stay in the blob store (other runs may share them).
        Stores that cannot delete raise NotImplementedError.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot delete runs")

    def restore_run_times(
        self, project: str, run_id: str, creation_time: datetime, modification_time: datetime
    ) -> None:
        """Set a run's creation and modification times to those of the run it was imported from.

        Only `despina import` calls this: a run copied from an export keeps when it was made instead
        of reading as made at import time. Logging never changes these times (they are derived from
        the run's record), so this is not an operation. Stores that cannot do it raise
        NotImplementedError and the importer leaves the import's own times.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot restore a run's times")
