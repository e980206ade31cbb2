"""Export and import: a project leaves Despina as Parquet plus blobs and comes back identical.

One source home (A) is built once through `import despina`, with every kind of value there is; each
test exports it and imports it into a fresh home (B), then compares A and B through the Store API:
every field (type and value, NaN and -0.0 bitwise), every series point (steps, timestamps, values
bitwise) and every file's bytes.
"""

from __future__ import annotations

import math
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest
from click.testing import CliRunner
from server_harness import HttpStore, server_with_user

import despina
from despina import File
from despina.client import field_types as ft
from despina.client.artifact_manifest import ArtifactFile, Manifest
from despina.client.operations import AssignAtom
from despina.exceptions import ProjectNotFoundError
from despina.store.base import FieldValue, RunCreate, SeriesSummary, Store
from despina.store.blobs import LocalBlobStore
from despina.store.sql.store import SqlStore, open_embedded_store

pytest.importorskip("pyarrow")

from despina.backends.http import HttpBackend
from despina.cli.main import cli
from despina.transfer import FORMAT_VERSION, TransferError, export_project, import_directory

PROJECT = "team/cassava"
T0 = 1_700_000_000.123456
CAPTURE_OFF = {
    "capture_stdout": False,
    "capture_stderr": False,
    "capture_hardware_metrics": False,
    "git_ref": False,
    "source_files": [],
}


@dataclass(frozen=True)
class Source:
    """Home A and the ids of its runs."""

    home: Path
    ids: dict[str, str]


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _build(home: Path, work: Path) -> dict[str, str]:
    """A project with atoms of every type, sets, files, tracked files in two versions, every kind of
    series, forks and a failed run."""
    rng = np.random.default_rng(3)
    weights = _write(work / "weights.bin", rng.bytes(70_000))
    _write(work / "data" / "train.csv", b"a,b\n1,2\n")
    _write(work / "data" / "nested" / "test.csv", b"a,b\n3,4\n")
    images = [_write(work / f"img{i}.png", b"\x89PNG\r\n\x1a\n" + bytes([i]) * 50) for i in range(3)]
    ids: dict[str, str] = {}

    # The main run keeps the default context capture: real sys/, source and environment fields.
    with despina.init_run(
        project=PROJECT, name="baseline", description="first try", tags=["baseline", "cnn"]
    ) as main:
        main["atoms"] = {
            "float": 0.25,
            "nan": math.nan,
            "inf": math.inf,
            "minus_inf": -math.inf,
            "minus_zero": -0.0,
            "tiny": 5e-324,
            "int_max": 2**63 - 1,
            "int_min": -(2**63),
            "zero": 0,
            "yes": True,
            "no": False,
            "empty": "",
            "text": "héllo ✓\nwörld",
            "when": datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone.utc),
            "first_day": datetime(1, 1, 1, tzinfo=timezone.utc),
            "last_day": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        }
        main["labels"].add(["a", "b", "c"])
        main["nothing"].add([])
        main["model/weights"].upload(str(weights))
        main["dataset"].upload_files(str(work / "data"))
        main["datasets/train"].track_files("data", wait=True)  # a folder of two files
        main["datasets/weights"].track_files(str(weights), wait=True)
        steps = [0.0, 0.5, 1.0, 3.0, 7.25, 10.0, 1e6]
        loss = [1.0, math.nan, 0.5, math.inf, -0.0, -math.inf, 1e-300]
        main["train/loss"].extend(loss, steps=steps, timestamps=[T0 + s / 7 for s in steps])
        main["train/acc"].extend([0.1, 0.2, 0.3, 0.4])
        main["train/lr"].extend([1e-3, 1e-4, 1e-5])
        main["log"].append("epoch 1 ✓", step=1, timestamp=T0 + 0.000001)
        main["log"].append("", step=2.5, timestamp=T0 + 1.5)
        for i, image in enumerate(images):
            main["images"].append(File(str(image)), step=i * 2)
        big = rng.normal(size=25_000)  # crosses the store's and the importer's 10 000-point chunks
        big[[5, 12_000, 24_999]] = math.nan
        main["big"].extend(big.tolist())
        main.wait()
        assert main.id is not None
        ids["main"] = main.id

        with despina.init_run(
            project=PROJECT, fork_run_id=main.id, fork_step=3, name="fork", tags=["fork"], **CAPTURE_OFF
        ) as fork:
            fork["atoms/float"] = 0.5  # changed after the copy
            del fork["atoms/text"]  # a copied field removed
            fork["labels"].remove("b")
            fork["sys/tags"].remove("cnn")
            del fork["train/acc"]  # an inherited series hidden
            del fork["train/lr"]  # ... hidden, then logged from scratch
            fork["train/lr"].extend([0.5, 0.25], steps=[0, 1])
            fork["train/loss"].append(0.125, step=4.5, timestamp=T0 + 100)
            fork["new_in_fork"] = 1
            _write(work / "data" / "train.csv", b"a,b\n1,2\n5,6\n")
            fork["datasets/train"].track_files("data", wait=True)  # the data's second version
            del fork["datasets/weights"]
            fork.wait()
            assert fork.id is not None
            ids["fork"] = fork.id
        main["after_fork"] = "not in the fork"
        main["train/loss"].append(0.0625, step=2e6)  # past the fork step: not inherited

    with despina.init_run(
        project=PROJECT, fork_run_id=ids["fork"], fork_step=4.5, **CAPTURE_OFF
    ) as grandchild:
        grandchild["train/loss"].append(-1.0, step=6)
        assert grandchild.id is not None
        ids["grandchild"] = grandchild.id

    with (
        pytest.raises(RuntimeError),
        despina.init_run(project=PROJECT, custom_run_id="my-own-id", tags=[], **CAPTURE_OFF) as bad,
    ):
        assert bad.id is not None
        ids["failed"] = bad.id
        bad["x"] = 1
        raise RuntimeError("boom")
    return ids


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("transfer")
    home, work = root / "a", root / "work"
    work.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESPINA_HOME", str(home))
        patch.setenv("DESPINA_USER", "sophia")
        for name in ("PROJECT", "MODE", "CUSTOM_RUN_ID", "URL", "STOP_TIMEOUT"):
            patch.delenv(f"DESPINA_{name}", raising=False)
        patch.chdir(work)
        ids = _build(home, work)
    return Source(home, ids)


