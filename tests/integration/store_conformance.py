"""A reusable conformance suite for the Store contract (despina/store/base.py).

Every backend (the embedded SQLite store, PostgreSQL, the HTTP server) subclasses `StoreConformance`
in a `test_*.py` module and provides a `store` fixture::

    class TestSqliteStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            store = open_embedded_store(tmp_path)
            yield store
            store.close()

The class name does not start with `Test`, so pytest only collects the subclasses. Tests may also
request `tmp_path` (for file contents to put into the blob store): it is the same folder the fixture
got, so files are written under a sub folder.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from despina.client import field_types as ft
from despina.client.operations import (
    AddFileSetEntries,
    AddStrings,
    AppendPoints,
    AssignAtom,
    AssignFile,
    DeleteField,
    FileRef,
    Operation,
    RemoveStrings,
)
from despina.exceptions import RunDeletionError, RunNotFoundError
from despina.query.trash import TRASHED
from despina.store.base import FieldValue, IngestResult, RunCreate, RunInfo, SeriesSummary, Store

PROJECT = "team/cassava"
T0 = 1_700_000_000.0  # timestamps of test points: T0 + step seconds

_blob_names = count()


# -- helpers ---------------------------------------------------------------------------------------


def request(project: str = PROJECT, owner: str = "sophia", **kwargs: Any) -> RunCreate:
    return RunCreate(project=project, owner=owner, **kwargs)


def new_run(store: Store, project: str = PROJECT, **kwargs: Any) -> RunInfo:
    info, created = store.create_run(request(project, **kwargs))
    assert created
    return info


def floats(
    path: str,
    steps: Sequence[float],
    values: Sequence[float] | None = None,
    *,
    seqs: Sequence[int] | None = None,
) -> AppendPoints:
    steps_arr = np.asarray(steps, dtype=np.float64)
    values_arr = steps_arr * 10.0 if values is None else np.asarray(values, dtype=np.float64)
    return AppendPoints(
        path,
        ft.FLOAT_SERIES,
        steps_arr,
        T0 + steps_arr,
        values_arr,
        None if seqs is None else np.asarray(seqs, dtype=np.int64),
    )


def strings(path: str, steps: Sequence[float], values: Sequence[str]) -> AppendPoints:
    steps_arr = np.asarray(steps, dtype=np.float64)
    return AppendPoints(path, ft.STRING_SERIES, steps_arr, T0 + steps_arr, list(values))


def atom(path: str, value: Any, type_: str | None = None) -> AssignAtom:
    if type_ is None:
        type_ = {bool: ft.BOOL, int: ft.INT, float: ft.FLOAT, str: ft.STRING}.get(type(value), ft.DATETIME)
    return AssignAtom(path, type_, value)


def ingest(
    store: Store,
    run: RunInfo,
    ops: Sequence[Operation],
    *,
    writer: str = "writer-1",
    first_seq: int | None = None,
) -> IngestResult:
    """Apply `ops` as one batch, numbered after what this writer already has applied."""
    start = store.applied_seq(run.project, run.id, writer) + 1 if first_seq is None else first_seq
    items = [(start + i, op) for i, op in enumerate(ops)]
    return store.ingest(run.project, run.id, writer, items, start + len(ops) - 1)


def put_blob(store: Store, folder: Path, content: bytes, name: str, mime: str = "text/plain") -> FileRef:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"blob-{next(_blob_names)}"
    source.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()
    store.put_blob(source, sha)
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    return FileRef(sha, len(content), name, extension, mime)


def read_blob(store: Store, sha256: str) -> bytes:
    with store.open_blob(sha256) as stream:
        return stream.read()


def values_of(store: Store, run: RunInfo, prefix: str | None = None) -> dict[str, Any]:
    return {path: field.value for path, field in store.fields(run.project, run.id, prefix).items()}


def cell(field: FieldValue) -> Any:
    """What a runs-table entry shows: the value, or a series' last value."""
    return field.value.last if isinstance(field.value, SeriesSummary) else field.value


