"""Streaming helpers shared by the blob stores: fixed-size chunks, never a whole file in memory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1 << 20
"""Bytes moved per read: large enough for throughput, small enough that memory stays flat."""


class Digest(Protocol):
    """What `copy_stream` needs of a hashlib object."""

    def update(self, data: bytes, /) -> None: ...


def copy_stream(source: BinaryIO, target: BinaryIO | None, digest: Digest | None = None) -> int:
    """Copy `source` to its end into `target` (None: only count), feeding `digest`; returns the bytes."""
    total = 0
    while chunk := source.read(CHUNK_SIZE):
        if target is not None:
            target.write(chunk)
        if digest is not None:
            digest.update(chunk)
        total += len(chunk)
    return total


def fsync_file(handle: BinaryIO) -> None:
    """Make what was written to `handle` durable before it is renamed into place."""
    handle.flush()
    os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX only: Windows cannot open a folder)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unique_suffix() -> str:
    """A temp-file suffix no other writer (process or thread) of the same target can pick."""
    return f"{os.getpid()}.{os.urandom(6).hex()}.tmp"


def listed(numbers: list[int], limit: int = 10) -> str:
    """`1, 2, 5` (and how many more, past `limit`) for an error message."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown if len(numbers) <= limit else f"{shown} and {len(numbers) - limit} more"
