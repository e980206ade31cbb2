"""Sweeps: a study's plots (history, parallel coordinates, parameter importance) computed here from
its trial runs, so that a study of thousands of trials uploads no plot file (see
`despina.store.sweep_plots`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.routers.runs import RunId, State
from despina.store.sweep_plots import sweep_plots
from despina.store.wire import encode_value

router = APIRouter(tags=["sweeps"])


@router.get("/projects/{workspace}/{project}/sweeps/{run_id}/plots", name="sweep_plots")
async def get_sweep_plots(
    run_id: RunId,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
) -> dict[str, Any]:
    """Plot data of the sweep whose study run is `run_id`: history with best-so-far, parallel
    coordinates and parameter importance (wire-encoded: an infinite objective value comes back as
    such). A run without trial runs gives empty plots; an unknown run is a 404."""

    def work() -> dict[str, Any]:
        state.store.get_run(access.project, run_id)  # RunNotFoundError -> 404
        data: dict[str, Any] = encode_value(sweep_plots(state.store, access.project, run_id))
        return data

    return await run_in_threadpool(work)
