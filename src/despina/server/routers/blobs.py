"""File contents: resumable uploads in parts, and streamed downloads.

An upload is named after its project and content hash, so a client that lost its connection (or its
process) asks again for the same file and gets the same upload back with the parts already received.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from despina.exceptions import BlobHashMismatchError
from despina.server.auth.dependencies import ProjectAccess, project_access
from despina.server.auth.principal import Role
from despina.server.state import ServerState, server_state

router = APIRouter(tags=["files"])

SHA256_PATTERN = r"^[0-9a-f]{64}$"
UPLOAD_ID_PATTERN = r"^[0-9a-f]{40}$"
PART_SIZE = 8 << 20  # what clients are told to send; parts up to Limits.max_part_bytes are accepted
State = Annotated[ServerState, Depends(server_state)]
Sha256 = Annotated[str, Path(pattern=SHA256_PATTERN)]
UploadId = Annotated[str, Path(pattern=UPLOAD_ID_PATTERN)]


def upload_id_for(project: str, sha256: str) -> str:
    return hashlib.sha256(f"{project}\0{sha256}".encode()).hexdigest()[:40]


class UploadRequest(BaseModel):
    sha256: str = Field(pattern=SHA256_PATTERN)
    size: int = Field(ge=0)


class UploadStatus(BaseModel):
    upload_id: str
    complete: bool = Field(description="The project has this content already: nothing to send.")
    part_size: int
    parts: dict[int, int] = Field(description="Parts received so far: number -> size.")


class CompleteRequest(BaseModel):
    sha256: str = Field(pattern=SHA256_PATTERN)


class BlobInfo(BaseModel):
    sha256: str
    size: int


@router.post("/projects/{workspace}/{project}/uploads", name="start_upload")
async def start_upload(
    body: UploadRequest,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> UploadStatus:
    """Start (or resume) uploading one file's content."""
    limit = state.settings.limits.max_upload_bytes
    if body.size > limit:
        raise HTTPException(413, f"the file is {body.size} bytes; the upload limit is {limit} bytes")
    upload_id = upload_id_for(access.project, body.sha256)
    if await run_in_threadpool(state.links.linked, access.project, [body.sha256]):
        return UploadStatus(upload_id=upload_id, complete=True, part_size=PART_SIZE, parts={})
    parts = await run_in_threadpool(state.store.blobs.parts, upload_id)
    return UploadStatus(upload_id=upload_id, complete=False, part_size=PART_SIZE, parts=parts)


@router.get("/projects/{workspace}/{project}/uploads/{upload_id}", name="upload_status")
async def upload_status(
    upload_id: UploadId,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> UploadStatus:
    """Parts received so far (after a broken connection: send the rest)."""
    parts = await run_in_threadpool(state.store.blobs.parts, upload_id)
    return UploadStatus(upload_id=upload_id, complete=False, part_size=PART_SIZE, parts=parts)


@router.put(
    "/projects/{workspace}/{project}/uploads/{upload_id}/parts/{part_no}",
    name="upload_part",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_part(
    request: Request,
    upload_id: UploadId,
    part_no: Annotated[int, Path(ge=0, le=100_000)],
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> dict[str, int]:
    """Receive one part (sending it again replaces it). Streamed to disk, never held in memory whole."""
    limit = state.settings.limits.max_part_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the part is {declared} bytes; the limit per part is {limit} bytes")
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"the part is over the limit of {limit} bytes per part")
            await run_in_threadpool(spool.write, chunk)
        spool.seek(0)
        stream: BinaryIO = spool  # type: ignore[assignment]
        stored = await run_in_threadpool(state.store.blobs.put_part, upload_id, part_no, stream)
    return {"part_no": part_no, "size": stored}


@router.post("/projects/{workspace}/{project}/uploads/{upload_id}/complete", name="complete_upload")
async def complete_upload(
    body: CompleteRequest,
    upload_id: UploadId,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))],
) -> BlobInfo:
    """Join the parts, check the content's sha256, store it and make it readable in this project."""
    if upload_id != upload_id_for(access.project, body.sha256):
        raise HTTPException(422, "this upload id belongs to another file or project; start the upload again")
    if not await run_in_threadpool(state.store.blobs.parts, upload_id):
        if await run_in_threadpool(state.links.linked, access.project, [body.sha256]):
            size = await run_in_threadpool(state.store.blobs.size, body.sha256)
            return BlobInfo(sha256=body.sha256, size=size)
        raise HTTPException(422, "no parts were received for this upload")
    try:
        size = await run_in_threadpool(state.store.blobs.complete_upload, upload_id, body.sha256)
    except BlobHashMismatchError as exc:
        raise HTTPException(422, f"the uploaded content does not match its sha256: {exc}") from exc
    except FileNotFoundError as exc:  # another request completed it a moment ago
        if not await run_in_threadpool(state.store.blobs.exists, body.sha256):
            raise HTTPException(422, "no parts were received for this upload") from exc
        size = await run_in_threadpool(state.store.blobs.size, body.sha256)
    except ValueError as exc:  # a gap: the message names the missing parts, which are kept
        raise HTTPException(409, str(exc)) from exc
    except OSError as exc:  # the disk or bucket failed; the parts are kept, completing again retries
        raise HTTPException(503, f"the blob store failed: {exc}") from exc
    await run_in_threadpool(state.links.link, access.project, [body.sha256])
    return BlobInfo(sha256=body.sha256, size=size)


def _stream(source: BinaryIO) -> Iterator[bytes]:
    with source:
        while chunk := source.read(1 << 20):
            yield chunk


@router.get(
    "/projects/{workspace}/{project}/blobs/{sha256}",
    name="download_blob",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_blob(
    sha256: Sha256,
    state: State,
    access: Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))],
) -> Response:
    """The content of a file a run of this project refers to, streamed."""
    if not await run_in_threadpool(state.links.linked, access.project, [sha256]):
        raise HTTPException(404, f"project {access.project!r} has no file with sha256 {sha256}")
    size = await run_in_threadpool(state.store.blobs.size, sha256)
    source = await run_in_threadpool(state.store.blobs.open, sha256)
    return StreamingResponse(
        _stream(source),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{sha256}"', "Cache-Control": "private, immutable"},
    )
