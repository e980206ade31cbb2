"""The heartbeat: a live run says so every few seconds, so a killed one can be told apart."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable


class Heartbeat:
    """Calls `beat` every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, beat: Callable[[], None], interval: float, name: str) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # a failed beat only delays crash detection
                self._beat()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
