"""What a user sees in each mode: async, sync, offline, debug, read-only, and a store that fails.

Every test gets its own DESPINA_HOME under tmp_path. Reads go through an independent read-only run or
through `init_project`, the way a user checks what was stored; `despina sync` runs as a real CLI
process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import despina
from despina.exceptions import (
    DespinaConfigError,
    DespinaWarning,
    FieldPathError,
    FieldTypeError,
    NoStoreError,
    ReadOnlyRunError,
    StepOrderError,
)

PROJECT = "team/modes"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(folder))
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    monkeypatch.setenv("DESPINA_USER", "tester")
    for name in ("DESPINA_MODE", "DESPINA_CUSTOM_RUN_ID", "DESPINA_URL", "DESPINA_STOP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return folder


def despina_cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESPINA_")}
    env.update(DESPINA_HOME=str(home), DESPINA_PROJECT=PROJECT, COLUMNS="400", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "despina.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def journals(home: Path) -> list[Path]:
    root = home / "journal"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def run_ids(home: Path) -> list[str]:
    project = despina.init_project(PROJECT)
    try:
        return [row["sys/id"] for row in project.fetch_runs_table().to_rows()]
    finally:
        project.stop()


def log_everything(run: despina.Run, weights: Path, n: int = 50) -> None:
    """The fields `check_everything` expects."""
    run["parameters"] = {"lr": 0.001, "optimizer": "Adam", "epochs": 3}
    run["sys/tags"].add(["baseline", "mode-test"])
    for i in range(n):
        run["train/loss"].append(1.0 / (i + 1))
    run["train/acc"].extend([0.5, 0.6, 0.7], steps=[10, 20, 30])
    run["notes"].append("first")
    run["notes"].append("second")
    run["model/weights"].upload(str(weights))
    run["f1"] = 0.66


def check_everything(run_id: str, weights: Path, tmp_path: Path, n: int = 50) -> None:
    reader = despina.init_run(with_id=run_id, mode="read-only")
    try:
        assert reader["parameters/lr"].fetch() == pytest.approx(0.001)
        assert reader["parameters/optimizer"].fetch() == "Adam"
        assert reader["parameters/epochs"].fetch() == 3
        assert reader["f1"].fetch() == pytest.approx(0.66)
        assert {"baseline", "mode-test"} <= reader["sys/tags"].fetch()
        loss = reader["train/loss"].fetch_values()
        assert loss["step"].tolist() == [float(i) for i in range(n)]
        np.testing.assert_allclose(loss["value"].to_numpy(), [1.0 / (i + 1) for i in range(n)])
        acc = reader["train/acc"].fetch_values()
        assert acc["step"].tolist() == [10.0, 20.0, 30.0]
        assert acc["value"].tolist() == pytest.approx([0.5, 0.6, 0.7])
        assert reader["notes"].fetch_values()["value"].tolist() == ["first", "second"]
        target = reader["model/weights"].download(tmp_path / "downloaded.bin")
        assert Path(target).read_bytes() == weights.read_bytes()
    finally:
        reader.stop()


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(4096))
    return path


# -- async -----------------------------------------------------------------------------------------


def test_async_stop_stores_everything_and_removes_the_journal(
    home: Path, weights: Path, tmp_path: Path
) -> None:
    run = despina.init_run(mode="async", name="async run")
    folder = run.journal_folder
    assert folder is not None and folder.is_dir()
    log_everything(run, weights)
    run.stop()

    assert not folder.exists()
    assert journals(home) == []
    assert run_ids(home) == [run.id]
    check_everything(run.id, weights, tmp_path)
    reader = despina.init_run(with_id=run.id, mode="read-only")
    assert reader["sys/state"].fetch() == "finished"
    assert reader["sys/name"].fetch() == "async run"
    reader.stop()


# -- sync ------------------------------------------------------------------------------------------


def test_sync_mode_value_is_readable_by_another_reader_before_stop(home: Path, weights: Path) -> None:
    run = despina.init_run(mode="sync")
    reader = despina.init_run(with_id=run.id, mode="read-only")
    try:
        run["f1"] = 0.5
        assert reader["f1"].fetch() == pytest.approx(0.5)
        run["f1"] = 0.75
        assert reader["f1"].fetch() == pytest.approx(0.75)

        for i in range(3):
            run["train/loss"].append(float(i) * 2)
            frame = reader["train/loss"].fetch_values()
            assert frame["step"].tolist() == [float(s) for s in range(i + 1)]
            assert frame["value"].tolist() == [float(s) * 2 for s in range(i + 1)]

        run["notes"].append("hello")
        assert reader["notes"].fetch_last() == "hello"
        run["model/weights"].upload(str(weights))
        assert reader["model/weights"].fetch_extension() == "bin"
        run["sys/tags"].add("live")
        assert "live" in reader["sys/tags"].fetch()
        del run["f1"]
        assert not reader.exists("f1")
        assert reader["sys/state"].fetch() == "running"
    finally:
        run.stop()
    assert reader["sys/state"].fetch() == "finished"
    reader.stop()
    assert journals(home) == []


# -- offline ---------------------------------------------------------------------------------------


def test_offline_run_is_stored_only_by_despina_sync_and_only_once(
    home: Path, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = despina.init_run(mode="offline", name="offline run", tags=["offline"])
    log_everything(run, weights)
    with pytest.raises(NoStoreError):
        run["f1"].fetch()
    with pytest.raises(NoStoreError):
        run["train/loss"].fetch_values()
    with pytest.raises(NoStoreError):
        run.fetch()
    assert run_ids(home) == []
    capsys.readouterr()
    run.stop()
    err = capsys.readouterr().err
    [folder] = journals(home)
    assert str(folder) in err
    assert "despina sync" in err
    assert run_ids(home) == [], "an offline run must not reach the store before `despina sync`"

    first = despina_cli(home, "sync")
    assert first.returncode == 0, first.stdout + first.stderr
    [run_id] = run_ids(home)
    check_everything(run_id, weights, tmp_path)
    reader = despina.init_run(with_id=run_id, mode="read-only")
    assert reader["sys/name"].fetch() == "offline run"
    assert "offline" in reader["sys/tags"].fetch()
    assert reader["sys/state"].fetch() == "finished"
    reader.stop()

    second = despina_cli(home, "sync")
    assert second.returncode == 0, second.stdout + second.stderr
    assert run_ids(home) == [run_id], "a second sync created another run"
    check_everything(run_id, weights, tmp_path)  # no point stored twice


# -- debug -----------------------------------------------------------------------------------------


def test_debug_mode_validates_but_stores_nothing(home: Path, weights: Path) -> None:
    run = despina.init_run(mode="debug")
    log_everything(run, weights)
    with pytest.raises(FieldPathError):
        run["bad//path"] = 1
    with pytest.raises(FieldPathError):
        run["sys/id"] = "mine"
    with pytest.raises(FieldTypeError):
        run["parameters/lr"].append("not a series")
    with pytest.raises(StepOrderError):
        run["train/loss"].append(1.0, step=0)
    with pytest.raises(NoStoreError):
        run["f1"].fetch()
    run.stop()
    assert not home.exists(), f"debug mode wrote to {home}: {list(home.rglob('*'))}"


# -- read-only -------------------------------------------------------------------------------------


def test_read_only_needs_an_id_and_refuses_writes(home: Path, weights: Path) -> None:
    with pytest.raises(DespinaConfigError):
        despina.init_run(mode="read-only")

    writer = despina.init_run(mode="sync")
    writer["f1"] = 0.5
    writer["train/loss"].append(1.0)
    writer["sys/tags"].add("kept")
    writer.stop()

    reader = despina.init_run(with_id=writer.id, mode="read-only")
    attempts = [
        lambda: reader.__setitem__("f1", 0.9),
        lambda: reader.__setitem__("new/field", 1),
        lambda: reader["train/loss"].append(2.0),
        lambda: reader["notes"].append("text"),
        lambda: reader["model"].upload(str(weights)),
        lambda: reader["sys/tags"].add("extra"),
        lambda: reader.__delitem__("f1"),
        lambda: reader.assign({"a": 1}),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyRunError):
            attempt()
    assert reader["f1"].fetch() == pytest.approx(0.5)
    assert reader["train/loss"].fetch_values()["value"].tolist() == [1.0]
    assert reader["sys/tags"].fetch() == {"kept"}
    assert not reader.exists("new/field")
    reader.stop()
    assert journals(home) == [], "a read-only run must not leave a journal"


# -- a store that cannot be written ----------------------------------------------------------------


def _break_ingest(run: despina.Run, monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> None:
    def failing_ingest(*args: object, **kwargs: object) -> None:
        time.sleep(delay)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run._backend, "ingest", failing_ingest)


@pytest.mark.slow
def test_stop_with_a_failing_store_warns_once_and_sync_applies_later(
    home: Path,
    weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = despina.init_run(mode="async", flush_period=0.1, name="unlucky")
    _break_ingest(run, monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log_everything(run, weights)
        time.sleep(0.5)  # the background sender tries (and fails) a few times
        capsys.readouterr()
        started = time.monotonic()
        run.stop(seconds=1)  # must not raise
        elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert elapsed < 1.5, f"stop(seconds=1) took {elapsed:.2f} s"
    ours = [w for w in caught if issubclass(w.category, DespinaWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "OSError" in str(ours[0].message)

    [folder] = journals(home)
    assert str(folder) in err
    assert "despina sync" in err
    match = re.search(r"(\d+) operation", err)
    assert match is not None, err
    logged = 3 + 1 + 50 + 3 + 2 + 1 + 1  # parameters, tags, loss, acc, notes, upload, f1
    assert int(match.group(1)) >= logged

    # Nothing but the run's creation reached the store.
    reader = despina.init_run(with_id=run.id, mode="read-only")
    assert not reader.exists("f1")
    reader.stop()

    synced = despina_cli(home, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert run_ids(home) == [run.id]
    check_everything(run.id, weights, tmp_path)
    reader = despina.init_run(with_id=run.id, mode="read-only")
    assert reader["sys/state"].fetch() == "finished"
    reader.stop()


@pytest.mark.slow
def test_stop_returns_in_time_when_the_store_hangs(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store that blocks (a locked database, a dead network disk) before failing: stop(seconds=1)
    still returns after about one second, with the data left on disk."""
    run = despina.init_run(mode="async", flush_period=0.05)
    _break_ingest(run, monkeypatch, delay=3.0)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for i in range(100):
            run["train/loss"].append(float(i))
        time.sleep(0.3)  # the sender is now stuck inside the store
        started = time.monotonic()
        run.stop(seconds=1)
        elapsed = time.monotonic() - started
        for thread in threading.enumerate():  # let the stuck sender finish before the home goes away
            if thread.name.startswith("despina-sender-"):
                thread.join(5)
    assert elapsed < 1.5, f"stop(seconds=1) took {elapsed:.2f} s"
    assert "despina sync" in capsys.readouterr().err
