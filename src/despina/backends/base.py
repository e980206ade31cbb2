"""The backend interface the client talks to (one for every mode that has a store)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from despina.client.operations import Operation
from despina.store.base import (
    FieldValue,
    IngestResult,
    RunCreate,
    RunInfo,
    RunsPage,
    SeriesBuckets,
    SeriesData,
)
from despina.store.runs_columns import RunsColumns
from despina.store.series_table import SeriesTable


class Backend(ABC):
    """Creates and reads runs, and applies journal batches to them."""

    @abstractmethod
    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]: ...

    @abstractmethod
    def get_run(self, project: str, run_id: str) -> RunInfo: ...

    @abstractmethod
    def ingest(
        self,
        project: str,
        run_id: str,
        writer_id: str,
        items: Sequence[tuple[int, Operation]],
        last_seq: int,
        staged_blobs: Path,
    ) -> IngestResult:
        """Apply a batch; the file contents its operations refer to are in `staged_blobs/<sha256>`."""

    @abstractmethod
    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]: ...

    @abstractmethod
    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData: ...

    @abstractmethod
    def runs_table(
        self,
        project: str,
        *,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]: ...

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
        """A page of the runs table (see `Store.query_runs`); `limit=None` reads every page."""
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
        """`query_runs` as typed columns of table cells (see `despina.store.runs_columns`)."""
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

    def series_table(
        self,
        project: str,
        paths: Sequence[str],
        *,
        query: str | None = None,
        run_ids: Sequence[str] | None = None,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesTable:
        """Float and string series of many runs as one long table (see `Store.series_many`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot read series in bulk")

    def series_buckets(
        self,
        project: str,
        run_id: str,
        path: str,
        *,
        buckets: int,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesBuckets:
        """A float series downsampled for a chart (see `Store.series_buckets`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot downsample series")

    @abstractmethod
    def open_blob(self, project: str, sha256: str) -> BinaryIO:
        """Stream the content of a file a run of `project` refers to."""

    def delete_runs(self, project: str, run_ids: Sequence[str]) -> int:
        """Delete runs in the trash for good (`Store.delete_runs`); returns how many."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete runs")

    def checkpoint(self) -> None:  # noqa: B027 - optional hook
        """Make what was applied durable in the store's main files."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
