"""The per-writer operation journal: what makes a logged value survive a killed process.

Layout of one journal folder (one per process writing to a run)::

    meta.json        who writes, to which project/run (written once, atomically)
    paths            one JSON line [id, path] per float series, appended before first use
    000000.seg ...   segments of records; each record is  u32 length | u32 crc32 | payload
    ack.json         position up to which a backend has applied the records (atomic rewrite)
    blobs/<sha256>   file contents staged by upload(), until applied
    lock             flock held by the live writer

Segments are preallocated and memory-mapped: a record is packed into the shared file mapping, so it
reaches the kernel's page cache without a system call and survives SIGKILL of the writer the moment
the call returns. A record whose copy was cut short (SIGKILL mid-write, power loss) fails its crc and
reads as the end of the journal: a torn tail is tolerated, never applied. A record's sequence number
is its index in the journal; backends apply records idempotently by (writer, sequence).
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from despina.client import codec
from despina.client import field_types as ft
from despina.client.operations import AppendPoints, Operation
from despina.exceptions import JournalCorruptError, JournalError

FORMAT_VERSION = 1
SEGMENT_SIZE = 16 << 20  # the largest segment; the first is FIRST_SEGMENT_SIZE and sizes double
FIRST_SEGMENT_SIZE = 1 << 20  # short runs (hundreds of them offline) keep small journals
FLOAT_WRITE_RESERVE = 64 << 10
HEADER = struct.Struct("<II")
FLOAT_PAYLOAD_SIZE = codec.FLOAT_POINT.size
FLOAT_RECORD_SIZE = HEADER.size + FLOAT_PAYLOAD_SIZE
_FLOAT_RECORD = np.dtype(
    [
        ("length", "<u4"),
        ("crc", "<u4"),
        ("kind", "u1"),
        ("path_id", "<u4"),
        ("step", "<f8"),
        ("timestamp", "<f8"),
        ("value", "<f8"),
    ]
)
assert _FLOAT_RECORD.itemsize == FLOAT_RECORD_SIZE


@dataclass(frozen=True, order=True)
class Position:
    """A place in a journal: `seq` records lie before it."""

    seq: int = 0
    segment: int = 0
    offset: int = 0


def segment_path(folder: Path, number: int) -> Path:
    return folder / f"{number:06d}.seg"


def write_json_atomically(path: Path, data: Any) -> None:
    """Replace `path` with `data` so a reader sees the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JournalError(f"{folder} is not a readable journal: {exc}") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise JournalError(f"{folder} has journal format {meta.get('format')}; this Despina reads 1")
    return meta


