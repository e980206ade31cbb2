"""Several processes on one Despina home: a run shared by custom id, runs logged side by side, and
`despina sync` running while an offline writer is still logging."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import despina

PROJECT = "team/sharing"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(folder))
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    for name in ("DESPINA_MODE", "DESPINA_CUSTOM_RUN_ID", "DESPINA_URL", "DESPINA_STOP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return folder


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESPINA_")}
    env.update(DESPINA_HOME=str(home), DESPINA_PROJECT=PROJECT, COLUMNS="400", NO_COLOR="1")
    return env


def despina_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "despina.cli.main", *args],
        env=child_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start(tmp_path: Path, home: Path, name: str, source: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env=child_env(home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str, str]]:
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def runs_table() -> list[dict[str, object]]:
    project = despina.init_project(PROJECT)
    try:
        return project.fetch_runs_table().to_rows()
    finally:
        project.stop()


def series(run_id: str, path: str) -> tuple[np.ndarray, list[object]]:
    reader = despina.init_run(with_id=run_id, mode="read-only")
    try:
        frame = reader[path].fetch_values(include_timestamp=False)
        return frame["step"].to_numpy(), frame["value"].tolist()
    finally:
        reader.stop()


def assert_points(run_id: str, path: str, count: int, formula: Callable[[int], float]) -> None:
    steps, values = series(run_id, path)
    assert len(steps) == len(np.unique(steps)), f"{run_id} {path}: duplicated steps"
    assert steps.tolist() == [float(s) for s in range(count)], (
        f"{run_id} {path}: {len(steps)} of {count} points"
    )
    np.testing.assert_allclose(values, [formula(s) for s in range(count)], err_msg=f"{run_id} {path}")


# -- one run, two processes --------------------------------------------------------------------------

SHARED_WRITER = """
    import sys

    import despina

    prefix, points = sys.argv[1], int(sys.argv[2])
    run = despina.init_run(custom_run_id="ddp-42", flush_period=0.05)
    print("RUN", run.id, flush=True)
    for i in range(points // 2):
        run[f"{prefix}/loss"].append(1.0 / (i + 1))
        run[f"{prefix}/acc"].append(i / points)
    run[f"{prefix}/done"] = True
    run.stop()
"""


@pytest.mark.slow
def test_two_processes_with_one_custom_run_id_share_one_run(tmp_path: Path, home: Path) -> None:
    points = 5000
    procs = [start(tmp_path, home, f"shared_{p}", SHARED_WRITER, p, str(points)) for p in ("train", "eval")]
    results = finish(procs)
    for code, out, err in results:
        assert code == 0, out + err
    ids = {out.split()[1] for _, out, _ in results}
    assert len(ids) == 1, f"the processes joined different runs: {ids}"
    [run_id] = ids

    rows = runs_table()
    assert [row["sys/id"] for row in rows] == [run_id]
    assert rows[0]["sys/custom_run_id"] == "ddp-42"
    total = 0
    for prefix in ("train", "eval"):
        assert_points(run_id, f"{prefix}/loss", points // 2, lambda s: 1.0 / (s + 1))
        assert_points(run_id, f"{prefix}/acc", points // 2, lambda s: s / points)
        total += 2 * (points // 2)
        reader = despina.init_run(with_id=run_id, mode="read-only")
        assert reader[f"{prefix}/done"].fetch() is True
        reader.stop()
    assert total == 2 * points


# -- four runs at once ---------------------------------------------------------------------------------

BUSY_WRITER = """
    import sys

    import despina

    worker, points = int(sys.argv[1]), int(sys.argv[2])
    run = despina.init_run(name=f"worker-{worker}", flush_period=0.01)
    print("RUN", run.id, flush=True)
    for i in range(points):
        run["train/loss"].append(worker + i / points)
        if i % 1000 == 999:
            run["progress"].assign(i + 1, wait=True)  # a write that waits for the store
    run.stop()
"""


@pytest.mark.slow
def test_four_processes_log_side_by_side_into_one_home(tmp_path: Path, home: Path) -> None:
    points = 10_000
    procs = [start(tmp_path, home, f"busy_{w}", BUSY_WRITER, str(w), str(points)) for w in range(4)]
    results = finish(procs)
    for code, out, err in results:
        assert code == 0, out + err
        assert "database is locked" not in err.lower(), err
        assert "Traceback" not in err, err
    ids = [out.split()[1] for _, out, _ in results]
    assert len(set(ids)) == 4

    rows = {row["sys/id"]: row for row in runs_table()}
    assert sorted(rows) == sorted(ids)
    for worker, run_id in enumerate(ids):
        assert rows[run_id]["sys/name"] == f"worker-{worker}"
        assert rows[run_id]["sys/state"] == "finished"
        assert rows[run_id]["progress"] == points
        assert_points(run_id, "train/loss", points, lambda s, w=worker: w + s / points)
    journal = home / "journal"
    assert not journal.exists() or list(journal.iterdir()) == [], "stop() should remove applied journals"


# -- sync while the writer is still logging ------------------------------------------------------------

LIVE_OFFLINE_WRITER = """
    import os
    import sys
    import time

    import despina

    stop_file = sys.argv[1]
    run = despina.init_run(mode="offline", name="live offline")
    step = 0
    while True:
        run["train/loss"].append(step * 0.5)
        if step % 500 == 0:
            run["train/log"].append(f"s{step}", step=step)
        print(step, flush=True)
        step += 1
        if step % 200 == 0:
            if os.path.exists(stop_file) and step >= 6000:
                break
            time.sleep(0.005)
    run["final"] = step
    run.stop()
    print("DONE", step, flush=True)
"""


@pytest.mark.slow
def test_sync_while_an_offline_writer_is_logging(tmp_path: Path, home: Path) -> None:
    stop_file = tmp_path / "stop-now"
    proc = start(tmp_path, home, "live", LIVE_OFFLINE_WRITER, str(stop_file))
    lines: list[str] = []
    pump = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    pump.start()
    try:
        deadline = time.monotonic() + 60
        while len(lines) < 2000:
            assert proc.poll() is None, "the writer exited early"
            assert time.monotonic() < deadline, "the writer is too slow"
            time.sleep(0.01)
        reported_before = len(lines)

        first = despina_cli(home, "sync")
        assert first.returncode == 0, first.stdout + first.stderr
        assert proc.poll() is None, "the writer was meant to be still logging during the sync"
        [row] = runs_table()
        run_id = str(row["sys/id"])
        steps, values = series(run_id, "train/loss")
        assert len(steps) >= reported_before, "sync did not apply what was already logged"
        assert steps.tolist() == [float(s) for s in range(len(steps))]
        assert values == [s * 0.5 for s in range(len(steps))]

        stop_file.touch()
        proc.wait(timeout=60)
        pump.join(10)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert lines[-1].startswith("DONE"), lines[-3:]
    total = int(lines[-1].split()[1])
    assert [int(line) for line in lines[:-1]] == list(range(total))

    second = despina_cli(home, "sync")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [row["sys/id"] for row in runs_table()] == [run_id], "the second sync made another run"
    assert_points(run_id, "train/loss", total, lambda s: s * 0.5)
    steps, values = series(run_id, "train/log")
    assert steps.tolist() == [float(s) for s in range(0, total, 500)]
    assert values == [f"s{s}" for s in range(0, total, 500)]
    reader = despina.init_run(with_id=run_id, mode="read-only")
    assert reader["final"].fetch() == total
    assert reader["sys/state"].fetch() == "finished"
    reader.stop()

    third = despina_cli(home, "sync")
    assert third.returncode == 0, third.stdout + third.stderr
    assert_points(run_id, "train/loss", total, lambda s: s * 0.5)


LIVE_ASYNC_WRITER = """
    import sys
    import time

    import despina

    points = int(sys.argv[1])
    run = despina.init_run(name="live async", flush_period=3600)  # only stop() sends
    print("RUN", run.id, flush=True)
    for i in range(points):
        run["train/loss"].append(i * 0.25)
    print("LOGGED", flush=True)
    sys.stdin.readline()  # the parent runs `despina sync` meanwhile
    for i in range(points, points + 100):
        run["train/loss"].append(i * 0.25)
    started = time.monotonic()
    run.stop(seconds=4)
    print("STOPPED", time.monotonic() - started, flush=True)
"""


@pytest.mark.slow
def test_sync_while_an_async_writer_is_running_then_stop_finishes_normally(
    tmp_path: Path, home: Path
) -> None:
    """README: `despina sync` is safe while the writer still runs. The writer's own stop() must still
    finish promptly, store the rest once, and clean up its journal."""
    points = 60_000  # more than the first journal segment holds
    proc = start(tmp_path, home, "live_async", LIVE_ASYNC_WRITER, str(points))
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().split()[1]
        assert proc.stdout.readline().strip() == "LOGGED"
        synced = despina_cli(home, "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        applied, _ = series(run_id, "train/loss")
        assert len(applied) == points, "sync did not apply what the live writer had logged"
        out, err = proc.communicate(input="\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    elapsed = float(out.split("STOPPED")[1])
    assert elapsed < 3, f"stop() took {elapsed:.1f} s after a concurrent `despina sync`; stderr: {err}"
    assert "not in the store yet" not in err, err
    assert list((home / "journal").iterdir()) == [], "stop() left the journal behind"
    assert_points(run_id, "train/loss", points + 100, lambda s: s * 0.25)
    reader = despina.init_run(with_id=run_id, mode="read-only")
    assert reader["sys/state"].fetch() == "finished"
    reader.stop()


def test_a_process_that_joined_a_run_leaves_it_running_and_leaves_no_journal(home: Path) -> None:
    """`detach`: a worker's fields are in the store and its journal is gone, while the run stays
    running until the process that owns it stops it."""
    light = {"capture_stdout": False, "capture_stderr": False, "capture_hardware_metrics": False}
    owner = despina.init_run(custom_run_id="pipeline-7", **light)
    worker = despina.init_run(custom_run_id="pipeline-7", **light)
    assert worker.id == owner.id and worker.journal_folder != owner.journal_folder
    worker["nodes/train/accuracy"] = 0.91
    worker["nodes/train/loss"].extend([0.5, 0.25])
    worker.detach()

    assert worker.journal_folder is not None and not worker.journal_folder.exists()
    reader = despina.init_run(with_id=owner.id, mode="read-only")
    assert reader["sys/state"].fetch() == "running"
    assert reader["nodes/train/accuracy"].fetch() == 0.91
    assert reader["nodes/train/loss"].fetch_values()["value"].tolist() == [0.5, 0.25]
    reader.stop()
    worker.detach()  # twice is harmless, as stop is
    with pytest.raises(despina.DespinaError):
        worker["late"] = 1  # a detached run takes nothing more

    owner.stop()
    reader = despina.init_run(with_id=owner.id, mode="read-only")
    assert reader["sys/state"].fetch() == "finished"
    reader.stop()
