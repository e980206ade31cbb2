"""The mmap journal (writer, reader, acknowledgements) and the Sender that drains it into a backend."""

from __future__ import annotations

import errno
import json
import math
import os
import struct
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from despina.backends.base import Backend
from despina.client import field_types as ft
from despina.client import sender as sender_module
from despina.client.journal import (
    FLOAT_RECORD_SIZE,
    HEADER,
    JournalReader,
    JournalWriter,
    Position,
    ReadResult,
    pending_records,
    read_ack,
    read_meta,
    segment_path,
    write_ack,
    writer_is_alive,
)
from despina.client.operations import (
    AddStrings,
    AppendPoints,
    AssignAtom,
    AssignFile,
    DeleteField,
    FileRef,
    Operation,
)
from despina.client.sender import Sender
from despina.exceptions import DespinaWarning, JournalCorruptError, JournalError
from despina.store.base import FieldValue, IngestResult, RunCreate, RunInfo, SeriesData

SMALL_SEGMENT = 4096
META = {"project": "team/proj", "run_id": "RUN-1"}


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "journal" / "writer-1"


@pytest.fixture
def writer(folder: Path) -> Iterator[JournalWriter]:
    w = JournalWriter(folder, META, segment_size=SMALL_SEGMENT)
    yield w
    if w._mm is not None:  # not closed by the test
        w.close()


def close(writer: JournalWriter) -> None:
    writer.close()
    writer._mm = None  # so the fixture does not close twice


Record = tuple[Any, ...]


class Log:
    """What a test wrote, record by record, in the form `flatten` gives back."""

    def __init__(self, writer: JournalWriter) -> None:
        self.writer = writer
        self.records: list[Record] = []

    def float(self, path: str, step: float, timestamp: float, value: float) -> None:
        self.writer.put_float(self.writer.intern(path), step, timestamp, value)
        self.records.append(("float", path, step, timestamp, value.hex()))

    def op(self, op: Operation) -> None:
        self.writer.put_op(op)
        self.records.append(("op", op))


def flatten(items: Sequence[tuple[int, Operation]]) -> list[tuple[int, Record]]:
    """(sequence number, record) of every point and operation, sorted; duplicates are kept."""
    out: list[tuple[int, Record]] = []
    for seq, op in items:
        if isinstance(op, AppendPoints) and op.type == ft.FLOAT_SERIES and op.seqs is not None:
            assert int(op.seqs[0]) == seq, (
                "an AppendPoints item is keyed by its first point's sequence number"
            )
            assert len(op.seqs) == len(op.steps) == len(op.timestamps) == len(op.values)
            for s, step, ts, value in zip(op.seqs, op.steps, op.timestamps, op.values, strict=True):
                out.append((int(s), ("float", op.path, float(step), float(ts), float(value).hex())))
        else:
            out.append((seq, ("op", op)))
    return sorted(out, key=lambda item: item[0])


START = Position()


def read_all(
    folder: Path, start: Position = START, batch: int = 1_000_000
) -> tuple[list[tuple[int, Operation]], ReadResult]:
    """Read in batches of `batch` until nothing is left; the items and the last (empty) result."""
    reader = JournalReader(folder)
    items: list[tuple[int, Operation]] = []
    position = start
    try:
        while True:
            result = reader.read(position, batch)
            items.extend(result.items)
            assert result.end.seq == position.seq + result.records
            if result.records == 0:
                return items, result
            position = result.end
    finally:
        reader.close()


def record_offsets(segment: Path) -> list[tuple[int, int]]:
    """(offset, payload length) of each record in a segment, walking the headers directly."""
    data = segment.read_bytes()
    out = []
    off = 0
    while off + HEADER.size <= len(data):
        length, _ = HEADER.unpack_from(data, off)
        if length == 0 or off + HEADER.size + length > len(data):
            break
        out.append((off, length))
        off += HEADER.size + length
    return out


