#!/usr/bin/env python3
"""Logging benchmark: Despina's per-key float logging against the peers' idiomatic calls.

Workload (issue "logging speed and size"): one run, `--series` float series x `--steps` steps,
logged in the training-loop form `run[key].append(v)` (one call per key per step). Every variant runs
in a fresh subprocess with its own scratch HOME and data folder; the parent only starts children,
samples the RSS of each child's process tree, measures what the child left on disk, and prints tables.

    .venv/bin/python bench/bench_logging.py --steps 100000 --repeat 3 --out bench/results/logging.jsonl

Variants (see `VARIANTS`): `floor` (an empty lambda timed the same way: the harness floor),
`despina` (async mode, every call timed), `despina-mem` (async mode, `--mem-steps` steps, untimed: RSS
growth), and per peer the idiomatic calls, each run by the python of that peer's own venv
(`--peer-python NAME=PATH`, default /tmp/peers/NAME/bin/python when it exists). Peers are slow, so
their loops stop after `--peer-seconds`; the loop time is then scaled to the full workload and the
row is marked "capped". Their finish call is given `--peer-finish-timeout` seconds.

This file is also the child: `python bench_logging.py --child SPEC.json`. It imports nothing but the
standard library at module level, so any peer venv can run it; each adapter imports its tracker
inside the child only.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import gc
import json
import math
import os
import platform
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PEERS = ("mlflow", "wandb", "aim", "neptune")
PEER_VENVS = Path("/tmp/peers")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------------------
# measuring helpers (child and parent)


def proc_status_kb(field: str, pid: str = "self") -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM, ...), in kB; 0 when missing."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def tree_bytes(path: Path) -> int:
    """Apparent size of every regular file under `path` (0 when it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(root, name)):
                total += st.st_size
    return total


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: Any, q: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    n = len(sorted_values)
    if n == 0:
        return float("nan")
    rank = min(n - 1, max(0, math.ceil(q / 100.0 * n) - 1))
    return float(sorted_values[rank])


def call_stats(durations_ns: Any, n: int) -> dict[str, float]:
    """Per-call figures, in µs, from the first `n` durations."""
    if n == 0:
        return {}
    values = sorted(durations_ns[:n])
    return {
        "call_median_us": percentile(values, 50) / 1000.0,
        "call_p90_us": percentile(values, 90) / 1000.0,
        "call_p99_us": percentile(values, 99) / 1000.0,
        "call_p999_us": percentile(values, 99.9) / 1000.0,
        "call_max_us": values[-1] / 1000.0,
        "call_mean_us": sum(values) / n / 1000.0,
    }


def versions(names: list[str]) -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


# ------------------------------------------------------------------------------------------------
# adapters: each returns (call, finish, extras); `call` has the common signature of its kind:
#   per key:  call(key: str, value: float, step: int)      -- one point
#   per step: call(values: dict[str, float], step: int)    -- `series` points


class Adapter:
    """One tracker + one calling pattern. Subclasses import their tracker in `start` (child only)."""

    name = ""
    peer = ""  # "" for despina/floor (run by this python); else the peer venv that runs it
    per_key = True
    packages: tuple[str, ...] = ()
    description = ""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.data = Path(spec["data_dir"])

    def start(self) -> Callable[..., Any]:
        raise NotImplementedError

    def finish(self) -> dict[str, Any]:
        """Make everything durable (the tracker's own finish call); may return extra timings."""
        return {}

    def baseline_bytes(self) -> int:
        """Bytes on disk once the run has started, before the loop (the empty store's overhead)."""
        return tree_bytes(self.data)

    def after_finish(self) -> dict[str, Any]:
        """Disk and read-back figures, after the finish call returned (not timed)."""
        return {}

    def progress(self) -> dict[str, Any]:
        """What is stored so far, when the finish call was cut off (where the tracker can tell)."""
        return {}


class Floor(Adapter):
    name = "floor"
    description = "empty lambda, per key (the harness floor)"

    def start(self) -> Callable[..., Any]:
        return lambda key, value, step: None


