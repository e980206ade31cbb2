"""`despina import mlflow`: copy experiments and runs out of an MLflow tracking store.

Reads through the public `mlflow` client (`MlflowClient`), so any tracking URI MLflow understands
works: a `sqlite:///` or other SQL database, a `file:` store, a tracking server. Writes through its
target (a store, or a server) exactly like `import despina`, which makes it safe to repeat:

- each run is created with a creation token derived from (MLflow run id, target project) and with the
  MLflow run id as its custom run id, so importing again finds the run instead of making another;
- its operations come from one writer (`import-mlflow`), numbered the same way every time, and
  `ingest` is idempotent per (run, writer, sequence number): importing twice applies nothing twice.
  A run that changed in MLflow after it was imported is not updated by a later import (its first
  operations are already applied); import it into another project to get the new state.

Mapping:

- experiment -> project `mlflow/<slug of the experiment name>` (lower case, characters other than
  letters, digits, `_`, `.` and `-` become `-`), or the one `--project` names (all experiments then
  go into it);
- run -> run: name = the MLflow run name, description = the `mlflow.note.content` tag, owner = the
  `mlflow.user` tag (else the run's user id, else `mlflow`), custom run id = the MLflow run id,
  creation / modification time = start / end time (end time missing: the last metric timestamp, else
  the start time);
- status: FINISHED -> `finished`; FAILED and KILLED -> `failed` with `sys/failed` true; RUNNING and
  SCHEDULED -> `running` with the heartbeat (`sys/ping_time`) set to the last time the run showed life
  (end, last metric or start time). Nothing will ever log to it again, so the store reports it as
  `crashed` as soon as that heartbeat is older than the crash timeout, which is honest for a snapshot;
- params -> string fields `parameters/<key>`; tags -> string fields `tags/<key>` and MLflow's own
  `mlflow.*` tags -> `mlflow/<key without the prefix>` (the note and user are kept there too);
- metrics -> float series `metrics/<key>` from the full history (`get_metric_history`), timestamps
  from milliseconds to seconds. Despina series need strictly increasing steps while MLflow allows a
  step to repeat or go back: the history is sorted by step (stable, so MLflow's order decides among
  equal steps) and the first point of each step is kept; the others are counted in
  `ImportSummary.skipped_points` and reported;
- artifacts -> the file set `artifacts`, one entry per file under its path relative to the run's
  artifact root (downloaded to a temporary folder, hashed, then put into the blob store).

Keys are field paths once prefixed: empty or space-padded `/`-separated segments are dropped (a key
made only of those becomes `_`).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from despina.client import field_types as ft
from despina.client.operations import (
    AddFileSetEntries,
    AppendPoints,
    AssignAtom,
    FileRef,
    Operation,
)
from despina.store.base import RunCreate, RunInfo, Store
from despina.transfer.batches import ingest_in_batches
from despina.transfer.format import POINTS_PER_OPERATION, ProgressCallback, TransferError
from despina.transfer.target import ImportTarget, import_target

WRITER_ID = "import-mlflow"
_PAGE = 1000
_CHUNK = 1 << 20
_SYSTEM_TAG = "mlflow."
_NOTE_TAG = "mlflow.note.content"
_USER_TAG = "mlflow.user"
_NAME_TAG = "mlflow.runName"
_STATES = {"FINISHED": ("finished", False), "FAILED": ("failed", True), "KILLED": ("failed", True)}


@dataclass
class MlflowImportSummary:
    """What an import did. `ids` maps each MLflow run id to (project, Despina run id)."""

    tracking_uri: str
    experiments: int = 0
    runs: int = 0
    created: int = 0
    operations: int = 0
    points: int = 0
    skipped_points: int = 0
    blobs: int = 0
    projects: list[str] = field(default_factory=list)
    ids: dict[str, tuple[str, str]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _mlflow_client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TransferError('importing from MLflow needs mlflow: pip install "despina[mlflow]"') from None
    return MlflowClient(tracking_uri=tracking_uri)


def project_name(experiment_name: str, experiment_id: str) -> str:
    """`mlflow/<slug>`: a valid Despina project name for an MLflow experiment."""
    slug = re.sub(r"[^\w.-]+", "-", experiment_name.strip().lower(), flags=re.ASCII)
    slug = re.sub(r"-{2,}", "-", slug).strip("-_.")
    return f"mlflow/{slug or f'experiment-{experiment_id}'}"


def _key_path(prefix: str, key: str) -> str:
    segments = [segment for segment in key.split("/") if segment and segment.strip() == segment]
    cleaned = "/".join(segments) or "_"
    return f"{prefix}/{''.join(ch if ord(ch) >= 32 else '_' for ch in cleaned)}"


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _paged(fetch: Any) -> Iterator[Any]:
    """Every item of an MLflow paged search (`fetch(page_token)` returns a PagedList)."""
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


class _RunImporter:
    def __init__(self, target: ImportTarget, client: Any, summary: MlflowImportSummary) -> None:
        self.target = target
        self.client = client
        self.summary = summary
        self.restores_times = target.restores_times
        if not self.restores_times:
            summary.notes.append(
                f"{target.describe()} cannot restore creation and modification times; "
                "the imported runs show the time of the import"
            )

    def metric_series(self, run_id: str, key: str) -> tuple[AppendPoints | None, float | None]:
        """The float series of one metric (sorted by step, first point per step) and its last timestamp."""
        history = list(self.client.get_metric_history(run_id, key))
        if not history:
            return None, None
        steps = np.array([float(m.step) for m in history], dtype=np.float64)
        timestamps = np.array([m.timestamp / 1000 for m in history], dtype=np.float64)
        values = np.array([float(m.value) for m in history], dtype=np.float64)
        order = np.argsort(steps, kind="stable")
        steps, timestamps, values = steps[order], timestamps[order], values[order]
        keep = np.ones(len(steps), dtype=bool)
        keep[1:] = steps[1:] != steps[:-1]
        self.summary.skipped_points += int(len(steps) - keep.sum())
        last = float(timestamps.max())
        return AppendPoints(
            _key_path("metrics", key), ft.FLOAT_SERIES, steps[keep], timestamps[keep], values[keep]
        ), last

    def artifacts(self, run_id: str, folder: Path, project: str) -> list[tuple[str, FileRef]]:
        """Download the run's artifacts into `folder` and put their content into the project."""
        top = list(self.client.list_artifacts(run_id))
        if not top:
            return []
        for entry in top:
            self.client.download_artifacts(run_id, entry.path, str(folder))
        entries: list[tuple[str, FileRef]] = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            sha = _sha256(path)
            if not self.target.has_blob(project, sha) and self.target.put_blob(project, path, sha):
                self.summary.blobs += 1
            extension = path.suffix.lstrip(".")
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            entries.append((relative, FileRef(sha, path.stat().st_size, path.name, extension, mime)))
        return entries

    def import_run(self, run: Any, project: str) -> None:
        info, data = run.info, run.data
        tags: dict[str, str] = dict(data.tags)
        mlflow_id = str(info.run_id)
        operations: list[Operation] = []
        for key, value in sorted(data.params.items()):
            operations.append(AssignAtom(_key_path("parameters", key), ft.STRING, str(value)))
        for key, value in sorted(tags.items()):
            if key.startswith(_SYSTEM_TAG):
                path = _key_path("mlflow", key[len(_SYSTEM_TAG) :])
            else:
                path = _key_path("tags", key)
            operations.append(AssignAtom(path, ft.STRING, str(value)))
        last_seen = info.start_time / 1000 if info.start_time is not None else None
        for key in sorted(data.metrics):
            series, last = self.metric_series(mlflow_id, key)
            if series is not None:
                operations.extend(_chunks(series))
                if last is not None:
                    last_seen = last if last_seen is None else max(last_seen, last)

        created_at = _time(info.start_time) or datetime.now(timezone.utc)
        end = _time(info.end_time)
        if end is None and last_seen is not None:
            end = datetime.fromtimestamp(last_seen, tz=timezone.utc)
        modified_at = max(end or created_at, created_at)
        state, failed = _STATES.get(str(info.status), ("running", False))
        name = str(info.run_name or tags.get(_NAME_TAG) or mlflow_id)
        request = RunCreate(
            project=project,
            owner=str(tags.get(_USER_TAG) or info.user_id or "mlflow"),
            name=name,
            description=str(tags.get(_NOTE_TAG, "")),
            custom_run_id=mlflow_id,
            creation_token="mlflow:" + hashlib.sha256(f"{mlflow_id}\0{project}".encode()).hexdigest()[:48],
        )
        despina_run, created = self.target.create_run(request)
        if created:
            self.summary.created += 1
            if self.restores_times:
                self.target.restore_run_times(project, despina_run.id, created_at, modified_at)
        self.summary.ids[mlflow_id] = (project, despina_run.id)

        applied = self.target.applied_seq(project, despina_run.id, WRITER_ID)
        numbered: list[tuple[int, Operation]] = list(enumerate(operations))
        # The artifacts keep a sequence number of their own even when the run has none, so the numbers
        # of the operations after them never depend on what a download found; they are downloaded only
        # when that operation has not been applied yet.
        artifacts_seq = len(numbered)
        if applied < artifacts_seq:
            with tempfile.TemporaryDirectory(prefix="despina-mlflow-") as tmp:
                files = self.artifacts(mlflow_id, Path(tmp), project)
            if files:
                numbered.append((artifacts_seq, AddFileSetEntries("artifacts", tuple(files), reset=True)))
        record: list[Operation] = [
            AssignAtom("sys/name", ft.STRING, name),
            AssignAtom("sys/description", ft.STRING, request.description),
        ]
        if state == "running":
            record.append(AssignAtom("sys/ping_time", ft.DATETIME, modified_at))
        record.append(AssignAtom("sys/failed", ft.BOOL, failed))
        record.append(AssignAtom("sys/state", ft.STRING, state))
        numbered.extend(enumerate(record, start=artifacts_seq + 1))
        self.ingest(project, despina_run, mlflow_id, numbered, applied)
        if self.restores_times:  # after ingesting, which stamps the modification time
            self.target.restore_run_times(project, despina_run.id, created_at, modified_at)
        self.summary.runs += 1

    def ingest(
        self,
        project: str,
        run: RunInfo,
        mlflow_id: str,
        operations: list[tuple[int, Operation]],
        applied: int,
    ) -> None:
        outcome = ingest_in_batches(self.target, project, run.id, WRITER_ID, operations, applied=applied)
        self.summary.operations += outcome.operations
        self.summary.points += outcome.points
        self.summary.rejected.extend(f"{mlflow_id} -> {run.id}: {reason}" for reason in outcome.rejected)


