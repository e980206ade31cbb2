"""Pausing Python's cyclic garbage collector while a read builds many small objects.

A whole runs table read from SQL makes close to a million rows, ints, floats and strings. Every 700
new container objects start a young collection, and as the rows survive they move on to the old
generation, whose collections walk every object of the process: 0.35 s of a 0.93 s read of 10,000
runs x 30 columns (bench/bench_query.py). Rows of values hold no reference cycles, so nothing is
missed by not looking for cycles until the read ends.

Pauses nest and overlap across threads (a server reads for several requests at once): the collector
runs again when the last pause ends, and only if it ran before the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting still frees everything else)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


__all__ = ["cyclic_gc_paused"]
