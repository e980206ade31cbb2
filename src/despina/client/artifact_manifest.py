"""Tracked files: one file's record, the set hash, the file-list document, and the difference of two sets.

Pure values and bytes, no I/O: the client (tracking.py), the store and the server all use them.

The **set hash** fingerprints what a run read: sha256 over the files sorted by relative path, each as
(path, size, hash type, hash). It is stable under the order files were found in and changes with any
rename, addition, removal or content change; it does not depend on where the files lie or on their
modification times, so the same data tracked on two machines (or restored from a backup) is the same
version.

The **file list** (every file's path, size, hash, modification time and location) can hold 100,000
entries, so it is not kept in the field's row: it is a gzip-compressed JSON document stored as a
content-addressed blob (`MANIFEST_EXTENSION`), which the field names by its sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

FORMAT_VERSION = 1
MANIFEST_EXTENSION = "json.gz"
MANIFEST_MIME_TYPE = "application/gzip"

# Hash types. A sha256 and (usually) a single-part S3 ETag are digests of the content; the ETag of an
# object uploaded in parts ("<md5 of part md5s>-<parts>") depends on the part size, so the same bytes
# uploaded another way read as changed.
SHA256 = "sha256"
S3_ETAG = "s3-etag"
S3_MULTIPART_ETAG = "s3-etag-multipart"
CONTENT_HASH_TYPES = frozenset({SHA256, S3_ETAG})


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One tracked file: `path` relative to the tracked set ("/"-separated), where it was (`location`:
    an absolute path or an s3:// URL), its size, content hash and modification time (epoch seconds)."""

    path: str
    size: int
    hash: str
    hash_type: str
    mtime: float | None
    location: str

    @property
    def is_content_hash(self) -> bool:
        """Whether `hash` is a digest of the bytes alone (see CONTENT_HASH_TYPES)."""
        return self.hash_type in CONTENT_HASH_TYPES

    # Neptune's ArtifactFileData names.
    @property
    def file_path(self) -> str:
        return self.path

    @property
    def file_hash(self) -> str:
        return self.hash

    @property
    def type(self) -> str:
        """Neptune's driver name: "S3" or "Local"."""
        return "S3" if self.location.lower().startswith("s3://") else "Local"

    @property
    def metadata(self) -> dict[str, str]:
        """Neptune's per-file metadata: the location and the modification time."""
        data = {"location": self.location}
        if self.mtime is not None:
            data["last_modified"] = datetime.fromtimestamp(self.mtime, tz=timezone.utc).isoformat()
        return data

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "hash": self.hash,
            "hash_type": self.hash_type,
            "mtime": self.mtime,
            "location": self.location,
        }


def set_hash(files: Iterable[ArtifactFile]) -> str:
    """The hash of a set of files (see the module docstring), 64 hex characters."""
    canonical = sorted([f.path, f.size, f.hash_type, f.hash] for f in files)
    digest = hashlib.sha256(b"despina-artifact-v1\n")
    digest.update(json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A version of tracked files: the files sorted by path, their set hash, and notes for readers
    (e.g. that some hashes are S3 multipart ETags, not content hashes)."""

    files: tuple[ArtifactFile, ...]
    notes: tuple[str, ...] = ()
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.files, key=lambda f: f.path))
        object.__setattr__(self, "files", ordered)
        object.__setattr__(self, "hash", set_hash(ordered))

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_bytes(self) -> bytes:
        """The document as stored: deterministic, so equal manifests are one blob."""
        document = {
            "format": FORMAT_VERSION,
            "hash": self.hash,
            "notes": list(self.notes),
            "files": [[f.path, f.size, f.hash, f.hash_type, f.mtime, f.location] for f in self.files],
        }
        raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        return gzip.compress(raw, compresslevel=6, mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        document = json.loads(gzip.decompress(data))
        if document.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"tracked-files list format {document.get('format')!r} is newer than {FORMAT_VERSION}; "
                "upgrade Despina"
            )
        files = tuple(
            ArtifactFile(path, int(size), hash_, hash_type, mtime, location)
            for path, size, hash_, hash_type, mtime, location in document["files"]
        )
        return cls(files, tuple(document.get("notes", ())))


@dataclass(frozen=True)
class FieldDiff:
    """How one artifact field differs between run A and run B (`hash_*` None: the run lacks it)."""

    path: str
    hash_a: str | None
    hash_b: str | None
    added: tuple[ArtifactFile, ...] = ()
    removed: tuple[ArtifactFile, ...] = ()
    changed: tuple[tuple[ArtifactFile, ArtifactFile], ...] = ()
    unchanged: int = 0

    @property
    def same(self) -> bool:
        return self.hash_a == self.hash_b

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "hash_a": self.hash_a,
            "hash_b": self.hash_b,
            "same": self.same,
            "added": [f.to_dict() for f in self.added],
            "removed": [f.to_dict() for f in self.removed],
            "changed": [{"a": a.to_dict(), "b": b.to_dict()} for a, b in self.changed],
            "unchanged": self.unchanged,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldDiff:
        def file(raw: dict[str, Any]) -> ArtifactFile:
            return ArtifactFile(**raw)

        return cls(
            data["path"],
            data["hash_a"],
            data["hash_b"],
            tuple(file(f) for f in data["added"]),
            tuple(file(f) for f in data["removed"]),
            tuple((file(c["a"]), file(c["b"])) for c in data["changed"]),
            int(data["unchanged"]),
        )


def diff_files(path: str, a: Manifest | None, b: Manifest | None) -> FieldDiff:
    """Files added in B, removed from A, and changed (same path, other size or hash) between them."""
    old = {f.path: f for f in (a.files if a is not None else ())}
    new = {f.path: f for f in (b.files if b is not None else ())}
    added = tuple(f for p, f in new.items() if p not in old)
    removed = tuple(f for p, f in old.items() if p not in new)
    changed = tuple(
        (old[p], f)
        for p, f in new.items()
        if p in old and (old[p].size, old[p].hash_type, old[p].hash) != (f.size, f.hash_type, f.hash)
    )
    unchanged = sum(1 for p in new if p in old) - len(changed)
    return FieldDiff(
        path,
        None if a is None else a.hash,
        None if b is None else b.hash,
        added,
        removed,
        changed,
        unchanged,
    )
