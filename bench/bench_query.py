#!/usr/bin/env python3
"""Query benchmark (issue 5): filter, sort and page the runs table, read it whole, and read long series.

Workload: a synthetic project of `--runs` runs (default 10,000) x 100 fields: 40 float and 20 int
parameters, 20 string fields, tags, and 20 float series of `--points` points (default 1,000), plus one
run with a `--long` point series (default 1,000,000). The rows are written straight into the SQL
store's tables (building through the ingest path would take longer than everything measured).

Figures (median of `--repeat` timings, after one warm-up):

- filter + sort + first 100 rows, in the store (what the server does per request):
  `p/f0 > 0.5 and min(m/s1) < 0.5 and sys/tags contains "a"`, sorted by `m/s0`, 30 columns;
- the whole table, 10,000 rows x 30 columns, into pandas through the client
  (`Project.fetch_runs_table(columns=...).to_pandas()`), locally and through a server over HTTP;
- the long series downsampled to 1,000 buckets (store, and HTTP), and read exactly as a DataFrame
  (`Project.fetch_series`, Arrow over HTTP);
- the peer, MLflow's `search_runs` on the same runs (`--mlflow`, its own venv: this file runs there
  as a child, `--child-mlflow SPEC.json`). Its database is written straight into its tables (the
  API would take hours for 10,000 runs): per run its parameters (as MLflow keeps them: strings),
  the series' last values as metrics (`latest_metrics`, which search_runs reads, and the same point
  in `metrics`; the 1,000-point histories are not written: search_runs never reads them), tags.
  MLflow filters parameters only by equality, so the compared filter is one both can say:
  `m/s1 < 0.5 and p/s0 = "adam" and sys/tags contains "a"` sorted by `m/s0`, first 100 runs
  (`metrics.`m/s1` < 0.5 and params.`p/s0` = 'adam' and tags.a = 'true'`); the whole table is
  `mlflow.search_runs` into a DataFrame (every parameter, metric and tag: MLflow has no column
  projection).

    .venv/bin/python bench/bench_query.py                      # SQLite, full size
    .venv/bin/python bench/bench_query.py --postgres postgresql://user:pw@host/db
    .venv/bin/python bench/bench_query.py --runs 2000 --points 100 --long 200000
    .venv/bin/python bench/bench_query.py --postgres URL --mlflow-db URL2   # MLflow on PostgreSQL too

The module imports only the standard library at module level, so MLflow's venv can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT = "bench/query"
COLUMNS = [
    *(f"p/f{i}" for i in range(10)),
    *(f"p/i{i}" for i in range(5)),
    *(f"p/s{i}" for i in range(4)),
    *(f"m/s{i}" for i in range(10)),
    "sys/tags",
]  # 29 + sys/id = 30 columns


def timed(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result = work()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def build(db_url: str, home: Path, runs: int, points: int, long_points: int) -> str:
    import numpy as np
    from sqlalchemy import insert, select

    from despina.client import field_types as ft
    from despina.client.operations import AppendPoints
    from despina.store.base import RunCreate
    from despina.store.blobs.local import LocalBlobStore
    from despina.store.series_codec import encode_chunk
    from despina.store.sql import schema as t
    from despina.store.sql.store import SqlStore

    store = SqlStore(db_url, LocalBlobStore(home / "blobs"))
    rng = random.Random(5)
    started = time.perf_counter()
    for i in range(runs):
        tags = tuple(tag for tag in ("a", "b", "c") if rng.random() < 0.3)
        store.create_run(
            RunCreate(project=PROJECT, owner=rng.choice(["sophia", "li", "ana"]), name=f"r{i}", tags=tags)
        )
    with store.engine.begin() as conn:
        pks = list(conn.execute(select(t.runs.c.id).order_by(t.runs.c.id)).scalars())
    steps = np.arange(points, dtype=np.float64)
    fields, series_rows, chunk_rows = [], [], []
    series_id = 0
    for pk in pks:
        for j in range(40):
            fields.append(
                {
                    "run_id": pk,
                    "path": f"p/f{j}",
                    "type": ft.FLOAT,
                    "float_value": rng.random(),
                    "int_value": None,
                    "text_value": None,
                }
            )
        for j in range(20):
            fields.append(
                {
                    "run_id": pk,
                    "path": f"p/i{j}",
                    "type": ft.INT,
                    "float_value": None,
                    "int_value": rng.randrange(1000),
                    "text_value": None,
                }
            )
        for j in range(20):
            fields.append(
                {
                    "run_id": pk,
                    "path": f"p/s{j}",
                    "type": ft.STRING,
                    "float_value": None,
                    "int_value": None,
                    "text_value": rng.choice(["adam", "sgd", "rmsprop"]),
                }
            )
        for j in range(20):
            series_id += 1
            values = np.random.default_rng(series_id).random(points)
            series_rows.append(
                {
                    "id": series_id,
                    "run_id": pk,
                    "path": f"m/s{j}",
                    "type": ft.FLOAT_SERIES,
                    "point_count": points,
                    "last_step": float(steps[-1]),
                    "last_timestamp": 1.7e9 + points,
                    "last_float": float(values[-1]),
                    "last_text": None,
                    "min_value": float(values.min()),
                    "max_value": float(values.max()),
                    "sum_value": float(values.sum()),
                    "finite_count": points,
                    "inherit": True,
                }
            )
            chunk_rows.append(
                {
                    "series_id": series_id,
                    "chunk_no": 0,
                    "first_step": 0.0,
                    "last_step": float(steps[-1]),
                    "point_count": points,
                    "data": encode_chunk(ft.FLOAT_SERIES, steps, 1.7e9 + steps, values),
                }
            )
    with store.engine.begin() as conn:
        for table, rows in ((t.fields, fields), (t.series, series_rows), (t.series_chunks, chunk_rows)):
            for start in range(0, len(rows), 50_000):
                conn.execute(insert(table), rows[start : start + 50_000])
        if conn.dialect.name == "postgresql":  # ids were given: move the sequence past them
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('series', 'id'), max(id)) FROM series")
    long_run, _ = store.create_run(RunCreate(project=PROJECT, owner="sophia", name="long"))
    long_steps = np.arange(long_points, dtype=np.float64)
    values = np.sin(long_steps / 1000.0) + np.random.default_rng(1).normal(0, 0.1, long_points)
    op = AppendPoints("long/loss", ft.FLOAT_SERIES, long_steps, 1.7e9 + long_steps, values)
    store.ingest(PROJECT, long_run.id, "bench", [(0, op)], 0)
    if store.engine.dialect.name == "postgresql":
        # What autovacuum does to a tracker's tables while runs are logged (hours, which this build
        # skips): statistics for the planner, and pages marked all-visible for index-only scans.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    store.checkpoint()
    store.close()
    print(
        f"built {runs} runs x 100 fields and a {long_points:,}-point series",
        f"in {time.perf_counter() - started:.1f} s",
    )
    return str(long_run.id)


def reused_long_run(db_url: str, home: Path) -> str:
    """The id of the run with the long series in a project built before."""
    from despina.store.blobs.local import LocalBlobStore
    from despina.store.sql.store import SqlStore

    store = SqlStore(db_url, LocalBlobStore(home / "blobs"))
    try:
        page = store.query_runs(PROJECT, query='sys/name = "long"', columns=["sys/id"])
        return str(page.rows[0]["sys/id"].value)
    finally:
        store.close()


# -- MLflow, the peer ------------------------------------------------------------------------------

MLFLOW_PYTHON = "/tmp/peers/mlflow/bin/python"
MLFLOW_EXPERIMENT = "bench-query"
# The filter both can say (MLflow compares parameters by equality only), and MLflow's words for it.
SHARED_QUERY = 'm/s1 < 0.5 and p/s0 = "adam" and sys/tags contains "a"'
MLFLOW_FILTER = "metrics.`m/s1` < 0.5 and params.`p/s0` = 'adam' and tags.a = 'true'"
MLFLOW_ORDER = ["metrics.`m/s0` DESC"]


def export_runs(store: Any, path: Path) -> int:
    """The project's runs as MLflow will hold them, as JSON for the child: name, owner, tags,
    parameters (strings) and the series' last values."""
    frame = store.query_runs_columns(
        PROJECT, columns=["p", "m", "sys/tags", "sys/name", "sys/owner"]
    ).to_pandas()
    runs = []
    for row in frame.to_dict("records"):
        params = {k: str(v) for k, v in row.items() if k.startswith("p/") and v == v and v is not None}
        metrics = {k: float(v) for k, v in row.items() if k.startswith("m/") and v == v}
        tags = [tag for tag in str(row["sys/tags"] or "").split(",") if tag]
        runs.append(
            {
                "name": row["sys/name"],
                "owner": row["sys/owner"],
                "params": params,
                "metrics": metrics,
                "tags": tags,
            }
        )
    path.write_text(json.dumps(runs))
    return len(runs)