class Despina(Adapter):
    name = "despina"
    packages = ("despina", "SQLAlchemy", "numpy")
    description = "despina async, run[key].append(v) per key"
    project = "bench/w1"

    def start(self) -> Callable[..., Any]:
        import despina

        self.despina = despina
        self.run = run = despina.init_run(project=self.project, mode="async")
        return lambda key, value, step: run[key].append(value)

    def _store_files(self) -> dict[str, int]:
        db = self.data / "despina.db"
        out = {}
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = db.with_name(db.name + suffix)
            out["db" + (suffix.replace("-", "_") or "")] = path.stat().st_size if path.exists() else 0
        out["journal_dir"] = tree_bytes(self.data / "journal")
        return out

    def baseline_bytes(self) -> int:
        # The store only: the journal folder holds a preallocated 16 MiB segment from the start.
        files = self._store_files()
        return files["db"] + files["db_wal"]

    def finish(self) -> dict[str, Any]:
        pc = time.perf_counter
        out: dict[str, Any] = {}
        if self.spec.get("despina_finish", "wait+stop") == "wait+stop":
            t0 = pc()
            self.run.wait()
            out["wait_s"] = pc() - t0
            out["store_after_wait"] = self._store_files()
        t0 = pc()
        self.run.stop()
        out["stop_s"] = pc() - t0
        return out

    def after_finish(self) -> dict[str, Any]:
        out: dict[str, Any] = {"store_after_stop": self._store_files(), "run_id": self.run.id}
        # Read back through the API, in read-only mode, and straight from SQLite.
        series = self.spec["series"]
        expected = self.spec["steps_done"]
        t0 = time.perf_counter()
        try:
            reader = self.despina.init_run(project=self.project, with_id=self.run.id, mode="read-only")
            counts = []
            last_ok = True
            for j in range(series):
                frame = reader[f"m/k{j}"].fetch_values(include_timestamp=False)
                counts.append(len(frame))
                if len(frame) and expected:
                    last_ok &= float(frame["value"].iloc[-1]) == float(expected - 1) * 0.001 + j
                    last_ok &= float(frame["step"].iloc[-1]) == float(expected - 1)
            out["readback_points"] = sum(counts)
            out["readback_min_series"] = min(counts) if counts else 0
            out["readback_last_ok"] = bool(last_ok)
            reader.stop()
        except Exception as exc:  # report, do not hide the rest of the figures
            out["readback_error"] = f"{type(exc).__name__}: {exc}"
        out["readback_s"] = time.perf_counter() - t0
        try:
            con = sqlite3.connect(f"file:{self.data / 'despina.db'}?mode=ro", uri=True)
            out["sql_points"] = con.execute(
                "SELECT COALESCE(SUM(point_count), 0) FROM series_chunks"
            ).fetchone()[0]
            out["sql_chunks"] = con.execute("SELECT COUNT(*) FROM series_chunks").fetchone()[0]
            con.close()
        except sqlite3.Error as exc:
            out["sql_error"] = str(exc)
        return out


class DespinaMem(Despina):
    name = "despina-mem"
    description = "despina async, per key, untimed loop (RSS growth)"


class MlflowBase(Adapter):
    peer = "mlflow"
    asynchronous = False
    packages = ("mlflow", "mlflow-skinny", "SQLAlchemy")

    def start(self) -> Callable[..., Any]:
        import mlflow

        self.mlflow = mlflow
        self.db = self.data / "mlflow.db"
        mlflow.set_tracking_uri(f"sqlite:///{self.db}")
        if mlflow.get_experiment_by_name("bench") is None:
            mlflow.create_experiment("bench", artifact_location=(self.data / "artifacts").as_uri())
        mlflow.set_experiment("bench")
        self.run = mlflow.start_run()
        return self.make_call(mlflow)

    def make_call(self, mlflow: Any) -> Callable[..., Any]:
        raise NotImplementedError

    def finish(self) -> dict[str, Any]:
        # end_run() only hands the async queue its last batch ("submitted, not necessarily finished
        # logging", mlflow 3.x); the points reach the database in the background. Flush first, so the
        # finish time is the time until every point is stored (checked by `sql_points`).
        out: dict[str, Any] = {}
        if self.asynchronous:
            t0 = time.perf_counter()
            self.mlflow.flush_async_logging()
            out["flush_s"] = time.perf_counter() - t0
        self.mlflow.end_run()
        return out

    def progress(self) -> dict[str, Any]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return {"sql_points": con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]}
        finally:
            con.close()

    def after_finish(self) -> dict[str, Any]:
        return self.progress()


class MlflowKeyAsync(MlflowBase):
    asynchronous = True
    name = "mlflow-key-async"
    description = "mlflow sqlite, log_metric(k, v, step, synchronous=False) per key"

    def make_call(self, mlflow: Any) -> Callable[..., Any]:
        log = mlflow.log_metric
        return lambda key, value, step: log(key, value, step=step, synchronous=False)


