"""What only `despina import` calls over HTTP: a run's creation and modification times set to those of
the run it was copied from (an export's, Neptune's, MLflow's), so an imported run sorts and reads as
made when it was made, not at import time.

Logging never sets these times (the store derives them from the run's writes), so this is not an
operation of the journal; the importer calls it after creating a run and again after its last batch.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel

from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.routers.runs import RunId
from despina.server.state import ServerState, server_state

router = APIRouter(tags=["imports"])

State = Annotated[ServerState, Depends(server_state)]
Contributor = Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))]


class RunTimes(BaseModel):
    """Both with a time zone: a naive time would be read in the server's zone, not the source's."""

    creation_time: AwareDatetime
    modification_time: AwareDatetime


@router.put("/projects/{workspace}/{project}/runs/{run_id}/times", name="restore_run_times", status_code=204)
async def restore_run_times(run_id: RunId, body: RunTimes, state: State, access: Contributor) -> Response:
    """Set an imported run's creation and modification times to those of its source."""
    if body.modification_time < body.creation_time:
        raise HTTPException(422, "modification_time is before creation_time")
    await run_in_threadpool(
        state.store.restore_run_times, access.project, run_id, body.creation_time, body.modification_time
    )
    return Response(status_code=204)