def same_floats(actual: Any, expected: Sequence[float]) -> bool:
    """Element-wise equality where NaN equals NaN and infinities must match exactly."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    return a.shape == e.shape and bool(np.array_equal(a, e, equal_nan=True))


# -- the suite -------------------------------------------------------------------------------------


class StoreConformance:
    """The Store contract; subclasses provide the `store` fixture."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("a StoreConformance subclass must provide the `store` fixture")

    # -- creating and finding runs --------------------------------------------------------------------

    def test_create_run_numbers_runs_per_project_with_a_key_from_the_name(self, store: Store) -> None:
        first = new_run(store)
        second = new_run(store)
        other = new_run(store, "team/maize")
        third = new_run(store)
        assert (first.id, second.id, third.id) == ("CAS-1", "CAS-2", "CAS-3")
        assert other.id == "MAI-1"
        # A second project whose name gives the same three letters gets another key, numbered from 1.
        castle = new_run(store, "other/castle")
        assert castle.id.endswith("-1")
        assert castle.id.split("-")[0] not in ("CAS", "MAI")
        assert store.list_projects() == sorted([PROJECT, "team/maize", "other/castle"])

    def test_create_run_records_identity_and_life_cycle(self, store: Store) -> None:
        before = datetime.now(timezone.utc) - timedelta(seconds=5)
        info = new_run(store, name="baseline", description="first try", owner="alice")
        assert info.project == PROJECT
        assert (info.name, info.description, info.owner) == ("baseline", "first try", "alice")
        assert (info.state, info.failed) == ("running", False)
        assert before <= info.creation_time <= datetime.now(timezone.utc) + timedelta(seconds=5)
        assert info.custom_run_id is None and info.fork_parent is None and info.fork_step is None
        assert store.get_run(PROJECT, info.id) == info
        sys_fields = values_of(store, info, "sys")
        assert sys_fields["sys/id"] == info.id
        assert sys_fields["sys/name"] == "baseline"
        assert sys_fields["sys/owner"] == "alice"
        assert sys_fields["sys/state"] == "running"
        assert sys_fields["sys/failed"] is False
        assert sys_fields["sys/tags"] == set()

    def test_custom_run_id_returns_the_same_run(self, store: Store) -> None:
        first, created = store.create_run(request(custom_run_id="ddp-42", tags=("a",)))
        again, created_again = store.create_run(request(custom_run_id="ddp-42", owner="someone-else"))
        assert created and not created_again
        assert again.id == first.id
        assert again.owner == "sophia"
        assert store.get_run(PROJECT, first.id).custom_run_id == "ddp-42"
        assert values_of(store, first)["sys/custom_run_id"] == "ddp-42"
        # Custom run ids are per project, and other requests still create new runs.
        elsewhere, created_elsewhere = store.create_run(request("team/maize", custom_run_id="ddp-42"))
        assert created_elsewhere and elsewhere.id == "MAI-1"
        assert new_run(store).id == "CAS-2"

    def test_creation_token_makes_creation_idempotent(self, store: Store) -> None:
        first, created = store.create_run(request(creation_token="token-1"))
        replay, created_replay = store.create_run(request(creation_token="token-1"))
        other, created_other = store.create_run(request(creation_token="token-2"))
        assert created and not created_replay and created_other
        assert replay.id == first.id == "CAS-1"
        assert other.id == "CAS-2"

    def test_get_run_of_an_unknown_id_raises(self, store: Store) -> None:
        run = new_run(store)
        with pytest.raises(RunNotFoundError):
            store.get_run(PROJECT, "CAS-99")
        with pytest.raises(RunNotFoundError):
            store.get_run("team/nothing", run.id)
        with pytest.raises(RunNotFoundError):
            store.ingest(PROJECT, "CAS-99", "w", [(0, atom("x", 1.0))], 0)
        with pytest.raises(RunNotFoundError):
            store.fields(PROJECT, "CAS-99")

    def test_fork_of_an_unknown_run_raises(self, store: Store) -> None:
        new_run(store)
        with pytest.raises(RunNotFoundError):
            store.create_run(request(fork_run_id="CAS-99", fork_step=3.0))

    # -- atoms, sets, files --------------------------------------------------------------------------

    def test_atoms_of_every_type_read_back_exactly(self, store: Store) -> None:
        run = new_run(store)
        when = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone.utc)
        elsewhere = datetime(2024, 7, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        ops = [
            atom("f/plain", 0.1),
            atom("f/nan", math.nan),
            atom("f/inf", math.inf),
            atom("f/ninf", -math.inf),
            atom("f/max", 1.7976931348623157e308),
            atom("f/tiny", 5e-324),
            atom("i/max", 2**63 - 1),
            atom("i/min", -(2**63)),
            atom("i/zero", 0),
            atom("b/true", True),
            atom("b/false", False),
            atom("s/text", "héllo ✓\nnew line"),
            atom("s/empty", ""),
            atom("d/utc", when, ft.DATETIME),
            atom("d/offset", elsewhere, ft.DATETIME),
        ]
        result = ingest(store, run, ops)
        assert result.rejected == []
        assert result.applied_seq == len(ops) - 1
        fields = store.fields(PROJECT, run.id)
        expected_types = {
            "f/plain": ft.FLOAT,
            "f/nan": ft.FLOAT,
            "f/inf": ft.FLOAT,
            "f/ninf": ft.FLOAT,
            "f/max": ft.FLOAT,
            "f/tiny": ft.FLOAT,
            "i/max": ft.INT,
            "i/min": ft.INT,
            "i/zero": ft.INT,
            "b/true": ft.BOOL,
            "b/false": ft.BOOL,
            "s/text": ft.STRING,
            "s/empty": ft.STRING,
            "d/utc": ft.DATETIME,
            "d/offset": ft.DATETIME,
        }
        assert {p: fields[p].type for p in expected_types} == expected_types
        value = {p: fields[p].value for p in expected_types}
        assert value["f/plain"] == 0.1
        assert math.isnan(value["f/nan"])
        assert value["f/inf"] == math.inf and value["f/ninf"] == -math.inf
        assert value["f/max"] == 1.7976931348623157e308 and value["f/tiny"] == 5e-324
        assert value["i/max"] == 2**63 - 1 and type(value["i/max"]) is int
        assert value["i/min"] == -(2**63) and value["i/zero"] == 0
        assert value["b/true"] is True and value["b/false"] is False
        assert value["s/text"] == "héllo ✓\nnew line" and value["s/empty"] == ""
        assert value["d/utc"] == when and value["d/utc"].tzinfo is not None
        assert value["d/offset"] == elsewhere  # the same instant

    def test_assigning_again_overwrites(self, store: Store) -> None:
        run = new_run(store)
        ingest(store, run, [atom("lr", 0.1), atom("name", "a"), atom("epochs", 3)])
        result = ingest(store, run, [atom("lr", 0.2), atom("name", "b"), atom("epochs", 4), atom("lr", 2)])
        assert result.rejected == []
        fields = store.fields(PROJECT, run.id)
        # An int given to a float field stays a float field.
        assert (fields["lr"].type, fields["lr"].value) == (ft.FLOAT, 2.0)
        assert fields["name"].value == "b" and fields["epochs"].value == 4

    def test_string_sets_add_and_remove(self, store: Store) -> None:
        run = new_run(store, tags=("baseline", "cnn"))
        result = ingest(
            store,
            run,
            [
                AddStrings("data/classes", ("cat", "dog", "bird")),
                AddStrings("data/classes", ("dog", "fish")),
                RemoveStrings("data/classes", ("bird", "not-there")),
                AddStrings("sys/tags", ("best",)),
                RemoveStrings("sys/tags", ("cnn",)),
            ],
        )
        assert result.rejected == []
        fields = store.fields(PROJECT, run.id)
        assert fields["data/classes"].type == ft.STRING_SET
        assert fields["data/classes"].value == {"cat", "dog", "fish"}
        assert fields["sys/tags"].type == ft.STRING_SET
        assert fields["sys/tags"].value == {"baseline", "best"}
        ingest(store, run, [RemoveStrings("data/classes", ("cat", "dog", "fish"))])
        assert store.fields(PROJECT, run.id)["data/classes"].value == set()

    def test_files_and_file_sets(self, store: Store, tmp_path: Path) -> None:
        run = new_run(store)
        folder = tmp_path / "contents"
        weights = put_blob(store, folder, b"\x00\x01weights" * 100, "model.pt", "application/octet-stream")
        config = put_blob(store, folder, b'{"lr": 0.1}', "config.json", "application/json")
        readme = put_blob(store, folder, b"# readme\n", "README.md")
        assert store.has_blob(weights.sha256)
        assert not store.has_blob(hashlib.sha256(b"never stored").hexdigest())
        store.put_blob(folder / "blob-0", weights.sha256)  # the same content again: a no-op
        result = ingest(
            store,
            run,
            [
                AssignFile("model/weights", weights),
                AddFileSetEntries("code", (("config.json", config),)),
                AddFileSetEntries("code", (("docs/README.md", readme),)),
                AddFileSetEntries("artifacts", (("a.json", config),)),
                AddFileSetEntries("artifacts", (("b.pt", weights),), reset=True),
            ],
        )
        assert result.rejected == []
        fields = store.fields(PROJECT, run.id)
        assert fields["model/weights"].type == ft.FILE
        assert fields["model/weights"].value == weights
        assert read_blob(store, weights.sha256) == b"\x00\x01weights" * 100
        assert fields["code"].type == ft.FILE_SET
        assert fields["code"].value == {"config.json": config, "docs/README.md": readme}
        assert fields["artifacts"].value == {"b.pt": weights}
        assert read_blob(store, fields["code"].value["docs/README.md"].sha256) == b"# readme\n"
        # Assigning another file replaces the reference.
        ingest(store, run, [AssignFile("model/weights", config)])
        assert store.fields(PROJECT, run.id)["model/weights"].value == config

    # -- series -------------------------------------------------------------------------------------

    def test_float_series_points_read_back_exactly(self, store: Store) -> None:
        run = new_run(store)
        values = [0.5, math.nan, math.inf, -math.inf, -2.25, 1e-300]
        steps = [0, 1, 2, 5, 7.5, 100]
        timestamps = [T0 + 0.000001, T0 + 1.5, T0 + 2.25, T0 + 3.123456, T0 + 4, T0 + 1000]
        op = AppendPoints(
            "train/loss", ft.FLOAT_SERIES, np.array(steps, float), np.array(timestamps), np.array(values)
        )
        assert ingest(store, run, [op]).rejected == []
        data = store.series(PROJECT, run.id, "train/loss")
        assert same_floats(data.steps, steps)
        assert same_floats(data.values, values)
        assert np.allclose(data.timestamps, timestamps, rtol=0, atol=1e-6)
        field = store.fields(PROJECT, run.id)["train/loss"]
        assert field.type == ft.FLOAT_SERIES
        summary = field.value
        assert (summary.count, summary.last, summary.last_step) == (6, 1e-300, 100.0)
        assert summary.last_timestamp == pytest.approx(T0 + 1000, abs=1e-6)
        # min, max and mean are over the finite values.
        assert summary.min == -2.25 and summary.max == 0.5
        assert summary.mean == pytest.approx((0.5 - 2.25 + 1e-300) / 3)

    def test_last_value_of_a_float_series_may_be_nan(self, store: Store) -> None:
        run = new_run(store)
        ingest(store, run, [floats("x", [0, 1], [1.0, math.nan])])
        assert math.isnan(store.fields(PROJECT, run.id)["x"].value.last)

    def test_string_and_file_series(self, store: Store, tmp_path: Path) -> None:
        run = new_run(store)
        first = put_blob(store, tmp_path / "contents", b"\x89PNG first", "sample_0.png", "image/png")
        second = put_blob(store, tmp_path / "contents", b"\x89PNG second", "sample_1.png", "image/png")
        result = ingest(
            store,
            run,
            [
                strings("logs", [0, 1, 2], ["épocha 0", "", "done ✓"]),
                AppendPoints(
                    "samples", ft.FILE_SERIES, np.array([0.0, 10.0]), np.array([T0, T0 + 1]), [first, second]
                ),
            ],
        )
        assert result.rejected == []
        logs = store.series(PROJECT, run.id, "logs")
        assert list(logs.values) == ["épocha 0", "", "done ✓"]
        assert same_floats(logs.steps, [0, 1, 2])
        samples = store.series(PROJECT, run.id, "samples")
        assert list(samples.values) == [first, second]
        assert same_floats(samples.steps, [0, 10])
        assert read_blob(store, samples.values[1].sha256) == b"\x89PNG second"
        fields = store.fields(PROJECT, run.id)
        assert (fields["logs"].type, fields["logs"].value.last, fields["logs"].value.count) == (
            ft.STRING_SERIES,
            "done ✓",
            3,
        )
        assert (fields["samples"].type, fields["samples"].value.last) == (ft.FILE_SERIES, second)

    def test_series_across_batches_and_step_range(self, store: Store) -> None:
        run = new_run(store)
        for start in range(0, 100, 10):
            ingest(store, run, [floats("acc", range(start, start + 10))])
        everything = store.series(PROJECT, run.id, "acc")
        assert same_floats(everything.steps, range(100))
        assert same_floats(everything.values, np.arange(100) * 10.0)
        inside = store.series(PROJECT, run.id, "acc", (10, 20))
        assert same_floats(inside.steps, range(10, 21))  # both ends included
        assert same_floats(inside.values, np.arange(10, 21) * 10.0)
        assert same_floats(store.series(PROJECT, run.id, "acc", (None, 5)).steps, range(6))
        assert same_floats(store.series(PROJECT, run.id, "acc", (95, None)).steps, range(95, 100))
        assert same_floats(store.series(PROJECT, run.id, "acc", (10.5, 11.5)).steps, [11])
        assert len(store.series(PROJECT, run.id, "acc", (200, None)).steps) == 0
        assert len(store.series(PROJECT, run.id, "no/such/series").steps) == 0

    # -- idempotence ----------------------------------------------------------------------------------

    def test_applied_seq_is_tracked_per_writer(self, store: Store) -> None:
        run = new_run(store)
        assert store.applied_seq(PROJECT, run.id, "a") == -1
        ingest(store, run, [atom("x", 1.0)] * 6, writer="a")
        assert store.applied_seq(PROJECT, run.id, "a") == 5
        assert store.applied_seq(PROJECT, run.id, "b") == -1
        # Another writer's sequence numbers are its own: seq 0 of writer b applies.
        assert ingest(store, run, [atom("y", 2.0)], writer="b").applied_seq == 0
        assert values_of(store, run)["y"] == 2.0

    def test_the_same_batch_twice_applies_once(self, store: Store) -> None:
        run = new_run(store)
        items: list[tuple[int, Operation]] = [
            (0, floats("loss", [0, 1, 2])),
            (1, AddStrings("labels", ("a",))),
            (2, strings("log", [0], ["hello"])),
            (3, floats("loss", [3])),
        ]
        first = store.ingest(PROJECT, run.id, "w", items, 3)
        again = store.ingest(PROJECT, run.id, "w", items, 3)
        assert first.applied_seq == again.applied_seq == 3
        assert again.rejected == []
        loss = store.series(PROJECT, run.id, "loss")
        assert same_floats(loss.steps, [0, 1, 2, 3])
        assert list(store.series(PROJECT, run.id, "log").values) == ["hello"]
        assert store.fields(PROJECT, run.id)["loss"].value.count == 4

    def test_an_overlapping_batch_adds_only_new_points(self, store: Store) -> None:
        run = new_run(store)
        # Journal records 0..4 are float points, merged into one AppendPoints carrying their seqs.
        store.ingest(PROJECT, run.id, "w", [(0, floats("loss", range(5), seqs=range(5)))], 4)
        # The next read of the journal starts inside what was applied: records 3..7.
        overlap = floats("loss", range(3, 8), seqs=range(3, 8))
        result = store.ingest(PROJECT, run.id, "w", [(3, overlap)], 7)
        assert result.applied_seq == 7
        assert result.rejected == []  # the applied points are skipped, not reported as out of order
        loss = store.series(PROJECT, run.id, "loss")
        assert same_floats(loss.steps, range(8))
        assert same_floats(loss.values, np.arange(8) * 10.0)
        assert store.fields(PROJECT, run.id)["loss"].value.count == 8

    def test_an_overlapping_batch_skips_operations_already_applied(self, store: Store) -> None:
        run = new_run(store)
        store.ingest(PROJECT, run.id, "w", [(0, AddStrings("s", ("a",))), (1, RemoveStrings("s", ("a",)))], 1)
        replay: list[tuple[int, Operation]] = [
            (0, AddStrings("s", ("a",))),  # applied before: adding "a" again would undo the removal
            (1, RemoveStrings("s", ("a",))),
            (2, AddStrings("s", ("b",))),
            (3, floats("n", [0], seqs=[3])),
        ]
        result = store.ingest(PROJECT, run.id, "w", replay, 3)
        assert result.applied_seq == 3
        assert values_of(store, run)["s"] == {"b"}
        assert same_floats(store.series(PROJECT, run.id, "n").steps, [0])

    # -- rejections -------------------------------------------------------------------------------------

    def test_values_of_another_type_are_rejected_and_the_rest_applies(
        self, store: Store, tmp_path: Path
    ) -> None:
        run = new_run(store)
        ingest(
            store, run, [atom("params/lr", 0.1), floats("train/loss", [0, 1]), AddStrings("labels", ("a",))]
        )
        ref = put_blob(store, tmp_path / "contents", b"content", "x.txt")
        before = store.applied_seq(PROJECT, run.id, "writer-1")
        result = ingest(
            store,
            run,
            [
                atom("params/lr", "fast"),  # string into a float field
                atom("params/epochs", 10),
                floats("params/lr", [0]),  # points into an atom
                atom("train/loss", 0.5),  # an atom into a series
                strings("train/loss", [2], ["x"]),  # string points into a float series
                floats("train/loss", [2, 3]),
                AssignFile("labels", ref),  # a file into a string set
                AddStrings("params/lr", ("x",)),  # strings into a float field
                atom("params/name", "resnet"),
            ],
        )
        assert result.applied_seq == before + 9
        assert len(result.rejected) == 6, result.rejected
        for path in ("params/lr", "train/loss", "labels"):
            assert any(path in message for message in result.rejected), (path, result.rejected)
        fields = store.fields(PROJECT, run.id)
        assert (fields["params/lr"].type, fields["params/lr"].value) == (ft.FLOAT, 0.1)
        assert fields["params/epochs"].value == 10
        assert fields["params/name"].value == "resnet"
        assert (fields["labels"].type, fields["labels"].value) == (ft.STRING_SET, {"a"})
        loss = store.series(PROJECT, run.id, "train/loss")
        assert same_floats(loss.steps, [0, 1, 2, 3])
        assert fields["train/loss"].type == ft.FLOAT_SERIES

    def test_non_increasing_steps_are_skipped_and_reported(self, store: Store) -> None:
        run = new_run(store)
        ingest(store, run, [floats("acc", [0, 1, 2])])
        late = floats("acc", [2, 1, 3, 3, 2.5, 5], [20, 10, 30, 31, 25, 50])
        result = ingest(store, run, [late, atom("ok", True)])
        assert len(result.rejected) == 1
        assert "acc" in result.rejected[0]
        data = store.series(PROJECT, run.id, "acc")
        assert same_floats(data.steps, [0, 1, 2, 3, 5])
        assert same_floats(data.values, [0, 10, 20, 30, 50])
        assert values_of(store, run)["ok"] is True
        assert store.fields(PROJECT, run.id)["acc"].value.count == 5

    def test_sys_fields_derived_from_the_run_record_cannot_be_assigned(self, store: Store) -> None:
        run = new_run(store, owner="alice")
        result = ingest(
            store,
            run,
            [
                atom("sys/id", "CAS-999"),
                atom("sys/owner", "mallory"),
                atom("sys/name", "renamed"),
                atom("sys/description", "better"),
                atom("sys/state", "finished"),
                atom("sys/failed", True),
            ],
        )
        sys_fields = values_of(store, run, "sys")
        assert sys_fields["sys/id"] == run.id
        assert sys_fields["sys/owner"] == "alice"
        assert (sys_fields["sys/name"], sys_fields["sys/description"]) == ("renamed", "better")
        assert (sys_fields["sys/state"], sys_fields["sys/failed"]) == ("finished", True)
        info = store.get_run(PROJECT, run.id)
        assert (info.id, info.owner, info.name, info.state, info.failed) == (
            run.id,
            "alice",
            "renamed",
            "finished",
            True,
        )
        assert [m for m in result.rejected if "sys/id" in m or "sys/owner" in m], result.rejected
        assert len(result.rejected) == 2, result.rejected

    def test_despina_bookkeeping_sys_fields_are_stored(self, store: Store) -> None:
        run = new_run(store)
        ingest(store, run, [atom("sys/hostname", "gpu-box-3"), atom("sys/running_time", 12.5)])
        assert values_of(store, run, "sys")["sys/hostname"] == "gpu-box-3"
        assert values_of(store, run, "sys")["sys/running_time"] == 12.5

    def test_a_running_run_without_a_recent_heartbeat_reads_as_crashed(self, store: Store) -> None:
        alive, dead, done = new_run(store), new_run(store), new_run(store)
        now = datetime.now(timezone.utc)
        ingest(store, alive, [atom("sys/ping_time", now)])
        ingest(store, dead, [atom("sys/ping_time", now - timedelta(hours=5))])
        ingest(store, done, [atom("sys/ping_time", now - timedelta(hours=5)), atom("sys/state", "finished")])
        assert store.get_run(PROJECT, alive.id).state == "running"
        assert store.get_run(PROJECT, dead.id).state == "crashed"
        assert values_of(store, dead, "sys")["sys/state"] == "crashed"
        assert store.get_run(PROJECT, done.id).state == "finished"
        crashed = {row["sys/id"].value for row in store.runs_table(PROJECT, state=["crashed"])}
        running = {row["sys/id"].value for row in store.runs_table(PROJECT, state=["running"])}
        assert crashed == {dead.id}
        assert running == {alive.id}
        # A resumed run beats again and is running once more.
        ingest(store, dead, [atom("sys/ping_time", now)], writer="writer-2")
        assert store.get_run(PROJECT, dead.id).state == "running"

    # -- deleting ---------------------------------------------------------------------------------------

    def test_delete_field_and_namespace(self, store: Store, tmp_path: Path) -> None:
        run = new_run(store)
        ref = put_blob(store, tmp_path / "contents", b"w", "w.bin")
        ingest(
            store,
            run,
            [
                atom("model/lr", 0.1),
                atom("model/name", "cnn"),
                floats("model/loss", [0, 1, 2]),
                AddStrings("model/labels", ("a",)),
                AssignFile("model/weights", ref),
                AddFileSetEntries("model/code", (("a.py", ref),)),
                atom("score", 0.9),
            ],
        )
        assert ingest(store, run, [DeleteField("model/lr")]).rejected == []
        fields = store.fields(PROJECT, run.id)
        assert "model/lr" not in fields and "model/name" in fields
        ingest(store, run, [DeleteField("model")])
        fields = store.fields(PROJECT, run.id)
        assert not [p for p in fields if p.startswith("model")]
        assert store.fields(PROJECT, run.id, "model") == {}
        assert fields["score"].value == 0.9
        assert len(store.series(PROJECT, run.id, "model/loss").steps) == 0
        # The path is free again, for a field of any type, starting from scratch.
        again = ingest(store, run, [strings("model/loss", [0], ["reborn"]), atom("model/lr", "x")])
        assert again.rejected == []
        assert list(store.series(PROJECT, run.id, "model/loss").values) == ["reborn"]
        assert store.fields(PROJECT, run.id)["model/lr"].value == "x"

    def test_delete_namespace_matches_the_path_exactly(self, store: Store) -> None:
        run = new_run(store)
        ingest(
            store,
            run,
            [
                atom("metrics/acc", 1.0),
                atom("Metrics/acc", 2.0),  # paths are case sensitive
                atom("metricsx/acc", 3.0),
                atom("a_b/x", 4.0),
                atom("axb/x", 5.0),  # "_" is not a wildcard
                atom("a%/x", 6.0),
                atom("a%b/x", 7.0),  # nor is "%"
                floats("metrics/loss", [0]),
                floats("Metrics/loss", [0]),
            ],
        )
        ingest(store, run, [DeleteField("metrics"), DeleteField("a_b"), DeleteField("a%")])
        fields = store.fields(PROJECT, run.id)
        user = sorted(p for p in fields if not p.startswith("sys/"))
        assert user == ["Metrics/acc", "Metrics/loss", "a%b/x", "axb/x", "metricsx/acc"]
        assert same_floats(store.series(PROJECT, run.id, "Metrics/loss").steps, [0])

    # -- forks ------------------------------------------------------------------------------------------

    def _parent(self, store: Store) -> RunInfo:
        parent = new_run(store, tags=("base",))
        ingest(
            store,
            parent,
            [
                atom("params/lr", 0.1),
                atom("params/optimizer", "adam"),
                AddStrings("data/labels", ("cat", "dog")),
                floats("train/loss", range(10)),
                strings("log", range(10), [f"line {i}" for i in range(10)]),
            ],
        )
        return parent

    def test_a_fork_reads_its_parents_points_up_to_the_fork_step_then_its_own(self, store: Store) -> None:
        parent = self._parent(store)
        child = new_run(store, fork_run_id=parent.id, fork_step=4.0)
        assert (child.fork_parent, child.fork_step) == (parent.id, 4.0)
        assert child.id == "CAS-2"
        own = ingest(
            store, child, [floats("train/loss", [5, 6, 7], [-5, -6, -7]), strings("log", [5], ["mine"])]
        )
        assert own.rejected == []
        # Points the parent logs after the fork do not show in the child.
        ingest(store, parent, [floats("train/loss", [10, 11])])
        loss = store.series(PROJECT, child.id, "train/loss")
        assert same_floats(loss.steps, [0, 1, 2, 3, 4, 5, 6, 7])
        assert same_floats(loss.values, [0, 10, 20, 30, 40, -5, -6, -7])
        log = store.series(PROJECT, child.id, "log")
        assert list(log.values) == [f"line {i}" for i in range(5)] + ["mine"]
        ranged = store.series(PROJECT, child.id, "train/loss", (3, 6))
        assert same_floats(ranged.steps, [3, 4, 5, 6])
        assert same_floats(ranged.values, [30, 40, -5, -6])
        # A series the child never wrote still reads through.
        fields = store.fields(PROJECT, child.id)
        assert fields["train/loss"].value.count == 8
        assert fields["train/loss"].value.last == -7.0
        assert fields["train/loss"].value.last_step == 7.0
        assert fields["log"].value.last == "mine"
        assert fields["sys/forking/parent"].value == parent.id
        assert fields["sys/forking/step"].value == 4.0
        # The parent is unchanged.
        parent_loss = store.series(PROJECT, parent.id, "train/loss")
        assert same_floats(parent_loss.steps, range(12))
        assert store.fields(PROJECT, parent.id)["train/loss"].value.count == 12

    def test_a_fork_copies_its_parents_atoms(self, store: Store) -> None:
        parent = self._parent(store)
        child = new_run(store, fork_run_id=parent.id, fork_step=4.0)
        child_values = values_of(store, child)
        assert child_values["params/lr"] == 0.1
        assert child_values["params/optimizer"] == "adam"
        assert child_values["data/labels"] == {"cat", "dog"}
        # They are copies: changing either run leaves the other alone.
        ingest(store, child, [atom("params/lr", 0.2), AddStrings("data/labels", ("bird",))])
        ingest(store, parent, [atom("params/optimizer", "sgd")])
        assert values_of(store, parent)["params/lr"] == 0.1
        assert values_of(store, parent)["data/labels"] == {"cat", "dog"}
        assert values_of(store, child)["params/optimizer"] == "adam"
        assert values_of(store, child)["data/labels"] == {"cat", "dog", "bird"}

    def test_a_fork_skips_its_own_points_at_or_before_the_fork_step(self, store: Store) -> None:
        parent = self._parent(store)
        child = new_run(store, fork_run_id=parent.id, fork_step=4.0)
        result = ingest(store, child, [floats("train/loss", [3, 4, 5], [-3, -4, -5])])
        assert len(result.rejected) == 1 and "train/loss" in result.rejected[0]
        loss = store.series(PROJECT, child.id, "train/loss")
        assert same_floats(loss.steps, [0, 1, 2, 3, 4, 5])  # steps still increase
        assert same_floats(loss.values, [0, 10, 20, 30, 40, -5])

    def test_a_fork_of_a_fork_reads_through_both(self, store: Store) -> None:
        parent = self._parent(store)
        child = new_run(store, fork_run_id=parent.id, fork_step=6.0)
        ingest(store, child, [floats("train/loss", [7, 8, 9], [-7, -8, -9])])
        grandchild = new_run(store, fork_run_id=child.id, fork_step=8.0)
        ingest(store, grandchild, [floats("train/loss", [9, 10], [100, 101])])
        loss = store.series(PROJECT, grandchild.id, "train/loss")
        assert same_floats(loss.steps, range(11))
        assert same_floats(loss.values, [0, 10, 20, 30, 40, 50, 60, -7, -8, 100, 101])
        assert values_of(store, grandchild)["params/lr"] == 0.1

    def test_deleting_an_inherited_series_in_a_fork_hides_it(self, store: Store) -> None:
        parent = self._parent(store)
        child = new_run(store, fork_run_id=parent.id, fork_step=4.0)
        ingest(store, child, [DeleteField("train")])
        assert "train/loss" not in store.fields(PROJECT, child.id)
        assert len(store.series(PROJECT, child.id, "train/loss").steps) == 0
        assert same_floats(store.series(PROJECT, parent.id, "train/loss").steps, range(10))

    # -- deleting runs in the trash for good ---------------------------------------------------------------

    def test_runs_in_the_trash_are_deleted_for_good_and_the_others_stay(self, store: Store) -> None:
        parent = self._parent(store)
        fork = new_run(store, fork_run_id=parent.id, fork_step=4.0)
        ingest(store, fork, [floats("train/loss", [5, 6])])
        kept = new_run(store)
        ingest(store, kept, [atom("params/lr", 0.5), floats("train/loss", [0, 1]), AddStrings("set", ("x",))])
        for run in (parent, fork):
            ingest(store, run, [atom(TRASHED, True)], writer="edit")

        assert store.delete_runs(PROJECT, [parent.id, fork.id]) == 2
        for gone in (parent, fork):
            with pytest.raises(RunNotFoundError):
                store.get_run(PROJECT, gone.id)
        assert self._table_ids(store) == {kept.id}
        assert values_of(store, kept)["params/lr"] == 0.5
        assert same_floats(store.series(PROJECT, kept.id, "train/loss").steps, [0, 1])
        # A run logged after gets a new number: an id once given is never given again.
        assert new_run(store).id == "CAS-4"
        # The kept run still takes writes (no state of the deleted runs is left behind).
        assert ingest(store, kept, [floats("train/loss", [2]), atom("params/lr", 0.25)]).rejected == []
        assert values_of(store, kept)["params/lr"] == 0.25

    def test_only_runs_in_the_trash_are_deleted_and_never_a_parent_alone(self, store: Store) -> None:
        parent = self._parent(store)
        fork = new_run(store, fork_run_id=parent.id, fork_step=4.0)
        out = new_run(store)
        for run in (parent, fork):
            ingest(store, run, [atom(TRASHED, True)], writer="edit")
        with pytest.raises(RunDeletionError, match=f"{out.id} is not in the trash"):
            store.delete_runs(PROJECT, [parent.id, out.id])
        with pytest.raises(RunDeletionError, match=f"{fork.id} \\(forked from {parent.id}\\)"):
            store.delete_runs(PROJECT, [parent.id])
        with pytest.raises(RunNotFoundError):
            store.delete_runs(PROJECT, [fork.id, "CAS-99"])
        # Refused, so nothing was deleted.
        assert self._table_ids(store) == {parent.id, fork.id, out.id}
        assert same_floats(store.series(PROJECT, fork.id, "train/loss").steps, range(5))
        ingest(store, parent, [atom(TRASHED, False)], writer="edit")  # restored: no longer deletable
        with pytest.raises(RunDeletionError, match="not in the trash"):
            store.delete_runs(PROJECT, [fork.id, parent.id])

    # -- the runs table ---------------------------------------------------------------------------------

    def _table_ids(self, store: Store, **filters: Any) -> set[str]:
        return {row["sys/id"].value for row in store.runs_table(PROJECT, **filters)}

    def test_runs_table_filters_by_owner_tags_and_state(self, store: Store) -> None:
        one = new_run(store, owner="alice", tags=("baseline", "cnn"))
        two = new_run(store, owner="bob", tags=("baseline",))
        three = new_run(store, owner="alice")
        new_run(store, "team/maize", owner="alice", tags=("baseline",))  # another project
        ingest(store, two, [atom("sys/state", "finished")])
        ingest(store, three, [atom("sys/failed", True), atom("sys/state", "failed")])
        assert self._table_ids(store) == {one.id, two.id, three.id}
        assert self._table_ids(store, owner=["alice"]) == {one.id, three.id}
        assert self._table_ids(store, owner=["alice", "bob"]) == {one.id, two.id, three.id}
        assert self._table_ids(store, owner=["carol"]) == set()
        assert self._table_ids(store, tags=["baseline"]) == {one.id, two.id}
        assert self._table_ids(store, tags=["baseline", "cnn"]) == {one.id}  # all must match
        assert self._table_ids(store, tags=["cnn", "rnn"]) == set()
        assert self._table_ids(store, state=["running"]) == {one.id}
        assert self._table_ids(store, state=["finished", "failed"]) == {two.id, three.id}
        assert self._table_ids(store, owner=["alice"], state=["failed"]) == {three.id}
        assert self._table_ids(store, owner=["bob"], tags=["cnn"]) == set()
        assert store.runs_table("team/does-not-exist") == []
        rows = {row["sys/id"].value: row for row in store.runs_table(PROJECT)}
        assert rows[three.id]["sys/failed"].value is True
        assert rows[two.id]["sys/state"].value == "finished"
        assert rows[one.id]["sys/tags"].value == {"baseline", "cnn"}
        assert rows[three.id]["sys/owner"].value == "alice"

    def test_runs_table_rows_hold_fields_and_series_last_values(self, store: Store) -> None:
        run = new_run(store)
        ops = [atom("params/lr", 0.1), atom("params/epochs", 3), floats("train/loss", [0, 1], [0.9, 0.4])]
        ingest(store, run, ops)
        (row,) = store.runs_table(PROJECT)
        assert cell(row["params/lr"]) == 0.1
        assert cell(row["params/epochs"]) == 3
        assert row["train/loss"].type == ft.FLOAT_SERIES
        assert cell(row["train/loss"]) == 0.4
        assert row["sys/creation_time"].type == ft.DATETIME

    def test_runs_table_columns_select_fields_and_namespaces(self, store: Store) -> None:
        run = new_run(store)
        other = new_run(store)
        ingest(
            store,
            run,
            [
                atom("params/lr", 0.1),
                atom("params/opt/name", "adam"),
                atom("paramsx", 1.0),  # shares a prefix of characters, not of path segments
                atom("score", 0.7),
                floats("train/loss", [0, 1]),
                floats("train/acc", [0, 1]),
            ],
        )
        ingest(store, other, [atom("score", 0.5)])
        table = store.runs_table(PROJECT, columns=["params", "train/loss"])
        rows = {row["sys/id"].value: row for row in table}
        assert set(rows[run.id]) == {"sys/id", "params/lr", "params/opt/name", "train/loss"}
        assert set(rows[other.id]) == {"sys/id"}
        rows = {row["sys/id"].value: row for row in store.runs_table(PROJECT, columns=["score", "sys/state"])}
        assert set(rows[run.id]) == {"sys/id", "score", "sys/state"}
        assert cell(rows[other.id]["score"]) == 0.5

    def test_runs_table_shows_a_forks_inherited_series(self, store: Store) -> None:
        parent = self._parent(store)
        child = new_run(store, fork_run_id=parent.id, fork_step=4.0)
        rows = {row["sys/id"].value: row for row in store.runs_table(PROJECT)}
        assert cell(rows[child.id]["train/loss"]) == 40.0
        assert cell(rows[parent.id]["train/loss"]) == 90.0
        assert cell(rows[child.id]["params/lr"]) == 0.1
        rows = {row["sys/id"].value: row for row in store.runs_table(PROJECT, columns=["train"])}
        assert set(rows[child.id]) == {"sys/id", "train/loss"}