class MlflowStep(MlflowBase):
    name = "mlflow-step"
    per_key = False
    description = "mlflow sqlite, log_metrics(dict, step) per step (synchronous)"

    def make_call(self, mlflow: Any) -> Callable[..., Any]:
        log = mlflow.log_metrics
        return lambda values, step: log(values, step=step)


class MlflowStepAsync(MlflowBase):
    asynchronous = True
    name = "mlflow-step-async"
    per_key = False
    description = "mlflow sqlite, log_metrics(dict, step, synchronous=False) per step"

    def make_call(self, mlflow: Any) -> Callable[..., Any]:
        log = mlflow.log_metrics
        return lambda values, step: log(values, step=step, synchronous=False)


class WandbStep(Adapter):
    name = "wandb-step"
    peer = "wandb"
    per_key = False
    packages = ("wandb", "protobuf")
    description = "wandb offline, run.log(dict) per step"

    def start(self) -> Callable[..., Any]:
        import wandb

        self.run = run = wandb.init(mode="offline", project="bench", dir=str(self.data))
        return lambda values, step: run.log(values)

    def finish(self) -> dict[str, Any]:
        self.run.finish()
        return {}


class AimKey(Adapter):
    name = "aim-key"
    peer = "aim"
    packages = ("aim", "aimrocks")
    description = "aim local repo, run.track(v, name=k, step) per key"

    def start(self) -> Callable[..., Any]:
        from aim import Repo, Run

        Repo.from_path(str(self.data), init=True)
        self.run = run = Run(repo=str(self.data), experiment="bench")
        track = run.track
        return lambda key, value, step: track(value, name=key, step=step)

    def finish(self) -> dict[str, Any]:
        self.run.close()
        return {}


class NeptuneKey(Adapter):
    name = "neptune-key"
    peer = "neptune"
    packages = ("neptune",)
    description = "neptune 1.x offline, run[k].append(v) per key"

    def start(self) -> Callable[..., Any]:
        import neptune

        self.run = run = neptune.init_run(mode="offline", project="bench/w1")
        return lambda key, value, step: run[key].append(value)

    def finish(self) -> dict[str, Any]:
        self.run.stop()
        return {}


VARIANTS: dict[str, type[Adapter]] = {
    cls.name: cls
    for cls in (
        Floor,
        Despina,
        DespinaMem,
        MlflowKeyAsync,
        MlflowStep,
        MlflowStepAsync,
        WandbStep,
        AimKey,
        NeptuneKey,
    )
}


# ------------------------------------------------------------------------------------------------
# the child


