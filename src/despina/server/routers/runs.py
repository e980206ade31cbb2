"""Projects and runs: create, read, fields, series and the runs table."""

from __future__ import annotations

from typing import Annotated, Any

import msgpack
import numpy as np
import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from despina.client.operations import FileRef
from despina.exceptions import FieldTypeError, QueryError
from despina.server.auth.dependencies import ProjectAccess, get_principal, project_access
from despina.server.auth.principal import Principal, Role
from despina.server.routers.catalog import project_activity
from despina.server.series_wire import FormQuery, series_body
from despina.server.state import ServerState, server_state
from despina.store.base import RunCreate
from despina.store.gc_pause import cyclic_gc_paused
from despina.store.series_table import ARROW_STREAM, SeriesTable
from despina.store.wire import encode_fields, encode_run_info, encode_table_row, encode_value

router = APIRouter(tags=["runs"])

MSGPACK = "application/msgpack"
MAX_PAGE = 10_000  # rows per page of the runs table; more come through the cursor
QUERY_DOC = (
    'A runs query, e.g. `train/acc > 0.9 and sys/tags contains "best"` (see despina.query); '
    "a syntax or type error answers 422 with the position."
)
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
    run_count: int = 0
    last_activity: float | None = Field(None, description="Newest modification time of its runs (epoch s).")


@router.get("/projects", name="list_projects")
async def list_projects(
    state: State, principal: Annotated[Principal, Depends(get_principal)]
) -> list[ProjectSummary]:
    """Projects the caller can see."""
    names = await run_in_threadpool(state.store.list_projects)
    visible = await run_in_threadpool(state.access.visible_projects, principal, names)
    activity = await run_in_threadpool(project_activity, state, list(visible))
    return [ProjectSummary(**item.model_dump()) for item in activity]


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


@router.get(
    "/projects/{workspace}/{project}/table",
    name="query_runs",
    responses={
        200: {
            "content": {ARROW_STREAM: {}},
            "description": "JSON (below), or with `Accept: application/vnd.apache.arrow.stream` the page "
            "as typed columns (see despina.store.runs_columns)",
        }
    },
)
async def query_runs(
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    query: Annotated[str | None, Query(max_length=10_000, description=QUERY_DOC)] = None,
    columns: Annotated[list[str] | None, Query(max_length=1000)] = None,
    sort_by: Annotated[str, Query(max_length=1100)] = "sys/creation_time",
    ascending: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    owner: Annotated[list[str] | None, Query(max_length=100)] = None,
    tags: Annotated[list[str] | None, Query(max_length=100)] = None,
    run_state: Annotated[list[str] | None, Query(alias="state", max_length=10)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """A page of the runs table, filtered, sorted and projected on the server: `rows` (path -> [type,
    value], wire-encoded; a series as its summary) and `next_cursor` (null on the last page).

    A client that accepts `application/vnd.apache.arrow.stream` gets the page as an Arrow IPC stream
    instead: one typed column per path (cells as a table shows them: a series as its last value), the
    field type in each column's metadata and the next cursor in the schema's."""
    # The same page either way: typed columns for Arrow, rows for JSON.
    page_args: dict[str, Any] = {
        "query": query,
        "columns": columns,
        "sort_by": sort_by,
        "ascending": ascending,
        "limit": limit,
        "cursor": cursor,
        "owner": owner,
        "tags": tags,
        "state": run_state,
    }
    if accept is not None and ARROW_STREAM in accept:
        try:
            columns_read = await run_in_threadpool(
                lambda: state.store.query_runs_columns(access.project, **page_args)
            )
        except QueryError as exc:
            raise HTTPException(422, str(exc)) from exc
        return Response(await run_in_threadpool(columns_read.to_arrow), media_type=ARROW_STREAM)

    def read_page() -> Response:
        # A page of 2,000 rows (what the web UI reads after its first 100) makes some 200,000 small
        # objects, none in a cycle: the collector is paused while they are made (see gc_pause).
        with cyclic_gc_paused():
            page = state.store.query_runs(access.project, **page_args)
            # The wire encoding is JSON already: rendered here, in the worker thread, the page skips
            # FastAPI's generic encoder (40% of a 100-row page of 36 columns), and orjson writes it
            # (the standard library's encoder took 140 ms of a 2,000-row page, orjson 15 ms).
            body = {"rows": [encode_table_row(row) for row in page.rows], "next_cursor": page.next_cursor}
            return Response(orjson.dumps(body), media_type="application/json")

    try:
        return await run_in_threadpool(read_page)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get(
    "/projects/{workspace}/{project}/series",
    name="fetch_series",
    response_class=Response,
    responses={
        200: {
            "content": {ARROW_STREAM: {}, MSGPACK: {}},
            "description": "columns run, path, step, value, timestamp (see despina.store.series_table)",
        }
    },
)
async def fetch_series(
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    path: Annotated[list[str], Query(min_length=1, max_length=100)],
    query: Annotated[str | None, Query(max_length=10_000, description=QUERY_DOC)] = None,
    run: Annotated[list[str] | None, Query(max_length=10_000)] = None,
    step_min: float | None = None,
    step_max: float | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The float and string series at `path` of many runs (those matching `query`, and among `run`
    when given) in one long table, exactly: an Arrow IPC stream, or msgpack when the client does not
    accept Arrow."""
    step_range = None if step_min is None and step_max is None else (step_min, step_max)
    try:
        series = await run_in_threadpool(
            lambda: state.store.series_many(
                access.project, path, query=query, run_ids=run, step_range=step_range
            )
        )
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    table = SeriesTable.of(series)
    if accept is not None and ARROW_STREAM in accept:
        return Response(await run_in_threadpool(table.to_arrow), media_type=ARROW_STREAM)
    return Response(await run_in_threadpool(table.to_msgpack), media_type=MSGPACK)


@router.get(
    "/projects/{workspace}/{project}/runs/{run_id}/series/buckets",
    name="get_series_buckets",
    response_class=Response,
    responses={200: {"content": {MSGPACK: {}}, "description": "msgpack: exact points, or per-bucket arrays"}},
)
async def get_series_buckets(
    run_id: RunId,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    path: Annotated[str, Query(min_length=1, max_length=1024)],
    buckets: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    step_min: float | None = None,
    step_max: float | None = None,
    timestamps: bool = False,
    form: FormQuery = "buckets",
) -> Response:
    """A float series downsampled for a chart (see despina.store.base.SeriesBuckets), as msgpack:
    `exact` true with `steps`, `timestamps`, `values`, or per bucket `count` (int64) and `first_step`,
    `first_value`, `last_step`, `last_value`, `min_step`, `min_value`, `max_step`, `max_value`
    (float64), with `timestamps` also `first_time`, `last_time`, `min_time`, `max_time` (unix
    seconds, for a time axis); arrays are raw little-endian bytes. With `form=line`, the line a chart
    draws instead of the buckets: `x`, `y` (and `t`) and `total` (despina.server.series_wire.line_body)."""
    step_range = None if step_min is None and step_max is None else (step_min, step_max)
    try:
        result = await run_in_threadpool(
            lambda: state.store.series_buckets(
                access.project, run_id, path, buckets=buckets, step_range=step_range, timestamps=timestamps
            )
        )
    except FieldTypeError as exc:
        raise HTTPException(422, str(exc)) from exc
    body = series_body(result, form)
    return Response(msgpack.packb(body, use_bin_type=True), media_type=MSGPACK)
