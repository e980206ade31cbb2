"""The blob store contract: immutable file contents addressed by their sha256.

Implementations: `local.LocalBlobStore` (a folder) and `s3.S3BlobStore` (an S3-compatible bucket).
`blob_store_from_url` in `__init__` picks one by URL scheme.

Invariants every implementation keeps:

- Content is stored under its sha256 hex digest and never changes; putting the same content twice is
  a no-op, and readers never see a partly written blob.
- `open` streams: nothing reads a whole blob into memory.
- Resumable uploads: parts of an upload (numbered from 0) are staged under an upload id until
  `complete_upload` joins them in order, checks the sha256 of the whole and stores the blob (raising
  `BlobHashMismatchError`, and keeping nothing, when the content does not match). Sending a part again
  replaces it, so a client that lost its connection asks `parts` what arrived and sends the rest.
- Keys come only from validated sha256 digests and upload ids (`validate_upload_id`), so no name a
  client chooses can reach outside the store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Protocol

from despina.exceptions import BlobHashMismatchError

__all__ = ["BlobHashMismatchError", "BlobStore", "validate_sha256", "validate_upload_id"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UPLOAD_ID = re.compile(r"[0-9A-Za-z_-]{8,64}")


def validate_sha256(sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"{sha256!r} is not a sha256 hex digest (64 lowercase hex characters)")
    return sha256


def validate_upload_id(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"{upload_id!r} is not an upload id (8 to 64 of A-Z, a-z, 0-9, '_' and '-')")
    return upload_id


class BlobStore(Protocol):
    """Where file contents live."""

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int:
        """Bytes stored under `sha256`; FileNotFoundError when there is no such blob."""
        ...

    def put_file(self, source: Path, sha256: str) -> None:
        """Store the file `source`, whose sha256 the caller computed (no-op when already stored)."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A binary stream of the content; FileNotFoundError when there is no such blob."""
        ...

    def put_part(self, upload_id: str, part_no: int, data: BinaryIO) -> int:
        """Stage part `part_no` of an upload from a stream; returns its size. Replaces an earlier copy."""
        ...

    def parts(self, upload_id: str) -> dict[int, int]:
        """Parts staged so far for an upload: part number -> size."""
        ...

    def complete_upload(self, upload_id: str, sha256: str) -> int:
        """Join the staged parts in order into the blob `sha256`, verified; returns its size.

        Raises BlobHashMismatchError when the joined content has another digest. The staged parts
        are removed either way.
        """
        ...

    def abort_upload(self, upload_id: str) -> None:
        """Drop an upload's staged parts."""
        ...