class ResultFile:
    """The child's figures, rewritten atomically at each stage so a killed child still reports."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.data: dict[str, Any] = {}

    def save(self, **updates: Any) -> None:
        self.data.update(updates)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.data, fh)
        os.replace(tmp, self.path)


def timed_loop(
    call: Callable[..., Any], per_key: bool, steps: int, keys: list[str], deadline: float, durations: Any
) -> tuple[int, int]:
    """perf_counter_ns around every call. Returns (steps done, calls made)."""
    pc = time.perf_counter_ns
    series = range(len(keys))
    deadline_ns = deadline * 1e9
    k = 0
    done = steps
    for i in range(steps):
        if not i & 15 and pc() > deadline_ns:
            done = i
            break
        v = i * 0.001
        if per_key:
            for j in series:
                key = keys[j]
                value = v + j
                t0 = pc()
                call(key, value, i)
                t1 = pc()
                durations[k] = t1 - t0
                k += 1
        else:
            values = {keys[j]: v + j for j in series}
            t0 = pc()
            call(values, i)
            t1 = pc()
            durations[k] = t1 - t0
            k += 1
    return done, k


def untimed_loop(
    call: Callable[..., Any], per_key: bool, steps: int, keys: list[str], deadline: float
) -> tuple[int, int]:
    """The same loop without the clock around each call (for RSS at large sizes)."""
    pc = time.perf_counter
    series = range(len(keys))
    done = steps
    k = 0
    for i in range(steps):
        if not i & 15 and pc() > deadline:
            done = i
            break
        v = i * 0.001
        if per_key:
            for j in series:
                call(keys[j], v + j, i)
            k += len(keys)
        else:
            call({keys[j]: v + j for j in series}, i)
            k += 1
    return done, k


def child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    out = ResultFile(spec["result_path"])
    adapter = VARIANTS[spec["variant"]](spec)
    steps, series = spec["steps"], spec["series"]
    keys = [f"m/k{j}" for j in range(series)]
    pc = time.perf_counter
    out.save(variant=adapter.name, stage="start", python=sys.version.split()[0], pid=os.getpid())

    rss_start = proc_status_kb("VmRSS")
    t0 = pc()
    call = adapter.start()  # imports the tracker and starts its run
    init_s = pc() - t0
    baseline_bytes = adapter.baseline_bytes()
    timed = spec["timed"]
    n_calls = steps * series if adapter.per_key else steps
    durations = array.array("q", bytes(8 * n_calls)) if timed else None
    gc.collect()
    rss_before = proc_status_kb("VmRSS")
    hwm_reset = reset_peak_rss()
    cap = spec.get("cap_s") or 0
    cpu0 = cpu_seconds()

    t0 = pc()
    deadline = t0 + cap if cap else float("inf")
    if timed:
        done, calls = timed_loop(call, adapter.per_key, steps, keys, deadline, durations)
    else:
        done, calls = untimed_loop(call, adapter.per_key, steps, keys, deadline)
    loop_s = pc() - t0
    rss_after_loop = proc_status_kb("VmRSS")
    points = done * series
    spec["steps_done"] = done
    out.save(
        stage="loop",
        steps=steps,
        series=series,
        steps_done=done,
        calls=calls,
        calls_per_step=series if adapter.per_key else 1,
        points=points,
        capped=done < steps,
        timed=timed,
        init_s=init_s,
        loop_s=loop_s,
        loop_us_per_point=loop_s / points * 1e6 if points else None,
        loop_full_s=(loop_s / points * steps * series) if points else None,
        rss_start_kb=rss_start,
        rss_before_kb=rss_before,
        rss_after_loop_kb=rss_after_loop,
        hwm_reset=hwm_reset,
        baseline_bytes=baseline_bytes,
    )

    # The finish call runs in a thread so a peer whose drain takes too long can be cut off with
    # the figures kept: the loop's call statistics are computed only after it (sorting a million
    # durations while an async tracker drains would flatter its finish time).
    extra: dict[str, Any] = {}
    error: list[str] = []

    def finish() -> None:
        try:
            extra.update(adapter.finish())
        except BaseException as exc:
            error.append(f"{type(exc).__name__}: {exc}")

    t0 = pc()
    worker = threading.Thread(target=finish, name="bench-finish", daemon=True)
    worker.start()
    worker.join(spec.get("finish_timeout_s") or None)
    finish_s = pc() - t0
    finished = not worker.is_alive()
    cpu_s = cpu_seconds() - cpu0
    rss_after = proc_status_kb("VmRSS")
    hwm = proc_status_kb("VmHWM")
    data_bytes = tree_bytes(adapter.data)
    stats = call_stats(durations, calls) if timed else {}
    out.save(
        stage="finish" if finished else "finish-timeout",
        finish_s=finish_s,
        finished=finished,
        finish_error=error[0] if error else None,
        cpu_s=cpu_s,
        rss_after_kb=rss_after,
        hwm_kb=hwm,
        rss_growth_mb=(max(hwm, rss_after) - rss_before) / 1024.0,
        rss_after_growth_mb=(rss_after - rss_before) / 1024.0,
        data_bytes=data_bytes,
        bytes_per_point=data_bytes / points if points else None,
        net_bytes_per_point=(data_bytes - baseline_bytes) / points
        if points and not adapter.name.startswith("despina")
        else None,
        versions=versions(list(adapter.packages)),
        **stats,
        **extra,
    )
    Path(spec["finished_marker"]).touch()  # the parent's tree-RSS sampler stops counting here
    if not finished:
        try:
            out.save(**adapter.progress())
        except Exception as exc:
            out.save(progress_error=f"{type(exc).__name__}: {exc}")
        os._exit(0)  # the finish thread is stuck in the tracker; the parent cleans up the process group
    if error:
        return 0
    del durations
    try:
        out.save(stage="done", **adapter.after_finish())
    except Exception as exc:
        out.save(stage="done", after_error=f"{type(exc).__name__}: {exc}")
    return 0


# ------------------------------------------------------------------------------------------------
# the parent


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (scans /proc; no children file on every kernel)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        parent_of[int(entry)] = ppid
    found, frontier = [pid], [pid]
    while frontier:
        nxt = [p for p, pp in parent_of.items() if pp in frontier]
        found.extend(nxt)
        frontier = nxt
    return found


def tree_rss_bytes(pid: int) -> int:
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


class TreeSampler(threading.Thread):
    """Peak RSS of a child's whole process tree (wandb-core, mlflow workers, ...), every `period` s."""

    def __init__(self, pid: int, period: float, marker: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.period, self.peak, self.marker = pid, period, 0, marker
        self.stop_event = threading.Event()

    def run(self) -> None:
        # Until the child has measured its finish: the read-back after it is not the tracker's cost.
        while not self.stop_event.is_set() and not self.marker.exists():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self.stop_event.wait(self.period)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_child(
    python: str, variant: str, spec: dict[str, Any], scratch: Path, timeout: float, sample_period: float
) -> dict[str, Any]:
    work = scratch / f"{variant}-{spec['repetition']}"
    data, home = work / "data", work / "home"
    data.mkdir(parents=True)
    home.mkdir()
    spec = dict(
        spec,
        variant=variant,
        data_dir=str(data),
        result_path=str(work / "result.json"),
        finished_marker=str(work / "finished"),
    )
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DESPINA_", "WANDB_", "NEPTUNE_", "MLFLOW_"))
    }
    env.update(
        HOME=str(home),
        DESPINA_HOME=str(data),
        WANDB_DIR=str(data),
        WANDB_SILENT="true",
        MLFLOW_DISABLE_TELEMETRY="true",  # no network here; keep the clients from trying
        DO_NOT_TRACK="1",
        AIM_UI_TELEMETRY_ENABLED="0",
        PYTHONDONTWRITEBYTECODE="1",
    )
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    with open(work / "child.log", "wb") as log:
        proc = subprocess.Popen(
            [python, str(HERE), "--child", str(spec_path)],
            cwd=data,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = TreeSampler(proc.pid, sample_period, work / "finished") if sample_period > 0 else None
        if sampler:
            sampler.start()
        killed = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
        kill_group(proc.pid)  # the child, and anything it left running (wandb-core, ...)
        proc.wait()
        if sampler:
            sampler.stop_event.set()
            sampler.join()
    wall_s = time.perf_counter() - t0
    result: dict[str, Any] = {}
    if Path(spec["result_path"]).exists():
        result = json.loads(Path(spec["result_path"]).read_text(encoding="utf-8"))
    result.update(
        variant=variant,
        repetition=spec["repetition"],
        returncode=proc.returncode,
        killed=killed,
        wall_s=wall_s,
        load_1min_before=load_before[0],
        load_before=load_before,
        load_after=os.getloadavg(),
        tree_peak_mb=(sampler.peak / 2**20) if sampler else None,
        data_bytes_after_exit=tree_bytes(data),
        python_path=python,
    )
    if variant.startswith("despina"):
        db = data / "despina.db"
        result["store_after_exit"] = {
            "db": db.stat().st_size if db.exists() else 0,
            "db_wal": (data / "despina.db-wal").stat().st_size if (data / "despina.db-wal").exists() else 0,
            "journal_dir": tree_bytes(data / "journal"),
        }
        # On-disk size of the store once SQLite has checkpointed: the child's exit closes it.
        disk = result["store_after_exit"]["db"]
    else:
        disk = result["data_bytes_after_exit"]
    points = result.get("points") or 0
    result["disk_bytes_per_point"] = disk / points if points else None
    if result.get("stage") != "done":
        tail = (work / "child.log").read_bytes()[-2000:].decode("utf-8", "replace")
        result["log_tail"] = tail
    return result


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def agg(rows: list[dict[str, Any]], key: str, digits: int = 1) -> str:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and r.get(key) is not None]
    if not values:
        return "—"
    mid = statistics.median(values)
    if len(values) == 1:
        return fmt(float(mid), digits)
    return f"{fmt(float(mid), digits)} [{fmt(float(min(values)), digits)}-{fmt(float(max(values)), digits)}]"


