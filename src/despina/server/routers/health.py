"""Liveness and readiness, for load balancers and orchestrators (no login needed, no data shown)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from despina.server.state import ServerState, server_state

router = APIRouter(tags=["health"])


@router.get("/health", name="health")
async def health() -> dict[str, str]:
    """The process is up (it answers without touching the database)."""
    return {"status": "ok"}


@router.get("/ready", name="ready", responses={503: {"description": "The database or blob store is down"}})
async def ready(state: Annotated[ServerState, Depends(server_state)]) -> JSONResponse:
    """The database and the blob store answer: this process can serve requests."""

    def check() -> dict[str, str]:
        problems: dict[str, str] = {}
        try:
            with state.store.read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems["database"] = f"{type(exc).__name__}: {exc}"
        try:
            state.store.blobs.exists("0" * 64)
        except Exception as exc:
            problems["blobs"] = f"{type(exc).__name__}: {exc}"
        return problems

    problems = await run_in_threadpool(check)
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
