"""How `despina server` listens: uvicorn, with TCP_NODELAY on the socket its workers share."""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


class NoDelayConfig(uvicorn.Config):
    """Workers share one listening socket, and uvicorn leaves Nagle's algorithm on for connections
    accepted from it (uvicorn issue #3149): ~40 ms more per kept-alive request with `--workers` > 1
    (bench/README.md, "Server ingest over HTTP", finding 1). Accepted sockets inherit TCP_NODELAY from
    the listening one on Linux, so it is set there. At module level: worker processes unpickle it."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def serve(app_factory: str, host: str, port: int, workers: int, log_level: str) -> None:
    """Run the app that `app_factory` (an import string of a factory) builds, in `workers` processes."""
    config = NoDelayConfig(
        app_factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,  # the app writes structured access logs itself (despina.access)
        proxy_headers=True,
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
