"""Where an import writes: a store in this process (a local home), or a Despina server over HTTP.

Every importer (`despina import despina`, `neptune`, `mlflow`) needs the same few things of its target:
create a run or find the one an earlier import made, ask how far a writer is applied, send numbered
batches, put file contents, and give a run its source's times. This is that interface, so the same
import (safe to repeat, resumable) fills a team's server as it fills a home folder.

File contents are per project on a server (access is checked per project), so the blob methods name
the project; a store keeps one content store for all projects and ignores it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from despina.client.operations import Operation
from despina.exceptions import ProjectNotFoundError
from despina.store.base import IngestResult, RunCreate, RunInfo, Store

if TYPE_CHECKING:
    from despina.backends.http import HttpBackend


class ImportTarget(ABC):
    """What an importer writes to."""

    #: Whether `restore_run_times` works; where it does not, imported runs show the import's times.
    restores_times: bool = True
    #: Whether a run created here keeps the owner the import names (a server keeps it for admins only).
    keeps_owners: bool = True

    @abstractmethod
    def describe(self) -> str:
        """What the target is, for messages: a store's kind, or a server's address."""

    @abstractmethod
    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        """Create a run, or find the one made with the same creation token or custom id before."""

    @abstractmethod
    def applied_seq(self, project: str, run_id: str, writer_id: str) -> int:
        """How far a writer's operations are applied (-1: none)."""

    @abstractmethod
    def ingest(
        self, project: str, run_id: str, writer_id: str, items: Sequence[tuple[int, Operation]], last_seq: int
    ) -> IngestResult:
        """Apply a numbered batch; operations numbered at or below the applied sequence are skipped."""

    @abstractmethod
    def has_blob(self, project: str, sha256: str) -> bool:
        """Whether the content is known to be there (False may only mean not known yet)."""

    @abstractmethod
    def put_blob(self, project: str, source: Path, sha256: str) -> bool:
        """Store a file's content under its hash; False when it was there already."""

    @abstractmethod
    def restore_run_times(
        self, project: str, run_id: str, creation_time: datetime, modification_time: datetime
    ) -> None:
        """Set a run's creation and modification times to those of the run it was imported from."""

    @abstractmethod
    def run_ids(self, project: str) -> list[str]:
        """The ids of the project's runs (none for a project that does not exist yet)."""


class StoreTarget(ImportTarget):
    """A store in this process: the embedded store of a home folder, or a server's own."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.restores_times = type(store).restore_run_times is not Store.restore_run_times

    def describe(self) -> str:
        return type(self.store).__name__

    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        return self.store.create_run(request)

    def applied_seq(self, project: str, run_id: str, writer_id: str) -> int:
        return self.store.applied_seq(project, run_id, writer_id)

    def ingest(
        self, project: str, run_id: str, writer_id: str, items: Sequence[tuple[int, Operation]], last_seq: int
    ) -> IngestResult:
        return self.store.ingest(project, run_id, writer_id, items, last_seq)

    def has_blob(self, project: str, sha256: str) -> bool:
        return self.store.has_blob(sha256)

    def put_blob(self, project: str, source: Path, sha256: str) -> bool:
        if self.store.has_blob(sha256):
            return False
        self.store.put_blob(source, sha256)
        return True

    def restore_run_times(
        self, project: str, run_id: str, creation_time: datetime, modification_time: datetime
    ) -> None:
        self.store.restore_run_times(project, run_id, creation_time, modification_time)

    def run_ids(self, project: str) -> list[str]:
        return [str(row["sys/id"].value) for row in self.store.runs_table(project, columns=["sys/id"])]


class ServerTarget(ImportTarget):
    """A Despina server, through the same HTTP client a run logs with (its token's access applies).

    A run keeps the owner the import names only when the token is an admin's; otherwise the server
    makes the token's user the owner."""

    keeps_owners = False

    def __init__(self, backend: HttpBackend) -> None:
        self.backend = backend

    def describe(self) -> str:
        return f"the server at {self.backend.url}"

    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        return self.backend.create_run(request)

    def applied_seq(self, project: str, run_id: str, writer_id: str) -> int:
        return self.backend.applied_seq(project, run_id, writer_id)

    def ingest(
        self, project: str, run_id: str, writer_id: str, items: Sequence[tuple[int, Operation]], last_seq: int
    ) -> IngestResult:
        # Every file a batch refers to was put first (the importers stage them before each operation).
        return self.backend.ingest(project, run_id, writer_id, items, last_seq, staged_blobs=None)

    def has_blob(self, project: str, sha256: str) -> bool:
        # Asking would cost a request per file: put_blob asks anyway, and sends nothing the server has.
        return self.backend.knows_blob(project, sha256)

    def put_blob(self, project: str, source: Path, sha256: str) -> bool:
        return self.backend.upload_blob(project, source, sha256)

    def restore_run_times(
        self, project: str, run_id: str, creation_time: datetime, modification_time: datetime
    ) -> None:
        self.backend.restore_run_times(project, run_id, creation_time, modification_time)

    def run_ids(self, project: str) -> list[str]:
        try:
            rows: list[dict[str, Any]] = self.backend.runs_table(project, columns=["sys/id"])
        except ProjectNotFoundError:
            return []
        return [str(row["sys/id"].value) for row in rows]


def import_target(target: Store | ImportTarget) -> ImportTarget:
    """The target an importer was given: a store is wrapped, a target is used as it is."""
    return target if isinstance(target, ImportTarget) else StoreTarget(target)
