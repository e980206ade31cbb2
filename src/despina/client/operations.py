"""Operations: every mutation of a run, as a small immutable value.

The client turns each call (`run["a"] = 1`, `.append(v)`, `.upload(f)`) into one operation, the journal
stores it, and a backend applies it. Operations carry no I/O and no run identity: they are addressed
to a run by whoever applies them. `codec.py` turns them into bytes and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

AtomValue: TypeAlias = "float | int | bool | str | datetime"


@dataclass(frozen=True, slots=True)
class FileRef:
    """A stored file: its content lives in the blob store under `sha256`."""

    sha256: str
    size: int
    name: str
    extension: str
    mime_type: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "name": self.name,
            "extension": self.extension,
            "mime_type": self.mime_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileRef:
        return cls(data["sha256"], int(data["size"]), data["name"], data["extension"], data["mime_type"])


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """Tracked files as a field holds them: the set hash, the count and total size, and the blob
    (`manifest`, a sha256) whose content is the file list (see `despina.client.artifact_manifest`)."""

    hash: str
    file_count: int
    total_size: int
    manifest: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "file_count": self.file_count,
            "total_size": self.total_size,
            "manifest": self.manifest,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactRef:
        return cls(data["hash"], int(data["file_count"]), int(data["total_size"]), data["manifest"])


@dataclass(frozen=True, slots=True)
class AssignAtom:
    """Set a float, int, bool, string or datetime field (creating it)."""

    path: str
    type: str
    value: AtomValue


@dataclass(frozen=True, slots=True)
class AppendPoints:
    """Append points to a float, string or file series.

    `seqs`, when set, holds the journal sequence number of each point: a float series coming out of the
    journal is one record per point, merged here, and the store skips points it has already applied.
    """

    path: str
    type: str
    steps: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.float64]
    values: list[Any] | npt.NDArray[np.float64]
    seqs: npt.NDArray[np.int64] | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True, slots=True)
class AssignFile:
    """Set a file field to a stored blob."""

    path: str
    file: FileRef


@dataclass(frozen=True, slots=True)
class AddFileSetEntries:
    """Add files (relative name -> blob) to a file set; `reset` replaces the set first."""

    path: str
    entries: tuple[tuple[str, FileRef], ...]
    reset: bool = False


@dataclass(frozen=True, slots=True)
class AssignArtifact:
    """Set an artifact field to a new version of tracked files; `manifest` is the file-list blob."""

    path: str
    artifact: ArtifactRef
    manifest: FileRef


@dataclass(frozen=True, slots=True)
class AddStrings:
    """Add values to a string set (tags)."""

    path: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoveStrings:
    """Remove values from a string set."""

    path: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeleteField:
    """Delete a field, or every field under a namespace."""

    path: str


Operation: TypeAlias = (
    "AssignAtom | AppendPoints | AssignFile | AddFileSetEntries | AddStrings | RemoveStrings | DeleteField"
    " | AssignArtifact"
)


def referenced_files(op: Operation) -> list[FileRef]:
    """Blobs an operation needs in the blob store before it can be applied."""
    if isinstance(op, AssignFile):
        return [op.file]
    if isinstance(op, AddFileSetEntries):
        return [ref for _, ref in op.entries]
    if isinstance(op, AssignArtifact):
        return [op.manifest]
    if isinstance(op, AppendPoints) and op.type == "fileSeries":
        return list(op.values)
    return []