def patch_bytes(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def segments(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.seg"))


def write_mixed(log: Log, floats: int, op_every: int = 50) -> None:
    """`floats` points over two series, with an operation after every `op_every` points."""
    for i in range(floats):
        path = "train/loss" if i % 3 else "train/acc"
        log.float(path, float(i), 1_700_000_000.0 + i * 1e-3, math.sin(i) if i % 97 else math.nan)
        if i % op_every == op_every - 1:
            log.op(AssignAtom(f"params/p{i}", ft.INT, i))


# ------------------------------------------------------------------------------------- writer/reader


def test_meta_and_layout_of_a_new_journal(writer: JournalWriter, folder: Path) -> None:
    meta = read_meta(folder)
    assert meta["project"] == "team/proj"
    assert meta["run_id"] == "RUN-1"
    assert (folder / "blobs").is_dir()
    assert segments(folder) == [0]
    assert segment_path(folder, 0).stat().st_size == SMALL_SEGMENT


def test_a_journal_folder_is_never_reused(writer: JournalWriter, folder: Path) -> None:
    with pytest.raises(FileExistsError):
        JournalWriter(folder, META)


def test_empty_journal_reads_nothing(writer: JournalWriter, folder: Path) -> None:
    result = JournalReader(folder).read(Position(), 100)
    assert result.items == []
    assert result.records == 0
    assert result.end == Position()
    assert result.torn is False


def test_intern_gives_one_stable_id_per_path(writer: JournalWriter, folder: Path) -> None:
    a = writer.intern("train/loss")
    b = writer.intern("train/acc")
    assert a != b
    assert writer.intern("train/loss") == a
    lines = (folder / "paths").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)[1] for line in lines) == ["train/acc", "train/loss"]  # each once


