"""The sender: drains a journal into a backend, acknowledging what was applied.

In `async` mode it runs on a background thread, waking every `flush_period` seconds or when asked;
in `sync` mode the caller drains after each call; `despina sync` drains journals of finished or
killed processes. Failures never raise into the training loop: they warn once and retry, and the
data stays in the journal until a backend accepts it.
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

from despina.backends.base import Backend
from despina.client.journal import (
    JournalReader,
    JournalWriter,
    Position,
    pending_records,
    read_ack,
    segment_path,
    write_ack,
)
from despina.client.operations import referenced_files
from despina.exceptions import DespinaWarning

BATCH_RECORDS = 250_000


class Sender:
    """Applies journal records to a backend, in order, once."""

    def __init__(
        self,
        backend: Backend,
        folder: Path,
        project: str,
        run_id: str,
        writer_id: str,
        writer: JournalWriter | None = None,
    ) -> None:
        self.backend = backend
        self.folder = folder
        self.project = project
        self.run_id = run_id
        self.writer_id = writer_id
        self.writer = writer
        self.position = read_ack(folder)
        self._reader = JournalReader(folder)
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self.last_error: BaseException | None = None
        self.torn = False

    # -- draining ----------------------------------------------------------------------------------

    def drain(self, deadline: float | None = None) -> bool:
        """Apply everything written so far. True when nothing is left; False on error or deadline."""
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._drain_lock.acquire(timeout=wait):
            return False
        try:
            while True:
                until = self.writer.position() if self.writer is not None else None
                if until is not None and self._reached(until):
                    return True
                applied = self._apply_batch(None, until)
                if applied is None:
                    return False
                if applied == 0:
                    return until is None or self._reached(until)
                if deadline is not None and time.monotonic() > deadline:
                    return False
        finally:
            self._drain_lock.release()

    def drain_once(self, until: int | None = None) -> bool:
        """Apply one batch, stopping before record `until` (so a caller can show progress); False on
        error."""
        with self._drain_lock:
            return self._apply_batch(until, None) is not None

    def _reached(self, end: tuple[int, int]) -> bool:
        return (self.position.segment, self.position.offset) >= end

    def _apply_batch(self, until: int | None, until_position: tuple[int, int] | None) -> int | None:
        """Apply the next batch of records (up to sequence number `until` or journal position
        `until_position`): how many were applied, or None when the backend failed."""
        acknowledged = read_ack(self.folder)
        if acknowledged.seq > self.position.seq:
            # `despina sync` in another process applied (and removed) part of this journal already.
            self.position = acknowledged
            self._reader.forget_segments_before(acknowledged.segment)
            if until is not None and self.position.seq >= until:
                return 0
            if until_position is not None and self._reached(until_position):
                return 0
        # Records below a live writer's committed count are whole: skip re-checking their checksums.
        result = self._reader.read(
            self.position, BATCH_RECORDS, until, until=until_position, verify=self.writer is None
        )
        if result.torn:
            self.torn = True
        if result.records == 0:
            return 0
        try:
            outcome = self.backend.ingest(
                self.project,
                self.run_id,
                self.writer_id,
                result.items,
                result.end.seq - 1,
                self.folder / "blobs",
            )
        except Exception as exc:
            self.last_error = exc
            self._warn_once(
                type(exc).__name__,
                f"Despina could not apply run {self.run_id}'s operations ({type(exc).__name__}: {exc}); "
                f"they are safe on disk in {self.folder} and will be retried (or run `despina sync`).",
            )
            return None
        self.last_error = None
        for message in outcome.rejected:
            self._warn_once(
                message.split(":", 1)[0], f"Despina skipped an operation of {self.run_id}: {message}"
            )
        blobs = [ref.sha256 for _, op in result.items for ref in referenced_files(op)]
        try:
            self._acknowledge(result.end, blobs)
        except OSError as exc:  # disk full, read-only folder: applied, but retried (idempotently) later
            self.last_error = exc
            self._warn_once(
                "ack",
                f"Despina could not record progress in {self.folder} ({exc}); "
                "the operations are applied and will be re-sent harmlessly.",
            )
            return None
        return result.records

    def _acknowledge(self, end: Position, blobs: list[str]) -> None:
        write_ack(self.folder, end, {"run_id": self.run_id})
        self.position = end
        self._reader.forget_segments_before(end.segment)
        for number in range(end.segment - 1, -1, -1):
            path = segment_path(self.folder, number)
            if not path.exists():
                break
            path.unlink()
        for sha in blobs:
            (self.folder / "blobs" / sha).unlink(missing_ok=True)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, DespinaWarning, stacklevel=2)

    def pending(self) -> int:
        """Records written but not yet applied."""
        return pending_records(self.folder)

    # -- the background thread ---------------------------------------------------------------------

    def start(self, flush_period: float) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(flush_period,), name=f"despina-sender-{self.run_id}", daemon=True
        )
        self._thread.start()

    def _loop(self, flush_period: float) -> None:
        backoff = flush_period
        while not self._stopping.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stopping.is_set():
                break
            ok = self.drain()
            if self.writer is not None:
                self.writer.flush_to_disk()
            backoff = flush_period if ok or self.last_error is None else min(backoff * 2, 60.0)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Stop the thread and drain what is left within `timeout` seconds; True if all was applied."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        done = False
        while time.monotonic() < deadline:
            if self.drain(deadline):
                done = True
                break
            time.sleep(min(0.2 if self.last_error is None else 1.0, max(0.0, deadline - time.monotonic())))
        self._reader.close()
        return done

    def close(self) -> None:
        self._reader.close()
