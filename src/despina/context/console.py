"""Line capture of stdout and stderr: the terminal output of a run, one series entry per line.

The wrapper is a tee, not a redirect: whatever the program writes reaches the real stream unchanged
and with the same flushing, so capturing can be switched on by default without changing what a user
sees.  Lines are handed to a callback as they complete; progress bars that redraw themselves with
``\\r`` are reduced to their final state instead of flooding the run with every frame.
"""

from __future__ import annotations

import collections
import contextlib
import io
import sys
import threading
from collections.abc import Callable
from typing import Any, Literal, TextIO

__all__ = ["LineCapture", "install", "uninstall"]

#: A partial line longer than this is passed on as a line of its own.  Without a cap, a program that
#: prints dots forever without a newline would grow the buffer without bound.
MAX_LINE_LENGTH = 64 * 1024
# How long flush_lines waits for another thread's delivery before leaving its lines.
FLUSH_WAIT_S = 10.0

# Set while this thread is running an on_line/on_error callback of *any* capture.  Output produced by
# the callbacks themselves (a warning printed while storing a line, say) then goes straight to the
# terminal: capturing it could recurse without end, or deadlock on a lock the callback already holds.
_in_callback = threading.local()


def _delivering() -> bool:
    return bool(getattr(_in_callback, "active", False))


def _finish_line(line: str) -> str:
    """What a terminal shows of a completed line: the text after its last carriage return.

    A ``\\r`` right before the newline (Windows line endings, or a progress bar that ends each frame
    with ``\\r``) does not blank the line, so it is dropped first.
    """
    if line.endswith("\r"):
        line = line[:-1]
    return line[line.rfind("\r") + 1 :]


def _compact_partial(partial: str) -> str:
    """Drop the frames of a progress bar still being redrawn, keeping only the current one.

    A trailing ``\\r`` is kept: whether it ends the line (``\\r\\n``) or starts a new frame is only
    known once the next write arrives.
    """
    cut = partial.rfind("\r", 0, len(partial) - 1)
    return partial[cut + 1 :] if cut >= 0 else partial


