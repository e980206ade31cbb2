"""Garbage collection of file contents (`despina gc`, `SqlStore.collect_garbage`): what no run refers
to goes, what any run refers to stays, and a writer that finds content stored while a collection runs
never loses it."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from server_harness import server_with_user

import despina
from despina import File
from despina.cli.main import cli
from despina.client import field_types as ft
from despina.client.operations import AddFileSetEntries, AppendPoints, AssignAtom, AssignFile, FileRef
from despina.exceptions import DespinaError
from despina.store.blobs.local import LocalBlobStore
from despina.store.sql import schema as t
from despina.store.sql.store import SqlStore, open_embedded_store

PROJECT = "team/gc"
LIGHT = {
    "capture_hardware_metrics": False,
    "capture_stdout": False,
    "capture_stderr": False,
    "git_ref": False,
    "source_files": [],
}


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def write(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


CONTENT = {
    "only_a": b"weights of a",
    "shared": b"a config both runs upload",
    "set_b": b"a file of b's file set",
    "series_c": b"an image of c's file series",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Runs a, b, c in a home: a uploads `only_a` and `shared`, b `shared` and a file set with
    `set_b`, c a file series of `series_c` and tracked files (an artifact, whose file list is a blob)."""
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DESPINA_URL", raising=False)
    files = tmp_path / "files"
    paths = {name: write(files, f"{name}.bin", content) for name, content in CONTENT.items()}
    write(files / "data", "train.csv", b"x,y\n1,2\n")
    ids = {}
    with despina.init_run(project=PROJECT, name="a", **LIGHT) as a:
        a["model"].upload(str(paths["only_a"]))
        a["config"].upload(str(paths["shared"]))
        ids["a"] = str(a["sys/id"].fetch())
    with despina.init_run(project=PROJECT, name="b", **LIGHT) as b:
        b["config"].upload(str(paths["shared"]))
        b["bundle"].upload_files([str(paths["set_b"])])
        ids["b"] = str(b["sys/id"].fetch())
    with despina.init_run(project=PROJECT, name="c", **LIGHT) as c:
        c["images"].append(File(str(paths["series_c"])))
        c["data"].track_files(str(files / "data"))
        ids["c"] = str(c["sys/id"].fetch())
    return ids


@pytest.fixture
def store(tmp_path: Path, home: dict[str, str]) -> Iterator[SqlStore]:
    store = open_embedded_store(tmp_path / "home")
    yield store
    store.close()


def delete(store: SqlStore, *run_ids: str) -> None:
    for run_id in run_ids:
        store.ingest(PROJECT, run_id, "edit-ui", [(0, AssignAtom("sys/trashed", ft.BOOL, True))], 0)
    store.delete_runs(PROJECT, list(run_ids))


def age(store: SqlStore, days: float = 2) -> None:
    """Make every stored content look stored `days` ago (collection keeps a day's by default)."""
    blobs = store.blobs
    assert isinstance(blobs, LocalBlobStore)
    then = time.time() - days * 86400
    for blob in blobs.stored():
        os.utime(blobs.path(blob.sha256), (then, then))


def stored(store: SqlStore) -> set[str]:
    blobs = store.blobs
    assert isinstance(blobs, LocalBlobStore)
    return {blob.sha256 for blob in blobs.stored()}


def test_only_content_no_run_refers_to_is_deleted(store: SqlStore, home: dict[str, str]) -> None:
    everything = stored(store)
    assert {sha(content) for content in CONTENT.values()} <= everything
    assert len(everything) == len(CONTENT) + 1  # and c's tracked-files list
    age(store)
    assert store.collect_garbage().deleted == 0  # every content has a run

    delete(store, home["a"])
    store.has_blob(sha(CONTENT["only_a"]))  # a writer just found it stored: kept for a day
    fresh = store.collect_garbage()
    assert (fresh.unreferenced, fresh.kept_recent, fresh.deleted) == (1, 1, 0)
    age(store)
    dry = store.collect_garbage(dry_run=True)
    assert (dry.deleted, dry.freed_bytes) == (1, len(CONTENT["only_a"])) and stored(store) == everything

    report = store.collect_garbage()
    assert (report.deleted, report.freed_bytes) == (1, len(CONTENT["only_a"]))
    assert stored(store) == everything - {sha(CONTENT["only_a"])}
    with store.open_blob(sha(CONTENT["shared"])) as blob:  # b still refers to it
        assert blob.read() == CONTENT["shared"]

    delete(store, home["b"])
    assert store.collect_garbage().deleted == 2  # shared and set_b
    left = stored(store)
    assert sha(CONTENT["series_c"]) in left and len(left) == 2  # c's image and file list
    images = store.series(PROJECT, home["c"], "images").values
    with store.open_blob(images[0].sha256) as blob:
        assert blob.read() == CONTENT["series_c"]