@pytest.fixture
def store_a(source: Source) -> Iterator[SqlStore]:
    store = open_embedded_store(source.home)
    yield store
    store.close()


@pytest.fixture
def store_b(tmp_path: Path) -> Iterator[SqlStore]:
    store = open_embedded_store(tmp_path / "b")
    yield store
    store.close()


# -- comparing two stores -----------------------------------------------------------------------------


def _bits(values: Any) -> list[int]:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64).tolist()


def _same(a: Any, b: Any) -> bool:
    """Equal values; floats bitwise (NaN equals NaN, -0.0 is not 0.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, SeriesSummary) and isinstance(b, SeriesSummary):
        # A summary is derived: a mean is a sum in another order (equal but for the last bits), and the
        # source's last timestamp keeps the client's sub-microsecond digits, which float points are
        # stored without (the points themselves are compared bitwise).
        close = (a.mean is None and b.mean is None) or (
            a.mean is not None and b.mean is not None and math.isclose(a.mean, b.mean, rel_tol=1e-12)
        )
        same_time = a.last_timestamp == b.last_timestamp or (
            a.last_timestamp is not None
            and b.last_timestamp is not None
            and round(a.last_timestamp * 1e6) == round(b.last_timestamp * 1e6)
        )
        return (
            close
            and same_time
            and all(
                _same(getattr(a, name), getattr(b, name))
                for name in ("count", "last", "last_step", "min", "max")
            )
        )
    return type(a) is type(b) and bool(a == b)


def _blobs(field: FieldValue) -> list[str]:
    """The sha256 of every blob a field refers to (a tracked-files field: its file list)."""
    if field.type == ft.FILE:
        return [field.value.sha256]
    if field.type == ft.FILE_SET:
        return [ref.sha256 for ref in field.value.values()]
    if field.type == ft.ARTIFACT:
        return [field.value.manifest]
    return []


def assert_same_project(
    a: Store,
    b: Store,
    ids: dict[str, str],
    project_b: str = PROJECT,
    ignore: frozenset[str] = frozenset(),
) -> int:
    """Every field, point and file of PROJECT in `a` is in `project_b` of `b`; returns points compared."""
    runs_a = [row["sys/id"].value for row in a.runs_table(PROJECT, columns=["sys/id"])]
    runs_b = [row["sys/id"].value for row in b.runs_table(project_b, columns=["sys/id"])]
    assert [ids[run] for run in runs_a] == runs_b
    points = 0
    for run_a in runs_a:
        run_b = ids[run_a]
        fields_a, fields_b = a.fields(PROJECT, run_a), b.fields(project_b, run_b)
        assert set(fields_a) - ignore == set(fields_b) - ignore, run_a
        for path in sorted(set(fields_a) - ignore):
            field_a, field_b = fields_a[path], fields_b[path]
            assert field_a.type == field_b.type, (run_a, path)
            assert _same(field_a.value, field_b.value), (run_a, path, field_a.value, field_b.value)
            for sha256 in _blobs(field_a):
                with a.open_blob(sha256) as one, b.open_blob(sha256) as other:
                    assert one.read() == other.read(), (run_a, path)
            if field_a.type not in ft.SERIES_TYPES:
                continue
            series_a, series_b = a.series(PROJECT, run_a, path), b.series(project_b, run_b, path)
            assert _bits(series_a.steps) == _bits(series_b.steps), (run_a, path)
            assert _bits(series_a.timestamps) == _bits(series_b.timestamps), (run_a, path)
            if field_a.type == ft.FLOAT_SERIES:
                assert _bits(series_a.values) == _bits(series_b.values), (run_a, path)
            else:
                assert list(series_a.values) == list(series_b.values), (run_a, path)
            if field_a.type == ft.FILE_SERIES:
                for ref in series_a.values:
                    with a.open_blob(ref.sha256) as one, b.open_blob(ref.sha256) as other:
                        assert one.read() == other.read(), (run_a, path)
            points += len(series_a.steps)
        info_a, info_b = a.get_run(PROJECT, run_a), b.get_run(project_b, run_b)
        for name in ("name", "description", "owner", "state", "failed", "creation_time", "modification_time"):
            assert getattr(info_a, name) == getattr(info_b, name), (run_a, name)
        assert info_a.ping_time == info_b.ping_time and info_a.fork_step == info_b.fork_step
    return points


# -- the round trip ---------------------------------------------------------------------------------


def test_a_project_round_trips_through_an_export(
    source: Source, store_a: SqlStore, store_b: SqlStore, tmp_path: Path
) -> None:
    progress: list[tuple[int, int, str]] = []
    exported = export_project(store_a, PROJECT, tmp_path / "export", lambda *a: progress.append(a))
    assert exported.runs == 4 and progress[-1] == (4, 4, source.ids["failed"])
    for name in ("manifest.json", "runs.parquet", "fields.parquet", "series.parquet"):
        assert (tmp_path / "export" / name).is_file()
    assert len(list((tmp_path / "export" / "blobs").iterdir())) == exported.blobs >= 6

    summary = import_directory(store_b, tmp_path / "export")
    assert summary.rejected == []
    assert summary.created == summary.runs == 4
    assert summary.ids == {run: run for run in source.ids.values()}  # an empty home: the same ids
    points = assert_same_project(store_a, store_b, summary.ids)
    assert points > 25_000

    fork = store_b.fields(PROJECT, source.ids["fork"])
    assert "train/acc" not in fork and "atoms/text" not in fork and "after_fork" not in fork
    assert fork["sys/tags"].value == {"baseline", "fork"} and fork["labels"].value == {"a", "c"}
    assert store_b.series(PROJECT, source.ids["fork"], "train/lr").steps.tolist() == [0, 1]
    assert store_b.series(PROJECT, source.ids["grandchild"], "train/loss").steps.tolist() == [
        0,
        0.5,
        1,
        3,
        4.5,
        6,
    ]
    failed = store_b.get_run(PROJECT, source.ids["failed"])
    assert (failed.state, failed.failed, failed.custom_run_id) == ("failed", True, "my-own-id")
    main = store_b.fields(PROJECT, source.ids["main"])
    assert main["atoms/int_min"].value == -(2**63) and main["atoms/int_max"].value == 2**63 - 1
    assert main["nothing"] == FieldValue("nothing", ft.STRING_SET, set())


# -- tracked files --------------------------------------------------------------------------------------

TRACKED = "datasets/train"


def _read_tracked(home: Path, run_ids: list[str], patch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run id -> (fetch_hash(), fetch_files_list()) of its tracked data, read as a user would."""
    patch.setenv("DESPINA_HOME", str(home))
    found: dict[str, Any] = {}
    for run_id in run_ids:
        run = despina.init_run(project=PROJECT, with_id=run_id, mode="read-only")
        try:
            field = run[TRACKED]
            found[run_id] = (field.fetch_hash(), field.fetch_files_list())
        finally:
            run.stop()
    return found


