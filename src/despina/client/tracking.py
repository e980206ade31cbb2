"""`run["data"].track_files(...)`: record a version of files by content, in the background.

Each call becomes a job on the run's tracking thread (one per run, so calls on a field apply in order):
list the files, hash what the hash cache does not know, and, only when the set hash or the files'
locations differ from the field's current version, stage the file list as a blob and journal one
`AssignArtifact`. The training loop never waits for it unless it passes `wait=True`; `run.stop()`
waits for unfinished jobs, so a version tracked before stopping is never lost.

A location that cannot be tracked (missing path, unreadable file, bucket without access) does not fail
the run: in the background it warns (DespinaWarning) and the job keeps the error; with `wait=True` it
raises TrackedFilesError at the call site. Either way the field keeps its previous version.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from despina.client import field_types as ft
from despina.client.artifact_manifest import MANIFEST_EXTENSION, Manifest
from despina.client.hash_cache import HashCache, cache_for_home
from despina.client.locations import Progress, is_s3, scan
from despina.client.operations import ArtifactRef, AssignArtifact
from despina.client.paths import check_user_writable
from despina.exceptions import DespinaWarning, FieldTypeError, TrackedFilesError
from despina.types import File

if TYPE_CHECKING:
    from despina.client.run import Run

# Progress goes to stderr for jobs that run longer than PROGRESS_AFTER seconds, every PROGRESS_EVERY.
PROGRESS_AFTER = 2.0
PROGRESS_EVERY = 10.0


class TrackingJob:
    """One `track_files` call. `progress` counts files and bytes; once `done`, `changed` says whether a
    new version was recorded (`artifact`), or `error` why nothing was."""

    def __init__(self, field_path: str, location: str, destination: str | None) -> None:
        self.field = field_path
        self.location = location
        self.destination = destination
        self.progress = Progress()
        self.changed: bool | None = None
        self.artifact: ArtifactRef | None = None
        self.error: TrackedFilesError | None = None
        self.started = time.monotonic()
        self._done = threading.Event()

    def __repr__(self) -> str:
        state = "running" if not self.done else ("failed" if self.error else "done")
        return f"<TrackingJob {self.location!r} -> {self.field!r}, {state}>"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done (or `timeout` seconds pass); True when done."""
        return self._done.wait(timeout)

    def describe_progress(self) -> str:
        p = self.progress
        if p.phase == "listing":
            return f"listing {self.location} ({p.files_total:,} files so far)"
        return (
            f"{p.files_done:,} of {p.files_total:,} files hashed "
            f"({_size(p.bytes_done)} of {_size(p.bytes_total)}; {p.cached:,} unchanged since last time)"
        )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@dataclass
class _Version:
    """A field's current version as this process knows it."""

    artifact: ArtifactRef
    manifest: bytes
    locations: str  # digest of the files' locations: moved files are a new version even with equal hashes


@dataclass
class _RunTracking:
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="despina-track")
    )
    versions: dict[str, _Version] = field(default_factory=dict)
    jobs: list[TrackingJob] = field(default_factory=list)
    cache: HashCache | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_runs: weakref.WeakKeyDictionary[Run, _RunTracking] = weakref.WeakKeyDictionary()
_runs_lock = threading.Lock()


def _tracking(run: Run) -> _RunTracking:
    with _runs_lock:
        state = _runs.get(run)
        if state is None:
            state = _runs[run] = _RunTracking()
        return state


def _locations_digest(manifest: Manifest) -> str:
    digest = hashlib.sha256()
    for file in manifest.files:
        digest.update(file.location.encode() + b"\n")
    return digest.hexdigest()


def track_files(
    run: Run, path: str, location: str, destination: str | None = None, wait: bool = False
) -> TrackingJob:
    """Start tracking `location` into the artifact field `path` (see the module docstring)."""
    run._check_writable()
    check_user_writable(path)
    if not isinstance(location, str) or not location:
        raise FieldTypeError(f"track_files({path!r}) takes a path, glob or s3:// URL, not {location!r}")
    if destination is not None and (not isinstance(destination, str) or destination.strip("/") == ""):
        raise FieldTypeError(
            f"destination for {path!r} must be a non-empty relative path, not {destination!r}"
        )
    if not is_s3(location) and not os.path.isabs(os.path.expanduser(location)):
        location = os.path.abspath(location)  # the working directory may change before the job runs
    new_field = run._type_of(path) is None
    run._declare(path, ft.ARTIFACT)
    state = _tracking(run)
    job = TrackingJob(path, location, destination)
    with state.lock:
        state.jobs = [j for j in state.jobs if not j.done] + [job]
    state.executor.submit(_run_job, run, state, job, wait, new_field)
    if wait:
        job.wait()
        run._after_write(True)
        if job.error is not None:
            raise job.error
    return job