def med(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return float(statistics.median(values)) if values else None


def main_table(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    head = (
        "| variant | calls/step | steps done | call median µs | call p99 µs | loop µs/point | "
        "loop s (full workload) | finish s | B/point | RSS growth MB | tree peak MB | load (1 min) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for variant, rows in results.items():
        ok = [r for r in rows if "loop_s" in r]
        if not ok:
            why = ""
            if rows:
                tail = rows[0].get("log_tail", "").strip().splitlines()
                why = rows[0].get("finish_error") or (
                    tail[-1] if tail else f"exit code {rows[0].get('returncode')}"
                )
            lines.append(f"| {variant} | FAILED: {why[:150]} |")
            continue
        capped = any(r.get("capped") for r in ok)
        steps_done = "/".join(str(r.get("steps_done")) for r in ok)
        full = agg(ok, "loop_full_s") + (" (extrap.)" if capped else "")
        finish = agg(ok, "finish_s", 2)
        if any(not r.get("finished", True) for r in ok):
            stored = [r["sql_points"] / r["points"] for r in ok if r.get("sql_points") and r.get("points")]
            finish = f"> {fmt(med(ok, 'finish_s'), 0)} (cut off" + (
                f"; {100 * statistics.median(stored):.0f}% stored)" if stored else ")"
            )
        lines.append(
            "| "
            + " | ".join(
                [
                    variant,
                    str(ok[0].get("calls_per_step")),
                    steps_done + (" (capped)" if capped else ""),
                    agg(ok, "call_median_us", 2),
                    agg(ok, "call_p99_us", 1),
                    agg(ok, "loop_us_per_point", 2),
                    full,
                    finish,
                    agg(ok, "disk_bytes_per_point", 1),
                    agg(ok, "rss_growth_mb", 1),
                    agg(ok, "tree_peak_mb", 0),
                    agg(ok, "load_1min_before", 2),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def ratio_table(results: dict[str, list[dict[str, Any]]]) -> str:
    base = [r for r in results.get("despina", []) if "loop_s" in r]
    if not base:
        return "(no despina row: no ratios)"
    keys = [
        ("call_median_us", "call median"),
        ("median_per_point", "call median / point"),
        ("call_p99_us", "call p99"),
        ("loop_us_per_point", "loop µs/point"),
        ("finish_s", "finish s"),
        ("disk_bytes_per_point", "B/point"),
        ("rss_growth_mb", "RSS growth"),
    ]
    for rows in results.values():
        for r in rows:
            if r.get("call_median_us") is not None and r.get("calls_per_step"):
                per_call = r["series"] // r["calls_per_step"] if r.get("series") else 1
                r["median_per_point"] = r["call_median_us"] / per_call
    head = "| peer variant / despina | " + " | ".join(label for _, label in keys) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 1)]
    for variant, rows in results.items():
        ok = [r for r in rows if "loop_s" in r]
        if variant in ("floor", "despina", "despina-mem") or not ok:
            continue
        cells = []
        for key, _ in keys:
            peer, mine = med(ok, key), med(base, key)
            if peer is None or mine is None:
                cells.append("—")
            elif mine <= 0:
                cells.append(f"{fmt(peer, 2)} vs {fmt(mine, 2)}")
            else:
                ratio = peer / mine
                text = f"{ratio:,.1f}x" if ratio >= 1 else f"{ratio:.2g}x"
                if key == "finish_s" and any(not r.get("finished", True) for r in ok):
                    text = "> " + text
                cells.append(text)
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(results: dict[str, list[dict[str, Any]]], floor: list[dict[str, Any]]) -> str:
    rows = [r for r in results.get("despina", []) if "loop_s" in r]
    mem = [r for r in results.get("despina-mem", []) if "loop_s" in r]
    out = []

    def check(label: str, value: float | None, limit: float, unit: str) -> None:
        if value is None:
            out.append(f"- {label}: not measured")
        else:
            verdict = "meets" if value <= limit else "MISSES"
            out.append(f"- {label}: {value:.3g} {unit} (goal <= {limit:g} {unit}): {verdict}")

    if rows:
        check("call median", med(rows, "call_median_us"), 1, "µs")
        check("call p99", med(rows, "call_p99_us"), 5, "µs")
        check("finish (wait + stop after the loop)", med(rows, "finish_s"), 3, "s")
        check("store size (despina.db after exit)", med(rows, "disk_bytes_per_point"), 16, "B/point")
        for r in rows:
            a = r.get("store_after_stop", {})
            e = r.get("store_after_exit", {})
            out.append(
                f"  rep {r['repetition']}: points {r.get('points')}, read back {r.get('readback_points')} "
                f"(sql {r.get('sql_points')}, last values ok: {r.get('readback_last_ok')}); "
                f"wait {fmt(r.get('wait_s'), 2)} s + stop {fmt(r.get('stop_s'), 2)} s; "
                f"after stop(): despina.db {a.get('db')} B, -wal {a.get('db_wal')} B, "
                f"-shm {a.get('db_shm')} B, "
                f"journal {a.get('journal_dir')} B; after exit: despina.db {e.get('db')} B, "
                f"-wal {e.get('db_wal')} B, journal {e.get('journal_dir')} B"
                + (f"; readback error: {r['readback_error']}" if r.get("readback_error") else "")
            )
    if mem:
        points = mem[0].get("points")
        check(
            f"RSS growth logging {points:,} points (peak VmHWM - VmRSS before the loop)",
            med(mem, "rss_growth_mb"),
            100,
            "MB",
        )
        for r in mem:
            out.append(
                f"  rep {r['repetition']}: RSS before {r.get('rss_before_kb', 0) / 1024:.0f} MB, after loop "
                f"{r.get('rss_after_loop_kb', 0) / 1024:.0f} MB, "
                f"after stop {r.get('rss_after_kb', 0) / 1024:.0f} MB, "
                f"peak {r.get('hwm_kb', 0) / 1024:.0f} MB "
                f"(peak reset before the loop: {r.get('hwm_reset')}); "
                f"loop {fmt(r.get('loop_us_per_point'), 2)} µs/point untimed; "
                f"finish {fmt(r.get('finish_s'), 2)} s; "
                f"read back {r.get('readback_points')}"
            )
    if floor:
        out.append(
            "- harness floor (empty lambda, timed the same way): "
            f"median {agg(floor, 'call_median_us', 2)} µs, "
            f"p99 {agg(floor, 'call_p99_us', 2)} µs, loop {agg(floor, 'loop_us_per_point', 2)} µs/point"
        )
    return "\n".join(out)


def parse_peer_pythons(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"--peer-python wants NAME=PATH, not {item!r}")
        found[name.strip()] = path.strip()
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=100_000, help="steps per series (default 100000)")
    p.add_argument("--series", type=int, default=10, help="float series (default 10)")
    p.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma list of peers to run when their venv exists (default {','.join(PEERS)}; 'none')",
    )
    p.add_argument(
        "--peer-python",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="python of a peer venv (default /tmp/peers/NAME/bin/python when it exists)",
    )
    p.add_argument(
        "--peer-seconds", type=float, default=20.0, help="cap on a peer's loop, in seconds (default 20)"
    )
    p.add_argument(
        "--peer-finish-timeout",
        type=float,
        default=300.0,
        help="seconds a peer's finish call may take before the child is cut off (default 300)",
    )
    p.add_argument(
        "--mem-steps",
        type=int,
        default=1_000_000,
        help="steps of the despina-mem variant (x series points; default 1000000 = 10M points; 0 skips)",
    )
    p.add_argument(
        "--despina-finish",
        choices=("wait+stop", "stop"),
        default="wait+stop",
        help="after the loop: run.wait() then run.stop() (default), or stop() alone",
    )
    p.add_argument("--variants", default="", help="comma list: only these variants (see --list)")
    p.add_argument("--list", action="store_true", help="list the variants and exit")
    p.add_argument("--repeat", type=int, default=1, help="fresh processes per variant (default 1)")
    p.add_argument("--out", default="", help="append one JSON line per measurement to this file")
    p.add_argument(
        "--scratch", default="", help="folder for the children's data (default: a new temp folder)"
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument(
        "--sample-period",
        type=float,
        default=0.5,
        help="seconds between samples of the child tree's RSS (0: off)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.list:
        for name, cls in VARIANTS.items():
            print(f"{name:18} {cls.peer or 'despina venv':10} {cls.description}")
        return 0

    peer_python = parse_peer_pythons(args.peer_python)
    wanted_peers = [] if args.peers.strip() in ("", "none") else [x.strip() for x in args.peers.split(",")]
    for name in wanted_peers:
        if name not in PEERS:
            raise SystemExit(f"unknown peer {name!r}; peers: {', '.join(PEERS)}")
        if name not in peer_python and (PEER_VENVS / name / "bin" / "python").exists():
            peer_python[name] = str(PEER_VENVS / name / "bin" / "python")
    only = {v.strip() for v in args.variants.split(",") if v.strip()}
    for name in only - set(VARIANTS):
        raise SystemExit(f"unknown variant {name!r}; see --list")

    plan: list[tuple[str, str]] = []  # (variant, python)
    skipped = []
    for name, cls in VARIANTS.items():
        if only and name not in only:
            continue
        if name == "despina-mem" and args.mem_steps <= 0:
            continue
        if not cls.peer:
            plan.append((name, sys.executable))
        elif cls.peer in wanted_peers and cls.peer in peer_python:
            plan.append((name, peer_python[cls.peer]))
        elif cls.peer in wanted_peers:
            skipped.append(f"{name} (no venv for {cls.peer}: pass --peer-python {cls.peer}=PATH)")

    scratch = Path(args.scratch) if args.scratch else Path(tempfile.mkdtemp(prefix="despina-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(
        f"# despina logging benchmark: {args.series} series x {args.steps:,} steps = "
        f"{args.series * args.steps:,} points per run; repeat {args.repeat}; "
        f"peers capped at {args.peer_seconds:g} s of loop "
        f"(finish cut off after {args.peer_finish_timeout:g} s)"
    )
    print(
        f"# python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}; "
        f"scratch {scratch}"
    )
    if skipped:
        print("# skipped: " + "; ".join(skipped))
    sys.stdout.flush()

    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in plan}
    try:
        for rep in range(args.repeat):
            for name, python in plan:
                cls = VARIANTS[name]
                is_peer = bool(cls.peer)
                steps = args.mem_steps if name == "despina-mem" else args.steps
                spec = {
                    "repetition": rep,
                    "steps": steps,
                    "series": args.series,
                    "timed": name != "despina-mem",
                    "cap_s": args.peer_seconds if is_peer else 0,
                    "finish_timeout_s": args.peer_finish_timeout if is_peer else 600.0,
                    "despina_finish": args.despina_finish,
                }
                timeout = (args.peer_seconds + args.peer_finish_timeout + 180) if is_peer else 1800
                print(f"# rep {rep + 1}/{args.repeat}: {name} ...", end=" ", flush=True)
                result = run_child(python, name, spec, scratch, timeout, args.sample_period)
                result["config"] = {k: v for k, v in spec.items()}
                results[name].append(result)
                status = result.get("stage")
                print(
                    f"{status}; loop {fmt(result.get('loop_s'), 2)} s, "
                    f"finish {fmt(result.get('finish_s'), 2)} s, "
                    f"wall {result['wall_s']:.1f} s"
                    + (
                        f"; error: {result.get('finish_error') or result.get('after_error')}"
                        if result.get("finish_error") or result.get("after_error")
                        else ""
                    ),
                    flush=True,
                )
                if status != "done" and result.get("log_tail"):
                    print("#   child log tail: " + result["log_tail"].strip().replace("\n", "\n#   ")[-800:])
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(result) + "\n")
                if not args.keep:
                    shutil.rmtree(scratch / f"{name}-{rep}" / "data", ignore_errors=True)
    finally:
        if not args.keep and not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(main_table(results, args))
    print()
    print(
        "Per-call times: perf_counter_ns around each call through one lambda (keys precomputed); "
        "loop µs/point = loop wall time / points (includes the harness); finish = the tracker's "
        "finish call after the loop (despina: run.wait() then run.stop()). B/point: despina = despina.db "
        "after the child exited (SQLite checkpointed), peers = their data folder after exit, "
        "over points logged. "
        "RSS growth = main process peak (VmHWM, reset before the loop) - VmRSS before the loop; tree peak = "
        "sampled RSS of the child's whole process tree."
    )
    if any(r.get("capped") for rows in results.values() for r in rows):
        print(
            f"Capped rows: the peer's loop stopped after {args.peer_seconds:g} s; "
            "'loop s (full workload)' scales "
            "its measured per-point time to all points (extrap.); finish s and B/point are for the points "
            "actually logged, not scaled."
        )
    stored = [
        f"{v} rep {r['repetition']}: {r['sql_points']:,} of {r.get('points', 0):,}"
        + (
            f" ({r['sql_points'] / r['finish_s']:,.0f} points/s stored during the cut-off finish)"
            if not r.get("finished", True) and r.get("finish_s")
            else ""
        )
        for v, rows in results.items()
        for r in rows
        if not v.startswith("despina") and r.get("sql_points") is not None
    ]
    if stored:
        print("Points in the peer's database after its finish call (or when cut off): " + "; ".join(stored))
    print()
    print("Despina against the goals:")
    print(goals(results, [r for r in results.get("floor", []) if "loop_s" in r]))
    if any(VARIANTS[v].peer for v in results):
        print()
        print("Ratios peer / despina (median over repetitions; > 1 means despina is better):")
        print(ratio_table(results))
        vers: dict[str, str] = {}
        for rows in results.values():
            for r in rows:
                vers.update(r.get("versions") or {})
        print()
        print("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(vers.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
