"""Tracked files (`track_files`): data versions recorded by content, read back, compared; identical
uploads stored once. Each test has its own DESPINA_HOME (embedded store) and working folder."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import despina
from despina.cli.main import cli
from despina.client import tracking
from despina.client.data_diff import diff_data
from despina.exceptions import DespinaWarning, TrackedFilesError

PROJECT = "team/cassava"
QUIET = {"capture_hardware_metrics": False, "capture_stdout": False, "capture_stderr": False}


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    for name in ("MODE", "CUSTOM_RUN_ID", "URL", "STOP_TIMEOUT"):
        monkeypatch.delenv(f"DESPINA_{name}", raising=False)
    return tmp_path / "home"


@pytest.fixture
def start() -> Iterator[Callable[..., despina.Run]]:
    started: list[despina.Run] = []

    def start_run(**kwargs: Any) -> despina.Run:
        run = despina.init_run(project=PROJECT, **QUIET, **kwargs)
        started.append(run)
        return run

    yield start_run
    for run in started:
        run.stop()


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_a_folder_is_tracked_by_content_and_read_back(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    data = _write(tmp_path / "data", {"a.csv": "1,2\n", "img/b.png": "png", "img/c.png": "png!"})
    run = start()
    job = run["datasets/train"].track_files("data", wait=True)
    assert job.changed and job.artifact is not None
    field = run["datasets/train"]
    assert field.fetch_hash() == field.fetch() == job.artifact.hash
    files = field.fetch_files_list()
    assert [(f.path, f.size, f.location) for f in files] == [
        ("a.csv", 4, str(data / "a.csv")),
        ("img/b.png", 3, str(data / "img/b.png")),
        ("img/c.png", 4, str(data / "img/c.png")),
    ]
    import hashlib

    assert files[0].hash == hashlib.sha256(b"1,2\n").hexdigest() and files[0].mtime is not None
    assert run.get_structure()["datasets"]["train"] == "artifact"
    # A single file, a glob, and a destination folder inside the set.
    run["one"].track_files(str(data / "a.csv"), wait=True)
    assert [f.path for f in run["one"].fetch_files_list()] == ["a.csv"]
    run["pngs"].track_files("data/**/*.png", destination="images", wait=True)
    assert [f.path for f in run["pngs"].fetch_files_list()] == ["images/b.png", "images/c.png"]


def test_a_new_version_is_recorded_only_when_something_changed(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    data = _write(tmp_path / "data", {"a.csv": "1\n", "b.csv": "2\n"})
    run = start()
    first = run["d"].track_files(data, wait=True)
    os.utime(data / "a.csv", (1, 1))  # touched, same content: the hash is the same, nothing is recorded
    again = run["d"].track_files(data, wait=True)
    assert first.changed and again.changed is False and again.artifact == first.artifact
    (data / "b.csv").write_text("22\n")
    edited = run["d"].track_files(data, wait=True)
    assert edited.changed and edited.artifact is not None and first.artifact is not None
    assert edited.artifact.hash != first.artifact.hash == first.artifact.hash
    assert run["d"].fetch_hash() == edited.artifact.hash
    run_id = run["sys/id"].fetch()
    run.stop()
    # A resumed run compares with the version in the store.
    resumed = start(with_id=run_id)
    assert resumed["d"].track_files(data, wait=True).changed is False
    (data / "c.csv").write_text("3\n")
    assert resumed["d"].track_files(data, wait=True).changed is True
    assert resumed["d"].fetch_files_list()[-1].path == "c.csv"


def test_many_small_files_are_hashed_in_the_background_and_never_twice(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    data = tmp_path / "many"
    for i in range(2000):
        folder = data / f"part{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.txt").write_text(str(i))
    run = start()
    job = run["many"].track_files(data)  # returns at once; the loop goes on logging meanwhile
    for step in range(100):
        run["loss"].append(1.0 / (step + 1))
    assert job.wait(60) and job.error is None
    assert (job.progress.files_total, job.progress.files_done, job.progress.hashed) == (2000, 2000, 2000)
    (data / "part00" / "00000.txt").write_text("changed")
    second = run["many"].track_files(data, wait=True)
    assert second.changed and (second.progress.hashed, second.progress.cached) == (1, 1999)
    assert run["many"].fetch_files_list()[0].path == "part00/00000.txt"
    assert len(run["many"].fetch_files_list()) == 2000
    assert run["loss"].fetch_values()["value"].size == 100


def test_progress_is_shown_for_long_jobs(
    start: Callable[..., despina.Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    monkeypatch.setattr(tracking, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(tracking, "PROGRESS_EVERY", 0.01)
    data = _write(tmp_path / "data", {f"{i}.txt": "x" * i for i in range(300)})
    run = start()
    run["d"].track_files(data, wait=True)
    err = capfd.readouterr().err
    assert "Despina: tracking d:" in err and "done, 300 files" in err


def test_a_bad_location_gives_a_clear_error_and_the_run_goes_on(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    run = start()
    with pytest.warns(DespinaWarning, match=r"no such file or directory.*The run goes on"):
        job = run["d"].track_files("missing/folder")
        job.wait(30)
    assert isinstance(job.error, TrackedFilesError)
    with pytest.raises(TrackedFilesError, match="no files match"):
        run["d"].track_files("data/*.nothing", wait=True)
    run["d"] = 1.0  # nothing was recorded: the path is still free
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ok.txt").write_text("ok")
    os.symlink(tmp_path / "nowhere", tmp_path / "bad" / "dangling.txt")
    with pytest.raises(TrackedFilesError, match=r"cannot read 1 file\(s\).*dangling\.txt"):
        run["bad"].track_files("bad", wait=True)
    run["after"] = 2
    run.stop()
    reopened = despina.init_run(project=PROJECT, with_id=run.id, mode="read-only")
    assert reopened["sys/state"].fetch() == "finished" and reopened["after"].fetch() == 2
    assert not reopened.exists("bad")


def test_download_copies_files_that_are_still_there_and_names_those_that_are_not(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    data = _write(tmp_path / "data", {"a.csv": "1\n", "sub/b.csv": "2\n", "c.csv": "3\n"})
    run = start()
    run["d"].track_files(data, wait=True)
    out = run["d"].download(tmp_path / "out")
    assert (out / "sub" / "b.csv").read_text() == "2\n" and (out / "a.csv").read_text() == "1\n"
    (data / "sub" / "b.csv").unlink()
    (data / "c.csv").write_text("changed")
    with pytest.raises(TrackedFilesError) as caught:
        run["d"].download(tmp_path / "out2")
    message = str(caught.value)
    assert "1 file(s) no longer exist" in message and "sub/b.csv" in message
    assert "changed since they were tracked" in message and "c.csv" in message
    assert (tmp_path / "out2" / "a.csv").exists()


def _two_runs(start: Callable[..., despina.Run], tmp_path: Path) -> tuple[str, str]:
    data = _write(tmp_path / "data", {"keep.csv": "k", "edit.csv": "1", "gone.csv": "g"})
    a = start()
    a["datasets/train"].track_files(data, wait=True)
    a["datasets/test"].track_files(data / "keep.csv", wait=True)
    (data / "edit.csv").write_text("22")
    (data / "gone.csv").unlink()
    (data / "new.csv").write_text("n")
    b = start()
    b["datasets/train"].track_files(data, wait=True)
    b["datasets/test"].track_files(data / "keep.csv", wait=True)
    a.stop()
    b.stop()
    assert a.id is not None and b.id is not None
    return a.id, b.id


def test_diff_data_lists_added_removed_and_changed_files(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    a, b = _two_runs(start, tmp_path)
    diffs = {d.path: d for d in diff_data(a, b)}
    train = diffs["datasets/train"]
    assert [f.path for f in train.added] == ["new.csv"] and [f.path for f in train.removed] == ["gone.csv"]
    assert [(x.size, y.size) for x, y in train.changed] == [(1, 2)] and train.unchanged == 1
    assert diffs["datasets/test"].same
    only = diff_data(a, b, field="datasets/test")
    assert [d.path for d in only] == ["datasets/test"]

    result = CliRunner().invoke(cli, ["diff-data", a, b, "--field", "datasets/train"])
    assert result.exit_code == 1, result.output
    assert "1 added, 1 removed, 1 changed, 1 unchanged" in result.output
    assert "new.csv" in result.output and "gone.csv" in result.output
    same = CliRunner().invoke(cli, ["diff-data", a, b, "--field", "datasets/test", "--project", PROJECT])
    assert same.exit_code == 0 and "same data" in same.output
    as_json = CliRunner().invoke(cli, ["diff-data", a, b, "--json"])
    assert {f["path"] for f in json.loads(as_json.output)["fields"]} == {"datasets/train", "datasets/test"}
    missing = CliRunner().invoke(cli, ["diff-data", a, b, "--field", "nope"])
    assert missing.exit_code == 2 and "nope" in missing.output


def test_the_set_hash_is_a_plain_value_in_the_runs_table(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    data = _write(tmp_path / "data", {"a.csv": "1"})
    run = start()
    job = run["datasets/train"].track_files(data, wait=True)
    assert job.artifact is not None
    run.stop()
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{Path(os.environ['DESPINA_HOME']) / 'despina.db'}")
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT type, text_value, int_value, float_value FROM fields WHERE path = 'datasets/train'")
        ).one()
    engine.dispose()
    assert tuple(row) == ("artifact", job.artifact.hash, 1, 1.0)  # `datasets/train = "<hash>"` matches
    table = despina.init_project(PROJECT, mode="read-only").fetch_runs_table().to_pandas()
    assert table["datasets/train"].tolist() == [job.artifact.hash]


def test_an_identical_file_uploaded_twice_is_stored_once(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(os.urandom(300_000))
    blobs = Path(os.environ["DESPINA_HOME"]) / "blobs"

    def stored() -> list[int]:
        return [p.stat().st_size for p in blobs.rglob("*") if p.is_file()]

    first = start()
    first["model"].upload(str(weights))
    first.stop()
    after_first = sum(stored())
    copy = tmp_path / "copy" / "other-name.bin"
    copy.parent.mkdir()
    copy.write_bytes(weights.read_bytes())
    second = start()
    second["model"].upload(str(copy))
    second["checkpoints/last"].upload(str(weights))
    second.stop()
    # The second run's own small files (its source code) are new; the weights are not stored again.
    assert stored().count(300_000) == 1
    assert 0 <= sum(stored()) - after_first < 300_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert second["model"].fetch().sha256 == first["model"].fetch().sha256


def test_all_runs_on_one_data_version_are_one_query(
    start: Callable[..., despina.Run], tmp_path: Path
) -> None:
    first = _write(tmp_path / "v1", {"a.csv": "1", "b.csv": "2"})
    second = _write(tmp_path / "v2", {"a.csv": "1", "b.csv": "changed"})
    hashes = []
    for folder in (first, first, second):
        run = start()
        job = run["datasets/train"].track_files(folder, wait=True)
        assert job.artifact is not None
        hashes.append(job.artifact.hash)
        run.stop()
    assert hashes[0] == hashes[1] != hashes[2]
    project = despina.init_project(PROJECT, mode="read-only")
    same = project.fetch_runs_table(query=f'datasets/train = "{hashes[0]}"').to_pandas()
    assert len(same) == 2 and set(same["datasets/train"]) == {hashes[0]}
    other = project.fetch_runs_table(query=f'datasets/train != "{hashes[0]}"').to_pandas()
    assert other["datasets/train"].tolist() == [hashes[2]]
