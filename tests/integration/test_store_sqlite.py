"""The embedded store (SQLite in a folder): the Store contract, plus how it lays series out on disk."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select

from despina.client import field_types as ft
from despina.client.operations import AppendPoints
from despina.store.sql import schema
from despina.store.sql.store import CHUNK_POINTS, SqlStore, open_embedded_store

pytest.register_assert_rewrite("store_conformance")  # detailed assertion messages from the shared suite

from store_conformance import PROJECT, T0, StoreConformance, floats, ingest, new_run, same_floats  # noqa: E402


class TestSqliteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlStore]:
        store = open_embedded_store(tmp_path)
        yield store
        store.close()


def _chunk_rows(home: Path) -> list[tuple[int, int]]:
    """(series id, number of chunk rows) of every series, read with SQLAlchemy."""
    engine = create_engine(f"sqlite:///{home / 'despina.db'}")
    try:
        with engine.connect() as conn:
            query = (
                select(schema.series_chunks.c.series_id, func.count())
                .group_by(schema.series_chunks.c.series_id)
                .order_by(schema.series_chunks.c.series_id)
            )
            return [(int(series_id), int(n)) for series_id, n in conn.execute(query)]
    finally:
        engine.dispose()


def test_many_small_batches_are_stored_in_few_chunks_and_read_back_exactly(tmp_path: Path) -> None:
    store = open_embedded_store(tmp_path)
    run = new_run(store)
    total = 25_000
    rng = np.random.default_rng(7)
    values = rng.normal(size=total)
    values[[10, 20_000]] = math.nan
    values[[11, 12_345]] = [math.inf, -math.inf]
    steps = np.arange(total, dtype=np.float64) * 2.0  # steps 0, 2, 4, ...
    # Batch sizes: many one-point batches (sync mode), some medium ones, and large ones crossing chunks.
    sizes = [1] * 400 + [7_599] + [1] * 300 + [3] * 100 + [13_000] + [1] * 200 + [3_201]
    assert sum(sizes) == total
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        assert ingest(store, run, [floats("train/loss", steps[part], values[part])]).rejected == []
        start += size
    store.close()

    chunks = _chunk_rows(tmp_path)
    assert len(chunks) == 1
    assert chunks[0][1] <= math.ceil(total / CHUNK_POINTS)

    reopened = open_embedded_store(tmp_path)  # what was written survives closing the store
    try:
        data = reopened.series(PROJECT, run.id, "train/loss")
        assert same_floats(data.steps, steps)
        assert same_floats(data.values, values)
        assert np.allclose(data.timestamps, T0 + steps, rtol=0, atol=1e-6)
        # Across the edge between the first two chunks.
        middle = reopened.series(PROJECT, run.id, "train/loss", (2 * 9_990, 2 * 10_010))
        assert same_floats(middle.steps, steps[9_990:10_011])
        assert same_floats(middle.values, values[9_990:10_011])
        summary = reopened.fields(PROJECT, run.id)["train/loss"].value
        assert summary.count == total
        assert summary.last_step == steps[-1]
        finite = values[np.isfinite(values)]
        assert summary.min == finite.min() and summary.max == finite.max()
        assert summary.mean == pytest.approx(finite.mean())
    finally:
        reopened.close()


def test_string_series_in_small_batches_are_chunked_too(tmp_path: Path) -> None:
    store = open_embedded_store(tmp_path)
    try:
        run = new_run(store)
        for i in range(300):
            step = np.array([float(i)])
            ingest(store, run, [AppendPoints("log", ft.STRING_SERIES, step, T0 + step, [f"line {i}"])])
        assert list(store.series(PROJECT, run.id, "log").values) == [f"line {i}" for i in range(300)]
    finally:
        store.close()
    assert _chunk_rows(tmp_path)[0][1] == 1


def test_a_float_point_takes_under_16_bytes_on_disk(tmp_path: Path) -> None:
    store = open_embedded_store(tmp_path)
    run = new_run(store)
    total = 1_000_000
    rng = np.random.default_rng(11)
    values = rng.normal(size=total)  # random doubles do not compress: 8 bytes each
    steps = np.arange(total, dtype=np.float64)
    timestamps = T0 + steps * 0.01  # a point every 10 ms
    for part in np.array_split(np.arange(total), [300_001, 600_000]):
        op = AppendPoints("train/loss", ft.FLOAT_SERIES, steps[part], timestamps[part], values[part])
        assert ingest(store, run, [op]).rejected == []
    assert store.fields(PROJECT, run.id)["train/loss"].value.count == total
    store.close()

    database = tmp_path / "despina.db"
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = tmp_path / "despina.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    bytes_per_point = database.stat().st_size / total
    assert bytes_per_point < 16, f"{bytes_per_point:.2f} bytes per point"

    reopened = open_embedded_store(tmp_path)
    try:
        data = reopened.series(PROJECT, run.id, "train/loss")
        assert same_floats(data.steps, steps)
        assert same_floats(data.values, values)
        assert np.allclose(data.timestamps, timestamps, rtol=0, atol=1e-6)
    finally:
        reopened.close()