def _chunks(series: AppendPoints) -> Iterator[AppendPoints]:
    n = len(series)
    for start in range(0, max(n, 1), POINTS_PER_OPERATION):
        end = start + POINTS_PER_OPERATION
        values = series.values[start:end]
        yield AppendPoints(
            series.path, series.type, series.steps[start:end], series.timestamps[start:end], values
        )


def import_mlflow(
    store: Store | ImportTarget,
    tracking_uri: str,
    experiment: str | None = None,
    project: str | None = None,
    progress: ProgressCallback | None = None,
) -> MlflowImportSummary:
    """Import the experiments of an MLflow tracking store (or only `experiment`, by name) into `store`
    (a store, or a server: `despina.transfer.target`).

    Safe to repeat: see the module docstring. Raises TransferError when mlflow is not installed or the
    experiment does not exist.
    """
    client = _mlflow_client(tracking_uri)
    summary = MlflowImportSummary(tracking_uri=tracking_uri)
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise TransferError(f"MLflow at {tracking_uri} has no experiment named {experiment!r}")
        experiments = [found]
    else:
        from mlflow.entities import ViewType

        experiments = list(
            _paged(
                lambda token: client.search_experiments(
                    view_type=ViewType.ALL, max_results=_PAGE, page_token=token
                )
            )
        )
    plan: list[tuple[str, Any]] = []
    for exp in experiments:
        target = project or project_name(str(exp.name), str(exp.experiment_id))
        from mlflow.entities import ViewType

        runs = list(
            _paged(
                lambda token, exp=exp: client.search_runs(
                    [exp.experiment_id],
                    run_view_type=ViewType.ALL,
                    max_results=_PAGE,
                    order_by=["attributes.start_time ASC"],
                    page_token=token,
                )
            )
        )
        summary.experiments += 1
        if target not in summary.projects:
            summary.projects.append(target)
        plan.extend((target, run) for run in runs)
    importer = _RunImporter(import_target(store), client, summary)
    if progress is not None:
        progress(0, len(plan), "")
    for done, (target, run) in enumerate(plan, start=1):
        importer.import_run(run, target)
        if progress is not None:
            progress(done, len(plan), str(run.info.run_id))
    if summary.skipped_points:
        summary.notes.append(
            f"{summary.skipped_points} metric point(s) repeated a step already seen (or went back); "
            "only the first point of each step is kept"
        )
    return summary


__all__ = ["WRITER_ID", "MlflowImportSummary", "import_mlflow", "project_name"]
