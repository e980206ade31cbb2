"""Ingest: apply a batch of journal operations to a run, idempotently by (run, writer, sequence).

The body is msgpack, not JSON: float points travel as packed float64 arrays (the codec the journal
uses), which keeps a million-point batch a few megabytes and cheap to parse.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgpack
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from despina.client import field_types as ft
from despina.client.codec import decode_batch
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    AssignAtom,
    Operation,
    RemoveStrings,
    referenced_files,
)
from despina.client.paths import validate_path
from despina.exceptions import FieldPathError
from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.routers.runs import MSGPACK, RUN_ID_PATTERN
from despina.server.settings import Limits
from despina.server.state import ServerState, server_state

router = APIRouter(tags=["ingest"])

_WRITER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"{what} is {int(declared)} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"{what} is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_strings(values: Any, limits: Limits, path: str) -> None:
    for value in values:
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > limits.max_string_bytes:
            raise HTTPException(
                413, f"a string for {path!r} is over the limit of {limits.max_string_bytes} bytes per string"
            )


def validate_operations(items: list[tuple[int, Operation]], limits: Limits) -> None:
    """Refuse a batch with a 4xx naming the limit or the bad path, before anything is applied."""
    if len(items) > limits.max_batch_operations:
        raise HTTPException(
            413, f"the batch has {len(items)} operations; the limit is {limits.max_batch_operations}"
        )
    for _, op in items:
        path = op.path
        if len(path) > limits.max_path_length:
            raise HTTPException(
                413, f"field path {path[:40]!r}... is longer than the limit of {limits.max_path_length}"
            )
        try:
            validate_path(path)
        except FieldPathError as exc:
            raise HTTPException(422, str(exc)) from exc
        if isinstance(op, AssignAtom) and op.type == ft.STRING:
            _check_strings([op.value], limits, path)
        elif isinstance(op, AppendPoints):
            if op.type == ft.STRING_SERIES:
                _check_strings(op.values, limits, path)
            if not (len(op.steps) == len(op.timestamps) == len(op.values)):
                raise HTTPException(
                    422, f"points for {path!r} have unequal numbers of steps, times and values"
                )
        elif isinstance(op, (AddStrings, RemoveStrings)):
            _check_strings(op.values, limits, path)
        elif isinstance(op, AddFileSetEntries):
            _check_strings([name for name, _ in op.entries], limits, path)


@router.post(
    "/projects/{workspace}/{project}/runs/{run_id}/ingest",
    name="ingest",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                MSGPACK: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "msgpack map: writer_id (str), last_seq (int), batch (bytes of "
                        "despina.client.codec.encode_batch)",
                    }
                }
            },
        }
    },
    responses={409: {"description": "Files the batch refers to must be uploaded first (missing_blobs)"}},
)
async def ingest(
    request: Request,
    run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)],
    state: Annotated[ServerState, Depends(server_state)],
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> JSONResponse:
    """Apply operations numbered up to `last_seq` from one writer; replays are harmless."""
    limits = state.settings.limits
    body = await read_body(request, limits.max_batch_bytes, "the ingest batch")

    def work() -> JSONResponse:
        try:
            envelope = msgpack.unpackb(body, raw=False)
            writer_id, last_seq, batch = envelope["writer_id"], envelope["last_seq"], envelope["batch"]
            if not isinstance(writer_id, str) or not _WRITER_ID.fullmatch(writer_id):
                raise ValueError("writer_id must be 1-128 characters of letters, digits and _.:-")
            if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < -1:
                raise ValueError("last_seq must be an integer >= -1")
            items = decode_batch(batch)
        except HTTPException:
            raise
        except Exception as exc:
            raise HTTPException(
                422, f"the ingest body is not a valid batch ({type(exc).__name__}: {exc})"
            ) from exc
        if any(seq > last_seq or seq < 0 for seq, _ in items):
            raise HTTPException(422, "every operation's sequence number must be within 0..last_seq")
        validate_operations(items, limits)
        shas = {ref.sha256 for _, op in items for ref in referenced_files(op)}
        missing = sorted(shas - state.links.linked(access.project, shas))
        if missing:
            # Content may exist under another project; linking needs proof of possession (an upload).
            return JSONResponse(
                {"detail": f"upload these files first: {', '.join(missing)}", "missing_blobs": missing},
                status_code=409,
            )
        result = state.store.ingest(access.project, run_id, writer_id, items, last_seq)
        return JSONResponse({"applied_seq": result.applied_seq, "rejected": result.rejected})

    return await run_in_threadpool(work)
