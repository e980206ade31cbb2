"""A compare page's lines downsampled in one call (`series_buckets_many`) on SQLite and PostgreSQL:
every line is what downsampling it alone gives, and a line that cannot be drawn says why."""

from __future__ import annotations

import numpy as np
import pytest
from sql_statements import statements_containing
from store_conformance import PROJECT, floats, ingest, new_run, strings

from despina.exceptions import FieldTypeError, RunNotFoundError
from despina.store.base import SeriesBuckets, SeriesData
from despina.store.downsample import bucketize
from despina.store.sql.store import SqlStore


@pytest.fixture
def store(sql_store: SqlStore) -> SqlStore:
    """The store on SQLite and on PostgreSQL (conftest's `sql_store`)."""
    return sql_store


def same(left: SeriesBuckets, right: SeriesBuckets) -> bool:
    if left.exact or right.exact:
        assert left.points is not None and right.points is not None
        return left.exact == right.exact and all(
            np.array_equal(getattr(left.points, name), getattr(right.points, name), equal_nan=True)
            for name in ("steps", "timestamps", "values")
        )
    return np.array_equal(left.count, right.count) and all(
        np.array_equal(getattr(left, name), getattr(right, name), equal_nan=True)
        for name in SeriesBuckets.BUCKET_ARRAYS
    )


@pytest.mark.parametrize("step_range", [None, (1_000.0, 3_999.5), (4_500.0, None)])
def test_every_line_is_what_downsampling_it_alone_gives(
    store: SqlStore, step_range: tuple[float | None, float | None] | None
) -> None:
    rng = np.random.default_rng(3)
    runs = [new_run(store) for _ in range(3)]
    for number, run in enumerate(runs):
        values = rng.normal(size=6_000)
        values[rng.integers(0, 6_000, 40)] = np.nan
        # Three batches: several chunks per series, read in order.
        for part in range(3):
            steps = np.arange(part * 2_000, (part + 1) * 2_000, dtype=np.float64) * (number + 1)
            ingest(store, run, [floats("loss", steps, values[part * 2_000 : (part + 1) * 2_000])])
        ingest(store, run, [floats("acc", np.arange(20.0))])  # fewer points than buckets: exact
    ingest(store, runs[0], [strings("notes", [0.0], ["a string series"])])
    fork = new_run(store, fork_run_id=runs[0].id, fork_step=2_500.0)
    ingest(store, fork, [floats("loss", np.arange(2_501.0, 5_000.0))])
    lines = [(run.id, path) for run in [*runs, fork] for path in ("loss", "acc", "never-logged")]
    lines += [(runs[0].id, "notes"), ("CAS-404", "loss")]

    results = store.series_buckets_many(PROJECT, lines, buckets=100, step_range=step_range)

    assert len(results) == len(lines)
    for (run_id, path), result in zip(lines, results, strict=True):
        if run_id == "CAS-404":
            assert isinstance(result, RunNotFoundError) and "CAS-404" in str(result)
        elif path == "notes":
            assert isinstance(result, FieldTypeError) and "notes" in str(result)
        else:
            assert isinstance(result, SeriesBuckets)
            alone = store.series_buckets(PROJECT, run_id, path, buckets=100, step_range=step_range)
            assert same(result, alone), (run_id, path)
    loss = results[0]
    assert isinstance(loss, SeriesBuckets) and not loss.exact and loss.count is not None
    assert loss.count.sum() == (
        6_000 if step_range is None else len(store.series(PROJECT, runs[0].id, "loss", step_range).steps)
    )


