"""Saved views of a project's runs table: a name for a set of columns, a query and a sort.

Views belong to the project, so every member sees the same list; contributors save and delete them.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.state import ServerState, server_state
from despina.store.sql import schema as t

router = APIRouter(tags=["views"])

State = Annotated[ServerState, Depends(server_state)]


class ViewDefinition(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    query: str = Field("", max_length=10_000)
    columns: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=500
    )
    sort_by: str = Field("sys/creation_time", min_length=1, max_length=1024)
    ascending: bool = False


class SavedView(ViewDefinition):
    id: int
    owner: str
    created_at: float


def _list(state: ServerState, project: str) -> list[SavedView]:
    with state.store.read_engine.begin() as conn:
        rows = conn.execute(
            select(t.saved_views).where(t.saved_views.c.project == project).order_by(t.saved_views.c.name)
        ).all()
    return [
        SavedView(id=row.id, owner=row.owner, created_at=row.created_at, **json.loads(row.definition))
        for row in rows
    ]


@router.get("/projects/{workspace}/{project}/views", name="list_views")
async def list_views(
    state: State, access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))]
) -> list[SavedView]:
    """The project's saved views, by name."""
    return await run_in_threadpool(_list, state, access.project)


@router.post("/projects/{workspace}/{project}/views", name="save_view", status_code=201)
async def save_view(
    body: ViewDefinition,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> SavedView:
    """Save a view under a name; saving under an existing name replaces that view."""
    now = time.time()

    def work() -> SavedView:
        values = {"owner": access.principal.username, "definition": body.model_dump_json(), "created_at": now}
        where = (t.saved_views.c.project == access.project, t.saved_views.c.name == body.name)
        with state.store.engine.begin() as conn:
            existing = conn.execute(select(t.saved_views.c.id).where(*where)).scalar()
            if existing is not None:  # the same name: the view is updated and keeps its id (links stay valid)
                conn.execute(update(t.saved_views).where(t.saved_views.c.id == existing).values(**values))
                view_id = int(existing)
            else:
                result = conn.execute(
                    insert(t.saved_views).values(project=access.project, name=body.name, **values)
                )
                view_id = int((result.inserted_primary_key or (0,))[0])
        return SavedView(id=view_id, owner=access.principal.username, created_at=now, **body.model_dump())

    try:
        return await run_in_threadpool(work)
    except IntegrityError as exc:  # another request saved the same name in between
        raise HTTPException(409, f"a view named {body.name!r} was saved at the same time; try again") from exc


@router.delete("/projects/{workspace}/{project}/views/{view_id}", name="delete_view", status_code=204)
async def delete_view(
    view_id: Annotated[int, Path(ge=1)],
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> None:
    """Delete a saved view."""

    def work() -> int:
        with state.store.engine.begin() as conn:
            result = conn.execute(
                delete(t.saved_views).where(
                    t.saved_views.c.project == access.project, t.saved_views.c.id == view_id
                )
            )
            return int(result.rowcount)

    if not await run_in_threadpool(work):
        raise HTTPException(404, f"project {access.project!r} has no view {view_id}")
