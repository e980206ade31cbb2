"""How a run learns that its process is failing: an uncaught exception or SIGTERM.

One process-wide hook (installed once, chained to what was there before) tells every live run via
the callback it was given; the run stores the traceback, marks itself failed and flushes. SIGINT
needs no handler: it raises KeyboardInterrupt, which reaches the exception hook when uncaught.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType, TracebackType

FailureCallback = Callable[[str], None]

_callback: FailureCallback | None = None
_installed = False
_lock = threading.Lock()


def install(callback: FailureCallback) -> None:
    """Route uncaught exceptions and SIGTERM of this process to `callback(traceback_text)`."""
    global _callback, _installed
    with _lock:
        _callback = callback
        if _installed:
            return
        _installed = True
        previous_hook = sys.excepthook

        def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
            _notify("".join(traceback.format_exception(exc_type, exc, tb)))
            previous_hook(exc_type, exc, tb)

        sys.excepthook = excepthook
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)


def _notify(text: str) -> None:
    callback = _callback
    if callback is not None:
        with contextlib.suppress(Exception):  # the process is failing already; never mask its error
            callback(text)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
    _notify(f"Terminated by SIGTERM (signal {signum}).\n{stack}")
    # Then die the way SIGTERM kills, so parents and schedulers see the usual exit status.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
