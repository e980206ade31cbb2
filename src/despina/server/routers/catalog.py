"""What a project holds, for pickers and completion: its field paths with their types, and, for the
projects page, each project's run count and last activity. Set-based SQL over the store's tables."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import func, select, union

from despina.client import field_types as ft
from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.state import ServerState, server_state
from despina.store.sql import schema as t

router = APIRouter(tags=["catalog"])

State = Annotated[ServerState, Depends(server_state)]
# sys/ fields every run has (derived from the run's record, so they have no rows of their own).
RECORD_PATHS = (
    ("sys/id", "string"),
    ("sys/name", "string"),
    ("sys/description", "string"),
    ("sys/owner", "string"),
    ("sys/state", "string"),
    ("sys/failed", "bool"),
    ("sys/creation_time", "datetime"),
    ("sys/modification_time", "datetime"),
    ("sys/tags", "stringSet"),
)


class FieldPath(BaseModel):
    path: str
    type: str
    runs: int


class ProjectActivity(BaseModel):
    name: str
    run_count: int
    last_activity: float | None


def _paths(state: ServerState, project: str, prefix: str | None, limit: int) -> list[FieldPath]:
    """Each (path, type) of the project's runs and how many runs have it.

    A run has a path at most once per table (their keys are (run, path)), so each table counts its
    rows by group; only a string set is in two tables (a marker row in `fields`, members in
    `string_set_items`; a run's tags have members only), and its runs are counted over both for
    those few paths. A union of every (path, type, run) deduplicated a million rows first: 1.9 s for
    10,000 runs x 100 fields (4 s beside a page's other requests), where these groups take 0.6 s."""
    run_ids = (
        select(t.runs.c.id)
        .join(t.projects, t.projects.c.id == t.runs.c.project_id)
        .where(t.projects.c.name == project)
        .scalar_subquery()
    )

    def grouped(table: Any) -> Any:
        query = (
            select(table.c.path, table.c.type, func.count())
            .where(table.c.run_id.in_(run_ids))
            .group_by(table.c.path, table.c.type)
        )
        return query.where(table.c.path.startswith(prefix, autoescape=True)) if prefix else query

    counts: dict[tuple[str, str], int] = {}
    with state.store.read_engine.begin() as conn:
        for table in (t.fields, t.series):
            counts.update(((path, type_), int(n)) for path, type_, n in conn.execute(grouped(table)))
        member_paths = select(t.string_set_items.c.path).where(t.string_set_items.c.run_id.in_(run_ids))
        if prefix:
            member_paths = member_paths.where(t.string_set_items.c.path.startswith(prefix, autoescape=True))
        set_paths = {path for path, type_ in counts if type_ == ft.STRING_SET}
        set_paths.update(conn.execute(member_paths.distinct()).scalars())
        if set_paths:
            holders = union(
                select(t.fields.c.path, t.fields.c.run_id).where(
                    t.fields.c.path.in_(set_paths),
                    t.fields.c.type == ft.STRING_SET,
                    t.fields.c.run_id.in_(run_ids),
                ),
                select(t.string_set_items.c.path, t.string_set_items.c.run_id).where(
                    t.string_set_items.c.path.in_(set_paths), t.string_set_items.c.run_id.in_(run_ids)
                ),
            ).subquery()
            sets = select(holders.c.path, func.count()).group_by(holders.c.path)
            counts.update(((path, ft.STRING_SET), int(n)) for path, n in conn.execute(sets))
        total = conn.execute(select(func.count()).select_from(run_ids.element.subquery())).scalar() or 0
    found = [FieldPath(path=path, type=type_, runs=n) for (path, type_), n in sorted(counts.items())][:limit]
    record = [
        FieldPath(path=path, type=type_, runs=int(total))
        for path, type_ in RECORD_PATHS
        if (not prefix or path.startswith(prefix)) and total
    ]
    known = {(p.path, p.type) for p in found}
    return sorted([*found, *(p for p in record if (p.path, p.type) not in known)], key=lambda p: p.path)


@router.get("/projects/{workspace}/{project}/paths", name="list_field_paths")
async def list_field_paths(
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    prefix: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> list[FieldPath]:
    """Every field path the project's runs have, with its type and how many runs have it."""
    return await run_in_threadpool(_paths, state, access.project, prefix, limit)


def project_activity(state: ServerState, names: list[str]) -> list[ProjectActivity]:
    """Run count and latest modification time of each named project."""
    if not names:
        return []
    query = (
        select(t.projects.c.name, func.count(t.runs.c.id), func.max(t.runs.c.modification_time))
        .select_from(t.projects.outerjoin(t.runs, t.runs.c.project_id == t.projects.c.id))
        .where(t.projects.c.name.in_(names))
        .group_by(t.projects.c.name)
    )
    with state.store.read_engine.begin() as conn:
        found = {row[0]: (int(row[1]), row[2]) for row in conn.execute(query)}
    return [
        ProjectActivity(
            name=n, run_count=found.get(n, (0, None))[0], last_activity=found.get(n, (0, None))[1]
        )
        for n in names
    ]