class LineCapture(io.TextIOBase):
    """A text stream that writes through to ``original`` and reports each completed line.

    Partial lines are buffered per thread, so two threads that ``print`` at once (``print`` writes the
    text and the newline separately) still produce two clean lines, even though the terminal may show
    them interleaved.  ``on_line`` runs on the writing thread but outside the capture's lock, one
    delivery at a time and in completion order; it should be quick and must not wait for another thread
    that is writing to this stream.  If it raises, capturing stops for good, ``on_error`` is told once
    and the stream keeps working as a plain pass-through.
    """

    def __init__(
        self,
        original: TextIO,
        on_line: Callable[[str], None],
        on_error: Callable[[str], None],
        *,
        max_line_length: int = MAX_LINE_LENGTH,
    ) -> None:
        super().__init__()
        self._original = original
        self._on_line = on_line
        self._on_error = on_error
        self._max_line_length = max_line_length
        self._lock = threading.Lock()  # guards the buffers, the queue and the enabled flag
        self._delivery_lock = threading.Lock()  # held by the one thread currently calling on_line
        self._partials: dict[int, str] = {}
        self._pending: collections.deque[str] = collections.deque()
        self._enabled = True
        self._closing = False
        #: Which ``sys`` attribute ``install`` replaced, so that ``uninstall`` can put the original back.
        self.stream_name: Literal["stdout", "stderr"] | None = None

    @property
    def original(self) -> TextIO:
        """The stream being wrapped."""
        return self._original

    @property
    def capturing(self) -> bool:
        """False once capture was disabled (by a failing callback or ``uninstall``)."""
        return self._enabled

    # -- writing -----------------------------------------------------------------------------------

    def write(self, s: str) -> int:
        """Write ``s`` to the original stream, then queue and deliver the lines it completes."""
        self._original.write(s)  # first, and unguarded: its errors are the program's own
        if not self._enabled or not s or _delivering():
            return len(s)
        thread = threading.get_ident()
        with self._lock:
            if not self._enabled:
                return len(s)
            text = self._partials.pop(thread, "") + s
            *complete, rest = text.split("\n")
            self._pending.extend(_finish_line(line) for line in complete)
            rest = _compact_partial(rest)
            while len(rest) > self._max_line_length:
                self._pending.append(rest[: self._max_line_length])
                rest = rest[self._max_line_length :]
            if rest:
                self._partials[thread] = rest
            if not self._pending:
                return len(s)
        self._deliver(wait=False)
        return len(s)

    def flush_lines(self) -> None:
        """Deliver every buffered partial line (of all threads) as if it had been completed.

        Waits for a delivery in progress on another thread, so that afterwards every line written so
        far has reached ``on_line``.
        """
        with self._lock:
            if self._enabled:
                for partial in self._partials.values():
                    line = _finish_line(partial)
                    if line:  # a bare "\r" left by a progress bar is not a line
                        self._pending.append(line)
            self._partials.clear()
        self._deliver(wait=True)

    def _deliver(self, *, wait: bool) -> None:
        """Hand queued lines to ``on_line`` from a single thread at a time, in queue order.

        A writer that finds another thread delivering leaves its lines to that thread instead of
        blocking; the deliverer checks the queue again after letting go, so no line is left behind.
        """
        if _delivering():
            return
        while self._acquire_delivery(wait):
            _in_callback.active = True
            try:
                while True:
                    with self._lock:
                        lines = list(self._pending)
                        self._pending.clear()
                        if not self._enabled or not lines:
                            break
                    try:
                        for line in lines:
                            self._on_line(line)
                    except Exception as exc:
                        self._fail(exc)
                        break
            finally:
                _in_callback.active = False
                self._delivery_lock.release()
            with self._lock:
                if not self._pending or not self._enabled:
                    return
            wait = False

    def _acquire_delivery(self, wait: bool) -> bool:
        """Take the turn to deliver. A caller that waits (``flush_lines``, when a run stops) gives
        up after ``FLUSH_WAIT_S``: a delivery that never ends (an ``on_line`` that blocks, or one
        a Ctrl-C cut short at an unlucky point) must not keep the run from stopping."""
        if wait:
            return self._delivery_lock.acquire(timeout=FLUSH_WAIT_S)
        return self._delivery_lock.acquire(blocking=False)

    def _fail(self, exc: Exception) -> None:
        """Stop capturing after a callback error and report it once (reports are best effort too)."""
        with self._lock:
            self._enabled = False
            self._partials.clear()
            self._pending.clear()
        with contextlib.suppress(Exception):
            self._on_error(f"line capture stopped after on_line raised {type(exc).__name__}: {exc}")

    def disable(self) -> None:
        """Stop capturing (buffered partial lines are dropped); writes still reach the original."""
        with self._lock:
            self._enabled = False
            self._partials.clear()
            self._pending.clear()

    # -- the rest of the stream interface ----------------------------------------------------------

    def flush(self) -> None:
        """Flush the original stream; partial lines stay buffered (progress bars flush every frame)."""
        if not self._closing:
            self._original.flush()

    def close(self) -> None:
        """Mark this wrapper closed without closing, or even touching, the real stream.

        ``io.IOBase`` also calls this when the wrapper is garbage collected, which may happen long after
        the original was closed; flushing it then would raise from a finalizer.
        """
        self._closing = True
        self.disable()
        super().close()

    def fileno(self) -> int:
        """The original's descriptor, for code that hands sys.stdout to a subprocess or to faulthandler."""
        return self._original.fileno()

    def isatty(self) -> bool:
        """Whether the original is a terminal, so libraries still choose colors and progress bars right."""
        return self._original.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> Any:  # type: ignore[override]  # read-only, as on a real sys.stdout
        """The original's encoding, which code consults before writing non-ASCII text."""
        return getattr(self._original, "encoding", None)

    @property
    def errors(self) -> Any:  # type: ignore[override]
        """The original's error handler."""
        return getattr(self._original, "errors", None)

    def __getattr__(self, name: str) -> Any:
        """Forward what a plain TextIOBase lacks (``buffer``, ``name``, ``reconfigure``...) to the original.

        Bytes written through ``buffer`` bypass the capture; they still reach the terminal.
        """
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._original, name)


def install(
    stream_name: Literal["stdout", "stderr"],
    on_line: Callable[[str], None],
    on_error: Callable[[str], None],
) -> LineCapture:
    """Replace ``sys.stdout`` or ``sys.stderr`` with a ``LineCapture`` around the current stream.

    Raises ``ValueError`` for another stream name or when the stream is ``None`` (pythonw, some
    daemons), where there is nothing to capture.
    """
    if stream_name not in ("stdout", "stderr"):
        raise ValueError(f"stream_name must be 'stdout' or 'stderr', not {stream_name!r}")
    original = getattr(sys, stream_name)
    if original is None:
        raise ValueError(f"sys.{stream_name} is None: there is no output to capture")
    capture = LineCapture(original, on_line, on_error)
    capture.stream_name = stream_name
    setattr(sys, stream_name, capture)
    return capture


def uninstall(capture: LineCapture) -> None:
    """Deliver the partial lines, stop capturing and put the original stream back.

    The original is restored only while ``capture`` is still the current stream: if something else
    (another capture, a test harness) has wrapped it since, replacing that would silently undo it.  The
    capture is disabled either way, so references kept elsewhere (a logging handler created meanwhile)
    turn into a plain pass-through instead of feeding a finished run.
    """
    capture.flush_lines()
    capture.disable()
    name = capture.stream_name
    if name is not None and getattr(sys, name) is capture:
        setattr(sys, name, capture.original)
