"""The blob store contract: immutable file contents addressed by their sha256.

Implementations: `local.LocalBlobStore` (a folder) and `s3.S3BlobStore` (an S3-compatible bucket).
`blob_store_from_url` in `__init__` picks one by URL scheme.

Invariants every implementation keeps:

- Content is stored under its sha256 hex digest and never changes; putting the same content twice is
  a no-op, and readers never see a partly written blob. Several processes may write the same blob at
  once.
- `open` streams: nothing reads a whole blob (or a whole part) into memory.
- Resumable uploads: parts of an upload (numbered from 0 to `MAX_PART_NO`) are staged under an upload
  id, in the store itself (so any server process behind a load balancer can take the next part),
  until `complete_upload` joins them in order, checks the sha256 of the whole and stores the blob
  (raising `BlobHashMismatchError`, and keeping nothing, when the content does not match). Sending a
  part again replaces it, so a client that lost its connection asks `parts` what arrived and sends
  the rest. Parts of abandoned uploads stay until `abort_upload`.
- Keys come only from validated sha256 digests, upload ids (`validate_upload_id`) and part numbers
  (`validate_part_no`); invalid ones raise ValueError before storage is touched, so no name a client
  chooses can reach outside the store.
- Failures of the storage itself (disk full, bucket unreachable) raise OSError naming the file or
  the bucket and key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Protocol

from despina.exceptions import BlobHashMismatchError

__all__ = [
    "MAX_PART_NO",
    "BlobHashMismatchError",
    "BlobStore",
    "missing_parts",
    "validate_part_no",
    "validate_sha256",
    "validate_upload_id",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UPLOAD_ID = re.compile(r"[0-9A-Za-z_-]{8,64}")

MAX_PART_NO = 100_000
"""The highest part number of an upload (parts are numbered from 0)."""


def validate_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"{sha256!r} is not a sha256 hex digest (64 lowercase hex characters)")
    return sha256


def validate_upload_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"{upload_id!r} is not an upload id (8 to 64 of A-Z, a-z, 0-9, '_' and '-')")
    return upload_id


def validate_part_no(part_no: int) -> int:
    # bool is an int subclass; True as a part number is a caller's mistake, not part 1.
    if not isinstance(part_no, int) or isinstance(part_no, bool) or not 0 <= part_no <= MAX_PART_NO:
        raise ValueError(f"{part_no!r} is not a part number (an integer from 0 to {MAX_PART_NO})")
    return part_no


def missing_parts(part_numbers: list[int]) -> list[int]:
    """Part numbers below the highest staged one that were never received."""
    present = set(part_numbers)
    return [n for n in range(max(present, default=-1)) if n not in present]


class BlobStore(Protocol):
    """Where file contents live."""

    def exists(self, sha256: str) -> bool: ...

    def touch(self, sha256: str) -> None:
        """Mark stored content as just used: garbage collection keeps it (no-op where none runs)."""
        ...

    def size(self, sha256: str) -> int:
        """Bytes stored under `sha256`; FileNotFoundError when there is no such blob."""
        ...

    def put_file(self, source: Path, sha256: str) -> None:
        """Store the file `source`, whose sha256 the caller computed (no-op when already stored)."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A binary stream of the content; FileNotFoundError when there is no such blob.

        The caller closes it (it is a context manager).
        """
        ...

    def put_part(self, upload_id: str, part_no: int, data: BinaryIO) -> int:
        """Stage part `part_no` of an upload from a stream; returns its size. Replaces an earlier copy.

        `data` is read from its current position to its end, in chunks. A part being replaced stays
        readable until the new copy is complete.
        """
        ...

    def parts(self, upload_id: str) -> dict[int, int]:
        """Parts staged so far for an upload: part number -> size (empty for an unknown upload)."""
        ...

    def complete_upload(self, upload_id: str, sha256: str) -> int:
        """Join the staged parts in order into the blob `sha256`, verified; returns its size.

        Raises BlobHashMismatchError when the joined content has another digest; the staged parts
        are removed then, as after success. Raises FileNotFoundError when no part is staged, and
        ValueError naming the missing numbers when parts 0..highest are not all there; the staged
        parts are kept then (and after a storage failure), so the client can send the rest and
        complete again.
        """
        ...

    def abort_upload(self, upload_id: str) -> None:
        """Drop an upload's staged parts (a no-op for an unknown upload)."""
        ...
