"""Which project may read which blob (the `project_blobs` table).

Blobs are stored once per content, whatever project sent them, so the blob store alone cannot say who
may read one. A project gets a link to a blob when one of its members uploads it or a batch ingested
into one of its runs references it; downloads and "do you already have this?" answers go by links, so
nobody learns that content exists in a project they cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from despina.store.sql import schema as t


class BlobLinks:
    """Reads and adds (project, sha256) links."""

    def __init__(self, write_engine: Engine, read_engine: Engine) -> None:
        self.write_engine = write_engine
        self.read_engine = read_engine

    def linked(self, project: str, shas: Iterable[str]) -> set[str]:
        wanted = sorted(set(shas))
        if not wanted:
            return set()
        with self.read_engine.begin() as conn:
            rows = conn.execute(
                select(t.project_blobs.c.sha256).where(
                    t.project_blobs.c.project == project, t.project_blobs.c.sha256.in_(wanted)
                )
            )
            return set(rows.scalars())

    def link(self, project: str, shas: Iterable[str]) -> None:
        for sha in sorted(set(shas) - self.linked(project, shas)):
            try:
                with self.write_engine.begin() as conn:
                    conn.execute(t.project_blobs.insert().values(project=project, sha256=sha))
            except IntegrityError:
                pass  # another request linked it first