def child_mlflow(spec: dict[str, Any]) -> None:
    """In MLflow's venv: seed its database (unless it holds the experiment already), then time
    `search_runs` (the filter, and the whole table into pandas). Results as JSON to spec["result"]."""
    import uuid

    import mlflow
    import mlflow.store.tracking.dbmodels.models  # registers MLflow's tables
    from mlflow.store.db.base_sql_model import Base
    from mlflow.tracking import MlflowClient
    from sqlalchemy import create_engine, insert, text

    url = spec["db_url"]
    client = MlflowClient(tracking_uri=url)  # creates MLflow's schema on first use
    experiment = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    seeded = 0.0
    if experiment is None:
        started = time.perf_counter()
        experiment_id = client.create_experiment(MLFLOW_EXPERIMENT)
        runs_in = json.loads(Path(spec["runs"]).read_text())
        tables = Base.metadata.tables
        rows: dict[str, list[dict[str, Any]]] = {
            n: [] for n in ("runs", "params", "metrics", "latest_metrics", "tags")
        }
        now = int(time.time() * 1000)
        for number, run in enumerate(runs_in):
            run_uuid = uuid.uuid4().hex
            rows["runs"].append(
                {
                    "run_uuid": run_uuid,
                    "name": run["name"],
                    "source_type": "LOCAL",
                    "source_name": "",
                    "entry_point_name": "",
                    "user_id": run["owner"],
                    "status": "FINISHED",
                    "start_time": now + number,
                    "end_time": now + number + 1,
                    "source_version": "",
                    "lifecycle_stage": "active",
                    "artifact_uri": f"{spec['artifacts']}/{run_uuid}",
                    "experiment_id": int(experiment_id),
                }
            )
            rows["params"].extend(
                {"key": k, "value": v, "run_uuid": run_uuid} for k, v in run["params"].items()
            )
            for key, value in run["metrics"].items():
                point = {
                    "key": key,
                    "value": value,
                    "timestamp": now,
                    "step": 999,
                    "is_nan": False,
                    "run_uuid": run_uuid,
                }
                rows["metrics"].append(point)
                rows["latest_metrics"].append(point)
            tags = [("mlflow.runName", run["name"]), ("mlflow.user", run["owner"])]
            tags += [(tag, "true") for tag in run["tags"]]
            rows["tags"].extend({"key": k, "value": v, "run_uuid": run_uuid} for k, v in tags)
        engine = create_engine(url)
        with engine.begin() as conn:
            for name, batch in rows.items():
                for first in range(0, len(batch), 20_000):
                    conn.execute(insert(tables[name]), batch[first : first + 20_000])
            if url.startswith("postgresql"):
                conn.execute(text("ANALYZE"))
        engine.dispose()
        seeded = time.perf_counter() - started
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_tracking_uri(url)
    repeat = spec["repeat"]

    def query() -> Any:
        return client.search_runs([experiment_id], MLFLOW_FILTER, order_by=MLFLOW_ORDER, max_results=100)

    def table() -> Any:
        return mlflow.search_runs(experiment_ids=[experiment_id], max_results=100_000)

    query_time, found = timed(query, repeat)
    started = time.perf_counter()  # once: MLflow takes about a second per 1,000 runs here
    frame = table()
    table_time = time.perf_counter() - started
    result = {
        "seeded_s": seeded,
        "query_s": query_time,
        "query_rows": len(found),
        "first_ids": [run.data.tags.get("mlflow.runName") for run in found[:5]],
        "table_s": table_time,
        "table_shape": list(frame.shape),
        "version": mlflow.__version__,
    }
    Path(spec["result"]).write_text(json.dumps(result))


