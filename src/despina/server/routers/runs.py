"""Projects and runs: create, read, fields, series and the runs table."""

from __future__ import annotations

from typing import Annotated, Any

import msgpack
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from despina.client.operations import FileRef
from despina.server.auth.dependencies import ProjectAccess, get_principal, project_access
from despina.server.auth.principal import Principal, Role
from despina.server.state import ServerState, server_state
from despina.store.base import RunCreate
from despina.store.wire import encode_fields, encode_run_info, encode_value

router = APIRouter(tags=["runs"])

MSGPACK = "application/msgpack"
RUN_ID_PATTERN = r"^[A-Z0-9]{1,16}-[0-9]{1,12}$"
State = Annotated[ServerState, Depends(server_state)]
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="The run's id, e.g. CAS-12")]


class RunCreateBody(BaseModel):
    """A run to create, or to find again by its custom run id or creation token."""

    name: str = Field("Untitled", max_length=256)
    description: str = Field("", max_length=100_000)
    owner: str | None = Field(
        None,
        max_length=256,
        description="Honoured for server admins only (imports); others own what they create.",
    )
    tags: list[str] = Field(default_factory=list, max_length=1000)
    custom_run_id: str | None = Field(None, min_length=1, max_length=128)
    creation_token: str | None = Field(None, min_length=1, max_length=128)
    fork_run_id: str | None = Field(None, pattern=RUN_ID_PATTERN)
    fork_step: float | None = None


class ProjectSummary(BaseModel):
    name: str


@router.get("/projects", name="list_projects")
async def list_projects(
    state: State, principal: Annotated[Principal, Depends(get_principal)]
) -> list[ProjectSummary]:
    """Projects the caller can see."""
    names = await run_in_threadpool(state.store.list_projects)
    visible = await run_in_threadpool(state.access.visible_projects, principal, names)
    return [ProjectSummary(name=name) for name in visible]


@router.post("/projects/{workspace}/{project}/runs", name="create_run", status_code=200)
async def create_run(
    body: RunCreateBody,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> dict[str, Any]:
    """Create a run (the project is created with its first run), or find it again when the custom run
    id or creation token is known: `created` tells which."""
    for tag in body.tags:
        if len(tag) > state.settings.limits.max_name_length:
            raise HTTPException(
                413, f"a tag is longer than the limit of {state.settings.limits.max_name_length}"
            )
    # The owner is who the token belongs to; only a server admin (or `despina ui`, where the caller is the
    # local admin) may name another, so that imports keep their runs' original owners.
    owner = body.owner if body.owner and access.principal.is_admin else access.principal.username
    request = RunCreate(
        project=access.project,
        owner=owner,
        name=body.name,
        description=body.description,
        tags=tuple(body.tags),
        custom_run_id=body.custom_run_id,
        creation_token=body.creation_token,
        fork_run_id=body.fork_run_id,
        fork_step=body.fork_step,
    )
    info, created = await run_in_threadpool(state.store.create_run, request)
    return {"run": encode_run_info(info), "created": created}


@router.get("/projects/{workspace}/{project}/runs/{run_id}", name="get_run")
async def get_run(
    run_id: RunId,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
) -> dict[str, Any]:
    """A run's identity and life cycle."""
    info = await run_in_threadpool(state.store.get_run, access.project, run_id)
    return encode_run_info(info)


@router.get("/projects/{workspace}/{project}/runs/{run_id}/fields", name="get_fields")
async def get_fields(
    run_id: RunId,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    prefix: Annotated[str | None, Query(max_length=1024)] = None,
) -> dict[str, Any]:
    """Every field of a run (or those under `prefix`), values in the wire encoding of
    `despina.store.wire`: NaN, datetimes, sets, files and series summaries come back exactly."""
    fields = await run_in_threadpool(state.store.fields, access.project, run_id, prefix)
    return encode_fields(fields)


@router.get("/projects/{workspace}/{project}/runs/{run_id}/writers/{writer_id}", name="get_writer")
async def get_writer(
    run_id: RunId,
    writer_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")],
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
) -> dict[str, int]:
    """How far one writer's operations are applied (-1: none yet)."""
    applied = await run_in_threadpool(state.store.applied_seq, access.project, run_id, writer_id)
    return {"applied_seq": applied}


@router.get(
    "/projects/{workspace}/{project}/runs/{run_id}/series",
    name="get_series",
    response_class=Response,
    responses={200: {"content": {MSGPACK: {}}, "description": "msgpack: steps, timestamps, values"}},
)
async def get_series(
    run_id: RunId,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    path: Annotated[str, Query(min_length=1, max_length=1024)],
    step_min: float | None = None,
    step_max: float | None = None,
) -> Response:
    """Points of one series as msgpack: float64 little-endian arrays for steps, timestamps and (float
    series) values; a list of strings or file references otherwise."""
    step_range = None if step_min is None and step_max is None else (step_min, step_max)
    data = await run_in_threadpool(state.store.series, access.project, run_id, path, step_range)
    if isinstance(data.values, np.ndarray):
        values: Any = np.asarray(data.values, dtype="<f8").tobytes()
        kind = "float"
    else:
        values = [v.to_dict() if isinstance(v, FileRef) else v for v in data.values]
        kind = "file" if any(isinstance(v, FileRef) for v in data.values) else "list"
    body = msgpack.packb(
        {
            "kind": kind,
            "steps": np.asarray(data.steps, dtype="<f8").tobytes(),
            "timestamps": np.asarray(data.timestamps, dtype="<f8").tobytes(),
            "values": values,
        },
        use_bin_type=True,
    )
    return Response(body, media_type=MSGPACK)


@router.get("/projects/{workspace}/{project}/runs", name="runs_table")
async def runs_table(
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    owner: Annotated[list[str] | None, Query(max_length=100)] = None,
    tags: Annotated[list[str] | None, Query(max_length=100)] = None,
    run_state: Annotated[list[str] | None, Query(alias="state", max_length=10)] = None,
    columns: Annotated[list[str] | None, Query(max_length=1000)] = None,
) -> list[dict[str, Any]]:
    """One row per run: field path -> value (a series as its last value), wire-encoded."""
    rows = await run_in_threadpool(
        lambda: state.store.runs_table(
            access.project, owner=owner, tags=tags, state=run_state, columns=columns
        )
    )
    return [{path: encode_value(value) for path, value in row.items()} for row in rows]