def test_float_points_and_ops_read_back_in_order(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    log.float("train/loss", 0.0, 100.0, 1.0)
    log.float("train/acc", 0.0, 100.0, 0.5)
    log.float("train/loss", 1.0, 101.0, 0.9)
    log.float("train/acc", 1.0, 101.0, 0.6)
    log.float("train/loss", 2.0, 102.0, math.inf)
    log.op(AssignAtom("params/lr", ft.FLOAT, 0.1))
    log.float("train/loss", 3.0, 103.0, math.nan)
    log.op(AddStrings("sys/tags", ("a", "b")))
    log.op(DeleteField("old"))
    assert pending_records(folder) == 9

    result = JournalReader(folder).read(Position(), 100)
    assert result.records == 9
    assert result.end.seq == 9
    assert result.torn is False

    by_seq = dict(result.items)
    # Points of a series merge across operations on unrelated paths (they commute).
    assert sorted(by_seq) == [0, 1, 5, 7, 8]
    loss = by_seq[0]
    assert isinstance(loss, AppendPoints)
    assert (loss.path, loss.type) == ("train/loss", ft.FLOAT_SERIES)
    assert loss.seqs is not None and loss.seqs.tolist() == [0, 2, 4, 6]
    assert loss.steps.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert loss.timestamps.tolist() == [100.0, 101.0, 102.0, 103.0]
    assert loss.values.tolist()[:3] == [1.0, 0.9, math.inf]
    assert math.isnan(loss.values[3])
    acc = by_seq[1]
    assert isinstance(acc, AppendPoints)
    assert acc.path == "train/acc"
    assert acc.seqs is not None and acc.seqs.tolist() == [1, 3]
    assert acc.values.tolist() == [0.5, 0.6]
    assert by_seq[5] == AssignAtom("params/lr", ft.FLOAT, 0.1)
    assert by_seq[7] == AddStrings("sys/tags", ("a", "b"))
    assert by_seq[8] == DeleteField("old")
    order = [seq for seq, _ in result.items]
    assert order.index(7) < order.index(8)
    assert [r for _, r in flatten(result.items)] == log.records


def test_points_never_move_across_an_operation_on_their_namespace(
    writer: JournalWriter, folder: Path
) -> None:
    log = Log(writer)
    log.float("train/loss", 0.0, 100.0, 1.0)
    log.op(AssignAtom("other", ft.FLOAT, 0.1))
    log.float("train/loss", 1.0, 101.0, 0.9)
    log.op(DeleteField("train"))
    log.float("train/loss", 0.0, 102.0, 0.5)
    result = JournalReader(folder).read(Position(), 100)
    ops = [op for _, op in result.items]
    delete_at = ops.index(DeleteField("train"))
    before = [op for op in ops[:delete_at] if isinstance(op, AppendPoints)]
    after = [op for op in ops[delete_at:] if isinstance(op, AppendPoints)]
    assert [p.steps.tolist() for p in before] == [[0.0, 1.0]]
    assert [p.steps.tolist() for p in after] == [[0.0]]
    assert [r for _, r in flatten(result.items)] == log.records


def test_a_reader_sees_records_written_after_it_opened(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    reader = JournalReader(folder)
    log.float("a", 0.0, 1.0, 1.0)
    first = reader.read(Position(), 100)
    assert first.records == 1
    log.float("a", 1.0, 2.0, 2.0)
    log.op(DeleteField("x"))
    second = reader.read(first.end, 100)
    assert second.records == 2
    assert [r for _, r in flatten(first.items + second.items)] == log.records
    reader.close()


def test_until_seq_stops_before_it(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    write_mixed(log, 30, op_every=7)
    result = JournalReader(folder).read(Position(), 1000, until_seq=10)
    assert result.records == 10
    assert result.end.seq == 10
    assert [s for s, _ in flatten(result.items)] == list(range(10))


def test_segments_rotate_and_read_back_whole(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    write_mixed(log, 3000, op_every=50)
    close(writer)
    total = len(log.records)
    assert segments(folder) == list(range(len(segments(folder))))
    assert len(segments(folder)) >= 10  # small segments: the journal spans many

    for batch in (1_000_000, 37, 1):
        items, last = read_all(folder, batch=batch)
        flat = flatten(items)
        assert [s for s, _ in flat] == list(range(total)), f"batch={batch}"
        assert [r for _, r in flat] == log.records
        assert last.end.seq == total
        assert last.end.segment == segments(folder)[-1]
        assert last.torn is False


def test_an_operation_larger_than_a_segment(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    big = AddStrings("sys/tags", tuple(f"{i}-" + "x" * 3000 for i in range(5)))  # ~15 KB
    log.op(big)  # the very first record
    log.float("a", 0.0, 1.0, 1.0)
    log.op(AssignAtom("s", ft.STRING, "y" * 9000))
    log.float("a", 1.0, 2.0, 2.0)
    log.op(DeleteField("after"))
    close(writer)
    assert len(segments(folder)) >= 2  # the big operation moved the journal to a larger segment
    for batch in (1000, 1):
        items, last = read_all(folder, batch=batch)
        flat = flatten(items)
        assert [s for s, _ in flat] == [0, 1, 2, 3, 4]
        assert [r for _, r in flat] == log.records
        assert last.torn is False


def test_many_large_operations_in_a_row(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    for i in range(20):
        log.op(AssignAtom(f"text/{i}", ft.STRING, str(i) * (SMALL_SEGMENT + i * 100)))
        log.float("a", float(i), 1.0, float(i))
    close(writer)
    items, _ = read_all(folder)
    assert [r for _, r in flatten(items)] == log.records


def test_reading_resumes_exactly_from_any_position(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    write_mixed(log, 600, op_every=40)
    close(writer)
    everything = flatten(read_all(folder)[0])
    assert [s for s, _ in everything] == list(range(len(log.records)))

    first_segment = len(record_offsets(segment_path(folder, 0)))  # resume right at a segment boundary
    for k in (1, 2, first_segment - 1, first_segment, first_segment + 1, 250, 333, len(log.records) - 1):
        reader = JournalReader(folder)
        head = reader.read(Position(), k)
        reader.close()
        assert head.records == k
        assert head.end.seq == k
        write_ack(folder, head.end)
        resumed = read_ack(folder)
        assert resumed == head.end
        tail_items, _ = read_all(folder, start=resumed)
        tail = flatten(tail_items)
        assert [s for s, _ in tail] == list(range(k, len(log.records))), f"k={k}"
        assert flatten(head.items) + tail == everything, f"k={k}"
        (folder / "ack.json").unlink()


def test_pending_records_counts_from_the_acknowledgement(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    write_mixed(log, 300, op_every=25)
    assert pending_records(folder) == len(log.records)
    head = JournalReader(folder).read(Position(), 100)
    write_ack(folder, head.end)
    assert pending_records(folder) == len(log.records) - 100


# ------------------------------------------------------------------------------------- damaged journals


def _write_ops(writer: JournalWriter, count: int) -> list[Operation]:
    ops: list[Operation] = [AssignAtom(f"f/{i}", ft.INT, i) for i in range(count)]
    for op in ops:
        writer.put_op(op)
    return ops


def test_garbage_in_the_last_operation_is_a_torn_tail(writer: JournalWriter, folder: Path) -> None:
    ops = _write_ops(writer, 6)
    close(writer)
    seg = segment_path(folder, 0)
    off, length = record_offsets(seg)[-1]
    patch_bytes(seg, off + HEADER.size + 1, b"\xff" * (length - 1))
    reader = JournalReader(folder)
    result = reader.read(Position(), 100)
    assert result.torn is True
    assert result.records == 5
    assert [op for _, op in result.items] == ops[:5]
    assert result.end == Position(5, 0, off)
    again = reader.read(result.end, 100)  # stays put; never skips past the bad record
    assert (again.records, again.end, again.torn) == (0, result.end, True)


def test_garbage_in_the_last_float_point_is_a_torn_tail(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    for i in range(8):
        log.float("a", float(i), 10.0 + i, i * 0.5)
    close(writer)
    seg = segment_path(folder, 0)
    patch_bytes(seg, 7 * FLOAT_RECORD_SIZE + HEADER.size + 13, struct.pack("<d", 12345.0))  # its step
    result = JournalReader(folder).read(Position(), 100)
    assert result.torn is True
    assert result.records == 7
    assert [r for _, r in flatten(result.items)] == log.records[:7]


def test_a_truncated_last_record_is_a_torn_tail(writer: JournalWriter, folder: Path) -> None:
    ops = _write_ops(writer, 6)
    close(writer)
    seg = segment_path(folder, 0)
    off, length = record_offsets(seg)[-1]
    os.truncate(seg, off + HEADER.size + length // 2)  # the header survived, half the payload did not
    result = JournalReader(folder).read(Position(), 100)
    assert [op for _, op in result.items] == ops[:5]
    assert result.end.seq == 5
    assert result.torn is True


def test_a_truncated_float_point_is_a_torn_tail(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    for i in range(8):
        log.float("a", float(i), 10.0 + i, i * 0.5)
    close(writer)
    os.truncate(segment_path(folder, 0), 7 * FLOAT_RECORD_SIZE + 20)
    result = JournalReader(folder).read(Position(), 100)
    assert [r for _, r in flatten(result.items)] == log.records[:7]
    assert result.torn is True


def test_a_zeroed_region_is_simply_the_end(writer: JournalWriter, folder: Path) -> None:
    ops = _write_ops(writer, 6)
    close(writer)
    seg = segment_path(folder, 0)
    off, length = record_offsets(seg)[-1]
    patch_bytes(seg, off, b"\0" * (HEADER.size + length))  # as if never written
    result = JournalReader(folder).read(Position(), 100)
    assert [op for _, op in result.items] == ops[:5]
    assert result.end == Position(5, 0, off)
    assert result.torn is False


def _three_segments(writer: JournalWriter) -> Log:
    log = Log(writer)
    write_mixed(log, 300, op_every=20)
    assert len(segments(writer.folder)) >= 3
    close(writer)
    return log


def test_a_bad_operation_before_a_later_segment_is_corruption(writer: JournalWriter, folder: Path) -> None:
    _three_segments(writer)
    seg = segment_path(folder, 0)
    off, length = next((o, n) for o, n in record_offsets(seg) if n != FLOAT_RECORD_SIZE - HEADER.size)
    patch_bytes(seg, off + HEADER.size + length - 1, b"\xee")
    with pytest.raises(JournalCorruptError, match="checksum"):
        read_all(folder)


def test_a_bad_float_point_before_a_later_segment_is_corruption(writer: JournalWriter, folder: Path) -> None:
    _three_segments(writer)
    seg = segment_path(folder, 1)
    patch_bytes(seg, 3 * FLOAT_RECORD_SIZE + HEADER.size + 21, struct.pack("<d", -1.0))  # 4th record's value
    with pytest.raises(JournalCorruptError):
        read_all(folder)


def test_a_truncated_segment_before_a_later_segment_is_corruption(
    writer: JournalWriter, folder: Path
) -> None:
    # skipping the lost records would renumber everything after them, breaking exactly-once delivery
    _three_segments(writer)
    seg = segment_path(folder, 0)
    off, length = record_offsets(seg)[10]
    os.truncate(seg, off + HEADER.size + length // 2)
    with pytest.raises(JournalCorruptError):
        read_all(folder)


def test_a_bad_record_followed_by_good_records_is_corruption(writer: JournalWriter, folder: Path) -> None:
    # JournalCorruptError: "a journal record before the last one fails its checksum", even in one segment
    ops = _write_ops(writer, 6)
    assert len(ops) == 6
    close(writer)
    seg = segment_path(folder, 0)
    off, length = record_offsets(seg)[1]
    patch_bytes(seg, off + HEADER.size + length - 1, b"\xee")
    with pytest.raises(JournalCorruptError):
        read_all(folder)


def test_a_path_id_missing_from_the_paths_file_is_corruption(writer: JournalWriter, folder: Path) -> None:
    writer.put_float(7, 0.0, 1.0, 1.0)  # never interned
    with pytest.raises(JournalCorruptError, match="7"):
        JournalReader(folder).read(Position(), 10)


# ----------------------------------------------------------------------------------- ack and liveness


def test_read_ack_of_a_missing_file_is_the_start(tmp_path: Path) -> None:
    assert read_ack(tmp_path) == Position()
    assert read_ack(tmp_path) == Position(0, 0, 0)


def test_write_ack_round_trips_and_keeps_extra_fields(tmp_path: Path) -> None:
    write_ack(tmp_path, Position(10, 2, 345), {"run_id": "RUN-1"})
    assert read_ack(tmp_path) == Position(10, 2, 345)
    assert json.loads((tmp_path / "ack.json").read_text(encoding="utf-8"))["run_id"] == "RUN-1"


def test_write_ack_never_moves_backwards(tmp_path: Path) -> None:
    write_ack(tmp_path, Position(10, 1, 100))
    write_ack(tmp_path, Position(5, 0, 50))
    assert read_ack(tmp_path) == Position(10, 1, 100)
    write_ack(tmp_path, Position(10, 1, 100))
    assert read_ack(tmp_path) == Position(10, 1, 100)
    write_ack(tmp_path, Position(11, 1, 137))
    assert read_ack(tmp_path) == Position(11, 1, 137)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ack.json"]  # no temp files left behind


def test_write_ack_replaces_the_file_atomically(tmp_path: Path) -> None:
    write_ack(tmp_path, Position(1, 0, 10))
    inode = (tmp_path / "ack.json").stat().st_ino
    write_ack(tmp_path, Position(2, 0, 20))
    assert (tmp_path / "ack.json").stat().st_ino != inode  # a new file renamed over, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ack.json"]


def test_an_unreadable_ack_raises_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "ack.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(JournalError, match=r"ack\.json"):
        read_ack(tmp_path)


def test_writer_is_alive_while_open(folder: Path) -> None:
    assert writer_is_alive(folder) is False  # no journal yet
    writer = JournalWriter(folder, META, segment_size=SMALL_SEGMENT)
    try:
        assert writer_is_alive(folder) is True
        assert writer_is_alive(folder) is True  # asking does not take the lock away
    finally:
        writer.close()
    assert writer_is_alive(folder) is False


# -------------------------------------------------------------------------------------------- sender


class Unreachable(ConnectionError):
    pass


class FakeBackend(Backend):
    """Records what it applies; idempotent by (writer, sequence number) like the real store."""

    def __init__(self) -> None:
        self.applied_seq: dict[str, int] = {}
        self.applied: list[tuple[int, Record]] = []
        self.calls = 0
        self.fail: BaseException | None = None
        self.fail_after_applying = False

    def ingest(
        self,
        project: str,
        run_id: str,
        writer_id: str,
        items: Sequence[tuple[int, Operation]],
        last_seq: int,
        staged_blobs: Path,
    ) -> IngestResult:
        self.calls += 1
        assert (project, run_id) == ("team/proj", "RUN-1")
        if self.fail is not None and not self.fail_after_applying:
            raise self.fail
        done = self.applied_seq.get(writer_id, -1)
        if last_seq > done:
            for seq, record in flatten(items):
                if seq > done:
                    self.applied.append((seq, record))
            self.applied_seq[writer_id] = last_seq
        if self.fail is not None:
            raise self.fail  # applied, but the answer was lost
        return IngestResult(self.applied_seq[writer_id])

    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        raise NotImplementedError

    def get_run(self, project: str, run_id: str) -> RunInfo:
        raise NotImplementedError

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]:
        raise NotImplementedError

    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData:
        raise NotImplementedError

    def runs_table(self, project: str, **kwargs: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def open_blob(self, sha256: str) -> BinaryIO:
        raise NotImplementedError


def make_sender(backend: FakeBackend, folder: Path, writer: JournalWriter | None) -> Sender:
    return Sender(backend, folder, "team/proj", "RUN-1", "writer-1", writer=writer)


def assert_applied_once(backend: FakeBackend, log: Log) -> None:
    assert [s for s, _ in backend.applied] == list(range(len(log.records)))
    assert [r for _, r in backend.applied] == log.records


def test_drain_applies_everything_and_acknowledges(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    write_mixed(log, 1500, op_every=30)
    assert len(segments(folder)) > 3
    backend = FakeBackend()
    sender = make_sender(backend, folder, writer)
    assert sender.pending() == len(log.records)

    assert sender.drain() is True
    assert_applied_once(backend, log)
    ack = read_ack(folder)
    assert ack.seq == len(log.records)
    assert sender.pending() == 0
    # fully acknowledged segments are deleted; the one the writer is in stays
    assert segments(folder) == [ack.segment]
    assert ack.segment == writer._segment

    write_mixed(log, 400, op_every=30)
    assert sender.drain() is True
    assert_applied_once(backend, log)
    assert read_ack(folder).seq == len(log.records)
    assert segments(folder) == [read_ack(folder).segment]
    sender.close()


def test_drain_of_a_closed_journal_as_despina_sync_does(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    write_mixed(log, 700, op_every=30)
    close(writer)
    backend = FakeBackend()
    sender = make_sender(backend, folder, None)
    assert sender.drain() is True
    assert_applied_once(backend, log)
    assert read_ack(folder).seq == len(log.records)
    assert segments(folder) == [segments(folder)[-1]]
    sender.close()

    calls = backend.calls
    restarted = make_sender(backend, folder, None)  # a later sync starts from the acknowledgement
    assert restarted.position == read_ack(folder)
    assert restarted.drain() is True
    assert backend.calls == calls  # nothing left to send
    assert_applied_once(backend, log)
    restarted.close()


def test_drain_deletes_staged_blobs_once_applied(writer: JournalWriter, folder: Path) -> None:
    ref = FileRef("ab" * 32, 5, "weights", "pt", "application/octet-stream")
    (folder / "blobs" / ref.sha256).write_bytes(b"hello")
    (folder / "blobs" / ("cd" * 32)).write_bytes(b"not yet used")
    writer.put_op(AssignFile("model/weights", ref))
    sender = make_sender(FakeBackend(), folder, writer)
    assert sender.drain() is True
    assert not (folder / "blobs" / ref.sha256).exists()
    assert (folder / "blobs" / ("cd" * 32)).exists()
    sender.close()


def test_a_failing_backend_warns_once_and_acknowledges_nothing(writer: JournalWriter, folder: Path) -> None:
    log = Log(writer)
    write_mixed(log, 500, op_every=30)
    before = segments(folder)
    backend = FakeBackend()
    backend.fail = Unreachable("store busy")
    sender = make_sender(backend, folder, writer)

    with pytest.warns(DespinaWarning, match="store busy") as record:
        assert sender.drain() is False
        assert sender.drain() is False
        assert sender.drain_once() is False
    assert len([w for w in record if issubclass(w.category, DespinaWarning)]) == 1
    assert str(folder) in str(record[0].message)  # says where the data is safe
    assert backend.calls == 3
    assert isinstance(sender.last_error, Unreachable)
    assert not (folder / "ack.json").exists()
    assert read_ack(folder) == Position()
    assert sender.position == Position()
    assert sender.pending() == len(log.records)
    assert segments(folder) == before  # nothing deleted

    backend.fail = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", DespinaWarning)
        assert sender.drain() is True
    assert sender.last_error is None
    assert_applied_once(backend, log)
    assert read_ack(folder).seq == len(log.records)
    sender.close()


def test_a_lost_answer_is_retried_without_duplicates(writer: JournalWriter, folder: Path) -> None:
    # the backend applied the batch but the sender never heard back: the retry must be recognisable
    log = Log(writer)
    write_mixed(log, 300, op_every=30)
    backend = FakeBackend()
    backend.fail = TimeoutError("no answer")
    backend.fail_after_applying = True
    sender = make_sender(backend, folder, writer)
    with pytest.warns(DespinaWarning):
        assert sender.drain() is False
    assert read_ack(folder) == Position()

    write_mixed(log, 50, op_every=30)
    backend.fail = None
    assert sender.drain() is True
    assert_applied_once(backend, log)
    sender.close()


def test_a_failing_acknowledgement_does_not_raise_into_the_caller(
    writer: JournalWriter, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # disk full while writing ack.json is a background failure: warn, keep the data, retry later
    log = Log(writer)
    write_mixed(log, 100, op_every=30)
    backend = FakeBackend()
    sender = make_sender(backend, folder, writer)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sender_module, "write_ack", disk_full)
    with pytest.warns(DespinaWarning):
        assert sender.drain() is False
    monkeypatch.undo()
    assert sender.drain() is True
    assert_applied_once(backend, log)
    assert read_ack(folder).seq == len(log.records)
    sender.close()
