"""LocalBackend: the embedded default, a Store in this process."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from despina.backends.base import Backend
from despina.client.operations import Operation, referenced_files
from despina.config import Settings
from despina.store.base import (
    FieldValue,
    IngestResult,
    RunCreate,
    RunInfo,
    RunsPage,
    SeriesBuckets,
    SeriesData,
    Store,
)
from despina.store.runs_columns import RunsColumns
from despina.store.series_table import SeriesTable


class LocalBackend(Backend):
    """Applies batches straight to a store (SQLite and a blob folder by default)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        return self.store.create_run(request)

    def get_run(self, project: str, run_id: str) -> RunInfo:
        return self.store.get_run(project, run_id)

    def ingest(
        self,
        project: str,
        run_id: str,
        writer_id: str,
        items: Sequence[tuple[int, Operation]],
        last_seq: int,
        staged_blobs: Path,
    ) -> IngestResult:
        for _, op in items:
            for ref in referenced_files(op):
                if not self.store.has_blob(ref.sha256):
                    source = staged_blobs / ref.sha256
                    if not source.exists():
                        raise FileNotFoundError(
                            f"{ref.name} ({ref.sha256[:12]}) is missing from {staged_blobs}"
                        )
                    self.store.put_blob(source, ref.sha256)
        return self.store.ingest(project, run_id, writer_id, items, last_seq)

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]:
        return self.store.fields(project, run_id, prefix)

    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData:
        return self.store.series(project, run_id, path, step_range)

    def runs_table(
        self,
        project: str,
        *,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        return self.store.runs_table(project, owner=owner, tags=tags, state=state, columns=columns)

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
        return self.store.query_runs(
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
        return self.store.query_runs_columns(
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

    def series_table(
        self,
        project: str,
        paths: Sequence[str],
        *,
        query: str | None = None,
        run_ids: Sequence[str] | None = None,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesTable:
        return SeriesTable.of(
            self.store.series_many(project, paths, query=query, run_ids=run_ids, step_range=step_range)
        )

    def series_buckets(
        self,
        project: str,
        run_id: str,
        path: str,
        *,
        buckets: int,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesBuckets:
        return self.store.series_buckets(project, run_id, path, buckets=buckets, step_range=step_range)

    def open_blob(self, project: str, sha256: str) -> BinaryIO:
        return self.store.open_blob(sha256)

    def delete_runs(self, project: str, run_ids: Sequence[str]) -> int:
        return self.store.delete_runs(project, run_ids)

    def checkpoint(self) -> None:
        self.store.checkpoint()

    def close(self) -> None:
        self.store.close()


# One store per home folder and process: opening SQLite and checking the schema for every run would
# cost more than the run itself in a sweep of a thousand short runs. Keyed by the explicit folder.
_backends: dict[Path, LocalBackend] = {}
_http_backends: dict[tuple[str, str | None], Backend] = {}
_backends_lock = threading.Lock()
os.register_at_fork(after_in_child=_backends.clear)
os.register_at_fork(after_in_child=_http_backends.clear)  # a child must not share the parent's connections


def backend_for(settings: Settings) -> Backend:
    """The backend the settings point at: a server when DESPINA_URL is set, else the local home.

    One per home folder (or server and token) and process, shared by its runs."""
    if settings.url:
        from despina.backends.http import HttpBackend

        with _backends_lock:
            key = (settings.url, settings.api_token)
            remote = _http_backends.get(key)
            if remote is None:
                remote = _http_backends[key] = HttpBackend(settings.url, settings.api_token)
            return remote
    with _backends_lock:
        backend = _backends.get(settings.home)
        if backend is None or not (settings.home / "despina.db").exists():
            from despina.store.sql.store import open_embedded_store  # SQLAlchemy: only when used

            store = open_embedded_store(settings.home, settings.crash_timeout)
            backend = _backends[settings.home] = LocalBackend(store)
        else:
            from despina.store.sql.store import SqlStore  # loaded already: this store was opened

            if isinstance(backend.store, SqlStore):
                backend.store.crash_timeout = settings.crash_timeout
        return backend
