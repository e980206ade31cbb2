"""LineCapture: the terminal sees exactly what it would without Despina, and the run gets clean lines."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path

import pytest

from despina.context import console
from despina.context.console import LineCapture, install, uninstall


class Recorder:
    """on_line / on_error sinks that remember what they were given."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.errors: list[str] = []

    def on_line(self, line: str) -> None:
        self.lines.append(line)

    def on_error(self, message: str) -> None:
        self.errors.append(message)


class CallLog(io.StringIO):
    """A stream that records every write and flush, to compare call for call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def write(self, s: str) -> int:
        self.calls.append(("write", s))
        return super().write(s)

    def flush(self) -> None:
        self.calls.append(("flush", ""))
        super().flush()


def make_capture() -> tuple[LineCapture, io.StringIO, Recorder]:
    original = io.StringIO()
    recorder = Recorder()
    return LineCapture(original, recorder.on_line, recorder.on_error), original, recorder


def test_complete_lines_arrive_in_order_without_newlines() -> None:
    capture, original, rec = make_capture()
    capture.write("first\nsecond\n")
    capture.write("third\n")
    capture.write("\n")
    print("fourth", file=capture)
    assert rec.lines == ["first", "second", "third", "", "fourth"]
    assert original.getvalue() == "first\nsecond\nthird\n\nfourth\n"
    assert rec.errors == []


def test_partial_lines_wait_for_their_newline_or_flush_lines() -> None:
    capture, original, rec = make_capture()
    capture.write("hel")
    capture.write("lo")
    assert rec.lines == []
    assert original.getvalue() == "hello"  # the terminal is never held back
    capture.write(" world\nnext")
    assert rec.lines == ["hello world"]
    capture.flush()  # an ordinary flush (every progress bar frame does one) does not cut the line
    assert rec.lines == ["hello world"]
    capture.flush_lines()
    assert rec.lines == ["hello world", "next"]
    capture.flush_lines()
    assert rec.lines == ["hello world", "next"]


def test_carriage_return_keeps_the_last_frame_of_a_progress_bar() -> None:
    capture, _, rec = make_capture()
    capture.write("\r  0%|          |\r 50%|#####     |\r100%|##########|\n")
    for frame in range(1000):  # a bar drawn one write per frame, as tqdm does
        capture.write(f"\rstep {frame}")
    capture.write("\n")
    capture.write("windows line\r\n")
    capture.write("frame ends with CR\r")
    capture.write("\n")
    capture.write("old text\rnew")
    capture.flush_lines()
    assert rec.lines == ["100%|##########|", "step 999", "windows line", "frame ends with CR", "new"]


def test_a_long_running_progress_bar_is_not_mistaken_for_an_overlong_line() -> None:
    original = io.StringIO()
    rec = Recorder()
    capture = LineCapture(original, rec.on_line, rec.on_error, max_line_length=20)
    for frame in range(1000):
        capture.write(f"\rstep {frame}")
    capture.write("\rdone\r")
    assert rec.lines == []  # only the current frame is kept, so the buffer never fills up
    capture.write("\n")
    assert rec.lines == ["done"]


def test_overlong_partial_line_is_passed_on_in_pieces() -> None:
    original = io.StringIO()
    rec = Recorder()
    capture = LineCapture(original, rec.on_line, rec.on_error, max_line_length=4)
    capture.write("abcdefghij")
    assert rec.lines == ["abcd", "efgh"]
    capture.write("\n")
    assert rec.lines == ["abcd", "efgh", "ij"]


def test_original_stream_receives_exactly_the_same_calls() -> None:
    chunks = ["plain\n", "part", "ial\n", "\r 10%", "\r100%\n", "crlf\r\n", "ünïcødé ✓\n", "", "tail"]
    direct = CallLog()
    for chunk in chunks:
        direct.write(chunk)
        direct.flush()
    wrapped = CallLog()
    rec = Recorder()
    capture = LineCapture(wrapped, rec.on_line, rec.on_error)
    for chunk in chunks:
        assert capture.write(chunk) == len(chunk)
        capture.flush()
    capture.flush_lines()
    assert wrapped.calls == direct.calls
    assert wrapped.getvalue() == "".join(chunks)
    assert rec.lines == ["plain", "partial", "100%", "crlf", "ünïcødé ✓", "tail"]


def test_four_threads_printing_lose_nothing_and_never_mix_two_lines() -> None:
    capture, original, rec = make_capture()
    start = threading.Barrier(4)

    def worker(t: int) -> None:
        start.wait()
        for i in range(1000):
            # print() writes the text and the newline in two calls: another thread can write in between.
            print(f"thread {t} line {i} " + "x" * (i % 7), file=capture)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that writes really do interleave
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch_interval)
    capture.flush_lines()

    expected = {f"thread {t} line {i} " + "x" * (i % 7) for t in range(4) for i in range(1000)}
    assert len(rec.lines) == 4000
    assert set(rec.lines) == expected
    for t in range(4):  # each thread's lines keep its own order
        mine = [int(line.split()[3]) for line in rec.lines if line.startswith(f"thread {t} ")]
        assert mine == list(range(1000))
    assert original.getvalue().count("\n") == 4000
    assert len(original.getvalue()) == sum(len(line) + 1 for line in expected)
    assert rec.errors == []


def test_a_line_is_assembled_from_its_own_thread_s_writes() -> None:
    capture, original, rec = make_capture()
    a_wrote_text, b_done = threading.Event(), threading.Event()

    def thread_a() -> None:
        capture.write("from A")
        a_wrote_text.set()
        b_done.wait(5)
        capture.write("\n")

    def thread_b() -> None:
        a_wrote_text.wait(5)
        capture.write("from B\n")
        b_done.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert original.getvalue() == "from Afrom B\n\n"  # the terminal shows what was written, in order
    assert rec.lines == ["from B", "from A"]  # the run gets two clean lines


def test_raising_callback_is_reported_once_and_writes_still_reach_the_stream() -> None:
    original = io.StringIO()
    errors: list[str] = []
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if line == "boom":
            raise RuntimeError("store is gone")

    capture = LineCapture(original, on_line, errors.append)
    capture.write("ok\nboom\nafter\n")
    capture.write("more\n")
    capture.write("partial")
    capture.flush_lines()
    assert seen == ["ok", "boom"]
    assert len(errors) == 1
    assert "RuntimeError" in errors[0] and "store is gone" in errors[0]
    assert capture.capturing is False
    assert original.getvalue() == "ok\nboom\nafter\nmore\npartial"


def test_a_failing_error_callback_is_swallowed_too() -> None:
    def broken(_: str) -> None:
        raise ValueError("nope")

    original = io.StringIO()
    capture = LineCapture(original, broken, broken)
    capture.write("line\n")
    capture.write("next\n")
    assert original.getvalue() == "line\nnext\n"


def test_output_of_the_callback_itself_is_not_captured_again() -> None:
    # A callback that prints (a warning while storing a line) must not recurse or deadlock, whether it
    # writes to its own capture or to the other one.
    out_original, err_original = io.StringIO(), io.StringIO()
    err_lines: list[str] = []
    err_capture = LineCapture(err_original, err_lines.append, err_lines.append)
    out_lines: list[str] = []
    lock = threading.Lock()  # not reentrant, like the lock a run's writer would hold

    def on_line(line: str) -> None:
        with lock:
            out_lines.append(line)
            out_capture.write(f"echo {line}\n")
            err_capture.write(f"warning about {line}\n")

    out_capture = LineCapture(out_original, on_line, out_lines.append)
    out_capture.write("a\nb\n")
    err_capture.write("real error\n")
    assert out_lines == ["a", "b"]
    assert out_original.getvalue() == "a\nb\necho a\necho b\n"
    assert err_original.getvalue() == "warning about a\nwarning about b\nreal error\n"
    assert err_lines == ["real error"]


def test_stream_attributes_come_from_the_original(tmp_path: Path) -> None:
    with open(tmp_path / "out.txt", "w", encoding="utf-8", errors="replace") as handle:
        capture = LineCapture(handle, lambda _: None, lambda _: None)
        assert capture.fileno() == handle.fileno()
        assert capture.isatty() is False
        assert capture.encoding == "utf-8"
        assert capture.errors == "replace"
        assert capture.buffer is handle.buffer
        assert capture.writable()
        capture.write("through the wrapper\n")
        capture.close()  # closing the wrapper leaves the real stream open
        assert not handle.closed
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "through the wrapper\n"


def test_install_and_uninstall_swap_sys_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    original = io.StringIO()
    monkeypatch.setattr(sys, "stdout", original)
    rec = Recorder()
    capture = install("stdout", rec.on_line, rec.on_error)
    assert sys.stdout is capture
    print("hello")
    print("no newline yet", end="")
    uninstall(capture)
    assert getattr(sys, "stdout") is original  # noqa: B009 - getattr: mypy still thinks it is `capture`
    assert rec.lines == ["hello", "no newline yet"]
    capture.write("written after uninstall\n")  # e.g. by a logging handler that kept the wrapper
    assert rec.lines == ["hello", "no newline yet"]
    assert original.getvalue() == "hello\nno newline yetwritten after uninstall\n"


def test_uninstall_leaves_a_newer_replacement_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    original = io.StringIO()
    monkeypatch.setattr(sys, "stderr", original)
    rec = Recorder()
    capture = install("stderr", rec.on_line, rec.on_error)
    newer = io.StringIO()
    sys.stderr = newer
    uninstall(capture)
    assert sys.stderr is newer
    assert capture.capturing is False


def test_install_rejects_other_names_and_missing_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="stdin"):
        install("stdin", print, print)  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(ValueError, match="None"):
        install("stdout", print, print)


def test_flush_lines_gives_up_on_a_delivery_that_never_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's stop flushes the capture; a delivery stuck on another thread must not hang it."""
    monkeypatch.setattr(console, "FLUSH_WAIT_S", 0.2)
    stuck, release = threading.Event(), threading.Event()

    def on_line(line: str) -> None:
        stuck.set()
        release.wait(30)

    capture = LineCapture(io.StringIO(), on_line, lambda message: None)
    writer = threading.Thread(target=capture.write, args=("first\n",), daemon=True)
    writer.start()
    assert stuck.wait(5)
    capture.write("second\n")  # queued: the stuck thread holds the delivery
    flusher = threading.Thread(target=capture.flush_lines, daemon=True)
    flusher.start()
    flusher.join(5)
    try:
        assert not flusher.is_alive(), "flush_lines waited for a delivery that never ends"
    finally:
        release.set()
        writer.join(5)
