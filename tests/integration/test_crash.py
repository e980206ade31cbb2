"""A training process killed with SIGKILL loses nothing it reported as logged.

The child logs in a loop and prints each step after the logging calls for it returned; the parent kills
it mid-loop, runs `despina sync` as a user would, and checks every reported step is in the store exactly
once. Also: a torn last record, and what `despina status` / `despina clear` show around a crash.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import despina

PROJECT = "team/crash"
MIN_STEPS = 3000
MANY_STEPS = 12_000  # three float records a step: past the first journal segment (1 MiB)

CHILD = textwrap.dedent(
    """
    import sys
    import time

    import despina

    flush_period, weights = float(sys.argv[1]), sys.argv[2]
    # Printing every step is how the test learns what was logged; capturing it too would only double
    # the journal (console capture has its own tests).
    run = despina.init_run(name="crashy", flush_period=flush_period, capture_stdout=False)
    print("RUN", run.id, flush=True)
    run["model/weights"].upload(weights)
    run["parameters/lr"] = 0.01
    for step in range(5_000_000):  # killed long before the end
        run["train/loss"].append(1.0 / (step + 1))
        run["train/acc"].append(step / 1e6)
        run["train/lr"].append(0.01 * 0.999**step)
        if step % 100 == 0:
            run["train/log"].append(f"step {step}", step=step)
        if step % 1000 == 0:
            checkpoint = despina.File.from_content(f"checkpoint {step}", extension="txt")
            run["train/checkpoints"].append(checkpoint, step=step)
        print(step, flush=True)
        if step == 1000:
            time.sleep(0.5)  # an evaluation pause: the background sender catches up meanwhile
    """
)


@dataclass
class Killed:
    run_id: str
    steps: list[int]  # steps the child reported as logged, in order


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(folder))
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    for name in ("DESPINA_MODE", "DESPINA_CUSTOM_RUN_ID", "DESPINA_URL", "DESPINA_STOP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(50_000))
    return path


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESPINA_")}
    env.update(DESPINA_HOME=str(home), DESPINA_PROJECT=PROJECT, COLUMNS="400", NO_COLOR="1")
    return env


def despina_cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "despina.cli.main", *args],
        env=child_env(home),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def log_and_kill(
    tmp_path: Path, home: Path, weights: Path, flush_period: float, min_steps: int = MIN_STEPS
) -> Killed:
    script = tmp_path / "train.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(flush_period), str(weights)],
        env=child_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.startswith("RUN "), first + proc.stderr.read().decode() if proc.stderr else first
        run_id = first.split()[1]
        seen = 0
        while seen < min_steps:
            line = proc.stdout.readline()
            assert line, "the child stopped logging before it was killed"
            seen += 1
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()  # what is buffered here and still in the pipe, up to EOF
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Steps already read, plus the complete lines still in the pipe.
    lines = [line for line in rest.decode().splitlines(keepends=True) if line.endswith("\n")]
    steps = list(range(seen)) + [int(line) for line in lines]
    assert steps == list(range(len(steps)))
    return Killed(run_id, steps)


def read_series(run_id: str, path: str) -> tuple[np.ndarray, list[object]]:
    reader = despina.init_run(with_id=run_id, mode="read-only")
    try:
        frame = reader[path].fetch_values(include_timestamp=False)
        return frame["step"].to_numpy(), frame["value"].tolist()
    finally:
        reader.stop()


def run_ids() -> list[str]:
    project = despina.init_project(PROJECT)
    try:
        return [row["sys/id"] for row in project.fetch_runs_table().to_rows()]
    finally:
        project.stop()


def check_stored(killed: Killed, tmp_path: Path, weights: Path) -> dict[str, tuple[np.ndarray, list[object]]]:
    """Every reported step is in the store exactly once, in order; returns what was read."""
    last = killed.steps[-1]
    stored = {}
    expected = {
        "train/loss": lambda s: 1.0 / (s + 1),
        "train/acc": lambda s: s / 1e6,
        "train/lr": lambda s: 0.01 * 0.999**s,
    }
    for path, formula in expected.items():
        steps, values = read_series(killed.run_id, path)
        stored[path] = (steps, values)
        assert len(steps) == len(np.unique(steps)), f"{path}: duplicated steps"
        assert np.all(np.diff(steps) > 0), f"{path}: steps do not strictly increase"
        # Steps 0..last were reported; the step after may have been logged but not reported yet.
        assert len(steps) in (last + 1, last + 2), (
            f"{path}: {len(steps)} points for {last + 1} reported steps"
        )
        assert steps.tolist() == [float(s) for s in range(len(steps))], f"{path}: missing steps"
        np.testing.assert_allclose(values, [formula(s) for s in range(len(steps))], err_msg=path)
    steps, values = read_series(killed.run_id, "train/log")
    stored["train/log"] = (steps, values)
    reported_logs = [s for s in killed.steps if s % 100 == 0]
    assert steps.tolist()[: len(reported_logs)] == [float(s) for s in reported_logs]
    assert len(steps) - len(reported_logs) in (0, 1)
    assert values == [f"step {int(s)}" for s in steps]

    reported_checkpoints = [s for s in killed.steps if s % 1000 == 0]
    folder = tmp_path / "checkpoints"
    reader = despina.init_run(with_id=killed.run_id, mode="read-only")
    try:
        steps = reader["train/checkpoints"].fetch_values(include_timestamp=False)["step"].tolist()
        assert steps[: len(reported_checkpoints)] == [float(s) for s in reported_checkpoints]
        assert len(steps) - len(reported_checkpoints) in (0, 1)
        reader["train/checkpoints"].download(folder)
        for step in steps:
            assert (folder / f"{step:g}.txt").read_text() == f"checkpoint {step:g}"
        assert reader["parameters/lr"].fetch() == pytest.approx(0.01)
        target = reader["model/weights"].download(tmp_path / "weights.download")
        assert Path(target).read_bytes() == weights.read_bytes()
    finally:
        reader.stop()
    return stored


def last_segment_end(folder: Path) -> tuple[Path, int]:
    """The newest segment of a journal and the offset just past its last complete record.

    Journal records are `u32 length | u32 crc32 | payload`; a zero length ends what was written."""
    segment = max(folder.glob("*.seg"))
    data = segment.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        if length == 0 or offset + 8 + length > len(data):
            break
        offset += 8 + length
    return segment, offset


# -- the tests ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkilled_run_loses_no_reported_step_and_sync_is_idempotent(
    tmp_path: Path, home: Path, weights: Path
) -> None:
    # A short flush period: the background sender had applied part of the journal when the kill came.
    killed = log_and_kill(tmp_path, home, weights, flush_period=0.05, min_steps=MANY_STEPS)
    assert len(killed.steps) >= MANY_STEPS
    # The sender had stored part of the run before the kill (during the pause at step 1000).
    before_sync, _ = read_series(killed.run_id, "train/loss")
    assert len(before_sync) > 1000, "async mode should have stored the first steps within the pause"

    first = despina_cli(home, "sync")
    assert first.returncode == 0, first.stdout + first.stderr
    assert killed.run_id in first.stdout
    assert run_ids() == [killed.run_id]
    stored = check_stored(killed, tmp_path, weights)

    second = despina_cli(home, "sync")
    assert second.returncode == 0, second.stdout + second.stderr
    assert run_ids() == [killed.run_id]
    again = check_stored(killed, tmp_path, weights)
    for path, (steps, values) in stored.items():
        assert again[path][0].tolist() == steps.tolist(), f"second sync changed {path}"
        assert again[path][1] == values, f"second sync changed {path}"


@pytest.mark.slow
def test_sync_applies_everything_before_a_torn_last_record(tmp_path: Path, home: Path, weights: Path) -> None:
    # A long flush period: nothing was sent before the kill, the whole run is in the journal.
    killed = log_and_kill(tmp_path, home, weights, flush_period=3600)
    [folder] = list((home / "journal").iterdir())
    segment, end = last_segment_end(folder)
    # A record cut short by a crash of the machine: a header that promises a float point, a payload
    # that does not match its checksum.
    garbage = struct.pack("<II", 29, 0xDEADBEEF) + bytes([1]) + os.urandom(28)
    with open(segment, "r+b") as out:
        out.seek(end)
        out.write(garbage)

    result = despina_cli(home, "sync")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Could not sync" not in result.stdout
    assert "Synced 1 journal" in result.stdout
    check_stored(killed, tmp_path, weights)

    again = despina_cli(home, "sync")
    assert again.returncode == 0, again.stdout + again.stderr
    check_stored(killed, tmp_path, weights)


@pytest.mark.slow
def test_status_and_clear_around_a_crash(
    tmp_path: Path, home: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    killed = log_and_kill(tmp_path, home, weights, flush_period=3600, min_steps=2000)
    [crashed] = list((home / "journal").iterdir())
    reported = len(killed.steps)
    # One operation per logged value: the upload, parameters/lr, three floats a step, a string every
    # 100 steps, a checkpoint every 1000.
    logged = 2 + 3 * reported + len([s for s in killed.steps if s % 100 == 0])
    logged += len([s for s in killed.steps if s % 1000 == 0])

    status = despina_cli(home, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    [row] = [line for line in status.stdout.splitlines() if killed.run_id in line]
    assert str(crashed) in row
    assert "exited" in row
    counts = [int(word) for word in row.replace("│", " ").split() if word.isdigit()]
    # Plus what the run records by itself: sys/ bookkeeping, source, environment, heartbeats, metrics.
    assert any(logged <= count <= logged + 60 for count in counts), (logged, row)
    assert "despina sync" in status.stdout

    synced = despina_cli(home, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    status = despina_cli(home, "status")
    assert status.returncode == 0
    assert "synced" in status.stdout.lower()
    assert killed.run_id not in status.stdout
    assert crashed.is_dir(), "sync must not remove journals; `despina clear` does"

    # A journal with operations not yet in the store: an offline run.
    offline = despina.init_run(mode="offline")
    offline["f1"] = 0.5
    offline.stop()
    capsys.readouterr()
    pending = offline.journal_folder
    assert pending is not None and pending.is_dir()

    answer_no = despina_cli(home, "clear", stdin="n\n")
    assert answer_no.returncode == 0, answer_no.stdout + answer_no.stderr
    assert "Nothing removed" in answer_no.stdout
    assert crashed.is_dir() and pending.is_dir()

    cleared = despina_cli(home, "clear", "--yes")
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert not crashed.exists(), "the synced journal should be removed"
    assert pending.is_dir(), "a journal with pending operations must be kept"
    assert (pending / "meta.json").exists()

    # The crashed run is still fully readable after its journal is gone.
    check_stored(killed, tmp_path, weights)
    status = despina_cli(home, "status")
    assert "(offline, new)" in status.stdout
