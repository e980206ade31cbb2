"""Charts of many runs at once: downsampled series for every (run, path) pair in one request, so a
compare page of a hundred runs asks once instead of once per line."""

from __future__ import annotations

from typing import Annotated, Any

import msgpack
from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool

from despina.exceptions import DespinaError
from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.routers.runs import MSGPACK, RUN_ID_PATTERN
from despina.server.series_wire import FormQuery, series_body
from despina.server.state import ServerState, server_state

router = APIRouter(tags=["charts"])

MAX_LINES = 2000


@router.get(
    "/projects/{workspace}/{project}/series/buckets",
    name="get_many_series_buckets",
    response_class=Response,
    responses={200: {"content": {MSGPACK: {}}, "description": "msgpack: a list of downsampled series"}},
)
async def get_many_series_buckets(
    state: Annotated[ServerState, Depends(server_state)],
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    run_id: Annotated[
        list[Annotated[str, Query(pattern=RUN_ID_PATTERN)]], Query(min_length=1, max_length=1000)
    ],
    path: Annotated[
        list[Annotated[str, Query(min_length=1, max_length=1024)]], Query(min_length=1, max_length=50)
    ],
    buckets: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    step_min: float | None = None,
    step_max: float | None = None,
    timestamps: bool = False,
    form: FormQuery = "buckets",
) -> Response:
    """Every path of every run, downsampled as by `get_series_buckets`, in one msgpack list of
    `{run_id, path, ...}`; a line a run does not have carries `error` instead of points."""
    step_range = None if step_min is None and step_max is None else (step_min, step_max)
    pairs = [(r, p) for r in dict.fromkeys(run_id) for p in dict.fromkeys(path)][:MAX_LINES]

    def work() -> bytes:
        results = state.store.series_buckets_many(
            access.project, pairs, buckets=buckets, step_range=step_range, timestamps=timestamps
        )
        lines: list[dict[str, Any]] = []
        for (one_run, one_path), result in zip(pairs, results, strict=True):
            line: dict[str, Any] = {"run_id": one_run, "path": one_path}
            if isinstance(result, DespinaError):  # no such run or not a float series: the others draw
                line["error"] = str(result)
            else:
                line.update(series_body(result, form))
            lines.append(line)
        packed: bytes = msgpack.packb(lines, use_bin_type=True)
        return packed

    return Response(await run_in_threadpool(work), media_type=MSGPACK)
