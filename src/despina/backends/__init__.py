"""Where a run's journal is drained to: the embedded store in-process, or a server over HTTP."""

from __future__ import annotations

from despina.backends.base import Backend
from despina.backends.local import LocalBackend, backend_for

__all__ = ["Backend", "LocalBackend", "backend_for"]
