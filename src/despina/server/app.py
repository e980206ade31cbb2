"""`create_app(settings)`: the FastAPI app over one store. Nothing lives at module level.

Every process built from the same settings serves the same data: all state is in the database and the
blob store, so N processes can run behind a load balancer on PostgreSQL and S3.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from despina.exceptions import ProjectNotFoundError, RunNotFoundError, SchemaVersionError
from despina.server.access_log import AccessLogMiddleware
from despina.server.auth.service import AccessService
from despina.server.blob_links import BlobLinks
from despina.server.routers import (
    access,
    blobs,
    catalog,
    charts,
    data,
    edits,
    health,
    imports,
    ingest,
    live,
    runs,
    sweeps,
    views,
)
from despina.server.settings import ServerSettings
from despina.server.state import ServerState
from despina.server.static import mount_web_ui
from despina.store.blobs import blob_store_from_url
from despina.store.sql.store import open_store

API_PREFIX = "/api/v1"


def open_state(settings: ServerSettings) -> ServerState:
    """Connect to the database and blob store the settings name.

    Raises SchemaVersionError when the database was made by another version: the server never
    migrates by itself (`despina db upgrade` does, in one transaction), so a rolling deploy cannot
    half-upgrade a shared database.
    """
    blob_store = blob_store_from_url(settings.blobs_url)
    store = open_store(
        settings.db_url,
        blob_store,
        crash_timeout=settings.crash_timeout,
        migrate="auto" if settings.upgrade_database else "check",
    )
    return ServerState(
        settings=settings,
        store=store,
        access=AccessService(
            store.engine, read_engine=store.read_engine, session_ttl_seconds=settings.session_ttl_seconds
        ),
        links=BlobLinks(store.engine, store.read_engine),
    )


def _route_name(route: APIRoute) -> str:
    return route.name


def create_app(settings: ServerSettings, state: ServerState | None = None) -> FastAPI:
    """The app; `state` may be given by tests that share one store between apps."""
    own_state = state or open_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if state is None:
            own_state.close()

    app = FastAPI(
        title="Despina",
        summary="Self-hosted experiment tracker: runs, fields, series and files.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        # Operation ids are the route names (`create_run`, `ingest`): short names for the generated
        # TypeScript client, and the keys of the authorization matrix test.
        generate_unique_id_function=_route_name,
        openapi_url="/openapi.json",
    )
    app.state.despina = own_state
    # The auth helpers read these two directly.
    app.state.access = own_state.access
    app.state.settings = settings
    app.add_middleware(AccessLogMiddleware)

    @app.exception_handler(RunNotFoundError)
    async def run_not_found(_request: Request, exc: RunNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ProjectNotFoundError)
    async def project_not_found(_request: Request, exc: ProjectNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    app.include_router(health.router)
    for module in (access, runs, catalog, charts, edits, imports, views, live, ingest, blobs, sweeps, data):
        app.include_router(module.router, prefix=API_PREFIX)
    mount_web_ui(app)  # last: its fallback route answers client-side paths only
    return app


SETTINGS_ENV = "DESPINA_SERVER_SETTINGS"


def app_from_environment() -> FastAPI:
    """The app for uvicorn worker processes: `despina server --workers N` passes its settings as JSON in
    DESPINA_SERVER_SETTINGS (read here, when the worker builds its app, never at import)."""
    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise RuntimeError(f"{SETTINGS_ENV} is not set; start the server with `despina server`")
    return create_app(ServerSettings.from_json(text))


__all__ = ["API_PREFIX", "SchemaVersionError", "create_app", "open_state"]
