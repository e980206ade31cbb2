"""Structured access logs: one JSON object per request on the `despina.access` logger."""

from __future__ import annotations

import json
import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("despina.access")


class JsonFormatter(logging.Formatter):
    """Formats records whose message is a dict as one JSON line (for log shippers)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        return json.dumps({"time": round(record.created, 3), "level": record.levelname, **payload})


class AccessLogMiddleware:
    """Logs each HTTP request when its handling ends: method, path, status, duration, client, user.

    A plain ASGI middleware, not Starlette's `BaseHTTPMiddleware` (`app.middleware("http")`): that
    one hands the app a `receive` of its own, through which an endpoint never sees its client leave,
    so a long poll went on polling for a page already closed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            headers = Headers(scope=scope)
            principal = scope.get("state", {}).get("principal")  # set by the auth dependency
            client = scope.get("client")
            logger.info(
                {
                    "event": "request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": client[0] if client else None,
                    "user": getattr(principal, "username", None),
                    "bytes_in": int(headers.get("content-length") or 0),
                }
            )


def configure_access_log(stream_handler: logging.Handler | None = None) -> None:
    """Send access logs as JSON lines to stderr (once per process)."""
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = stream_handler or logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
