"""Edits made from the web UI: a run's name and description, tags (in bulk), trash and restore, and
deleting runs in the trash for good.

An edit is applied as operations through the same idempotent ingest as everything a script logs, by a
writer of its own (one per request), so it lands in the run's history like any other write and never
collides with the script's sequence numbers.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from despina.client import field_types as ft
from despina.client.operations import AddStrings, AssignAtom, Operation, RemoveStrings
from despina.exceptions import RunDeletionError
from despina.query.trash import TRASHED
from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.routers.runs import RUN_ID_PATTERN, RunId
from despina.server.state import ServerState, server_state
from despina.store.wire import encode_run_info

router = APIRouter(tags=["edits"])

State = Annotated[ServerState, Depends(server_state)]
Contributor = Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))]
# Deleting for good cannot be undone: the project's owners (and server admins) only.
Owner = Annotated[ProjectAccess, Depends(project_access(Role.OWNER))]
MAX_RUNS_PER_EDIT = 10_000


class RunUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=256)
    description: str | None = Field(None, max_length=100_000)


class RunSelection(BaseModel):
    run_ids: list[Annotated[str, Field(pattern=RUN_ID_PATTERN)]] = Field(
        min_length=1, max_length=MAX_RUNS_PER_EDIT
    )


class TagEdit(RunSelection):
    add: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=100
    )
    remove: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=100
    )


def _apply(state: ServerState, project: str, run_ids: list[str], ops: list[Operation]) -> int:
    """Apply `ops` to each run as a one-off writer; every run must exist (checked first: all or none)."""
    for run_id in run_ids:
        state.store.get_run(project, run_id)  # RunNotFoundError -> 404 before anything changes
    for run_id in run_ids:
        items = list(enumerate(ops))
        state.store.ingest(project, run_id, f"edit-{uuid.uuid4().hex}", items, len(items) - 1)
    return len(run_ids)


@router.patch("/projects/{workspace}/{project}/runs/{run_id}", name="update_run")
async def update_run(run_id: RunId, body: RunUpdate, state: State, access: Contributor) -> dict[str, Any]:
    """Rename a run or change its description."""
    ops: list[Operation] = []
    if body.name is not None:
        ops.append(AssignAtom("sys/name", ft.STRING, body.name))
    if body.description is not None:
        ops.append(AssignAtom("sys/description", ft.STRING, body.description))
    if not ops:
        raise HTTPException(422, "nothing to change: give a name or a description")
    await run_in_threadpool(_apply, state, access.project, [run_id], ops)
    info = await run_in_threadpool(state.store.get_run, access.project, run_id)
    return encode_run_info(info)


@router.post("/projects/{workspace}/{project}/runs/tags", name="edit_tags")
async def edit_tags(body: TagEdit, state: State, access: Contributor) -> dict[str, int]:
    """Add and remove tags on many runs at once."""
    ops: list[Operation] = []
    if body.add:
        ops.append(AddStrings("sys/tags", tuple(body.add)))
    if body.remove:
        ops.append(RemoveStrings("sys/tags", tuple(body.remove)))
    if not ops:
        raise HTTPException(422, "nothing to change: give tags to add or remove")
    updated = await run_in_threadpool(_apply, state, access.project, sorted(set(body.run_ids)), ops)
    return {"updated": updated}


@router.post("/projects/{workspace}/{project}/runs/trash", name="trash_runs")
async def trash_runs(body: RunSelection, state: State, access: Contributor) -> dict[str, int]:
    """Move runs to the trash: hidden from the runs table, nothing deleted, restorable."""
    ops: list[Operation] = [AssignAtom(TRASHED, ft.BOOL, True)]
    return {"updated": await run_in_threadpool(_apply, state, access.project, sorted(set(body.run_ids)), ops)}


@router.post("/projects/{workspace}/{project}/runs/restore", name="restore_runs")
async def restore_runs(body: RunSelection, state: State, access: Contributor) -> dict[str, int]:
    """Take runs out of the trash."""
    ops: list[Operation] = [AssignAtom(TRASHED, ft.BOOL, False)]
    return {"updated": await run_in_threadpool(_apply, state, access.project, sorted(set(body.run_ids)), ops)}


@router.post("/projects/{workspace}/{project}/runs/delete", name="delete_runs")
async def delete_runs(body: RunSelection, state: State, access: Owner) -> dict[str, int]:
    """Delete runs in the trash for good, with their fields, series and points: all or none."""
    try:
        deleted = await run_in_threadpool(state.store.delete_runs, access.project, body.run_ids)
    except RunDeletionError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"deleted": deleted}