def _reference(store: SqlStore, content: bytes, name: str) -> None:
    """A new run referring to content already stored, as a writer that found it stored does."""
    info, _ = store.create_run(despina.store.base.RunCreate(project=PROJECT, owner="olga", name=name))
    ref = FileRef(sha(content), len(content), f"{name}.bin", "bin", "application/octet-stream")
    store.ingest(PROJECT, info.id, "w", [(0, AssignFile("model", ref))], 0)


def _around_quarantine(store: SqlStore, monkeypatch: pytest.MonkeyPatch, before: Any, after: Any) -> None:
    blobs = store.blobs
    assert isinstance(blobs, LocalBlobStore)
    real = blobs.quarantine

    def quarantine(sha256: str) -> float | None:
        before(sha256)
        moved = real(sha256)
        after(sha256)
        return moved

    monkeypatch.setattr(blobs, "quarantine", quarantine)


def test_content_found_stored_just_before_it_is_moved_aside_stays(
    store: SqlStore, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delete(store, home["a"])
    age(store)
    # A writer asks whether the content is there (and will refer to it instead of storing it).
    _around_quarantine(store, monkeypatch, lambda s: store.has_blob(s), lambda s: None)
    report = store.collect_garbage()
    assert (report.deleted, report.kept_recent) == (0, 1)
    _reference(store, CONTENT["only_a"], "found-it")
    with store.open_blob(sha(CONTENT["only_a"])) as blob:
        assert blob.read() == CONTENT["only_a"]


def test_content_referred_to_while_it_is_aside_comes_back(
    store: SqlStore, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delete(store, home["a"])
    age(store)
    late = lambda s: _reference(store, CONTENT["only_a"], "late")  # noqa: E731
    _around_quarantine(store, monkeypatch, lambda s: None, late)
    assert store.collect_garbage().deleted == 0
    with store.open_blob(sha(CONTENT["only_a"])) as blob:
        assert blob.read() == CONTENT["only_a"]
    age(store)
    assert store.collect_garbage().deleted == 0  # referred to now


def test_content_stored_again_while_it_is_aside_stays(
    store: SqlStore, home: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    delete(store, home["a"])
    age(store)
    again = write(tmp_path / "again", "weights.bin", CONTENT["only_a"])
    _around_quarantine(store, monkeypatch, lambda s: None, lambda s: store.put_blob(again, s))
    assert store.collect_garbage().deleted == 1  # the old copy
    with store.open_blob(sha(CONTENT["only_a"])) as blob:  # the new one
        assert blob.read() == CONTENT["only_a"]


def test_despina_gc_on_a_home(home: dict[str, str], tmp_path: Path) -> None:
    store = open_embedded_store(tmp_path / "home")
    try:
        delete(store, home["a"])
        run = CliRunner().invoke(cli, ["gc"])
        assert "Deleted 0 file content(s)" in run.output and "1 more no run refers to" in run.output
        age(store)
    finally:
        store.close()
    run = CliRunner().invoke(cli, ["gc", "--dry-run"])
    assert run.exit_code == 0 and "Would delete 1 file content(s)" in run.output, run.output
    run = CliRunner().invoke(cli, ["gc", "--older-than", "72"])  # three days: nothing that old
    assert "Deleted 0 file content(s)" in run.output, run.output
    run = CliRunner().invoke(cli, ["gc"])
    said = " ".join(run.output.split())
    assert said.startswith("Deleted 1 file content(s), 0.0 MB, of 5 stored"), said
    run = CliRunner().invoke(cli, ["gc", "--db", "sqlite:///x.db"])
    assert run.exit_code != 0 and "--db and --blobs go together" in run.output


def test_a_server_forgets_its_links_to_collected_content_and_takes_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP "already stored" is answered from the project's links: once the content is collected,
    a client logging it again must be asked for it, and its file must read back whole."""
    weights = write(tmp_path / "files", "weights.bin", b"the same weights, twice")
    with server_with_user(tmp_path / "server", "admin", admin=True) as (url, token, state):
        monkeypatch.setenv("DESPINA_URL", url)
        monkeypatch.setenv("DESPINA_API_TOKEN", token)
        monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "client"))
        with despina.init_run(project=PROJECT, name="first", **LIGHT) as run:
            run["model"].upload(str(weights))
            first = str(run["sys/id"].fetch())
        headers = {"Authorization": f"Bearer {token}"}
        api = f"{url}/api/v1/projects/{PROJECT}/runs"
        httpx.post(f"{api}/trash", json={"run_ids": [first]}, headers=headers).raise_for_status()
        httpx.post(f"{api}/delete", json={"run_ids": [first]}, headers=headers).raise_for_status()
        age(state.store)
        assert state.store.collect_garbage().deleted == 1
        with state.store.read_engine.begin() as conn:
            assert conn.execute(t.project_blobs.select()).all() == []

        with despina.init_run(project=PROJECT, name="second", **LIGHT) as run:
            run["model"].upload(str(weights))
            second = str(run["sys/id"].fetch())
        reader = despina.init_run(project=PROJECT, with_id=second, mode="read-only")
        try:
            reader["model"].download(str(tmp_path / "back.bin"))
        finally:
            reader.stop()
        assert (tmp_path / "back.bin").read_bytes() == b"the same weights, twice"


def test_collection_on_either_database(sql_store: SqlStore, tmp_path: Path) -> None:
    """The same on SQLite and PostgreSQL: a file, a file set and a file series keep their contents."""
    contents = [b"kept file", b"kept set member", b"kept series point", b"gone"]
    for i, content in enumerate(contents):
        sql_store.put_blob(write(tmp_path / "src", f"{i}.bin", content), sha(content))
    refs = [FileRef(sha(c), len(c), "f.bin", "bin", "application/octet-stream") for c in contents]
    kept, _ = sql_store.create_run(despina.store.base.RunCreate(project=PROJECT, owner="olga"))
    ops: list[tuple[int, Any]] = [
        (0, AssignFile("model", refs[0])),
        (1, AddFileSetEntries("bundle", (("member.bin", refs[1]),), reset=False)),
        (2, AppendPoints("images", ft.FILE_SERIES, np.zeros(1), np.full(1, 1.7e9), [refs[2]])),
    ]
    assert sql_store.ingest(PROJECT, kept.id, "w", ops, 2).rejected == []
    gone, _ = sql_store.create_run(despina.store.base.RunCreate(project=PROJECT, owner="olga"))
    sql_store.ingest(PROJECT, gone.id, "w", [(0, AssignFile("model", refs[3]))], 0)
    delete(sql_store, gone.id)
    age(sql_store)
    report = sql_store.collect_garbage()
    assert (report.stored, report.deleted) == (4, 1)
    assert stored(sql_store) == {sha(c) for c in contents[:3]}


class _Bucket:
    """Stands for a bucket (S3BlobStore): anything that is not a blob folder."""

    def __repr__(self) -> str:
        return "S3BlobStore('s3://team-bucket/despina')"


def test_a_bucket_is_left_to_its_own_lifecycle_rules(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", _Bucket())  # type: ignore[arg-type]
    try:
        with pytest.raises(DespinaError, match=r"s3://team-bucket/despina.* is not one .*lifecycle rules"):
            store.collect_garbage()
    finally:
        store.close()


def test_content_kept_after_all_keeps_its_server_links(
    store: SqlStore, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Links are removed before the move; content put back must get them back (its downloads, and
    "already stored" answers, go by them), and collected content must not."""
    delete(store, home["a"], home["b"])
    age(store)
    only_a, set_b = sha(CONTENT["only_a"]), sha(CONTENT["set_b"])
    with store.engine.begin() as conn:
        for content in (only_a, set_b):
            conn.execute(t.project_blobs.insert().values(project=PROJECT, sha256=content))
    found = lambda s: store.has_blob(s) if s == only_a else None  # noqa: E731
    _around_quarantine(store, monkeypatch, found, lambda s: None)
    report = store.collect_garbage()
    assert (report.kept_recent, report.deleted) == (1, 2)  # only_a kept; shared and set_b gone
    with store.read_engine.begin() as conn:
        links = conn.execute(t.project_blobs.select()).all()
    assert [(row.project, row.sha256) for row in links] == [(PROJECT, only_a)]
