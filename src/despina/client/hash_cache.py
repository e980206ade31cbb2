"""A cache of file content hashes keyed by (absolute path, size, modification time), so tracking a
large directory again hashes only the files that changed.

It lives in DESPINA_HOME (`cache/file-hashes.db`, SQLite) and is shared by the processes of that home;
a file rewritten with the same size within the file system's timestamp resolution would be missed,
which is the trade every build tool's cache makes (make, rsync, DVC).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

_BATCH = 500  # SQLite's default limit of bound variables per statement is 999


class HashCache:
    """sha256 of files by (path, size, mtime_ns); thread-safe, and safe to share between processes."""

    def __init__(self, file: Path) -> None:
        file.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(file, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS file_hashes ("
            " path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
        )

    def lookup(self, files: Sequence[tuple[str, int, int]]) -> dict[str, str]:
        """The known hashes of `(path, size, mtime_ns)` entries whose size and mtime still match."""
        wanted = {path: (size, mtime) for path, size, mtime in files}
        found: dict[str, str] = {}
        paths = list(wanted)
        with self._lock:
            for start in range(0, len(paths), _BATCH):
                batch = paths[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._conn.execute(
                    f"SELECT path, size, mtime_ns, sha256 FROM file_hashes WHERE path IN ({marks})", batch
                )
                for path, size, mtime, sha in rows:
                    if wanted[path] == (size, mtime):
                        found[path] = sha
        return found

    def store(self, entries: Iterable[tuple[str, int, int, str]]) -> None:
        """Remember `(path, size, mtime_ns, sha256)` entries."""
        rows = list(entries)
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def cache_for_home(home: Path) -> HashCache:
    """The hash cache of a Despina home folder."""
    return HashCache(home / "cache" / "file-hashes.db")
