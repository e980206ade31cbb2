"""Applying journals left on disk: offline runs, killed processes, runs whose store was unavailable.

Safe to run while the writer is still running (records are applied idempotently, and only records
whose checksum is complete are read) and to run again (it resumes from the acknowledgement).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from despina.backends.base import Backend
from despina.client.journal import (
    list_journals,
    pending_records,
    read_ack,
    read_meta,
    write_ack,
    writer_is_alive,
)
from despina.client.sender import Sender
from despina.exceptions import JournalError
from despina.store.base import RunCreate


@dataclass
class JournalStatus:
    folder: Path
    project: str
    run_id: str | None
    pending: int
    alive: bool


@dataclass
class SyncOutcome:
    folder: Path
    run_id: str | None
    applied: int
    error: str | None = None
    torn: bool = False


def journal_status(folder: Path) -> JournalStatus:
    meta = read_meta(folder)
    ack_run = None
    try:
        import json

        ack_run = json.loads((folder / "ack.json").read_text()).get("run_id")
    except (OSError, ValueError):
        pass
    return JournalStatus(
        folder,
        meta["project"],
        meta.get("run_id") or ack_run,
        pending_records(folder),
        writer_is_alive(folder),
    )


def record_run_id(folder: Path, run_id: str) -> None:
    """Note in a journal made before its run existed (offline, or a server that was down) which run it
    became, for `despina status` (before anything is acknowledged; later acks carry it along)."""
    if read_ack(folder).seq == 0:
        write_ack(folder, read_ack(folder), {"run_id": run_id})


def sync_journal(
    folder: Path,
    backend: Backend,
    progress: Callable[[int], None] | None = None,
    pending: int | None = None,
) -> SyncOutcome:
    """Apply every complete record of one journal; creates the run first for an offline journal.

    `pending` is the count `journal_status` took already: counting walks every record, which costs as
    much as a third of a sync's time for a million points, so it is done once.
    """
    try:
        meta = read_meta(folder)
    except JournalError:
        if not folder.exists():  # its writer finished and removed it meanwhile: nothing left to do
            return SyncOutcome(folder, None, 0)
        raise
    project = meta["project"]
    run_id = meta.get("run_id")
    if run_id is None:
        # Offline run: create it now. The writer id is the creation token, so a second sync (after a
        # crash between creating and acknowledging) finds the same run instead of making another.
        request = RunCreate.from_dict({**meta["create"], "creation_token": meta["writer_id"]})
        info, _ = backend.create_run(request)
        run_id = info.id
        record_run_id(folder, run_id)
    sender = Sender(backend, folder, project, run_id, meta["writer_id"])
    start = sender.position.seq
    # What is there now: a writer still logging must not keep this sync going forever.
    target = start + (pending_records(folder) if pending is None else pending)
    try:
        while sender.position.seq < target:
            before = sender.position.seq
            ok = sender.drain_once(until=target)
            if progress is not None and sender.position.seq > before:
                progress(sender.position.seq - before)
            if not ok:
                error = sender.last_error
                return SyncOutcome(
                    folder,
                    run_id,
                    sender.position.seq - start,
                    None if error is None else f"{type(error).__name__}: {error}",
                )
            if sender.position.seq == before:
                break
        return SyncOutcome(folder, run_id, sender.position.seq - start, torn=sender.torn)
    finally:
        sender.close()


def sync_all(home: Path, backend: Backend) -> list[SyncOutcome]:
    outcomes = []
    for folder in list_journals(home):
        try:
            outcomes.append(sync_journal(folder, backend))
        except Exception as exc:
            outcomes.append(SyncOutcome(folder, None, 0, f"{type(exc).__name__}: {exc}"))
    return outcomes


def synced_journals(home: Path) -> list[Path]:
    """Journals whose writer has exited and whose every record was applied (unreadable ones are
    never listed: they are left for a human to look at)."""
    synced = []
    for folder in list_journals(home):
        try:
            status = journal_status(folder)
        except Exception:
            continue
        if not status.alive and status.pending == 0 and (folder / "ack.json").exists():
            synced.append(folder)
    return synced


def clear_synced(folders: list[Path]) -> list[Path]:
    """Remove the given journals (from `synced_journals`); returns those removed."""
    removed = []
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed
