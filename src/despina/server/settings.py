"""What one server process is configured with; `create_app` takes it, nothing reads the environment later."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    """Input limits; a request over one is rejected with a 4xx that names the limit."""

    max_path_length: int = 1024  # characters in a field path
    max_string_bytes: int = 1 << 20  # one string value
    max_batch_bytes: int = 64 << 20  # one ingest request body
    max_batch_operations: int = 200_000  # operations in one ingest request
    max_part_bytes: int = 64 << 20  # one part of a resumable upload
    max_upload_bytes: int = 64 << 30  # one file
    max_name_length: int = 256  # project and run names, tags


@dataclass(frozen=True)
class ServerSettings:
    """Where the data lives and who may see it."""

    db_url: str  # sqlite:///path/despina.db or postgresql://user:pass@host:port/db
    blobs_url: str  # a folder path, file:///path, or s3://bucket/prefix?endpoint_url=...
    # False only for `despina ui` on one's own folder: every request acts as a local admin, and the
    # server listens on 127.0.0.1 alone.
    auth_required: bool = True
    # Session cookies carry the Secure flag unless this is False (plain http on localhost in tests).
    secure_cookies: bool = True
    session_ttl_seconds: float = 14 * 24 * 3600.0
    crash_timeout: float = 300.0
    # True only for `despina ui` on one's own home folder (it upgrades like the embedded client does);
    # a shared server never migrates by itself: `despina db upgrade` does, in one transaction.
    upgrade_database: bool = False
    limits: Limits = Limits()

    def to_json(self) -> str:
        """For handing the settings to worker processes (`despina server --workers N`)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerSettings:
        data = json.loads(text)
        return cls(**{**data, "limits": Limits(**data.get("limits", {}))})