def read_ack(folder: Path) -> Position:
    try:
        raw = json.loads((folder / "ack.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Position()
    except (OSError, ValueError) as exc:
        raise JournalError(f"cannot read {folder / 'ack.json'}: {exc}") from exc
    return Position(int(raw["seq"]), int(raw["segment"]), int(raw["offset"]))


_ack_lock = threading.Lock()


def write_ack(folder: Path, position: Position, extra: dict[str, Any] | None = None) -> None:
    """Record that everything before `position` was applied; never moves the acknowledgement back."""
    with _ack_lock:
        if read_ack(folder).seq > position.seq:
            return
        data = {"seq": position.seq, "segment": position.segment, "offset": position.offset, **(extra or {})}
        write_json_atomically(folder / "ack.json", data)


def writer_is_alive(folder: Path) -> bool:
    """True while the process that writes this journal holds its lock."""
    try:
        fd = os.open(folder / "lock", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


class JournalWriter:
    """Appends records to a journal. Thread-safe; `put_float` is the hot path."""

    def __init__(self, folder: Path, meta: dict[str, Any], segment_size: int = SEGMENT_SIZE) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=False)
        (folder / "blobs").mkdir()
        self._lock_fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        write_json_atomically(folder / "meta.json", {"format": FORMAT_VERSION, **meta})
        self._paths_fd = os.open(folder / "paths", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._path_ids: dict[str, int] = {}
        self._segment_size = segment_size
        # Taken by everything but float points: segment changes, operations, snapshots.
        self._lock = threading.Lock()
        self._segment = -1
        self._size = 0
        self._limit = 0
        self._fd = -1
        self._mm: mmap.mmap | None = None
        self._open_segment(0, min(segment_size, FIRST_SEGMENT_SIZE))

    def _open_segment(self, number: int, size: int) -> None:
        """Start segment `number`. Closing the previous map makes a float write that raced this
        (holding the old map) fail with ValueError, and the writer retries it under the lock."""
        if self._mm is not None:
            self._mm.close()
            os.close(self._fd)
        fd = os.open(segment_path(self.folder, number), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        os.posix_fallocate(fd, 0, size)
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)  # prefault: no page faults in the loop
        self._mm = mmap.mmap(fd, size, flags=flags)
        self._fd = fd
        self._segment = number
        self._size = size
        # Float points are written without the lock (each mmap.write is atomic under the GIL), so a
        # few threads may pass the room check at once: the reserve past the limit takes them, and
        # keeps the zero header that ends a segment.
        self._limit = size - min(FLOAT_WRITE_RESERVE, size // 4)

    def _next_size(self) -> int:
        return min(self._segment_size, 2 * self._size)

    def intern(self, path: str) -> int:
        """A small id for a float series path, recorded on disk before the first point uses it."""
        with self._lock:
            known = self._path_ids.get(path)
            if known is not None:
                return known
            path_id = len(self._path_ids)
            os.write(self._paths_fd, (json.dumps([path_id, path]) + "\n").encode())
            self._path_ids[path] = path_id
            return path_id

    def put_float(self, path_id: int, step: float, timestamp: float, value: float) -> None:
        """Append one float series point (the hot path: keep it lean)."""
        self.put_float_record(float_record(path_id, step, timestamp, value))

    def put_float_record(self, record: bytes) -> None:
        """Append a packed float point record (see `float_record`), starting a segment if needed.

        Handler.append writes the common case itself, without the lock (see `_open_segment`), and
        comes here when the segment is full or changed under it.
        """
        with self._lock:
            mm = self._open_map()
            if mm.tell() >= self._limit:
                self._open_segment(self._segment + 1, self._next_size())
                mm = self._open_map()
            # One copy of header and payload: a copy cut short by SIGKILL fails the crc, reads as the end.
            mm.write(record)

    def put_op(self, op: Operation) -> None:
        """Append one operation of any kind."""
        payload = bytes((codec.KIND_OPERATION,)) + codec.encode(op)
        record = _header_bytes(len(payload), _crc32(payload)) + payload
        with self._lock:
            mm = self._open_map()
            if mm.tell() + len(record) > self._limit:
                needed = 2 * len(record) + FLOAT_WRITE_RESERVE
                self._open_segment(self._segment + 1, max(self._next_size(), needed))
                mm = self._open_map()
            mm.write(record)

    def _open_map(self) -> mmap.mmap:
        if self._mm is None:
            raise JournalError(f"the journal in {self.folder} is closed")
        return self._mm

    def position(self) -> tuple[int, int]:
        """(segment, offset) before which every record is complete: a snapshot for the sender."""
        with self._lock:
            return self._segment, self._open_map().tell()

    def flush_to_disk(self) -> None:
        """Ask the kernel to write the current segment out (durability against power loss)."""
        with self._lock:
            if self._mm is not None:
                self._mm.flush()

    def close(self) -> None:
        with self._lock:
            if self._mm is not None:
                self._mm.flush()
                self._mm.close()
                os.close(self._fd)
                self._mm = None
            os.close(self._paths_fd)
            os.close(self._lock_fd)  # releases the flock: the journal is now free for `despina sync`


_pack_float = codec.FLOAT_POINT.pack
_pack_header = HEADER.pack_into
_header_bytes = HEADER.pack
_crc32 = zlib.crc32


def float_record(path_id: int, step: float, timestamp: float, value: float) -> bytes:
    """The journal record of one float point: header (length, crc32) and payload."""
    payload = _pack_float(1, path_id, step, timestamp, value)
    return _header_bytes(FLOAT_PAYLOAD_SIZE, _crc32(payload)) + payload


@dataclass
class ReadResult:
    """Records read from a journal: (first sequence number, operation) pairs, and where reading stopped."""

    items: list[tuple[int, Operation]]
    end: Position
    records: int
    torn: bool = False  # reading stopped at a record that fails its checksum


class JournalReader:
    """Reads records back, for the sender and for `despina sync`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._paths: dict[int, str] = {}
        self._maps: dict[int, tuple[mmap.mmap, int]] = {}

    def close(self) -> None:
        for mm, fd in self._maps.values():
            mm.close()
            os.close(fd)
        self._maps.clear()

    def _load_paths(self) -> None:
        try:
            lines = (self.folder / "paths").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                path_id, path = json.loads(line)
            except ValueError:
                break  # torn last line: its path was never used by a committed point
            self._paths[int(path_id)] = path

    def _path(self, path_id: int) -> str:
        if path_id not in self._paths:
            self._load_paths()
            if path_id not in self._paths:
                raise JournalCorruptError(
                    f"{self.folder}: float series id {path_id} is not in its paths file"
                )
        return self._paths[path_id]

    def _map(self, number: int) -> mmap.mmap | None:
        cached = self._maps.get(number)
        if cached is not None:
            return cached[0]
        try:
            fd = os.open(segment_path(self.folder, number), os.O_RDONLY)
        except FileNotFoundError:
            return None
        size = os.fstat(fd).st_size
        if size == 0:
            os.close(fd)
            return None
        mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        self._maps[number] = (mm, fd)
        return mm

    def forget_segments_before(self, number: int) -> None:
        for seg in [s for s in self._maps if s < number]:
            mm, fd = self._maps.pop(seg)
            mm.close()
            os.close(fd)

    def read(
        self,
        start: Position,
        max_records: int,
        until_seq: int | None = None,
        *,
        until: tuple[int, int] | None = None,
        verify: bool = True,
    ) -> ReadResult:
        """Decode up to `max_records` records from `start` (stopping before `until_seq` when given).

        `verify=False` skips the checksums of float points: only for the writer's own process, which
        knows every record before its committed count is whole.
        """
        limit = max_records if until_seq is None else min(max_records, until_seq - start.seq)
        items: list[tuple[int, Operation]] = []
        seg, off, seq = start.segment, start.offset, start.seq
        count = 0
        torn = False
        while count < limit:
            if until is not None and (seg, off) >= until:
                break
            mm = self._map(seg)
            if mm is None:
                break
            size = len(mm)
            # Writers preallocate segments and keep a zero header's room at the end, so a header or
            # record running past the end of the file means the file was cut short.
            truncated = off + HEADER.size > size
            length = crc = 0
            if not truncated:
                length, crc = HEADER.unpack_from(mm, off)
                truncated = off + HEADER.size + length > size
            if truncated:
                torn = True
                if self._anything_after(seg):
                    raise JournalCorruptError(
                        f"{segment_path(self.folder, seg)} is cut short at record {seq} (byte {off}) "
                        "but later segments exist"
                    )
                break
            if length == 0:  # a zero header: the writer moved to the next segment, or wrote no more yet
                if self._anything_after(seg):
                    seg, off = seg + 1, 0
                    continue
                break
            kind = mm[off + HEADER.size]
            if kind == codec.KIND_FLOAT_POINT and length == FLOAT_PAYLOAD_SIZE:
                room = limit - count
                if until is not None and seg == until[0]:
                    room = min(room, (until[1] - off) // FLOAT_RECORD_SIZE)
                n = self._float_run(mm, off, room, verify)
                if n:
                    items.extend(self._float_ops(mm, off, n, seq))
                    off += n * FLOAT_RECORD_SIZE
                    seq += n
                    count += n
                    continue
            payload = mm[off + HEADER.size : off + HEADER.size + length]
            if zlib.crc32(payload) != crc:
                torn = True
                if self._anything_after(seg) or _written_after(mm, off + HEADER.size + length):
                    raise JournalCorruptError(
                        f"{segment_path(self.folder, seg)}: record {seq} at byte {off} fails its checksum"
                    )
                break
            if payload[0] != codec.KIND_OPERATION:
                raise JournalCorruptError(
                    f"{segment_path(self.folder, seg)}: unknown record kind {payload[0]}"
                )
            items.append((seq, codec.decode(payload[1:])))
            off += HEADER.size + length
            seq += 1
            count += 1
        return ReadResult(coalesce(items), Position(seq, seg, off), count, torn)

    def _anything_after(self, seg: int) -> bool:
        return segment_path(self.folder, seg + 1).exists()

    @staticmethod
    def _float_run(mm: mmap.mmap, off: int, limit: int, verify: bool) -> int:
        """How many valid float point records start at `off`, in a row (checked by crc if `verify`)."""
        available = min((len(mm) - off) // FLOAT_RECORD_SIZE, limit)
        records = np.frombuffer(mm, dtype=_FLOAT_RECORD, count=available, offset=off)
        ok = (records["length"] == FLOAT_PAYLOAD_SIZE) & (records["kind"] == codec.KIND_FLOAT_POINT)
        n = available if bool(ok.all()) else int(np.argmin(ok))
        if not verify:
            return n
        crcs = records["crc"][:n].tolist()
        view = memoryview(mm)
        try:
            for i in range(n):
                start = off + i * FLOAT_RECORD_SIZE + HEADER.size
                if zlib.crc32(view[start : start + FLOAT_PAYLOAD_SIZE]) != crcs[i]:
                    return i
        finally:
            view.release()
        return n

    def _float_ops(self, mm: mmap.mmap, off: int, n: int, first_seq: int) -> Iterator[tuple[int, Operation]]:
        """Group a run of float point records into one AppendPoints per series, keeping each order."""
        records = np.frombuffer(mm, dtype=_FLOAT_RECORD, count=n, offset=off)
        path_ids = records["path_id"]
        seqs = np.arange(first_seq, first_seq + n, dtype=np.int64)
        for path_id in np.unique(path_ids).tolist():
            mask = path_ids == path_id
            chosen = records[mask]
            chosen_seqs = seqs[mask]
            yield (
                int(chosen_seqs[0]),
                AppendPoints(
                    self._path(path_id),
                    ft.FLOAT_SERIES,
                    chosen["step"].copy(),
                    chosen["timestamp"].copy(),
                    chosen["value"].copy(),
                    chosen_seqs,
                ),
            )


def _related(a: str, b: str) -> bool:
    """Whether two paths can affect each other (the same field, or one's namespace holds the other)."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def coalesce(items: list[tuple[int, Operation]]) -> list[tuple[int, Operation]]:
    """Merge the appends to each series in a batch into one operation.

    Training loops interleave series points with other records (a printed line, a tag); applied one
    by one, each would cost a store round trip. Operations on unrelated paths commute, so points of a
    series are gathered until an operation touching that path (or its namespace) comes, and each
    merged append keeps every point's own sequence number for idempotent replay.
    """
    out: list[tuple[int, Operation]] = []
    pending: dict[str, list[tuple[int, AppendPoints]]] = {}

    def flush(path: str) -> None:
        parts = pending.pop(path)
        first_seq, first = parts[0]
        if len(parts) == 1:
            out.append(parts[0])
            return
        seqs = np.concatenate(
            [p.seqs if p.seqs is not None else np.full(len(p), s, dtype=np.int64) for s, p in parts]
        )
        if first.type == ft.FLOAT_SERIES:
            values: Any = np.concatenate([np.asarray(p.values, dtype=np.float64) for _, p in parts])
        else:
            values = [v for _, p in parts for v in p.values]
        merged = AppendPoints(
            path,
            first.type,
            np.concatenate([np.asarray(p.steps, dtype=np.float64) for _, p in parts]),
            np.concatenate([np.asarray(p.timestamps, dtype=np.float64) for _, p in parts]),
            values,
            seqs,
        )
        out.append((first_seq, merged))

    for seq, op in items:
        if isinstance(op, AppendPoints):
            waiting = pending.get(op.path)
            if waiting is not None and waiting[0][1].type != op.type:
                flush(op.path)
                waiting = None
            if waiting is None:
                pending[op.path] = [(seq, op)]
            else:
                waiting.append((seq, op))
            continue
        for path in [p for p in pending if _related(p, op.path)]:
            flush(path)
        out.append((seq, op))
    for path in list(pending):
        flush(path)
    return out


def _written_after(mm: mmap.mmap, offset: int) -> bool:
    """Whether anything was written past `offset`: a bad record followed by data is corruption, not a
    torn tail (the preallocated rest of a segment is zeros)."""
    if offset >= len(mm):
        return False
    return bool(np.frombuffer(mm, dtype=np.uint8, offset=offset).any())


def list_journals(home: Path) -> list[Path]:
    """Journal folders under a Despina home, oldest first."""
    root = home / "journal"
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and (p / "meta.json").exists()]
    return sorted(folders, key=lambda p: p.stat().st_mtime)


def pending_records(folder: Path) -> int:
    """Records in a journal not yet acknowledged, as written at this moment.

    Hops from header to header without decoding, which is much faster than a writer can append, so it
    ends even while the writer is still logging (a torn last record may be counted).
    """
    position = read_ack(folder)
    segment, offset, count = position.segment, position.offset, 0
    while True:
        path = segment_path(folder, segment)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return count
        size = len(data)
        while offset + HEADER.size <= size:
            (length,) = _LENGTH.unpack_from(data, offset)
            if length == 0 or offset + HEADER.size + length > size:
                break
            offset += HEADER.size + length
            count += 1
        if not segment_path(folder, segment + 1).exists():
            return count
        segment, offset = segment + 1, 0


_LENGTH = struct.Struct("<I")


def new_writer_id() -> str:
    """Unique per process and run: time-ordered so folders sort by age."""
    return f"{int(time.time() * 1000):013d}-{os.getpid()}-{os.urandom(4).hex()}"
