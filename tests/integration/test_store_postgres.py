"""SqlStore on a real PostgreSQL: the Store contract, and several server processes sharing one database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, select

from despina.client import field_types as ft
from despina.client.operations import AddStrings, AppendPoints
from despina.store.blobs.local import LocalBlobStore
from despina.store.sql import schema
from despina.store.sql.store import SqlStore, database_url, open_store

pytest.register_assert_rewrite("store_conformance")

from store_conformance import T0, StoreConformance, atom, floats, request, same_floats  # noqa: E402

WORKERS = 6


class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self, postgres_db_url: str, tmp_path: Path) -> Iterator[SqlStore]:
        store = open_store(postgres_db_url, LocalBlobStore(tmp_path / "blobs"))
        yield store
        store.close()


def run_together(workers: list[Callable[[], None]]) -> None:
    """Start every worker at the same moment on its own thread; re-raise the first failure."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrap(work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (a lock never released?)"
    if errors:
        raise errors[0]


@pytest.fixture(params=["read committed", "serializable"])
def stores(request: pytest.FixtureRequest, postgres_db_url: str, tmp_path: Path) -> Iterator[list[SqlStore]]:
    """One store per worker, each with its own connection pool: like server processes behind a balancer.

    Under both isolation levels an operator may configure: with `serializable`, PostgreSQL aborts
    conflicting transactions (serialization failures), which the store must run again.
    """
    engine = create_engine(postgres_db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            database = conn.exec_driver_sql("SELECT current_database()").scalar()
            conn.exec_driver_sql(
                f"ALTER DATABASE \"{database}\" SET default_transaction_isolation = '{request.param}'"
            )
    finally:
        engine.dispose()
    opened = [open_store(postgres_db_url, LocalBlobStore(tmp_path / "blobs")) for _ in range(WORKERS)]
    with opened[0].engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == request.param
    yield opened
    for store in opened:
        store.close()


def test_postgresql_urls_use_the_psycopg_3_driver() -> None:
    assert (
        database_url("postgresql://u:secret@db:5432/despina")
        == "postgresql+psycopg://u:secret@db:5432/despina"
    )
    assert database_url("postgres://u@db/despina") == "postgresql+psycopg://u@db/despina"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_plain_postgresql_url_opens_the_store(postgres_db_url: str, tmp_path: Path) -> None:
    plain = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    store = open_store(plain, LocalBlobStore(tmp_path / "blobs"))
    try:
        run, created = store.create_run(request())
        assert created and store.get_run(run.project, run.id) == run
    finally:
        store.close()


def test_concurrent_writers_get_consecutive_run_numbers_and_lose_no_point(stores: list[SqlStore]) -> None:
    runs_each, batches, per_batch = 8, 15, 40
    created: list[list[str]] = [[] for _ in stores]
    shared_results: list[tuple[str, bool]] = []

    def worker(i: int) -> Callable[[], None]:
        store = stores[i]

        def work() -> None:
            # Every worker creates the same project ("team/race") and one whose key collides ("lab/race").
            for n in range(runs_each):
                info, _ = store.create_run(request("team/race", name=f"w{i}-{n}"))
                created[i].append(info.id)
            other, _ = store.create_run(request("lab/race"))
            created[i].append(other.id)
            # Every worker asks for the same custom run id: one run, created once.
            shared, was_created = store.create_run(request("team/race", custom_run_id="sweep"))
            shared_results.append((shared.id, was_created))
            # ... and appends to it as its own writer, into a series of its own and a tag set they share.
            for b in range(batches):
                steps = np.arange(b * per_batch, (b + 1) * per_batch, dtype=np.float64)
                items = [
                    (2 * b, floats(f"workers/w{i}", steps, steps + i)),
                    (2 * b + 1, AddStrings("workers/done", (f"w{i}-{b}",))),
                ]
                store.ingest("team/race", shared.id, f"writer-{i}", items, 2 * b + 1)

        return work

    run_together([worker(i) for i in range(WORKERS)])

    store = stores[0]
    table = store.runs_table("team/race")
    ids = [row["sys/id"].value for row in table]
    numbers = sorted(int(run_id.rsplit("-", 1)[1]) for run_id in ids)
    assert numbers == list(range(1, WORKERS * runs_each + 2))  # + the shared run
    assert sorted(ids) == sorted({*[r for rs in created for r in rs[:-1]], shared_results[0][0]})
    assert len({run_id for run_id, _ in shared_results}) == 1
    assert [was for _, was in shared_results].count(True) == 1

    lab = [row["sys/id"].value for row in store.runs_table("lab/race")]
    assert sorted(int(r.rsplit("-", 1)[1]) for r in lab) == list(range(1, WORKERS + 1))
    assert lab[0].split("-")[0] != ids[0].split("-")[0]  # both projects got a key, and not the same one

    shared_id = shared_results[0][0]
    fields = store.fields("team/race", shared_id)
    expected_steps = np.arange(batches * per_batch, dtype=np.float64)
    for i in range(WORKERS):
        data = store.series("team/race", shared_id, f"workers/w{i}")
        assert same_floats(data.steps, expected_steps)
        assert same_floats(data.values, expected_steps + i)
        assert fields[f"workers/w{i}"].value.count == batches * per_batch
        assert store.applied_seq("team/race", shared_id, f"writer-{i}") == 2 * batches - 1
    assert fields["workers/done"].value == {f"w{i}-{b}" for i in range(WORKERS) for b in range(batches)}


def test_one_writer_replayed_concurrently_applies_each_operation_once(stores: list[SqlStore]) -> None:
    """A live sender and `despina sync` (or two server processes) delivering the same journal at once."""
    run, _ = stores[0].create_run(request())
    batches, per_batch = 30, 25

    def deliver(store: SqlStore) -> Callable[[], None]:
        def work() -> None:
            for b in range(batches):
                steps = np.arange(b * per_batch, (b + 1) * per_batch, dtype=np.float64)
                op = AppendPoints(
                    "train/loss",
                    ft.FLOAT_SERIES,
                    steps,
                    T0 + steps,
                    steps * 0.5,
                    np.arange(b * per_batch, (b + 1) * per_batch, dtype=np.int64),
                )
                # Each batch overlaps the one before, as a resend after a lost acknowledgement does.
                store.ingest(run.project, run.id, "writer-1", [(b * per_batch, op)], (b + 1) * per_batch - 1)
                store.ingest(
                    run.project, run.id, "writer-1", [(b * per_batch, atom("epoch", b))], b * per_batch
                )

        return work

    run_together([deliver(store) for store in stores])

    store = stores[0]
    data = store.series(run.project, run.id, "train/loss")
    steps = np.arange(batches * per_batch, dtype=np.float64)
    assert same_floats(data.steps, steps)  # every point once: none lost, none twice
    assert same_floats(data.values, steps * 0.5)
    assert store.fields(run.project, run.id)["train/loss"].value.count == batches * per_batch
    assert store.applied_seq(run.project, run.id, "writer-1") == batches * per_batch - 1
    with store.engine.connect() as conn:  # the summary row and the chunks agree
        counts = conn.execute(select(schema.series_chunks.c.point_count)).scalars().all()
    assert sum(counts) == batches * per_batch


def test_text_with_a_nul_character_is_rejected_not_retried_forever(stores: list[SqlStore]) -> None:
    store = stores[0]
    run, _ = store.create_run(request())
    items = [
        (0, atom("notes", "a\x00b")),
        (1, AddStrings("sys/tags", ("ok", "bad\x00"))),
        (2, atom("lr", 0.1)),
    ]
    result = store.ingest(run.project, run.id, "writer-1", items, 2)
    assert result.applied_seq == 2
    assert len(result.rejected) == 2 and all("NUL" in reason for reason in result.rejected)
    fields = store.fields(run.project, run.id)
    assert "notes" not in fields and fields["lr"].value == 0.1