def _ids_where(store: SqlStore, query: str) -> list[str]:
    page = store.query_runs(PROJECT, query=query, columns=["sys/id"], sort_by="sys/id", ascending=True)
    return [str(row["sys/id"].value) for row in page.rows]


def test_tracked_files_keep_their_versions_through_an_export(
    source: Source, store_a: SqlStore, store_b: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_project(store_a, PROJECT, tmp_path / "export")
    assert import_directory(store_b, tmp_path / "export").rejected == []
    runs = [source.ids[name] for name in ("main", "fork", "grandchild")]
    with monkeypatch.context() as patch:
        for name in ("PROJECT", "MODE", "CUSTOM_RUN_ID", "URL"):
            patch.delenv(f"DESPINA_{name}", raising=False)
        before = _read_tracked(source.home, runs, patch)
        after = _read_tracked(tmp_path / "b", runs, patch)
    assert after == before
    (first, first_files), (second, second_files) = before[runs[0]], before[runs[1]]
    assert first != second and before[runs[2]][0] == second  # the fork changed a file; its child kept it
    assert [f.path for f in first_files] == [f.path for f in second_files] == ["nested/test.csv", "train.csv"]
    assert all(isinstance(f, ArtifactFile) for f in first_files)
    assert [f.size for f in first_files] == [8, 8] and [f.size for f in second_files] == [8, 12]

    # "All runs on this data version" selects the same runs in both homes.
    assert _ids_where(store_b, f'{TRACKED} = "{first}"') == [source.ids["main"]]
    for query in (f'{TRACKED} = "{first}"', f'{TRACKED} = "{second}"', f'{TRACKED} != "{first}"'):
        assert _ids_where(store_b, query) == _ids_where(store_a, query), query
    assert "datasets/weights" not in store_b.fields(PROJECT, source.ids["fork"])  # deleted in the fork


@pytest.fixture
def postgres_store(postgres_db_url: str, tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(postgres_db_url, LocalBlobStore(tmp_path / "pg-blobs"))
    yield store
    store.close()


def test_tracked_files_import_into_a_server_database(
    source: Source, store_a: SqlStore, postgres_store: SqlStore, tmp_path: Path
) -> None:
    """The server's store (PostgreSQL): the same tracked fields, file lists and query results."""
    export_project(store_a, PROJECT, tmp_path / "export")
    summary = import_directory(postgres_store, tmp_path / "export")
    assert summary.rejected == [] and summary.ids == {run: run for run in source.ids.values()}
    hashes: set[str] = set()
    for run in source.ids.values():
        tracked = {p: f.value for p, f in store_a.fields(PROJECT, run).items() if f.type == ft.ARTIFACT}
        imported = postgres_store.fields(PROJECT, run)
        assert {p: imported[p].value for p in tracked if p in imported} == tracked, run
        for value in tracked.values():
            with store_a.open_blob(value.manifest) as one, postgres_store.open_blob(value.manifest) as other:
                assert Manifest.from_bytes(other.read()).files == Manifest.from_bytes(one.read()).files
            hashes.add(value.hash)
    assert len(hashes) == 3  # datasets/weights, and datasets/train in two versions
    for value in hashes:
        query = f'{TRACKED} = "{value}"'
        assert _ids_where(postgres_store, query) == _ids_where(store_a, query), query


def test_an_export_of_the_first_format_version_still_imports(store_b: SqlStore, tmp_path: Path) -> None:
    old = open_embedded_store(tmp_path / "old")
    try:
        run, _ = old.create_run(RunCreate(project=PROJECT, owner="sophia", name="v1"))
        old.ingest(PROJECT, run.id, "w", [(0, AssignAtom("lr", ft.FLOAT, 0.5))], 0)
        export_project(old, PROJECT, tmp_path / "export")
    finally:
        old.close()
    manifest = tmp_path / "export" / "manifest.json"
    manifest.write_text(
        manifest.read_text().replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 1')
    )
    summary = import_directory(store_b, tmp_path / "export")
    assert summary.created == 1 and summary.rejected == []
    assert store_b.fields(PROJECT, summary.ids[run.id])["lr"].value == 0.5


def test_importing_twice_changes_nothing(
    source: Source, store_a: SqlStore, store_b: SqlStore, tmp_path: Path
) -> None:
    export_project(store_a, PROJECT, tmp_path / "export")
    first = import_directory(store_b, tmp_path / "export")
    again = import_directory(store_b, tmp_path / "export")
    assert (again.runs, again.created, again.operations, again.points, again.blobs) == (4, 0, 0, 0, 0)
    assert again.ids == first.ids and again.rejected == []
    assert len(store_b.runs_table(PROJECT)) == 4
    assert_same_project(store_a, store_b, first.ids)  # no point twice, times untouched


def test_an_interrupted_import_finishes_where_it_stopped(
    source: Source, store_a: SqlStore, store_b: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_project(store_a, PROJECT, tmp_path / "export")
    calls = {"n": 0}
    real_ingest = store_b.ingest

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(store_b, "ingest", flaky)
    with pytest.raises(OSError, match="disk full"):
        import_directory(store_b, tmp_path / "export")
    summary = import_directory(store_b, tmp_path / "export")
    assert summary.rejected == [] and summary.created < 4
    assert_same_project(store_a, store_b, summary.ids)


def test_import_into_another_project_keeps_the_original_ids_as_custom_ids(
    source: Source, store_a: SqlStore, store_b: SqlStore, tmp_path: Path
) -> None:
    export_project(store_a, PROJECT, tmp_path / "export")
    summary = import_directory(store_b, tmp_path / "export", project="lab/copy")
    renamed = {"sys/id", "sys/custom_run_id", "sys/forking/parent"}
    assert_same_project(store_a, store_b, summary.ids, "lab/copy", frozenset(renamed))
    for original, new in summary.ids.items():
        assert new.startswith("COP-")
        info = store_b.get_run("lab/copy", new)
        assert info.custom_run_id == ("my-own-id" if original == source.ids["failed"] else original)
        parent = store_a.get_run(PROJECT, original).fork_parent
        assert info.fork_parent == (None if parent is None else summary.ids[parent])
    assert import_directory(store_b, tmp_path / "export", project="lab/copy").created == 0


def test_import_into_a_project_with_runs_numbers_them_after_those(
    source: Source, store_a: SqlStore, store_b: SqlStore, tmp_path: Path
) -> None:
    store_b.create_run(RunCreate(project=PROJECT, owner="olga"))  # takes the first number
    export_project(store_a, PROJECT, tmp_path / "export")
    summary = import_directory(store_b, tmp_path / "export")
    main = source.ids["main"]
    assert summary.ids[main] != main
    assert store_b.get_run(PROJECT, summary.ids[main]).custom_run_id == main
    fields = store_b.fields(PROJECT, summary.ids[main])
    assert fields["atoms/text"].value == "héllo ✓\nwörld"


def test_import_never_merges_into_a_run_it_did_not_create(
    store_a: SqlStore, store_b: SqlStore, tmp_path: Path
) -> None:
    theirs, _ = store_b.create_run(RunCreate(project=PROJECT, owner="olga", custom_run_id="my-own-id"))
    export_project(store_a, PROJECT, tmp_path / "export")
    with pytest.raises(TransferError, match=rf"already has a run {theirs.id} with custom run id 'my-own-id'"):
        import_directory(store_b, tmp_path / "export")
    assert "x" not in store_b.fields(PROJECT, theirs.id)


# -- errors ---------------------------------------------------------------------------------------------


def test_exporting_an_unknown_project_says_so(store_a: SqlStore, tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match=r"no project 'team/nothing'.*team/cassava"):
        export_project(store_a, "team/nothing", tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_exporting_into_a_folder_with_files_is_refused(store_a: SqlStore, tmp_path: Path) -> None:
    _write(tmp_path / "export" / "notes.txt", b"mine")
    with pytest.raises(TransferError, match="not empty"):
        export_project(store_a, PROJECT, tmp_path / "export")
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["notes.txt"]


def test_a_missing_or_corrupt_manifest_is_named(store_a: SqlStore, store_b: SqlStore, tmp_path: Path) -> None:
    export_project(store_a, PROJECT, tmp_path / "export")
    manifest = tmp_path / "export" / "manifest.json"
    text = manifest.read_text()
    manifest.write_text("{not json")
    with pytest.raises(TransferError, match=r"manifest\.json is not readable JSON"):
        import_directory(store_b, tmp_path / "export")
    manifest.write_text(text.replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99'))
    with pytest.raises(TransferError, match=r"manifest\.json has format version 99"):
        import_directory(store_b, tmp_path / "export")
    manifest.unlink()
    with pytest.raises(TransferError, match=r"manifest\.json is missing"):
        import_directory(store_b, tmp_path / "export")
    assert store_b.list_projects() == []


def test_a_corrupt_parquet_file_or_blob_is_named(
    store_a: SqlStore, store_b: SqlStore, tmp_path: Path
) -> None:
    export_project(store_a, PROJECT, tmp_path / "export")
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "export", copy)
    (copy / "fields.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(TransferError, match=r"fields\.parquet is not a readable Parquet file"):
        import_directory(store_b, copy)

    blob = next((tmp_path / "export" / "blobs").iterdir())
    blob.write_bytes(blob.read_bytes() + b"!")
    with pytest.raises(TransferError, match=rf"blobs/{blob.name} is corrupt"):
        import_directory(store_b, tmp_path / "export")
    blob.unlink()
    with pytest.raises(TransferError, match=rf"blobs/{blob.name} is missing"):
        import_directory(store_b, tmp_path / "export")


def test_an_export_without_a_tracked_file_list_is_named(
    source: Source, store_a: SqlStore, store_b: SqlStore, tmp_path: Path
) -> None:
    export_project(store_a, PROJECT, tmp_path / "export")
    listing = store_a.fields(PROJECT, source.ids["main"])[TRACKED].value.manifest
    (tmp_path / "export" / "blobs" / listing).unlink()
    with pytest.raises(TransferError, match=rf"blobs/{listing} is missing.*tracked in '{TRACKED}'"):
        import_directory(store_b, tmp_path / "export")


# -- the commands ---------------------------------------------------------------------------------------


def _invoke(*args: str) -> tuple[int, str]:
    """Run `despina ARGS`; the output with rich's line wrapping undone."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_the_export_and_import_commands(source: Source, store_a: SqlStore, tmp_path: Path) -> None:
    folder, home_b = str(tmp_path / "export"), str(tmp_path / "home_b")
    code, output = _invoke("export", PROJECT, folder, "--home", str(source.home))
    assert code == 0, output
    assert "Exported 4 run(s) of team/cassava" in output

    code, output = _invoke("import", "despina", folder, "--home", home_b)
    assert code == 0, output
    assert "Imported 4 run(s) of team/cassava into team/cassava (4 new, 0 already there)" in output
    code, output = _invoke("import", "despina", folder, "--home", home_b)
    assert code == 0 and "(0 new, 4 already there): 0 operation(s), 0 point(s)" in output
    store_b = open_embedded_store(Path(home_b))
    try:
        assert_same_project(store_a, store_b, {run: run for run in source.ids.values()})
    finally:
        store_b.close()

    code, output = _invoke("export", "team/nothing", str(tmp_path / "other"), "--home", str(source.home))
    assert code == 1 and "no project 'team/nothing'" in output
    code, output = _invoke("export", PROJECT, str(tmp_path / "x"), "--home", str(tmp_path / "nowhere"))
    assert code == 1 and "no Despina store" in output
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "empty").mkdir()
    code, output = _invoke("import", "despina", str(tmp_path / "empty"), "--home", home_b)
    assert code == 1 and "manifest.json is missing" in output


# -- into a server ----------------------------------------------------------------------------------


class _ServerProject(HttpStore):
    """A server's runs read as a store (for `assert_same_project`); files are read through PROJECT."""

    def open_blob(self, sha256: str) -> BinaryIO:
        return self.backend.open_blob(PROJECT, sha256)


def _import_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, ["import", "despina", *args])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output + repr(result.exception)
    return output


def test_an_export_imports_into_a_server_with_everything_and_only_once(
    source: Source, store_a: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`despina import despina DIR --url URL`: a team's server gets the project as a home would, its
    runs keeping their owners (an admin's token) and times; a second import sends nothing."""
    export_project(store_a, PROJECT, tmp_path / "export")
    with server_with_user(tmp_path / "server", "admin", admin=True) as (url, token, _):
        monkeypatch.setenv("DESPINA_API_TOKEN", token)
        monkeypatch.delenv("DESPINA_URL", raising=False)
        output = _import_cli(str(tmp_path / "export"), "--url", url)
        assert "Imported 4 run(s) of team/cassava into team/cassava (4 new, 0 already there)" in output
        server = _ServerProject(HttpBackend(url, token), tmp_path / "staging")
        try:
            points = assert_same_project(store_a, server, {run: run for run in source.ids.values()})
            assert points > 25_000
        finally:
            server.close()
        again = _import_cli(str(tmp_path / "export"), "--url", url)
        assert "(0 new, 4 already there): 0 operation(s), 0 point(s), 0 new file(s)" in again

        # And back out: the server's project exported is the project it was given.
        result = CliRunner().invoke(cli, ["export", PROJECT, str(tmp_path / "backup"), "--url", url])
        assert result.exit_code == 0, result.output
        assert "Exported 4 run(s) of team/cassava" in " ".join(result.output.split())
    store_c = open_embedded_store(tmp_path / "c")
    try:
        summary = import_directory(store_c, tmp_path / "backup")
        assert summary.rejected == []
        assert assert_same_project(store_a, store_c, summary.ids) == points
    finally:
        store_c.close()


def test_a_contributor_imports_into_a_server_through_despina_url(
    source: Source, store_a: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an admin's token the runs are the importer's own; a second import still finds them."""
    export_project(store_a, PROJECT, tmp_path / "export")
    with server_with_user(tmp_path / "server", "olga", contributes_to=[PROJECT]) as (url, token, _):
        monkeypatch.setenv("DESPINA_URL", url)  # where this machine's runs go: the import too
        monkeypatch.setenv("DESPINA_API_TOKEN", token)
        assert "(4 new, 0 already there)" in _import_cli(str(tmp_path / "export"))
        assert "(0 new, 4 already there): 0 operation(s)" in _import_cli(str(tmp_path / "export"))
        backend = HttpBackend(url, token)
        try:
            main = backend.get_run(PROJECT, source.ids["main"])
            original = store_a.get_run(PROJECT, source.ids["main"])
            assert main.owner == "olga" and original.owner == "sophia"
            assert (main.creation_time, main.name) == (original.creation_time, original.name)
        finally:
            backend.close()


def test_import_names_one_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(
        cli, ["import", "despina", str(tmp_path), "--home", str(tmp_path / "h"), "--url", "http://x"]
    )
    assert result.exit_code != 0
    assert "give --home (a local home) or --url (a server), not both" in result.output
    monkeypatch.setenv("DESPINA_URL", "http://127.0.0.1:9")  # nothing listens there
    result = CliRunner().invoke(cli, ["export", PROJECT, str(tmp_path / "out")])
    assert result.exit_code != 0 and "cannot reach the Despina server at http://127.0.0.1:9" in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()
