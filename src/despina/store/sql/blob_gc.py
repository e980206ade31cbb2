"""Garbage collection of file contents: deleting blobs that no run refers to any more (after its runs
were deleted from the trash, or a field was overwritten), in a blob folder.

Content is stored once for every run and project that refers to it, and a writer that finds content
stored already refers to it without storing it again. So a blob no run refers to now may be referred
to a moment later by a writer that just found it. Collection is safe against that, without a lock
shared with the writers:

1. Whoever finds content stored touches it (`LocalBlobStore.touch`: `put_file` of content already
   there, `SqlStore.has_blob`), and a blob touched within `older_than` seconds of the collection's
   start, or after it, is never collected (times read by the file system's clock, which stamps them).
2. A blob to collect is first moved aside (`quarantine`), and its time is read after the move: a touch
   just before the move puts it back. A writer coming after the move finds nothing and stores the
   content again.
3. After every move, the references are read once more; a blob referred to meanwhile goes back.
4. Over HTTP, a server answers "already stored" from its project links (`project_blobs`), not from
   the folder; a collected blob's links are removed before it is moved, so a client after that
   uploads it again (the ingest of a batch referring to unlinked content asks for it: 409).

Only then are the quarantined blobs deleted. References are every file, file set and artifact field,
and every point of every file series, of every run of every project.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, insert, select

from despina.client import field_types as ft
from despina.exceptions import DespinaError
from despina.store.blobs.local import LocalBlobStore
from despina.store.series_codec import decode_chunk
from despina.store.sql import schema as t

if TYPE_CHECKING:
    from despina.store.sql.store import SqlStore

DEFAULT_OLDER_THAN = 24 * 3600.0  # seconds: content touched within a day is kept
_SERIES_PER_READ = 200


@dataclass
class GarbageReport:
    """What a collection found and did."""

    stored: int  # blobs in the folder
    unreferenced: int  # of those, referred to by no run
    kept_recent: int  # unreferenced, but touched within `older_than`: kept
    deleted: int
    freed_bytes: int
    dry_run: bool


def referenced_blobs(conn: Connection) -> set[str]:
    """The sha256 of every file content a run refers to."""
    found: set[str] = set()
    fields = select(t.fields.c.type, t.fields.c.text_value, t.fields.c.blob_sha256).where(
        t.fields.c.type.in_([ft.FILE, ft.FILE_SET, ft.ARTIFACT])
    )
    for type_, text, blob in conn.execute(fields):
        if type_ == ft.FILE and text:
            found.add(json.loads(text)["sha256"])
        elif type_ == ft.FILE_SET and text:
            found.update(ref["sha256"] for ref in json.loads(text).values())
        elif type_ == ft.ARTIFACT and blob:
            found.add(blob)
    series_ids = list(conn.execute(select(t.series.c.id).where(t.series.c.type == ft.FILE_SERIES)).scalars())
    for start in range(0, len(series_ids), _SERIES_PER_READ):
        part = series_ids[start : start + _SERIES_PER_READ]
        chunks = select(t.series_chunks.c.data).where(t.series_chunks.c.series_id.in_(part))
        for (data,) in conn.execute(chunks):
            _, _, values = decode_chunk(data)
            found.update(value["sha256"] for value in values)
    return found


def _unlink(conn: Connection, shas: Iterable[str]) -> list[tuple[str, str]]:
    """Remove the projects' links to these blobs; returns the (project, sha256) links removed."""
    removed: list[tuple[str, str]] = []
    wanted = sorted(shas)
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        links = t.project_blobs
        rows = conn.execute(select(links.c.project, links.c.sha256).where(links.c.sha256.in_(part))).all()
        removed.extend((project, sha) for project, sha in rows)
        conn.execute(delete(links).where(links.c.sha256.in_(part)))
    return removed


def collect_garbage(
    store: SqlStore, *, older_than: float = DEFAULT_OLDER_THAN, dry_run: bool = False
) -> GarbageReport:
    """Delete the blobs no run refers to that were not touched within `older_than` seconds (see the
    module docstring); `dry_run` only counts them."""
    blobs = store.blobs
    if not isinstance(blobs, LocalBlobStore):
        raise DespinaError(
            f"garbage collection covers blob folders; {blobs!r} is not one (use the bucket's own "
            "lifecycle rules)"
        )
    if older_than < 0:
        raise ValueError(f"older_than must be zero or more seconds, not {older_than!r}")
    # The file system's clock, as the touches are: one touched after this moment is never older.
    cutoff = blobs.clock() - older_than
    stored = list(blobs.stored())
    with store.read_engine.begin() as conn:
        referenced = referenced_blobs(conn)
    unreferenced = [blob for blob in stored if blob.sha256 not in referenced]
    candidates = {blob.sha256: blob.size for blob in unreferenced if blob.modified < cutoff}
    report = GarbageReport(
        stored=len(stored),
        unreferenced=len(unreferenced),
        kept_recent=len(unreferenced) - len(candidates),
        deleted=0,
        freed_bytes=0,
        dry_run=dry_run,
    )
    if dry_run or not candidates:
        report.deleted, report.freed_bytes = len(candidates), sum(candidates.values())
        return report

    with store.engine.begin() as conn:
        unlinked = _unlink(conn, candidates)
    moved: dict[str, int] = {}
    kept: set[str] = set()  # put back: their links go back too
    for sha, size in candidates.items():
        modified = blobs.quarantine(sha)
        if modified is None:
            continue  # gone meanwhile (another collection)
        if modified >= cutoff:
            blobs.release(sha)  # touched just before the move: someone is about to refer to it
            kept.add(sha)
            report.kept_recent += 1
        else:
            moved[sha] = size
    with store.read_engine.begin() as conn:
        referenced = referenced_blobs(conn)
    restored = {sha for sha in moved if sha in referenced}
    for sha in restored:
        blobs.release(sha)
    kept |= restored
    links_back = defaultdict(list)
    for project, sha in unlinked:
        if sha in kept:
            links_back[sha].append(project)
    if links_back:
        with store.engine.begin() as conn:
            for sha, projects in links_back.items():
                for project in projects:
                    conn.execute(insert(t.project_blobs).values(project=project, sha256=sha))
    for sha, size in moved.items():
        if sha not in restored:
            blobs.purge(sha)
            report.deleted += 1
            report.freed_bytes += size
    return report
