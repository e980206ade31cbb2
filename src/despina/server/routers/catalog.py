"""What a project holds, for pickers and completion: its field paths with their types, and, for the
projects page, each project's run count and last activity. Set-based SQL over the store's tables."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import func, literal, select, union

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
    run_ids = (
        select(t.runs.c.id)
        .join(t.projects, t.projects.c.id == t.runs.c.project_id)
        .where(t.projects.c.name == project)
        .scalar_subquery()
    )
    sources = [
        select(t.fields.c.path, t.fields.c.type, t.fields.c.run_id).where(t.fields.c.run_id.in_(run_ids)),
        select(t.series.c.path, t.series.c.type, t.series.c.run_id).where(t.series.c.run_id.in_(run_ids)),
        select(t.string_set_items.c.path, literal("stringSet"), t.string_set_items.c.run_id).where(
            t.string_set_items.c.run_id.in_(run_ids)
        ),
    ]
    every = union(*sources).subquery()
    query = select(every.c.path, every.c.type, func.count(func.distinct(every.c[2]))).group_by(
        every.c.path, every.c.type
    )
    if prefix:
        query = query.where(every.c.path.startswith(prefix, autoescape=True))
    with state.store.read_engine.begin() as conn:
        rows = conn.execute(query.order_by(every.c.path).limit(limit)).all()
        total = conn.execute(select(func.count()).select_from(run_ids.element.subquery())).scalar() or 0
    found = [FieldPath(path=row[0], type=row[1], runs=int(row[2])) for row in rows]
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