def test_short_series_of_many_runs_come_whole_from_a_few_queries(store: SqlStore) -> None:
    """Lines of fewer points than buckets (a comparison of many runs of a few epochs each) come as
    all their points, read with the others rather than line by line."""
    runs = [new_run(store) for _ in range(40)]
    for number, run in enumerate(runs):
        ingest(store, run, [floats("acc", np.arange(12.0), np.arange(12.0) + number)])
    lines = [(run.id, "acc") for run in runs]

    with statements_containing(store.read_engine, "series") as statements:
        results = store.series_buckets_many(PROJECT, lines, buckets=100, step_range=(2.0, None))

    for number, result in enumerate(results):
        assert isinstance(result, SeriesBuckets) and result.exact and result.points is not None
        assert result.points.steps.tolist() == list(np.arange(2.0, 12.0))
        assert result.points.values.tolist() == list(np.arange(2.0, 12.0) + number)
        assert len(result.points.timestamps) == 10
    # The series' heads, then their chunks: not a few queries for each of the 40 lines.
    assert len(statements) <= 4, [sql for sql, _ in statements]


def test_buckets_carry_their_points_times_when_asked(store: SqlStore) -> None:
    """A chart on a time axis: each bucket's first, last, smallest and largest point with its time."""
    run = new_run(store)
    steps = np.arange(5_000.0)
    values = np.sin(steps / 40.0)
    for part in range(2):  # two chunks
        piece = slice(part * 2_500, (part + 1) * 2_500)
        ingest(store, run, [floats("loss", steps[piece], values[piece])])
    exact = store.series(PROJECT, run.id, "loss")
    time_of = dict(zip(exact.steps.tolist(), exact.timestamps.tolist(), strict=True))

    plain = store.series_buckets(PROJECT, run.id, "loss", buckets=50)
    assert plain.first_time is None  # not asked: timestamps are not decoded
    for result in (
        store.series_buckets(PROJECT, run.id, "loss", buckets=50, timestamps=True),
        store.series_buckets_many(PROJECT, [(run.id, "loss")], buckets=50, timestamps=True)[0],
    ):
        assert isinstance(result, SeriesBuckets) and not result.exact
        for point in ("first", "last", "min", "max"):
            expected = [time_of[step] for step in getattr(result, f"{point}_step").tolist()]
            assert getattr(result, f"{point}_time").tolist() == expected, point


@pytest.mark.parametrize(
    "pieces",
    [
        # (first step, stride, points) per batch: one chunk each.
        [(0.0, 1.0, 3_000), (3_000.0, 1.0, 3_000)],  # one run of steps over two chunks
        [(0.5, 0.5, 2_000), (5_000.0, 0.5, 2_000), (7_000.0, 3.0, 1_000)],  # a gap, a new stride
        [(0.0, 1.0, 2_000), (2_000.0, 1.0, 1)],  # a one-point chunk
    ],
)
@pytest.mark.parametrize("timestamps", [False, True])
def test_evenly_spaced_chunks_bucket_as_their_points_do(
    store: SqlStore, pieces: list[tuple[float, float, int]], timestamps: bool
) -> None:
    """Evenly spaced chunks are bucketed from their (first, stride) without building their steps:
    the buckets are bit for bit those of every point read back and bucketed in memory."""
    run = new_run(store)
    rng = np.random.default_rng(5)
    for first, stride, count in pieces:
        values = rng.normal(size=count)
        values[rng.integers(0, count, 5)] = np.nan
        ingest(store, run, [floats("loss", first + stride * np.arange(count, dtype=np.float64), values)])
    points = store.series(PROJECT, run.id, "loss")
    if not timestamps:
        points = SeriesData(points.steps, np.empty(0), points.values)
    expected = bucketize(points, 700)
    for result in (
        store.series_buckets(PROJECT, run.id, "loss", buckets=700, timestamps=timestamps),
        store.series_buckets_many(PROJECT, [(run.id, "loss")], buckets=700, timestamps=timestamps)[0],
    ):
        assert isinstance(result, SeriesBuckets) and not result.exact
        assert same(result, expected)
        if timestamps:
            for name in ("first_time", "last_time", "min_time", "max_time"):
                assert np.array_equal(getattr(result, name), getattr(expected, name)), name
