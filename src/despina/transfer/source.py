"""Where an export reads: a store in this process (a local home), or a Despina server over HTTP.

An export needs a project's runs, their fields and series, and the files they refer to. A store has
them all; a server has them per project (its token's access applies, and file contents are read
through the project that refers to them), which `ServerSource` binds once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from despina.store.base import FieldValue, RunInfo, SeriesData

if TYPE_CHECKING:
    from despina.backends.http import HttpBackend


class ExportSource(Protocol):
    """What `export_project` reads (a `Store` is one as it is)."""

    def list_projects(self) -> list[str]: ...

    def runs_table(self, project: str, *, columns: Sequence[str] | None = None) -> list[dict[str, Any]]: ...

    def get_run(self, project: str, run_id: str) -> RunInfo: ...

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]: ...

    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData: ...

    def open_blob(self, sha256: str) -> BinaryIO: ...


class ServerSource:
    """One project of a Despina server, read for an export through the HTTP client."""

    def __init__(self, backend: HttpBackend, project: str) -> None:
        self.backend = backend
        self.project = project

    def list_projects(self) -> list[str]:
        return self.backend.list_projects()

    def runs_table(self, project: str, *, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return self.backend.runs_table(project, columns=columns)

    def get_run(self, project: str, run_id: str) -> RunInfo:
        return self.backend.get_run(project, run_id)

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]:
        return self.backend.fields(project, run_id, prefix)

    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData:
        return self.backend.series(project, run_id, path, step_range)

    def open_blob(self, sha256: str) -> BinaryIO:
        return self.backend.open_blob(self.project, sha256)
