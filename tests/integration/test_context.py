"""What a run records by itself, checked on real scripts in subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import despina

PROJECT = "ctx/runs"


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(home))
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    monkeypatch.delenv("DESPINA_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DESPINA_HOME": str(home), "DESPINA_PROJECT": PROJECT, **extra}
    env.pop("DESPINA_URL", None)
    return env


def run_script(tmp_path: Path, home: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=child_env(home, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def only_run() -> despina.Run:
    table = despina.init_project(PROJECT).fetch_runs_table().to_rows()
    assert len(table) == 1, table
    return despina.init_run(with_id=table[0]["sys/id"], mode="read-only")


def monitoring_namespace(run: despina.Run) -> str:
    keys = list(run.get_structure()["monitoring"])
    assert len(keys) == 1, keys
    return f"monitoring/{keys[0]}"


def test_a_failing_script_ends_failed_with_its_traceback(tmp_path: Path, home: Path) -> None:
    result = run_script(
        tmp_path,
        home,
        """
        import despina
        run = despina.init_run(monitoring_interval=60)
        run["train/loss"].append(0.5)
        def train():
            return 1 / 0
        train()
        """,
    )
    assert result.returncode != 0
    assert "ZeroDivisionError" in result.stderr  # the user still sees the usual traceback
    run = only_run()
    assert run["sys/state"].fetch() == "failed"
    assert run["sys/failed"].fetch() is True
    lines = run[f"{monitoring_namespace(run)}/traceback"].fetch_values()["value"].tolist()
    assert lines[0].startswith("Traceback")
    assert any("def train" in line or "return 1 / 0" in line for line in lines)
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert run["train/loss"].fetch_last() == 0.5


def test_printed_lines_arrive_in_order_and_still_print(tmp_path: Path, home: Path) -> None:
    result = run_script(
        tmp_path,
        home,
        """
        import sys, despina
        run = despina.init_run(monitoring_interval=60)
        for i in range(300):
            print(f"epoch {i} done")
        sys.stderr.write("a warning\\n")
        print("partial", end="")
        run.stop()
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("epoch 0 done\nepoch 1 done\n")
    run = only_run()
    namespace = monitoring_namespace(run)
    stdout = run[f"{namespace}/stdout"].fetch_values()["value"].tolist()
    assert stdout == [f"epoch {i} done" for i in range(300)] + ["partial"]
    assert run[f"{namespace}/stderr"].fetch_values()["value"].tolist() == ["a warning"]
    assert run["sys/state"].fetch() == "finished"


def test_sigkill_turns_crashed_after_the_heartbeat_timeout_and_resume_runs_again(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import time, despina
            run = despina.init_run(monitoring_interval=60, flush_period=0.2)
            print(run.id, flush=True)
            i = 0
            while True:
                run["loss"].append(1.0 / (i + 1))
                i += 1
                time.sleep(0.001)
            """
        )
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=child_env(home), stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    time.sleep(1.0)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    subprocess.run(
        [sys.executable, "-m", "despina.cli.main", "sync"],
        cwd=tmp_path,
        env=child_env(home),
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("DESPINA_CRASH_TIMEOUT", "1.5")
    deadline = time.monotonic() + 10
    state = despina.init_run(with_id=run_id, mode="read-only")["sys/state"].fetch()
    while state == "running" and time.monotonic() < deadline:
        time.sleep(0.25)
        state = despina.init_run(with_id=run_id, mode="read-only")["sys/state"].fetch()
    assert state == "crashed"
    crashed = despina.init_project(PROJECT).fetch_runs_table(state="crashed").to_rows()
    assert [row["sys/id"] for row in crashed] == [run_id]

    resumed = despina.init_run(with_id=run_id, monitoring_interval=60)
    assert despina.init_run(with_id=run_id, mode="read-only")["sys/state"].fetch() == "running"
    resumed.stop()
    assert despina.init_run(with_id=run_id, mode="read-only")["sys/state"].fetch() == "finished"


def interrupt_a_waiting_script(tmp_path: Path, home: Path, signum: int, points: int) -> int:
    """Start a script that logs `points` points and waits; send it `signum`; return its exit code."""
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time, despina
            run = despina.init_run(monitoring_interval=60, flush_period=60)
            for i in range({points}):
                run["loss"].append(float(i))
            print("ready", flush=True)
            time.sleep(60)
            """
        )
    )
    child = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=child_env(home),
        stdout=subprocess.PIPE,
        text=True,
        # A suite started in the background (`cmd &` in a script) ignores SIGINT, and a child inherits
        # that: Python then installs no KeyboardInterrupt handler and Ctrl-C would never arrive.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    # "ready" reaches this pipe while the child's console capture is still logging that line; let it
    # get to its sleep, so the signal interrupts a waiting script as these tests mean.
    time.sleep(0.5)
    child.send_signal(signum)
    return child.wait(timeout=30)


