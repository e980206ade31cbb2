"""Staging file contents into a journal: hashed and copied at call time, so later edits or deletion of
the original cannot change what the run logged."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from despina.client.operations import FileRef
from despina.types import File

_CHUNK = 1 << 20


def stage_file(file: File, staging: Path | None, default_name: str) -> FileRef:
    """Hash `file` and (unless `staging` is None, as in debug mode) copy it to `staging/<sha256>`."""
    digest = hashlib.sha256()
    size = 0
    tmp: Path | None = None
    out = None
    if staging is not None:
        tmp = staging / f".incoming-{os.getpid()}-{os.urandom(6).hex()}"
        out = open(tmp, "wb")  # noqa: SIM115 - closed in the finally below
    try:
        with file.open() as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if out is not None:
                    out.write(chunk)
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
    finally:
        if out is not None:
            out.close()
    sha = digest.hexdigest()
    if tmp is not None and staging is not None:
        target = staging / sha
        if target.exists():
            tmp.unlink()
        else:
            os.replace(tmp, target)
    name = (
        Path(file.path).name
        if file.path
        else (f"{default_name}.{file.extension}" if file.extension else default_name)
    )
    return FileRef(sha, size, name, file.extension, file.mime_type)


def copy_blob_to(source_stream: BinaryIO, destination: Path) -> None:
    """Write a blob stream to `destination` atomically."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.part")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(source_stream, out, _CHUNK)
    os.replace(tmp, destination)
