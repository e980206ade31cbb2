"""Tracked files (artifacts): the difference between two runs' versions of their data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from despina.client.data_diff import diff_fields
from despina.exceptions import FieldTypeError, MissingFieldError
from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.routers.runs import RUN_ID_PATTERN, State

router = APIRouter(tags=["data"])

RunParam = Annotated[str, Query(pattern=RUN_ID_PATTERN, description="A run's id, e.g. CAS-12")]


@router.get("/projects/{workspace}/{project}/data-diff", name="diff_data")
async def diff_data(
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    run_a: RunParam,
    run_b: RunParam,
    field: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> dict[str, Any]:
    """Files added, removed and changed between the tracked files (`track_files`) of run A and run B,
    per artifact field (or only `field`). Fields with equal set hashes list no files."""
    store = state.store

    def work() -> list[dict[str, Any]]:
        fields_a = store.fields(access.project, run_a, field)
        fields_b = store.fields(access.project, run_b, field)

        def read(sha256: str) -> bytes:
            with store.open_blob(sha256) as stream:
                return stream.read()

        return [d.to_dict() for d in diff_fields(fields_a, fields_b, read, field, (run_a, run_b))]

    try:
        diffs = await run_in_threadpool(work)
    except MissingFieldError as exc:
        raise HTTPException(404, str(exc)) from exc
    except FieldTypeError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"run_a": run_a, "run_b": run_b, "fields": diffs}
