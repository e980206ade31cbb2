"""The web UI: the bundle web/ builds (into `despina/server/static/`), served by the API's own app.

- `/assets/...`: the bundle's hashed files, cached for a year, gzip-compressed once in memory when the
  browser accepts it (the bundle is immutable while the process runs).
- Any other GET that is not the API (`/api/...`), the docs or a health probe: `index.html`, so a
  client-side path (`/p/team/cassava/runs?query=...`) reloads and links work.
- `/preview/{workspace}/{project}/{sha256}`: an HTML file of a run (a plotly figure, a report) for the
  UI's sandboxed frame, under a CSP `sandbox` of its own: its scripts run in an opaque origin that can
  reach neither the API nor the session cookie.

Every UI page carries a strict Content-Security-Policy: scripts and styles only from this origin (no
inline script), frames only from this origin (the preview above), nothing framing us.
"""

from __future__ import annotations

import gzip
import mimetypes
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.state import ServerState, server_state

STATIC_DIR = Path(__file__).with_name("static")
INDEX = "index.html"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        # Only the sandboxed HTML preview is ever framed.
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The preview's own policy: an opaque origin (no cookies, no API), inline scripts allowed because a
# plotly figure is one page of inline script, and no network at all.
PREVIEW_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Paths the SPA never answers: the API, its docs and the probes answer (or 404) themselves.
NOT_UI_PREFIXES = ("api/", "docs", "redoc", "openapi.json", "health", "ready", "assets/", "preview/")
GZIP_MIN_BYTES = 1024
MAX_PREVIEW_BYTES = 50 * 1024 * 1024

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Despina</title>
<h1>The Despina web UI is not built</h1>
<p>This server's package has no UI bundle (<code>{path}</code> is missing). Install Despina with
<code>pip install .</code> (its build runs <code>npm ci &amp;&amp; npm run build</code> in
<code>web/</code>), or run that in <code>web/</code> of a source checkout. The API is at
<a href="/docs">/docs</a>.</p>"""


class StaticBundle:
    """The bundle's files, read and compressed at most once each (index.html is small and read anew,
    so a rebuilt bundle shows without a restart)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[tuple[str, bool], tuple[bytes, str, bool]] = {}

    @property
    def built(self) -> bool:
        return (self.root / INDEX).is_file()

    def read(self, relative: str, gzipped: bool) -> tuple[bytes, str, bool] | None:
        """(body, content type, whether gzip-compressed) of a file under the root, compressed when
        asked and worth it (text, not images); None for a path outside the root or a missing file."""
        key = (relative, gzipped)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        parts = PurePosixPath(relative).parts
        if not parts or any(part in ("..", "") or part.startswith(".") for part in parts):
            return None
        path = self.root.joinpath(*parts)
        if not path.is_file():
            return None
        body = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        textual = media_type.startswith("text/") or media_type in (
            "application/javascript",
            "application/json",
            "image/svg+xml",
        )
        if textual:
            media_type += "; charset=utf-8"
        compressed = gzipped and textual and len(body) >= GZIP_MIN_BYTES
        if compressed:
            body = gzip.compress(body, compresslevel=9, mtime=0)
        if relative != INDEX:  # assets have hashed names; index.html names the current build
            self._cache[key] = (body, media_type, compressed)
        return body, media_type, compressed


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _file_response(bundle: StaticBundle, relative: str, request: Request, cache: str) -> Response | None:
    gzipped = _accepts_gzip(request)
    found = bundle.read(relative, gzipped)
    if found is None:
        return None
    body, media_type, compressed = found
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "Vary": "Accept-Encoding"}
    if compressed:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=media_type, headers=headers)


def _index(bundle: StaticBundle, request: Request) -> Response:
    if not bundle.built:
        return HTMLResponse(
            _NOT_BUILT.format(path=bundle.root / INDEX), status_code=503, headers=SECURITY_HEADERS
        )
    # index.html names the hashed assets of this build: never cached, so an upgrade shows at once.
    response = _file_response(bundle, INDEX, request, "no-cache")
    assert response is not None
    return response


def web_ui_router(root: Path = STATIC_DIR) -> APIRouter:
    """Routes of the UI (none in the OpenAPI schema: they are pages, not API)."""
    bundle = StaticBundle(root)
    router = APIRouter(include_in_schema=False)

    @router.get("/assets/{path:path}")
    async def asset(path: str, request: Request) -> Response:
        response = await run_in_threadpool(
            _file_response, bundle, f"assets/{path}", request, "public, max-age=31536000, immutable"
        )
        if response is None:
            raise HTTPException(404, f"no asset {path!r} in this build of the web UI")
        return response

    @router.get("/preview/{workspace}/{project}/{sha256}")
    async def preview(
        sha256: str,
        state: Annotated[ServerState, Depends(server_state)],
        access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
    ) -> Response:
        """An HTML file of this project, to be shown in a sandboxed frame."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise HTTPException(422, "sha256 must be 64 lowercase hex digits")

        def read() -> bytes:
            if not state.links.linked(access.project, [sha256]):
                raise HTTPException(404, f"project {access.project!r} has no file with sha256 {sha256}")
            if state.store.blobs.size(sha256) > MAX_PREVIEW_BYTES:
                raise HTTPException(413, "the file is too large to preview; download it instead")
            with state.store.blobs.open(sha256) as source:
                return source.read()

        body = await run_in_threadpool(read)
        return Response(
            body,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": PREVIEW_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, max-age=3600",
            },
        )

    @router.get("/{path:path}")
    async def page(path: str, request: Request) -> Response:
        if path.startswith(NOT_UI_PREFIXES):
            raise HTTPException(404, f"no route /{path}")
        # Files at the bundle's root (favicon.svg) are served as themselves; every other path is a page.
        if path and "/" not in path and "." in path:
            response = await run_in_threadpool(_file_response, bundle, path, request, "public, max-age=3600")
            if response is not None:
                return response
        return await run_in_threadpool(_index, bundle, request)

    return router


def mount_web_ui(app: FastAPI, root: Path = STATIC_DIR) -> None:
    """Serve the UI from `root`; include it after the API so that every API route matches first."""
    app.include_router(web_ui_router(root))


__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "mount_web_ui", "web_ui_router"]
