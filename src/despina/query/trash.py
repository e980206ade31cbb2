"""The trash as a query: a run moved to the trash (the web UI's "Move to trash") carries
`sys/trashed = true`, and reads of a project's runs leave it out unless asked for it, as the runs
table does (`web/src/api/runsPage.ts` writes the same conditions)."""

from __future__ import annotations

TRASHED = "sys/trashed"


def with_trash(query: str | None, trashed: bool | None) -> str | None:
    """`query` limited to the runs out of the trash (False), in it (True), or not limited (None)."""
    if trashed is None:
        return query
    condition = f"{TRASHED} = true" if trashed else f"not {TRASHED} = true"
    return f"({query}) and {condition}" if query and query.strip() else condition