def test_sigterm_flushes_and_marks_the_run_failed(tmp_path: Path, home: Path) -> None:
    assert interrupt_a_waiting_script(tmp_path, home, signal.SIGTERM, 100) == -signal.SIGTERM
    run = only_run()  # no `despina sync`: the handler flushed before dying
    assert run["sys/state"].fetch() == "failed"
    assert len(run["loss"].fetch_values()) == 100
    lines = run[f"{monitoring_namespace(run)}/traceback"].fetch_values()["value"].tolist()
    assert "SIGTERM" in lines[0]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.skipif(
    subprocess.run(["which", "git"], capture_output=True).returncode != 0, reason="no git binary"
)
def test_source_git_dependencies_and_environment_of_a_script(tmp_path: Path, home: Path) -> None:
    repo = tmp_path
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "Sophia")
    _git(repo, "config", "user.email", "sophia@example.com")
    (repo / "requirements.txt").write_text("scikit-learn==1.5.0\n")
    (repo / "train.py").write_text("# placeholder\n")
    (repo / ".gitignore").write_text("home/\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first model")
    result = run_script(
        tmp_path,
        home,
        """
        import despina
        run = despina.init_run(monitoring_interval=60, dependencies="requirements.txt")
        run.stop()
        """,
    )  # rewriting train.py makes the working tree dirty
    assert result.returncode == 0, result.stderr
    run = only_run()
    assert run["source_code/entrypoint"].fetch() == "train.py"
    assert run["source_code/files"].fetch_files_list() == ["train.py"]
    git = run["source_code/git"].fetch()
    assert git["message"].strip() == "first model"
    assert git["author_name"] == "Sophia"
    assert git["branch"] == "main"
    assert git["dirty"] is True
    assert len(git["commit_id"]) == 40
    diff = run["source_code/git/diff"].download(tmp_path / "diff.patch").read_text()
    assert "import despina" in diff
    requirements = run["source_code/requirements"].download(tmp_path / "req.txt").read_text()
    assert requirements == "scikit-learn==1.5.0\n"
    environment = run["environment"].fetch()
    assert environment["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert environment["cpu_count"] == os.cpu_count()
    sys_fields = run["sys"].fetch()
    assert sys_fields["hostname"] and sys_fields["mode"] == "async"
    assert sys_fields["running_time"] >= 0
    assert "ping_time" in sys_fields


def test_switches_turn_captures_off(tmp_path: Path, home: Path) -> None:
    result = run_script(
        tmp_path,
        home,
        """
        import despina
        run = despina.init_run(source_files=[], git_ref=False, capture_stdout=False, capture_stderr=False,
                               capture_hardware_metrics=False)
        print("not captured")
        run.stop()
        """,
    )
    assert result.returncode == 0, result.stderr
    run = only_run()
    assert not run.exists("source_code/files")
    assert not run.exists("source_code/git")
    namespace = monitoring_namespace(run)
    assert not run.exists(f"{namespace}/stdout")
    assert not run.exists(f"{namespace}/cpu")


def test_inferred_dependencies_and_hardware_metrics(home: Path) -> None:
    run = despina.init_run(
        dependencies="infer", monitoring_interval=0.1, capture_stdout=False, capture_stderr=False
    )
    time.sleep(0.6)
    run.stop()
    reader = despina.init_run(with_id=run.id, mode="read-only")
    import numpy

    path = reader["source_code/requirements"].download(Path("requirements.txt"))
    assert f"numpy=={numpy.__version__}" in path.read_text().splitlines()
    namespace = monitoring_namespace(reader)
    cpu = reader[f"{namespace}/cpu"].fetch_values()["value"]
    memory = reader[f"{namespace}/memory"].fetch_values()["value"]
    assert len(cpu) >= 3 and cpu.between(0, 100).all()
    assert (memory > 0).all()
    assert reader[f"{namespace}/hostname"].fetch()
    assert int(reader[f"{namespace}/pid"].fetch()) == os.getpid()


def _gpu_visible() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
        return bool(count)
    except Exception:
        return False


@pytest.mark.skipif(not _gpu_visible(), reason="no NVIDIA GPU and driver on this machine")
def test_a_gpu_reading_is_logged(home: Path) -> None:
    run = despina.init_run(monitoring_interval=0.2, capture_stdout=False, capture_stderr=False)
    time.sleep(1.0)
    run.stop()
    reader = despina.init_run(with_id=run.id, mode="read-only")
    namespace = monitoring_namespace(reader)
    utilization = reader[f"{namespace}/gpu/0/utilization"].fetch_values()["value"]
    memory = reader[f"{namespace}/gpu/0/memory_used"].fetch_values()["value"]
    assert len(utilization) >= 1 and utilization.between(0, 100).all()
    assert (memory > 0).all()


def test_ctrl_c_marks_the_run_failed_after_flushing(tmp_path: Path, home: Path) -> None:
    assert interrupt_a_waiting_script(tmp_path, home, signal.SIGINT, 50) != 0
    run = only_run()
    assert run["sys/state"].fetch() == "failed"
    assert len(run["loss"].fetch_values()) == 50
    lines = run[f"{monitoring_namespace(run)}/traceback"].fetch_values()["value"].tolist()
    assert lines[-1] == "KeyboardInterrupt"
