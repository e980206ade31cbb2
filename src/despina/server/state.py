"""What a server process holds while it runs: the store, the access service and the blob links."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from despina.server.auth.service import AccessService
from despina.server.blob_links import BlobLinks
from despina.server.settings import ServerSettings
from despina.store.sql.store import SqlStore


@dataclass
class ServerState:
    settings: ServerSettings
    store: SqlStore
    access: AccessService
    links: BlobLinks

    def close(self) -> None:
        self.store.close()


def server_state(request: Request) -> ServerState:
    """The state of the app serving `request` (a FastAPI dependency)."""
    state: ServerState = request.app.state.despina
    return state
