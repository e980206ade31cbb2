"""Structured access logs: one JSON object per request on the `despina.access` logger."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

logger = logging.getLogger("despina.access")


class JsonFormatter(logging.Formatter):
    """Formats records whose message is a dict as one JSON line (for log shippers)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        return json.dumps({"time": round(record.created, 3), "level": record.levelname, **payload})


async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        principal = getattr(request.state, "principal", None)
        logger.info(
            {
                "event": "request",
                "method": request.method,
                "path": request.url.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": request.client.host if request.client else None,
                "user": getattr(principal, "username", None),
                "bytes_in": int(request.headers.get("content-length") or 0),
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
