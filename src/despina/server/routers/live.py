"""Live updates: what changed since a cursor, so an open page never re-fetches whole histories.

- `GET .../changes?since=T` (long polling) answers, as soon as something changed or after `wait`
  seconds, with the runs of the project modified after `T` and the cursor to ask with next.
- `GET .../runs/{run_id}/live?path=...&after=...` is a server-sent-events stream for one run's page:
  new points of the series named (only those after the step the page already has), and the run's
  fields again whenever the run changed.

Both poll the store (a cheap indexed read of `runs.modification_time`) every `POLL_SECONDS`: nothing is
kept in process memory, so any server process can serve any client.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.routers.runs import RunId
from despina.server.state import ServerState, server_state
from despina.store.sql import schema as t
from despina.store.wire import encode_fields, encode_value

router = APIRouter(tags=["live"])

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
State = Annotated[ServerState, Depends(server_state)]
Viewer = Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))]


def _modified_since(state: ServerState, project: str, since: float) -> tuple[list[str], float]:
    """Runs of `project` modified after `since`, and the newest modification time seen."""
    with state.store.read_engine.begin() as conn:
        rows = conn.execute(
            select(t.runs.c.short_id, t.runs.c.modification_time)
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(t.projects.c.name == project, t.runs.c.modification_time > since)
            .order_by(t.runs.c.modification_time)
        ).all()
    cursor = max((row.modification_time for row in rows), default=since)
    return [row.short_id for row in rows], cursor


@router.get("/projects/{workspace}/{project}/changes", name="project_changes")
async def project_changes(
    request: Request,
    state: State,
    access: Viewer,
    since: Annotated[
        float, Query(ge=0, description="The cursor of the previous answer (0: everything).")
    ] = 0.0,
    wait: Annotated[float, Query(ge=0, le=25, description="Seconds to wait for a change.")] = 0.0,
) -> dict[str, Any]:
    """Runs modified after `since` (a long poll when `wait` > 0); ask again with the returned cursor."""
    deadline = time.monotonic() + wait
    while True:
        run_ids, cursor = await run_in_threadpool(_modified_since, state, access.project, since)
        # A closed page stops its poll: without this check each one read the database twice a
        # second for the rest of its wait.
        if run_ids or time.monotonic() >= deadline or await request.is_disconnected():
            return {"runs": run_ids, "cursor": cursor}
        await asyncio.sleep(POLL_SECONDS)


def _event(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _new_points(
    state: ServerState, project: str, run_id: str, path: str, after: float
) -> dict[str, Any] | None:
    lower = None if math.isinf(after) else after
    data = state.store.series(project, run_id, path, (lower, None))
    steps = np.asarray(data.steps, dtype=np.float64)
    keep = steps > after
    if not keep.any():
        return None
    values = data.values
    kept = (
        values[keep]
        if isinstance(values, np.ndarray)
        else [v for v, k in zip(values, keep, strict=True) if k]
    )
    return {
        "path": path,
        "steps": steps[keep].tolist(),
        "timestamps": np.asarray(data.timestamps)[keep].tolist(),
        "values": encode_value(list(kept.tolist() if isinstance(kept, np.ndarray) else kept)),
    }


@router.get(
    "/projects/{workspace}/{project}/runs/{run_id}/live",
    name="run_live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "events: run, points, cursor"}},
)
async def run_live(
    request: Request,
    run_id: RunId,
    state: State,
    access: Viewer,
    path: Annotated[list[str] | None, Query(max_length=100, description="Series to follow.")] = None,
    after: Annotated[
        list[float] | None, Query(max_length=100, description="Last step the page has, per path.")
    ] = None,
    since: Annotated[float, Query(ge=0, description="The run's modification time the page has seen.")] = 0.0,
    seconds: Annotated[float, Query(gt=0, le=3600, description="How long to keep the stream open.")] = 300.0,
) -> StreamingResponse:
    """Server-sent events for one run: `run` (its fields, when it changed), `points` (new points of a
    followed series), and `cursor` (what to pass as `since` and `after` when reconnecting)."""
    paths = path or []
    if after is not None and len(after) != len(paths):
        raise HTTPException(422, "give one `after` step per `path`, in the same order")
    last_steps = dict(zip(paths, after or [-math.inf] * len(paths), strict=True))
    await run_in_threadpool(state.store.get_run, access.project, run_id)  # 404 before the stream starts

    async def events() -> AsyncIterator[bytes]:
        seen = since
        ends = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while time.monotonic() < ends and not await request.is_disconnected():
            info = await run_in_threadpool(state.store.get_run, access.project, run_id)
            modified = info.modification_time.timestamp()
            if modified > seen:
                seen = modified
                fields = await run_in_threadpool(state.store.fields, access.project, run_id, None)
                yield _event("run", {"modification_time": modified, "fields": encode_fields(fields)})
                for name, last in list(last_steps.items()):
                    update = await run_in_threadpool(_new_points, state, access.project, run_id, name, last)
                    if update is not None:
                        last_steps[name] = update["steps"][-1]
                        yield _event("points", update)
                yield _event("cursor", {"since": seen, "after": encode_value(last_steps)})
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                yield b": keep-alive\n\n"  # proxies close idle connections
                quiet_since = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
