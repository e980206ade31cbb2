#!/usr/bin/env python3
"""Server ingest benchmark: offline runs sent over HTTP by concurrent `despina sync` processes.

Workload (issue 4, "Speed"): `--runs` offline runs of `--points` float points each (one series
`train/loss`, steps 0..points-1) are logged first (not timed), then sent at once by one `despina sync`
process per run to a `despina server` on SQLite or PostgreSQL. Figures per configuration:

- points/s: all points / wall time from starting the syncs to the last one exiting (process start and
  imports included), checked by reading every run's series back from the server;
- probe latency: a separate process posts 1,000-point batches through `HttpBackend.ingest` every
  `--probe-interval` seconds, before (idle) and while the syncs run (under load): p50/p99/max;
- server memory: RSS of the server's process tree (all workers) when the syncs are done, and its peak
  sampled every 0.25 s; CPU seconds used by the server tree, the syncs and PostgreSQL meanwhile.

The same work goes to an MLflow tracking server (`mlflow server`, its own venv, a separate database of
the same kind): one client process per run calls `MlflowClient.log_batch` with 1,000 metrics per call.
MLflow is slow, so each client logs `--mlflow-points` points and the rate is extrapolated to the full
workload (the output says so). Its clients import MLflow and create their run before a start signal;
only the logging is timed (Despina's time includes the start of the sync processes).

    .venv/bin/python bench/bench_server.py                       # full size, SQLite + PostgreSQL
    .venv/bin/python bench/bench_server.py --points 100000 --configs pg-w1 --mlflow-points 5000

`--profile` records the server (and one sync process) with py-spy (`--py-spy PATH`) and prints where
the time goes. This file is also every child (`--child log|probe|mlflow SPEC.json`); it imports only
the standard library at module level, so MLflow's venv can run it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
PROJECT = "bench/ingest"
SERIES = "train/loss"
BATCH = 1000  # points per probe request, and MLflow's limit of metrics per log_batch
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
CONFIGS = {  # name: (database kind, server worker processes)
    "sqlite-w1": ("sqlite", 1),
    "sqlite-w4": ("sqlite", 4),
    "pg-w1": ("postgres", 1),
    "pg-w4": ("postgres", 4),
}


# ------------------------------------------------------------------------------------------------
# small helpers


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[rank]


def latency_stats(latencies_s: list[float]) -> dict[str, float]:
    """Count, p50, p99 and max of request latencies, in ms."""
    values = sorted(x * 1000.0 for x in latencies_s)
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "max_ms": values[-1] if values else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Wait until `url` answers 200, failing early if the server process exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before {url} answered")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1.0) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (from /proc; processes that exit meanwhile are skipped)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_rss_mb(root: int) -> float:
    """Sum of the resident set sizes of a process tree, in MB (shared pages counted in every process)."""
    total = 0
    for pid in process_tree(root):
        with (
            contextlib.suppress(OSError, IndexError, ValueError),
            open(f"/proc/{pid}/statm", encoding="ascii") as fh,
        ):
            total += int(fh.read().split()[1]) * PAGE
    return total / 1e6


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process tree: every live process's own time plus that of its reaped children."""
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