def _run_job(run: Run, state: _RunTracking, job: TrackingJob, raises: bool, new_field: bool) -> None:
    reporter = threading.Thread(target=_report, args=(job,), name="despina-track-progress", daemon=True)
    reporter.start()
    try:
        _track(run, state, job)
    except TrackedFilesError as exc:
        job.error = exc
    except Exception as exc:  # never into the training loop: this is a background thread
        job.error = TrackedFilesError(
            f"tracking {job.location} into {job.field!r} failed: {type(exc).__name__}: {exc}"
        )
    finally:
        if job.error is not None and new_field and job.field not in state.versions:
            run._types.pop(job.field, None)  # nothing was recorded: the path is free for another type
        job.progress.phase = "done"
        job._done.set()
    if job.error is not None and not raises:
        warnings.warn(
            f"Despina did not record a new version of {job.field!r} of run {run._label()}: {job.error}. "
            "The run goes on; the field keeps its previous version.",
            DespinaWarning,
            stacklevel=1,
        )


def _report(job: TrackingJob) -> None:
    if job.wait(PROGRESS_AFTER):
        return
    while True:
        print(f"Despina: tracking {job.field}: {job.describe_progress()}", file=sys.stderr, flush=True)
        if job.wait(PROGRESS_EVERY):
            p = job.progress
            if job.error is None:
                print(
                    f"Despina: tracking {job.field}: done, {p.files_total:,} files "
                    f"({_size(p.bytes_total)}), {p.hashed:,} hashed, {p.cached:,} from the cache",
                    file=sys.stderr,
                    flush=True,
                )
            return


def _track(run: Run, state: _RunTracking, job: TrackingJob) -> None:
    cache = None
    if not is_s3(job.location):
        with state.lock:
            if state.cache is None:
                state.cache = cache_for_home(run._settings.home)
            cache = state.cache
    manifest = scan(job.location, job.destination, cache, job.progress)
    previous = state.versions.get(job.field) or _stored_version(run, job.field)
    if job.destination is not None and previous is not None:
        # Like Neptune: files tracked into another destination of the same field stay; what was under
        # this destination is replaced by what is there now.
        prefix = job.destination.strip("/") + "/"
        kept = [f for f in Manifest.from_bytes(previous.manifest).files if not f.path.startswith(prefix)]
        manifest = Manifest(tuple(kept) + manifest.files, manifest.notes)
    locations = _locations_digest(manifest)
    if previous is not None and (previous.artifact.hash, previous.locations) == (manifest.hash, locations):
        job.changed = False
        job.artifact = previous.artifact
        return
    data = manifest.to_bytes()
    ref = run._stage(File.from_content(data, extension=MANIFEST_EXTENSION), "files")
    artifact = ArtifactRef(manifest.hash, len(manifest.files), manifest.total_size, ref.sha256)
    if run._stopped:
        raise TrackedFilesError(f"run {run._label()} was stopped before {job.location} was tracked")
    run._declare(job.field, ft.ARTIFACT)  # again: an earlier job that failed may have freed the path
    run._emit(AssignArtifact(job.field, artifact, ref), False)
    state.versions[job.field] = _Version(artifact, data, locations)
    job.changed = True
    job.artifact = artifact


def _stored_version(run: Run, path: str) -> _Version | None:
    """The field's version in the store (a resumed run), or None."""
    if not run._can_read() or run._type_of(path) != ft.ARTIFACT or run._backend is None:
        return None
    assert run.id is not None
    try:
        stored = run._backend.fields(run.project, run.id, path).get(path)
        if stored is None or not isinstance(stored.value, ArtifactRef):
            return None
        with run._backend.open_blob(run.project, stored.value.manifest) as stream:
            data = stream.read()
    except Exception:  # cannot compare: record the new version, which is never wrong
        return None
    return _Version(stored.value, data, _locations_digest(Manifest.from_bytes(data)))


def load_manifest(run: Run, artifact: ArtifactRef) -> Manifest:
    """The file list of an artifact field's value (from memory when this process tracked it)."""
    state = _runs.get(run)
    if state is not None:
        for version in state.versions.values():
            if version.artifact.manifest == artifact.manifest:
                return Manifest.from_bytes(version.manifest)
    backend = run._require_store()
    with backend.open_blob(run.project, artifact.manifest) as stream:
        return Manifest.from_bytes(stream.read())


def wait_for_tracking(run: Run) -> None:
    """Let unfinished `track_files` jobs of `run` finish (called by `run.stop()`)."""
    state = _runs.get(run)
    if state is None:
        return
    with state.lock:
        pending = [job for job in state.jobs if not job.done]
    for job in pending:
        print(
            f"Despina: waiting for tracking of {job.location} into {job.field!r} to finish "
            f"({job.describe_progress()})",
            file=sys.stderr,
            flush=True,
        )
        job.wait()
    state.executor.shutdown(wait=True)
    if state.cache is not None:
        state.cache.close()
    with _runs_lock:
        _runs.pop(run, None)


def download_destination(path: str, destination: str | os.PathLike[str] | None) -> Path:
    """Where `download` writes an artifact: `destination`, or a folder named after the field."""
    return Path(destination) if destination is not None else Path(path.rsplit("/", 1)[-1])
