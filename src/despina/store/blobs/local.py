"""Blobs in a local folder, addressed by their sha256 (`ab/cd/abcd...`)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import BinaryIO


class LocalBlobStore:
    """A folder of immutable files named by content hash; writing the same content twice is a no-op."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"{sha256!r} is not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put_file(self, source: Path, sha256: str) -> None:
        """Copy `source` (whose hash the caller computed) in; atomic, so readers never see half a blob."""
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Unique per writer (threads of one process too), so concurrent copies of one blob never meet.
        tmp = target.with_name(f".{sha256}.{os.getpid()}.{threading.get_ident()}.{os.urandom(4).hex()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")