class RssSampler:
    """Samples the RSS of a process tree on a thread; `peak_mb` is the largest sample."""

    def __init__(self, root: int, period: float = 0.25) -> None:
        self.root, self.period = root, period
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.root))
            self._stop.wait(self.period)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def stop_group(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the process group started with `start_new_session`, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def load_average() -> float:
    return os.getloadavg()[0]


# ------------------------------------------------------------------------------------------------
# children (run as `python bench_server.py --child KIND SPEC.json`)


def child_log(spec: dict[str, Any]) -> None:
    """Log one offline run of `points` float points into DESPINA_HOME (the journal only)."""
    import despina

    run = despina.init_run(
        project=spec["project"],
        mode="offline",
        name=spec["name"],
        source_files=[],
        git_ref=False,
        capture_stdout=False,
        capture_stderr=False,
        capture_hardware_metrics=False,
    )
    series = run[SERIES]
    for step in range(spec["points"]):
        series.append(1.0 / (step + 1.0))
    run.stop()


def child_probe(spec: dict[str, Any]) -> None:
    """Post 1,000-point batches through HttpBackend.ingest until the stop file appears; write latencies."""
    import numpy as np

    from despina.backends.http import HttpBackend
    from despina.client import field_types as ft
    from despina.client.operations import AppendPoints
    from despina.store.base import RunCreate

    backend = HttpBackend(spec["url"], spec["token"])
    info, _ = backend.create_run(RunCreate(project=spec["project"], owner="bench", name="probe"))
    writer = "probe-" + str(os.getpid())
    staged = Path(spec["scratch"])
    stop_file = Path(spec["stop_file"])
    interval = float(spec["interval"])
    records: list[tuple[float, float]] = []  # (wall-clock start, seconds)
    seq = 0
    next_start = time.monotonic()
    while not stop_file.exists():
        steps = np.arange(seq * BATCH, (seq + 1) * BATCH, dtype=np.float64)
        op = AppendPoints(SERIES, ft.FLOAT_SERIES, steps, np.full(BATCH, time.time()), np.sin(steps))
        began_wall, began = time.time(), time.perf_counter()
        backend.ingest(spec["project"], info.id, writer, [(seq, op)], seq, staged)
        records.append((began_wall, time.perf_counter() - began))
        seq += 1
        next_start += interval
        time.sleep(max(0.0, next_start - time.monotonic()))
    Path(spec["result"]).write_text(json.dumps({"run_id": info.id, "records": records}))
    backend.close()


def child_mlflow(spec: dict[str, Any]) -> None:
    """Create an MLflow run, wait for the start file, log `points` points with log_batch x 1,000."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=spec["url"])
    run = client.create_run(spec["experiment_id"], run_name=spec["name"])
    run_id = run.info.run_id
    start_file = Path(spec["start_file"])
    Path(spec["ready_file"]).touch()
    while not start_file.exists():
        time.sleep(0.01)
    latencies: list[float] = []
    began = time.time()
    for first in range(0, spec["points"], BATCH):
        now = int(time.time() * 1000)
        metrics = [
            Metric(SERIES, 1.0 / (step + 1.0), now, step)
            for step in range(first, min(first + BATCH, spec["points"]))
        ]
        t0 = time.perf_counter()
        client.log_batch(run_id, metrics=metrics)
        latencies.append(time.perf_counter() - t0)
    ended = time.time()
    client.set_terminated(run_id)
    Path(spec["result"]).write_text(
        json.dumps({"run_id": run_id, "began": began, "ended": ended, "latencies": latencies})
    )


def run_child(kind: str, spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    {"log": child_log, "probe": child_probe, "mlflow": child_mlflow}[kind](spec)


def spawn_child(
    python: str, kind: str, spec: dict[str, Any], scratch: Path, **kw: Any
) -> subprocess.Popen[bytes]:
    path = scratch / f"spec-{kind}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec))
    return subprocess.Popen([python, str(HERE), "--child", kind, str(path)], **kw)


# ------------------------------------------------------------------------------------------------
# the parent: databases, servers, measurements


@dataclass
class Databases:
    """Where each configuration's databases live: SQLite files in the scratch folder, or one
    throwaway PostgreSQL cluster (tests/integration/postgres_server.py)."""

    scratch: Path
    postgres: Any = None

    def url(self, kind: str, name: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{self.scratch / (name + '.db')}"
        if self.postgres is None:
            sys.path.insert(0, str(REPO / "tests" / "integration"))
            from postgres_server import PostgresServer

            self.postgres = PostgresServer.start()
        url: str = self.postgres.create_database(name)
        return url

    def postgres_cpu_s(self) -> float:
        return 0.0 if self.postgres is None else tree_cpu_s(self.postgres.process.pid)

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()


@dataclass
class Result:
    """One configuration's figures (one line of `--out`)."""

    tracker: str
    config: str
    database: str
    workers: int
    clients: int
    points_per_client: int
    points_sent: int = 0
    points_verified: int = 0
    wall_s: float = 0.0
    points_per_s: float = 0.0
    extrapolated: bool = False
    full_workload_s: float = 0.0
    idle: dict[str, float] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    cpu_server_s: float = 0.0
    cpu_clients_s: float = 0.0
    cpu_postgres_s: float = 0.0
    load_avg: float = 0.0
    sync_start_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def log_offline_runs(template: Path, runs: int, points: int, scratch: Path) -> None:
    """Log the runs once (not timed); every configuration gets a copy of these journals."""
    for i in range(runs):
        home = template / f"run{i}"
        env = {**os.environ, "DESPINA_HOME": str(home)}
        for name in ("DESPINA_URL", "DESPINA_API_TOKEN"):
            env.pop(name, None)
        t0 = time.perf_counter()
        child = spawn_child(
            sys.executable,
            "log",
            {"project": PROJECT, "name": f"ingest-{i}", "points": points},
            scratch,
            env=env,
        )
        if child.wait() != 0:
            raise RuntimeError(f"logging offline run {i} failed ({child.returncode})")
        print(f"  logged run {i}: {points:,} points in {time.perf_counter() - t0:.1f} s", flush=True)


def make_token(db_url: str, blobs: Path) -> str:
    """Create the schema, an admin user and an API token in the server's database."""
    from despina.server.app import open_state
    from despina.server.settings import ServerSettings

    state = open_state(ServerSettings(db_url=db_url, blobs_url=str(blobs), upgrade_database=True))
    try:
        state.access.create_user("bench", None, admin=True)
        token, _ = state.access.create_token("bench", "bench", None)
    finally:
        state.close()
    return str(token)


NODELAY_PATCH = """\
# Written by bench_server.py --server-nodelay, loaded by the server's processes only (PYTHONPATH).
# asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and uvicorn's listener for
# --workers N has proto 0 (uvicorn issue 3149), so its keep-alive answers wait for delayed ACKs.
import socket
import asyncio.base_events as _base_events


def _set_nodelay(sock):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_base_events._set_nodelay = _set_nodelay
"""


def start_despina(
    db_url: str, blobs: Path, workers: int, log: Path, nodelay: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """`despina server` on a free port; `nodelay` loads NODELAY_PATCH into its processes."""
    port = free_port()
    despina = str(Path(sys.executable).parent / "despina")
    env = dict(os.environ)
    if nodelay:
        patch = log.parent / "nodelay-patch"
        patch.mkdir(exist_ok=True)
        (patch / "sitecustomize.py").write_text(NODELAY_PATCH)
        env["PYTHONPATH"] = str(patch)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                despina,
                "server",
                "--db",
                db_url,
                "--blobs",
                str(blobs),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--insecure-cookies",
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", process)
    return process, url


def settle(seconds: float) -> None:
    """Let start-up work (imports, worker forks, migrations) finish before measuring."""
    time.sleep(seconds)


def verify_despina(url: str, token: str, expected: int) -> tuple[int, list[str]]:
    """Read every synced run's series back from the server: total points, and problems found."""
    from despina.backends.http import HttpBackend

    backend = HttpBackend(url, token, timeout=600)
    problems: list[str] = []
    total = 0
    try:
        rows = backend.runs_table(PROJECT)
        for row in rows:
            name = row["sys/name"].value
            if name == "probe":
                continue
            run_id = str(row["sys/id"].value)
            try:
                data = backend.series(PROJECT, run_id, SERIES)
            except Exception as exc:
                problems.append(
                    f"{run_id}: cannot read {SERIES} back ({type(exc).__name__}: {exc}); row {row}"
                )
                continue
            total += len(data.steps)
            if len(data.steps) != expected or (expected and data.steps[-1] != expected - 1):
                problems.append(f"{run_id}: {len(data.steps):,} points, last step {data.steps[-1:]}")
    finally:
        backend.close()
    return total, problems


def py_spy_record(py_spy: str, pid: int, out: Path, seconds: int) -> subprocess.Popen[bytes]:
    """py-spy record (collapsed stacks, idle frames dropped) of a process and its children."""
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(seconds),
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


IDLE_LEAVES = ("Condition.wait", "EpollSelector.select", "Event.wait", "select ", "poll ", "Queue.get")
STAGES = (  # inclusive share of busy samples for these functions (name before " (", file)
    (
        "HTTP in the server (uvicorn h11 + reading the body)",
        ("h11_impl.py", "_receivebuffer.py", "read_body"),
    ),
    ("msgpack.unpackb + decode_batch", ("decode_batch", "unpackb")),
    ("auth (token check)", ("auth/",)),
    ("SqlStore.ingest (all of it)", ("SqlStore.ingest",)),
    ("  encode_chunk (zlib of steps/timestamps)", ("encode_chunk",)),
    ("  _update_summary", ("_update_summary",)),
    ("  SQL: SQLAlchemy execute (compile, bind, driver)", ("Connection.execute (",)),
    ("  SQL: commit", ("do_commit",)),
    ("journal: pending_records", ("pending_records",)),
    ("journal: JournalReader.read", ("JournalReader.read",)),
    ("  crc checks (_float_run)", ("_float_run",)),
    ("HttpBackend.ingest (encode + send + wait for the answer)", ("HttpBackend.ingest",)),
    ("imports (process start)", ("_find_and_load",)),
)


def summarize_profile(path: Path, title: str, top: int = 12) -> list[str]:
    """Where the busy samples of a py-spy raw profile went: leaf functions (self time), and the share
    of a few stages anywhere on the stack. Samples of threads waiting (a thread pool's idle workers,
    the event loop's select) are dropped: py-spy counts them as busy in this container."""
    if not path.exists():
        return [f"{title}: no profile ({path} missing)"]
    own: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        leaf = frames[-1]
        own[leaf.split(" (")[0] + " (" + leaf.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"] += count
        for stage, needles in STAGES:
            if any(needle in frame for frame in frames for needle in needles):
                stages[stage] += count
    if total == 0:
        return [f"{title}: no busy samples"]
    lines = [f"{title}: {total} busy samples ({idle} idle dropped)"]
    lines.append("  stages (share of busy samples, anywhere on the stack):")
    lines += [f"    {100.0 * stages[name] / total:5.1f}%  {name}" for name, _ in STAGES if stages[name]]
    lines.append("  leaf functions (self):")
    lines += [f"    {100.0 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    return lines


def run_despina(
    args: argparse.Namespace, config: str, dbs: Databases, template: Path, scratch: Path
) -> Result:
    kind, workers = CONFIGS[config]
    print(f"\n== despina {config}: {args.runs} x {args.points:,} points, {workers} worker(s)", flush=True)
    work = scratch / f"despina-{config}"
    work.mkdir()
    db_url = dbs.url(kind, f"despina_{config.replace('-', '_')}")
    blobs = work / "blobs"
    token = make_token(db_url, blobs)
    server, url = start_despina(db_url, blobs, workers, work / "server.log", args.server_nodelay)
    result = Result("despina", config, kind, workers, args.runs, args.points)
    if args.server_nodelay:
        result.notes.append("server patched: TCP_NODELAY on every connection (--server-nodelay)")
        result.tracker = "despina+nodelay"
    try:
        settle(args.settle)
        homes = []
        for i in range(args.runs):
            home = work / f"run{i}"
            shutil.copytree(template / f"run{i}", home)
            homes.append(home)
        env = {**os.environ, "DESPINA_URL": url, "DESPINA_API_TOKEN": token}
        # The start-up cost of one `despina sync` (imports, nothing to send), for the reader's scale.
        empty = work / "empty-home"
        empty.mkdir()
        t0 = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "despina"), "sync", "--home", str(empty)],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        result.sync_start_s = time.perf_counter() - t0
        stop_file = work / "probe.stop"
        probe_result = work / "probe.json"
        probe = spawn_child(
            sys.executable,
            "probe",
            {
                "url": url,
                "token": token,
                "project": PROJECT,
                "scratch": str(work),
                "stop_file": str(stop_file),
                "result": str(probe_result),
                "interval": args.probe_interval,
            },
            scratch,
        )
        time.sleep(args.probe_idle)  # idle baseline of the probe (it imports first: ~1 s)
        result.load_avg = load_average()
        profilers: list[subprocess.Popen[bytes]] = []
        cpu_server0, cpu_pg0 = tree_cpu_s(server.pid), dbs.postgres_cpu_s()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        despina_cli = str(Path(sys.executable).parent / "despina")
        syncs: list[subprocess.Popen[bytes]] = []
        with RssSampler(server.pid) as sampler:
            load_began = time.time()
            t0 = time.perf_counter()
            for i, home in enumerate(homes):
                command = [despina_cli, "sync", "--home", str(home)]
                if args.profile and i == 0:
                    command = [args.py_spy, "record", "--format", "raw", "--rate", "200", "--nonblocking"]
                    command += [
                        "--output",
                        str(work / "sync.raw"),
                        "--",
                        despina_cli,
                        "sync",
                        "--home",
                        str(home),
                    ]
                syncs.append(
                    subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                )
            if args.profile:
                profilers.append(
                    py_spy_record(args.py_spy, server.pid, work / "server.raw", args.profile_seconds)
                )
            failures = []
            for i, sync in enumerate(syncs):
                _, err = sync.communicate()
                if sync.returncode != 0:
                    failures.append(
                        f"sync {i} exited {sync.returncode}: {err.decode(errors='replace')[-500:]}"
                    )
            result.wall_s = time.perf_counter() - t0
            load_ended = time.time()
            result.rss_end_mb = tree_rss_mb(server.pid)
        result.rss_peak_mb = max(sampler.peak_mb, result.rss_end_mb)
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        result.cpu_clients_s = (children1.ru_utime + children1.ru_stime) - (
            children0.ru_utime + children0.ru_stime
        )
        result.cpu_server_s = tree_cpu_s(server.pid) - cpu_server0
        result.cpu_postgres_s = dbs.postgres_cpu_s() - cpu_pg0
        stop_file.touch()
        probe.wait(120)
        for profiler in profilers:
            profiler.wait(args.profile_seconds + 60)
        result.notes.extend(failures)
        records = json.loads(probe_result.read_text())["records"] if probe_result.exists() else []
        result.idle = latency_stats([d for began, d in records if began < load_began])
        result.load = latency_stats([d for began, d in records if load_began <= began < load_ended])
        result.points_sent = args.runs * args.points
        result.points_verified, problems = verify_despina(url, token, args.points)
        result.notes.extend(problems)
        result.points_per_s = result.points_verified / max(result.wall_s, 1e-9)
        if args.profile:
            for name in ("server", "sync"):
                lines = summarize_profile(work / f"{name}.raw", f"py-spy, {name} ({config})")
                print("\n".join(lines), flush=True)
                result.notes.append("\n".join(lines))
    finally:
        stop_group(server)
    print(format_result(result), flush=True)
    return result


def start_mlflow(
    args: argparse.Namespace, db_url: str, workers: int, work: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env["DO_NOT_TRACK"] = "true"
    with open(work / "server.log", "ab") as out:
        process = subprocess.Popen(
            [
                args.mlflow,
                "server",
                "--backend-store-uri",
                db_url,
                "--default-artifact-root",
                str(work / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", process, timeout=300)
    return process, url


def mlflow_rows(db_url: str, run_ids: list[str]) -> int:
    """Metric rows of the given runs in MLflow's database (the points it stored)."""
    marks = ",".join("?" for _ in run_ids)
    query = f"SELECT count(*) FROM metrics WHERE run_uuid IN ({marks})"
    if db_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(db_url[len("sqlite:///") :])) as conn:
            return int(conn.execute(query, run_ids).fetchone()[0])
    import psycopg

    dsn = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.replace("?", "%s"), run_ids).fetchone()
        return int(row[0]) if row else 0


def run_mlflow(args: argparse.Namespace, config: str, dbs: Databases, scratch: Path) -> Result:
    kind, workers = CONFIGS[config]
    points = args.mlflow_points
    print(f"\n== mlflow {config}: {args.runs} clients x {points:,} points, {workers} worker(s)", flush=True)
    work = scratch / f"mlflow-{config}"
    work.mkdir()
    db_url = dbs.url(kind, f"mlflow_{config.replace('-', '_')}")
    server, url = start_mlflow(args, db_url, workers, work)
    result = Result("mlflow", config, kind, workers, args.runs, points)
    result.extrapolated = points < args.points
    try:
        settle(args.settle)
        experiment_id = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{url}/api/2.0/mlflow/experiments/create",
                    data=json.dumps({"name": "bench-ingest"}).encode(),
                    headers={"Content-Type": "application/json"},
                ),
                timeout=60,
            ).read()
        )["experiment_id"]
        start_file = work / "start"
        clients = []
        for i in range(args.runs):
            spec = {
                "url": url,
                "experiment_id": experiment_id,
                "name": f"ingest-{i}",
                "points": points,
                "start_file": str(start_file),
                "ready_file": str(work / f"ready{i}"),
                "result": str(work / f"client{i}.json"),
            }
            env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
            clients.append(
                spawn_child(args.mlflow_python, "mlflow", spec, scratch, env=env, stdout=subprocess.DEVNULL)
            )
        deadline = time.monotonic() + 300
        while not all((work / f"ready{i}").exists() for i in range(args.runs)):
            if any(c.poll() not in (None, 0) for c in clients) or time.monotonic() > deadline:
                raise RuntimeError("an MLflow client failed before it was ready")
            time.sleep(0.05)
        settle(1.0)
        result.load_avg = load_average()
        cpu_server0, cpu_pg0 = tree_cpu_s(server.pid), dbs.postgres_cpu_s()
        cpu_clients0 = sum(tree_cpu_s(c.pid) for c in clients)
        with RssSampler(server.pid) as sampler:
            start_file.touch()
            cpu_clients = cpu_clients0
            while any(c.poll() is None for c in clients):
                cpu_clients = max(cpu_clients, sum(tree_cpu_s(c.pid) for c in clients if c.poll() is None))
                time.sleep(0.25)
            result.rss_end_mb = tree_rss_mb(server.pid)
        result.rss_peak_mb = max(sampler.peak_mb, result.rss_end_mb)
        result.cpu_server_s = tree_cpu_s(server.pid) - cpu_server0
        result.cpu_postgres_s = dbs.postgres_cpu_s() - cpu_pg0
        result.cpu_clients_s = cpu_clients - cpu_clients0  # sampled: a lower bound
        outcomes = []
        for i, client in enumerate(clients):
            if client.returncode != 0:
                result.notes.append(f"client {i} exited {client.returncode}")
                continue
            outcomes.append(json.loads((work / f"client{i}.json").read_text()))
        began = min(o["began"] for o in outcomes)
        ended = max(o["ended"] for o in outcomes)
        result.wall_s = ended - began
        result.load = latency_stats([x for o in outcomes for x in o["latencies"]])
        result.points_sent = args.runs * points
        result.points_verified = mlflow_rows(db_url, [o["run_id"] for o in outcomes])
        result.points_per_s = result.points_verified / result.wall_s
        result.full_workload_s = args.runs * args.points / result.points_per_s
    finally:
        stop_group(server)
    print(format_result(result), flush=True)
    return result


# ------------------------------------------------------------------------------------------------
# --breakdown: the stages of one run's ingest, timed one by one in this process (no HTTP, no load)


def timed(work: Any, repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` calls of `work()` (seconds), and its last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - t0)
    return best, result


def breakdown(args: argparse.Namespace, dbs: Databases, template: Path, scratch: Path) -> list[str]:
    """Time each stage a `despina sync` of one run goes through, per million points: the client's
    journal scans and reads, encoding, the server's decoding and validation, and the store's ingest
    into SQLite and PostgreSQL (fresh run each), then one batch over HTTP on an idle server."""
    import msgpack

    from despina.backends.http import HttpBackend
    from despina.client.codec import decode_batch, encode_batch
    from despina.client.journal import JournalReader, Position, list_journals, pending_records
    from despina.client.sender import BATCH_RECORDS
    from despina.server.app import open_state
    from despina.server.routers.ingest import validate_operations
    from despina.server.settings import Limits, ServerSettings
    from despina.store.base import RunCreate

    folder = list_journals(template / "run0")[0]
    per_m = 1e6 / args.points
    rows: list[tuple[str, float]] = []

    def add(name: str, seconds: float) -> None:
        rows.append((name, seconds * per_m))

    t, count = timed(lambda: pending_records(folder), 3)
    add(f"client: pending_records (a full scan; `despina sync` does it twice), {count:,} records", t)

    def read_all(verify: bool) -> list[list[tuple[int, Any]]]:
        reader = JournalReader(folder)
        position, batches = Position(), []
        while True:
            result = reader.read(position, BATCH_RECORDS, verify=verify)
            if result.records == 0:
                break
            batches.append(result.items)
            position = result.end
        reader.close()
        return batches

    t, batches = timed(lambda: read_all(True), 3)
    add(f"client: JournalReader.read, crc checked (as `despina sync`), {len(batches)} batches", t)
    t, _ = timed(lambda: read_all(False), 3)
    add("client: JournalReader.read, crc not checked (a live writer's sender)", t)
    last = [0]

    def encode() -> list[bytes]:
        bodies = []
        for items in batches:
            last_seq = (
                max(seq + (len(op.seqs) if getattr(op, "seqs", None) is not None else 1) for seq, op in items)
                - 1
            )
            last[0] = last_seq
            envelope = {"writer_id": "bench", "last_seq": last_seq, "batch": encode_batch(list(items))}
            bodies.append(msgpack.packb(envelope, use_bin_type=True))
        return bodies

    t, bodies = timed(encode, 3)
    add(f"client: encode_batch + msgpack.packb ({sum(map(len, bodies)) / args.points:.1f} bytes/point)", t)

    def decode() -> list[list[tuple[int, Any]]]:
        return [decode_batch(msgpack.unpackb(body, raw=False)["batch"]) for body in bodies]

    t, decoded = timed(decode, 3)
    add("server: msgpack.unpackb + decode_batch", t)
    t, _ = timed(lambda: [validate_operations(items, Limits()) for items in decoded], 3)
    add("server: validate_operations", t)
    for kind in ("sqlite", "postgres"):
        state = open_state(
            ServerSettings(
                db_url=dbs.url(kind, f"breakdown_{kind}"),
                blobs_url=str(scratch / "bd-blobs"),
                upgrade_database=True,
            )
        )
        try:
            best = math.inf
            for attempt in range(2):
                info, _ = state.store.create_run(
                    RunCreate(project=PROJECT, owner="bench", name=f"bd{attempt}")
                )
                t0 = time.perf_counter()
                for body, items in zip(bodies, decoded, strict=True):
                    last_seq = msgpack.unpackb(body, raw=False)["last_seq"]
                    state.store.ingest(PROJECT, info.id, "bench", items, last_seq)
                best = min(best, time.perf_counter() - t0)
            add(f"server: SqlStore.ingest on {kind} ({len(bodies)} batches, fresh run)", best)
        finally:
            state.close()
    # One run's batches over HTTP to an idle one-worker server on SQLite: the rest is HTTP and the app.
    db_url = dbs.url("sqlite", "breakdown_http")
    token = make_token(db_url, scratch / "bd-http-blobs")
    server, url = start_despina(db_url, scratch / "bd-http-blobs", 1, scratch / "bd-server.log")
    try:
        settle(args.settle)
        backend = HttpBackend(url, token)
        info, _ = backend.create_run(RunCreate(project=PROJECT, owner="bench", name="bd-http"))
        t0 = time.perf_counter()
        for body, items in zip(bodies, decoded, strict=True):
            last_seq = msgpack.unpackb(body, raw=False)["last_seq"]
            backend.ingest(PROJECT, info.id, "bench", items, last_seq, scratch)
        add(
            "HTTP: HttpBackend.ingest of every batch, idle 1-worker server on sqlite (end to end)",
            time.perf_counter() - t0,
        )
        backend.close()
    finally:
        stop_group(server)
    t, _ = timed(
        lambda: subprocess.run(
            [str(Path(sys.executable).parent / "despina"), "sync", "--home", str(scratch / "no-such-home")],
            stdout=subprocess.DEVNULL,
            check=True,
        ),
        3,
    )
    lines = [
        f"Stages of one run's ingest, seconds per 1M points ({args.points:,} points measured, best of 3):"
    ]
    lines += [f"  {seconds:7.3f}  {name}" for name, seconds in rows]
    lines.append(
        f"  {t:7.3f}  client: `despina sync` with nothing to send (process start and imports), per process"
    )
    return lines


# ------------------------------------------------------------------------------------------------
# output


def format_result(r: Result) -> str:
    lat = r.load
    text = (
        f"  {r.tracker} {r.config}: {r.points_verified:,}/{r.points_sent:,} points in {r.wall_s:.2f} s = "
        f"{r.points_per_s:,.0f} points/s; batch p50/p99 {lat.get('p50_ms', float('nan')):.1f}/"
        f"{lat.get('p99_ms', float('nan')):.1f} ms (n={lat.get('n', 0)}); "
        f"server RSS end {r.rss_end_mb:.0f} MB "
        f"(peak {r.rss_peak_mb:.0f}); CPU s server {r.cpu_server_s:.1f}, clients {r.cpu_clients_s:.1f}, "
        f"postgres {r.cpu_postgres_s:.1f}; load {r.load_avg:.2f}"
    )
    for note in r.notes:
        if "\n" not in note:
            text += f"\n  NOTE: {note}"
    return text


def table(results: list[Result], args: argparse.Namespace) -> str:
    head = (
        "| tracker | database | workers | points | wall s | points/s | full workload s "
        "| batch p50 / p99 ms (idle) | batch p50 / p99 / max ms (under load) | server RSS end / peak MB "
        "| CPU s server / clients / postgres | load |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        idle = f"{r.idle['p50_ms']:.1f} / {r.idle['p99_ms']:.1f}" if r.idle.get("n") else "—"
        load = r.load
        lines.append(
            f"| {r.tracker} | {r.database} | {r.workers} | {r.points_verified:,}"
            f"{' (extrap.)' if r.extrapolated else ''} | {r.wall_s:.1f} | {r.points_per_s:,.0f} | "
            f"{args.runs * args.points / max(r.points_per_s, 1e-9):,.0f} | {idle} | "
            f"{load.get('p50_ms', float('nan')):.1f} / {load.get('p99_ms', float('nan')):.1f} / "
            f"{load.get('max_ms', float('nan')):.0f} | {r.rss_end_mb:,.0f} / {r.rss_peak_mb:,.0f} | "
            f"{r.cpu_server_s:.1f} / {r.cpu_clients_s:.1f} / {r.cpu_postgres_s:.1f} | {r.load_avg:.1f} |"
        )
    ratios = []
    by_key = {(r.tracker, r.config): r for r in results}
    for r in results:
        peer = by_key.get(("mlflow", r.config))
        if r.tracker.startswith("despina") and peer is not None:
            ratios.append(
                f"{r.config}: despina / mlflow = {r.points_per_s / peer.points_per_s:,.0f}x points/s, "
                f"p99 batch latency mlflow / despina = {peer.load['p99_ms'] / r.load['p99_ms']:.1f}x"
            )
    return "\n".join([*lines, "", *ratios])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=8, help="offline runs = concurrent syncs (default 8)")
    parser.add_argument("--points", type=int, default=1_000_000, help="points per run (default 1M)")
    parser.add_argument(
        "--configs", default="sqlite-w1,pg-w1,pg-w4", help=f"comma-separated, of {', '.join(CONFIGS)}"
    )
    parser.add_argument("--mlflow-configs", default=None, help="MLflow configurations (default: --configs)")
    parser.add_argument("--mlflow-points", type=int, default=50_000, help="points per MLflow client")
    parser.add_argument("--mlflow", default="/tmp/peers/mlflow/bin/mlflow", help="the mlflow command")
    parser.add_argument(
        "--mlflow-python", default=None, help="python for the MLflow clients (default: mlflow's)"
    )
    parser.add_argument("--probe-interval", type=float, default=0.05, help="seconds between probe batches")
    parser.add_argument("--probe-idle", type=float, default=3.0, help="seconds of idle probing first")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to let a new server go quiet")
    parser.add_argument("--profile", action="store_true", help="py-spy the server and one sync")
    parser.add_argument("--profile-seconds", type=int, default=30)
    parser.add_argument("--py-spy", default="/tmp/peers/pyspy/bin/py-spy")
    parser.add_argument(
        "--server-nodelay",
        action="store_true",
        help="set TCP_NODELAY in Despina's server (uvicorn issue 3149)",
    )
    parser.add_argument("--breakdown", action="store_true", help="time the stages of one run's ingest")
    parser.add_argument("--out", type=Path, default=None, help="append results as JSON lines")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return
    configs = [c for c in args.configs.split(",") if c]
    mlflow_configs = [
        c for c in (args.mlflow_configs if args.mlflow_configs is not None else args.configs).split(",") if c
    ]
    for name in configs + mlflow_configs:
        if name not in CONFIGS:
            parser.error(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    if mlflow_configs and not Path(args.mlflow).exists():
        parser.error(f"{args.mlflow} not found: install MLflow in /tmp/peers/mlflow, or --mlflow-configs ''")
    args.mlflow_python = args.mlflow_python or str(Path(args.mlflow).parent / "python")

    scratch = Path(tempfile.mkdtemp(prefix="despina-bench-server-"))
    dbs = Databases(scratch)
    results: list[Result] = []
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, python {platform.python_version()}, "
        f"load {load_average():.2f}; scratch {scratch}",
        flush=True,
    )
    try:
        if configs:
            print(f"logging {args.runs} offline runs x {args.points:,} points (not timed)", flush=True)
            template = scratch / "template"
            log_offline_runs(template, args.runs, args.points, scratch)
        if args.breakdown:
            if not configs:
                template = scratch / "template"
                log_offline_runs(template, 1, args.points, scratch)
            print("\n".join(breakdown(args, dbs, template, scratch)), flush=True)
        for config in dict.fromkeys(configs + mlflow_configs):
            if config in configs:
                results.append(run_despina(args, config, dbs, template, scratch))
            if config in mlflow_configs:
                results.append(run_mlflow(args, config, dbs, scratch))
    finally:
        dbs.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print("\n" + table(results, args))
    if args.out is not None:
        with open(args.out, "a", encoding="utf-8") as out:
            for r in results:
                out.write(
                    json.dumps({**r.__dict__, "time": time.time(), "args": vars(args)}, default=str) + "\n"
                )


if __name__ == "__main__":
    main()
