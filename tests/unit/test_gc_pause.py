"""`cyclic_gc_paused`: no cyclic collection inside, the collector's own setting back after the last
of overlapping pauses, and a collector that was off stays off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from despina.store.gc_pause import cyclic_gc_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_a_pause_turns_collection_off_and_back_on() -> None:
    gc.enable()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_end_with_the_last() -> None:
    gc.enable()
    first_in, first_may_leave = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with cyclic_gc_paused():
            first_in.set()
            first_may_leave.wait(5)
            seen.append(gc.isenabled())  # still paused: the other pause ended first

    worker = threading.Thread(target=first)
    worker.start()
    first_in.wait(5)
    with cyclic_gc_paused():
        pass
    assert not gc.isenabled()  # the worker's pause goes on
    first_may_leave.set()
    worker.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with cyclic_gc_paused(), cyclic_gc_paused():
        pass
    assert not gc.isenabled()


def test_an_error_inside_still_ends_the_pause() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
