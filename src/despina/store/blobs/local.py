"""Blobs in a local folder, addressed by their sha256 (`ab/cd/abcd...`).

Layout under the root::

    ab/cd/abcd...           a blob, named by its sha256
    uploads/<upload_id>/3   part 3 of a resumable upload, until it is completed or aborted
    .*.tmp                  a blob or part being written (renamed into place when whole)
    .quarantine/abcd...     a blob garbage collection is about to delete (see `store/sql/blob_gc.py`)

A blob's modification time is when it was last stored or found stored (`touch`): garbage collection
keeps whatever was touched recently, since whoever found it may be about to refer to it.

Every file appears by an atomic rename of a complete temp file, so readers and concurrent writers
(threads, processes, several servers sharing the folder) never see half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from despina.exceptions import BlobHashMismatchError
from despina.store.blobs._io import copy_stream, fsync_dir, fsync_file, listed, unique_suffix
from despina.store.blobs.base import (
    missing_parts,
    validate_part_no,
    validate_sha256,
    validate_upload_id,
)

_PART_NAME = re.compile(r"[0-9]+")
_HEX2 = re.compile(r"[0-9a-f]{2}")
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
QUARANTINE = ".quarantine"


def _entries(folder: Path) -> list[Path]:
    """A folder's entries in name order; none for a folder removed meanwhile."""
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    modified: float  # unix seconds: when it was last stored or touched


class LocalBlobStore:
    """A folder of immutable files named by content hash; writing the same content twice is a no-op."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        """Where the blob `sha256` lives (whether or not it is stored)."""
        validate_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        path = self.path(sha256)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise FileNotFoundError(f"no blob {sha256} in {self.root} (looked for {path})") from None

    def put_file(self, source: Path, sha256: str) -> None:
        """Copy `source` (whose hash the caller computed) in; atomic, so readers never see half a blob.
        Content stored already is only touched."""
        target = self.path(sha256)
        if target.exists():
            self.touch(sha256)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Unique per writer (threads of one process too), so concurrent copies of one blob never meet.
        tmp = target.with_name(f".{sha256}.{unique_suffix()}")
        try:
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as handle:
                fsync_file(handle)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(target.parent)

    def touch(self, sha256: str) -> None:
        """Mark stored content as just used (its modification time): garbage collection keeps it."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path(sha256))

    # -- garbage collection (`store/sql/blob_gc.py`) ----------------------------------------------

    def stored(self) -> Iterator[StoredBlob]:
        """Every blob in the folder, with its size and modification time."""
        for first in _entries(self.root):
            if not _HEX2.fullmatch(first.name) or not first.is_dir():
                continue  # uploads/, .quarantine/, temp files
            for second in _entries(first):
                for entry in _entries(second):
                    if _SHA256_NAME.fullmatch(entry.name):
                        try:
                            info = entry.stat()
                        except FileNotFoundError:
                            continue  # collected meanwhile
                        yield StoredBlob(entry.name, info.st_size, info.st_mtime)

    def clock(self) -> float:
        """Now, by the clock that stamps the blobs' modification times (the file system's, coarser
        than `time.time()`: a touch a millisecond after `time.time()` may read as before it)."""
        marker = self.root / QUARANTINE / ".clock"
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
        return marker.stat().st_mtime

    def _quarantined(self, sha256: str) -> Path:
        validate_sha256(sha256)
        return self.root / QUARANTINE / sha256

    def quarantine(self, sha256: str) -> float | None:
        """Move a blob aside (readers and writers no longer find it); returns its modification time
        as moved, read after the move so that a touch just before it counts, or None when it was gone."""
        target = self._quarantined(sha256)
        target.parent.mkdir(exist_ok=True)
        try:
            os.replace(self.path(sha256), target)
        except FileNotFoundError:
            return None
        return target.stat().st_mtime

    def release(self, sha256: str) -> None:
        """Put a quarantined blob back (or drop it when the content was stored again meanwhile)."""
        source = self._quarantined(sha256)
        target = self.path(sha256)
        if target.exists():
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    def purge(self, sha256: str) -> None:
        """Delete a quarantined blob for good."""
        self._quarantined(sha256).unlink(missing_ok=True)

    def open(self, sha256: str) -> BinaryIO:
        path = self.path(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"no blob {sha256} in {self.root} (looked for {path})") from None

    # -- resumable uploads -------------------------------------------------------------------------

    def _upload_dir(self, upload_id: str) -> Path:
        return self.root / "uploads" / validate_upload_id(upload_id)

    def put_part(self, upload_id: str, part_no: int, data: BinaryIO) -> int:
        folder = self._upload_dir(upload_id)
        target = folder / str(validate_part_no(part_no))
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{part_no}.{unique_suffix()}"
        try:
            with open(tmp, "wb") as handle:
                size = copy_stream(data, handle)
                fsync_file(handle)
            # The server acknowledges the part once this returns: it must survive a crash.
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(folder)
        return size

    def parts(self, upload_id: str) -> dict[int, int]:
        folder = self._upload_dir(upload_id)
        found: dict[int, int] = {}
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return found
        for entry in entries:
            if not _PART_NAME.fullmatch(entry.name):
                continue  # a part still being written
            try:
                found[int(entry.name)] = entry.stat().st_size
            except FileNotFoundError:
                continue  # removed by a concurrent completion or abort
        return dict(sorted(found.items()))

    def complete_upload(self, upload_id: str, sha256: str) -> int:
        target = self.path(sha256)
        staged = self.parts(upload_id)
        folder = self._upload_dir(upload_id)
        if not staged:
            raise FileNotFoundError(f"upload {upload_id} has no parts in {folder}")
        missing = missing_parts(list(staged))
        if missing:
            raise ValueError(f"upload {upload_id} lacks part(s) {listed(missing)}: send them, then complete")
        digest = hashlib.sha256()
        # The temp file sits in the root, on the same file system as the target, so the rename is atomic.
        tmp = self.root / f".upload-{upload_id}.{unique_suffix()}"
        try:
            with open(tmp, "wb") as handle:
                size = 0
                for part_no in staged:
                    with open(folder / str(part_no), "rb") as part:
                        size += copy_stream(part, handle, digest)
                fsync_file(handle)
            if digest.hexdigest() != sha256:
                self.abort_upload(upload_id)
                raise BlobHashMismatchError(
                    f"upload {upload_id} ({size} bytes in {len(staged)} part(s)) has sha256 "
                    f"{digest.hexdigest()}, not {sha256}; its parts were dropped"
                )
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
                fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)
        self.abort_upload(upload_id)
        return size

    def abort_upload(self, upload_id: str) -> None:
        folder = self._upload_dir(upload_id)
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        # A flat folder of our own files: unlink them one by one, tolerating a concurrent abort.
        for entry in entries:
            Path(entry.path).unlink(missing_ok=True)
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # a part arrived meanwhile (a client still sending): it stays for a later abort