def run_mlflow(python: str, db_url: str, store: Any, home: Path, repeat: int) -> dict[str, Any]:
    """MLflow's figures on the same runs (its venv, a child process)."""
    exported = home / "mlflow-runs.json"
    if not exported.exists():
        export_runs(store, exported)
    spec: dict[str, Any] = {
        "db_url": db_url,
        "runs": str(exported),
        "artifacts": str(home / "mlflow-artifacts"),
        "repeat": repeat,
        "result": str(home / "mlflow-result.json"),
    }
    spec_path = home / "mlflow-spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("DESPINA_HOME", None)
    subprocess.run(
        [python, str(Path(__file__).resolve()), "--child-mlflow", str(spec_path)], check=True, env=env
    )
    result: dict[str, Any] = json.loads(Path(spec["result"]).read_text())
    return result


class Server:
    """The app on uvicorn in a thread, with a user and token."""

    def __init__(self, db_url: str, blobs: Path) -> None:
        import socket

        import uvicorn

        from despina.server.app import create_app, open_state
        from despina.server.settings import ServerSettings

        settings = ServerSettings(
            db_url=db_url, blobs_url=str(blobs), secure_cookies=False, upgrade_database=True
        )
        self.state = open_state(settings)
        user = f"bench-{os.getpid()}"  # a database reused (--reuse) already has earlier runs' users
        self.state.access.create_user(user, "a long enough password", admin=True)
        self.token, _ = self.state.access.create_token(user, "bench", None)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(settings, self.state),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.state.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000)
    parser.add_argument("--long", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database) instead of SQLite")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="a folder an earlier run built (SQLite: its despina.db; PostgreSQL: with --postgres, the "
        "same database): measure again without building",
    )
    parser.add_argument(
        "--mlflow",
        default=MLFLOW_PYTHON,
        help=f"the Python of a venv with mlflow (default {MLFLOW_PYTHON}); 'none' to leave MLflow out",
    )
    parser.add_argument(
        "--mlflow-db",
        help="MLflow's database (an empty one; default: mlflow.db beside Despina's on SQLite; with "
        "--postgres, MLflow runs only when this is given)",
    )
    parser.add_argument("--child-mlflow", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_mlflow:
        spec: dict[str, Any] = json.loads(Path(args.child_mlflow).read_text())
        child_mlflow(spec)
        return

    home = args.reuse or Path(tempfile.mkdtemp(prefix="despina-bench-query-"))
    db_url = args.postgres or f"sqlite:///{home / 'despina.db'}"
    if args.reuse:
        long_id = reused_long_run(db_url, home)
    else:
        long_id = build(db_url, home, args.runs, args.points, args.long)
        print(f"built in {home} (measure it again with --reuse {home})")
    os.environ["DESPINA_HOME"] = str(home)

    import despina
    from despina.backends.http import HttpBackend
    from despina.store.blobs.local import LocalBlobStore
    from despina.store.sql.store import SqlStore

    store = SqlStore(db_url, LocalBlobStore(home / "blobs"))
    query = 'p/f0 > 0.5 and min(m/s1) < 0.5 and sys/tags contains "a"'
    rows: list[tuple[str, float, str]] = []

    t, page = timed(
        lambda: store.query_runs(PROJECT, query=query, sort_by="m/s0", limit=100, columns=COLUMNS),
        args.repeat,
    )
    rows.append(("filter + sort + first 100 rows (store)", t, f"{len(page.rows)} rows; goal <= 50 ms"))
    t, page = timed(
        lambda: store.query_runs_columns(PROJECT, query=query, sort_by="m/s0", limit=100, columns=COLUMNS),
        args.repeat,
    )
    rows.append(("filter + sort + first 100 rows (store, columns)", t, f"{page.length} rows"))
    shared_t, page = timed(
        lambda: store.query_runs_columns(
            PROJECT, query=SHARED_QUERY, sort_by="m/s0", limit=100, columns=COLUMNS
        ),
        args.repeat,
    )
    rows.append(
        ("MLflow's filter (see above) + sort + first 100 (store, columns)", shared_t, f"{page.length} rows")
    )
    t, frame = timed(
        lambda: store.query_runs_columns(PROJECT, columns=["sys/id", *COLUMNS]).to_pandas(), args.repeat
    )
    rows.append(("whole table into pandas (store, columns)", t, f"{frame.shape[0]} x {frame.shape[1]}"))
    store_table_t = t
    t, _ = timed(lambda: store.series_buckets(PROJECT, long_id, "long/loss", buckets=1000), args.repeat)
    rows.append((f"{args.long:,}-point series -> 1,000 buckets (store)", t, "goal <= 30 ms"))

    if not args.postgres:
        project = despina.init_project(PROJECT)
        t, frame = timed(lambda: project.fetch_runs_table(columns=COLUMNS).to_pandas(), args.repeat)
        rows.append(
            (
                "whole table into pandas (client, local)",
                t,
                f"{frame.shape[0]} x {frame.shape[1]}; goal <= 1 s",
            )
        )
        t, frame = timed(lambda: project.fetch_series("long/loss", runs=[long_id]), args.repeat)
        rows.append(
            ("long series exactly as a DataFrame (client, local)", t, f"{len(frame):,} rows; goal <= 1 s")
        )

    server = Server(db_url, home / "blobs")
    try:
        http = HttpBackend(server.url, server.token)

        def table_over_http() -> Any:
            return http.query_runs_columns(PROJECT, columns=["sys/id", *COLUMNS]).to_pandas()

        def json_table_over_http() -> Any:
            from despina.client.project import RunsTable

            page = http.query_runs(PROJECT, columns=["sys/id", *COLUMNS])
            return RunsTable(page.rows, "sys/creation_time", False, None, presorted=True).to_pandas()

        t, frame = timed(table_over_http, args.repeat)
        rows.append(
            (
                "whole table into pandas (client, HTTP, Arrow)",
                t,
                f"{frame.shape[0]} x {frame.shape[1]}; goal <= 1 s",
            )
        )
        t, frame = timed(json_table_over_http, 1)
        rows.append(("whole table into pandas (HTTP, JSON pages: the web UI's form)", t, "repeat 1"))
        t, _ = timed(
            lambda: http.query_runs(PROJECT, query=query, sort_by="m/s0", limit=100, columns=COLUMNS),
            args.repeat,
        )
        rows.append(("filter + sort + first 100 rows (HTTP round trip)", t, ""))
        t, _ = timed(lambda: http.series_buckets(PROJECT, long_id, "long/loss", buckets=1000), args.repeat)
        rows.append((f"{args.long:,}-point series -> 1,000 buckets (HTTP)", t, ""))
        t, table = timed(
            lambda: http.series_table(PROJECT, ["long/loss"], run_ids=[long_id]).to_pandas(), args.repeat
        )
        rows.append(
            ("long series exactly as a DataFrame (Arrow over HTTP)", t, f"{len(table):,} rows; goal <= 1 s")
        )
        mlflow_db = args.mlflow_db or (None if args.postgres else f"sqlite:///{home / 'mlflow.db'}")
        peer = None
        if args.mlflow != "none" and mlflow_db and Path(args.mlflow).exists():
            peer = run_mlflow(args.mlflow, mlflow_db, store, home, args.repeat)
    finally:
        server.stop()
        store.close()

    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"\n{backend}, {args.runs:,} runs x 100 fields, {args.points:,} points per series,",
        f"cpu count {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    )
    print(f"{'figure':<66} {'median':>10}  note")
    for name, seconds, note in rows:
        print(f"{name:<66} {seconds * 1000:>8.1f} ms  {note}")
    if peer is not None:
        where = "PostgreSQL" if "postgres" in str(args.mlflow_db) else "SQLite"
        seeded = f"seeded in {peer['seeded_s']:.1f} s" if peer["seeded_s"] else "seeded before"
        print(f"\nMLflow {peer['version']} on {where} ({seeded}), the same runs:")
        query_ms, table_ms = peer["query_s"] * 1000, peer["table_s"] * 1000
        print(
            f"  {'search_runs(filter, order_by, max_results=100)':<64} {query_ms:>8.1f} ms",
            f"{peer['query_rows']} runs; Despina's same filter {peer['query_s'] / shared_t:.1f}x faster",
        )
        print(
            f"  {'mlflow.search_runs(): the whole table into pandas':<64} {table_ms:>8.1f} ms",
            f"{tuple(peer['table_shape'])}; Despina's (store, 30 columns)",
            f"{peer['table_s'] / store_table_t:.1f}x faster",
        )


if __name__ == "__main__":
    main()
