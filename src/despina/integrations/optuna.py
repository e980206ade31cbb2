"""Optuna integration: log a study to a Despina run with the field layout of Neptune's Optuna integration.

    import despina
    from despina.integrations.optuna import DespinaCallback

    run = despina.init_run(project="team/hpo", tags=["sweep"])
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=50, callbacks=[DespinaCallback(run)])
    run.stop()

The fields are those of neptune-optuna (paths relative to `base_namespace`; N = the trial number), so
dashboards and habits built on them carry over:

- `trials/trials/N/` per finished trial: `params/<p>`, `distributions/<p>`, `value` (or
  `values/<objective>`), `state`, `datetime_start`, `datetime_complete`, `duration`, `user_attrs/<k>`,
  `intermediate_values/<step>`; the series `trials/values` (`trials/values/<objective>` for several
  objectives), `trials/params/<p>` and `trials/values|params`, one point per trial at step N;
- `best/`: `value` (or `values/<objective>`), `params/<p>`, `value|params` and `trials/N/` for the best
  trial, or for every trial of the Pareto front of a multi-objective study;
- `study/`: `study_name`, `direction` (or `directions/<i>`), `distributions/<p>`, `user_attrs/<k>`,
  `storage_type`, `storage_url` or the pickled study `study/study`, `_study_id`, `_storage`;
- `visualizations/plot_*` (`visualizations/<objective>/plot_*` and `visualizations/plot_pareto_front`
  for several objectives): Optuna's plots as interactive HTML pages;
- `source_code/integrations/despina-optuna` (on the run itself): the optuna version.

Where Despina differs from neptune-optuna, on purpose:

- every direction of a multi-objective study is logged (`study/directions/<i>`), where Neptune dropped
  the list; directions read "StudyDirection.MAXIMIZE" on every Python version;
- `state` is logged for every trial, COMPLETE ones included, so the state column is never empty;
- a trial without a value (failed, or pruned before reporting) logs no value rather than the text
  "None", so `trials/values` stays a float series even when the first trial fails;
- `best/` is written only once some trial is COMPLETE, and `best/trials/` keeps only the current best
  trial(s): entries of trials that are no longer best are removed;
- study details are logged on the first call of a callback (not only for trial 0, so a resumed study
  gets them too);
- trials are numbered by `trial.number`, not by the storage's internal trial id (they differ when an
  RDB storage holds several studies);
- every trials/ series (`trials/params/<p>` and `trials/values|params` too) is stepped by trial number,
  so the points of one trial line up across series;
- a parameter has one type in every trial: a categorical parameter whose choices mix types is logged as
  text (Neptune switched types from trial to trial, which breaks a series and a table column);
- the Pareto front is drawn with the matplotlib backend too, when Optuna can.

Threads (`study.optimize(..., n_jobs=4)`): Optuna calls the callback from every worker thread, so all
writes to the study run go through one lock per run. Trials may finish out of order: a series point is
appended at step N only when N is greater than the last step of that series; a trial that finishes after
a later-numbered one is still logged in full under `trials/trials/N/`, only not in the series.

Trials as runs (`DespinaCallback(run, trial_runs=True)`): each finished trial is also a run of its own in
the study run's project, named "trial-N" and tagged "optuna-trial", carrying `parameters/<p>`, `value`
(or `values/<objective>`), `state` ("COMPLETE", "PRUNED", "FAIL"), `intermediate_values` (a float series
at Optuna's steps), `duration_s`, `datetime_start`, `datetime_complete`, `user_attrs/<k>` and, to link it
to the study run, `sweep/run_id`, `sweep/trial_number` and `sweep/study_name`; the study run gets
`sweep/trial_runs/N` = the trial run's id. The runs table then filters, sorts and compares trials like
any run: `despina.init_project(...).fetch_runs_table(tags="optuna-trial")`.

To log from inside the objective (per-epoch curves, say), open the trial's run early with
:func:`trial_run` (or the :func:`with_trial_run` decorator); the callback then completes that same run.
A trial run is keyed by the study run and the trial number (custom run id "<study run id>-trial-N"), so
another process logging the same trial joins the same run. It also carries `distributions/<p>` (Optuna's
JSON form), and the study run `sweep/objectives/<i>` and `sweep/directions/<i>`: what the server needs
to draw the study's plots from the trial runs (:func:`study_plots`, `despina.store.sweep_plots`), so a
study of thousands of trials needs no plot file (`plots_update_freq="never"`).

Distributed sweeps (:func:`sweep_study`, `despina sweep run`): worker processes, on one machine or
several, optimize one study through Optuna's RDB storage (PostgreSQL) and log into one study run, which
each finds by a custom run id derived from the storage and the study (:func:`sweep_run_id`). Each worker
writes only its own trials' paths (`trials/trials/N/`, `sweep/trial_runs/N`, the trial runs); the
trials/ series are left out (several workers' points would arrive out of step order), and best/ and
study/ are worked out from the storage, the source of truth, after each trial and once more when a
worker or `despina sweep run` ends (:func:`finalize_sweep`). A database password in the storage URL is
logged masked.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import os
import pickle
import re
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from despina.client.handler import Handler
from despina.client.run import Run, init_run
from despina.exceptions import (
    DespinaConfigError,
    DespinaError,
    DespinaWarning,
    FieldPathError,
    FieldTypeError,
    MissingFieldError,
    StepOrderError,
)
from despina.store.sweep_plots import TRIAL_RUN_TAG, logged_choice
from despina.types import File
from despina.utils import stringify_unsupported

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study, StudyDirection
    from optuna.trial import FrozenTrial, Trial

__all__ = [
    "ENV_SWEEP_ID",
    "ENV_SWEEP_STORAGE",
    "ENV_SWEEP_STUDY",
    "ENV_SWEEP_TRIALS",
    "ENV_SWEEP_WORKER_TRIALS",
    "INTEGRATION_VERSION_KEY",
    "SWEEP_RUN_TAG",
    "TRIAL_RUN_TAG",
    "DespinaCallback",
    "OptunaLoggingWarning",
    "Sweep",
    "SweepSummary",
    "finalize_sweep",
    "load_study_from_run",
    "log_study_metadata",
    "study_plots",
    "sweep_run_id",
    "sweep_study",
    "trial_run",
    "with_trial_run",
]

INTEGRATION_VERSION_KEY = "source_code/integrations/despina-optuna"

_R = TypeVar("_R")
Frequency: TypeAlias = int | Literal["never"]


class OptunaLoggingWarning(DespinaWarning):
    """A field of the study could not be logged (an odd parameter name, a plot Optuna could not draw).

    The callback warns rather than raises: a logging problem must not stop an optimization that may
    have run for hours.
    """


# -- optuna, imported lazily --------------------------------------------------------------------------


def _require_optuna() -> ModuleType:
    """Import optuna, or say how to install it: the integration is an optional extra."""
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(
            'despina.integrations.optuna needs optuna; install it with `pip install "despina[optuna]"`'
        ) from exc
    return optuna


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn(message: str) -> None:
    """Warn once per message: a study of 1000 trials must not print the same warning 1000 times."""
    with _warned_lock:
        if message in _warned:
            return
        _warned.add(message)
    warnings.warn(message, OptunaLoggingWarning, stacklevel=3)


# -- writing fields, guarded --------------------------------------------------------------------------


def _resolve(run: Run | Handler, base_namespace: str) -> tuple[Run, str]:
    """The root run and the namespace (possibly "") that paths are relative to."""
    if isinstance(run, Handler):
        root, prefix = run.get_root_object(), run.path
    elif isinstance(run, Run):
        root, prefix = run, ""
    else:
        raise TypeError(
            f"run must be a despina Run or a namespace of one (run['hpo']), not {type(run).__name__}"
        )
    if not isinstance(base_namespace, str):
        raise TypeError(f"base_namespace must be a str, not {type(base_namespace).__name__}")
    parts = [p for p in (prefix, base_namespace.strip("/")) if p]
    return root, "/".join(parts)


def _join(base: str, sub: str) -> str:
    return f"{base}/{sub}" if base else sub


def _assign(run: Run, path: str, value: Any) -> None:
    """Set a field (a mapping: every leaf under `path`); None is skipped, bad names only warn."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _assign(run, f"{path}/{key}", item)
        return
    if value is None:
        return
    try:
        run[path] = value
    except (FieldPathError, FieldTypeError) as exc:
        _warn(f"Despina could not log {path!r}: {exc}")


def _append(run: Run, path: str, value: Any, step: float) -> bool:
    """Append a series point at `step`; False (and nothing logged) when the series is already past it."""
    try:
        run[path].append(value, step=step)
    except StepOrderError:
        return False
    except (FieldPathError, FieldTypeError) as exc:
        _warn(f"Despina could not log {path!r}: {exc}")
        return False
    return True


_root_locks: weakref.WeakKeyDictionary[Run, threading.RLock] = weakref.WeakKeyDictionary()
_root_locks_guard = threading.Lock()


def _lock_for(root: Run) -> threading.RLock:
    """One lock per run, shared by every callback and helper of this module that writes to it."""
    with _root_locks_guard:
        lock = _root_locks.get(root)
        if lock is None:
            lock = _root_locks[root] = threading.RLock()
        return lock


class _StudyLog:
    """Where one study is logged (a run and a namespace), and what was logged there already."""

    def __init__(self, run: Run | Handler, base_namespace: str) -> None:
        self.root, self.base = _resolve(run, base_namespace)
        self.lock = _lock_for(self.root)
        self.last_steps: dict[str, float] = {}
        self.best_numbers: set[int] | None = None  # None: not looked up in the run yet
        self.best_top: int | None = None
        self.details_logged = False

    def path(self, sub: str) -> str:
        return _join(self.base, sub)

    def put(self, sub: str, value: Any) -> None:
        _assign(self.root, self.path(sub), value)

    def append(self, sub: str, value: Any, step: int) -> None:
        """Append at step `step` only past the series' last step (threads finish trials out of order)."""
        path = self.path(sub)
        last = self.last_steps.get(path)
        if last is not None and step <= last:
            return
        if _append(self.root, path, value, step):
            self.last_steps[path] = step

    def delete(self, sub: str) -> None:
        path = self.path(sub)
        if not self.root.exists(path):
            return
        try:
            self.root.pop(path)
        except MissingFieldError:
            # Written by another process sharing the run (a distributed sweep): this writer learns the
            # run's fields from the store, then may delete it.
            self.root.sync()
            if self.root.exists(path):
                self.root.pop(path)

    def existing_best_numbers(self) -> set[int]:
        """Trial numbers under best/trials/ already in the run (a resumed run, an earlier callback)."""
        path = self.path("best/trials")
        try:
            if not self.root.exists(path):
                return set()
            tree = self.root[path].fetch()
        except DespinaError:  # offline or debug: nothing to read; only this process's writes count
            return set()
        return {int(key) for key in tree if isinstance(key, str) and key.isdigit()}


# -- what a trial and a study become ------------------------------------------------------------------


def _objective_names(study: Study, target_names: Sequence[str] | None) -> list[str]:
    """Names of the objectives: neptune-optuna's defaults, or the user's `target_names`."""
    count = len(study.directions)
    if target_names is None:
        return ["objective_value"] if count == 1 else [f"objective_{i}" for i in range(count)]
    names = list(target_names)
    if len(names) != count:
        raise ValueError(
            f"target_names has {len(names)} name(s) but the study has {count} objective(s): {names!r}"
        )
    return names


def _direction(direction: StudyDirection) -> str:
    """'StudyDirection.MAXIMIZE' on every Python (str() of an IntEnum is '2' from Python 3.11 on)."""
    return f"StudyDirection.{direction.name}"


def _trial_fields(trial: FrozenTrial, names: Sequence[str]) -> dict[str, Any]:
    """The fields of trials/trials/N/ (and best/trials/N/), relative to that namespace."""
    fields: dict[str, Any] = {
        "datetime_start": trial.datetime_start,
        "datetime_complete": trial.datetime_complete,
        "duration": None if trial.duration is None else str(trial.duration),
        "distributions": {name: str(dist) for name, dist in trial.distributions.items()},
        "intermediate_values": {str(step): float(v) for step, v in trial.intermediate_values.items()},
        "params": _params(trial),
        "user_attrs": stringify_unsupported(trial.user_attrs),
        "state": repr(trial.state),
    }
    if len(names) > 1:
        if trial.values is not None:
            fields["values"] = {name: float(v) for name, v in zip(names, trial.values, strict=False)}
    elif trial.value is not None:
        fields["value"] = float(trial.value)
    return fields


def _param_value(distribution: BaseDistribution | None, value: Any) -> Any:
    """A parameter as logged: one type per parameter in every trial, so that trials compare as one
    column (a categorical parameter whose choices mix types, e.g. ("relu", None, 1), is logged as text)."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        return stringify_unsupported(logged_choice(distribution.choices, value))
    return stringify_unsupported(value)


def _params(trial: FrozenTrial | Trial) -> dict[str, Any]:
    distributions = trial.distributions
    return {name: _param_value(distributions.get(name), value) for name, value in trial.params.items()}


def _series_point(distribution: BaseDistribution | None, value: Any) -> float | str:
    """A parameter's point in trials/params/<p>: a number, or text (a series keeps the type of its
    first point)."""
    logged = _param_value(distribution, value)
    if isinstance(logged, (int, float)) and not isinstance(logged, bool):
        return float(logged)
    return str(logged)


def _log_trial(log: _StudyLog, trial: FrozenTrial, names: Sequence[str], series: bool = True) -> None:
    """trials/trials/N/ and (with `series`) the trial's points in the trials/ series."""
    number = trial.number
    log.put(f"trials/trials/{number}", _trial_fields(trial, names))
    if not series:
        return
    if len(names) > 1:
        if trial.values is not None:
            for name, value in zip(names, trial.values, strict=False):
                log.append(f"trials/values/{name}", float(value), number)
    else:
        if trial.value is not None:
            log.append("trials/values", float(trial.value), number)
        log.append("trials/values|params", f"value: {trial.value}| params: {trial.params}", number)
    for name, value in trial.params.items():
        log.append(f"trials/params/{name}", _series_point(trial.distributions.get(name), value), number)


def _best_trials(study: Study) -> list[FrozenTrial]:
    """The best trial, or the Pareto front; empty while no trial is COMPLETE."""
    if len(study.directions) > 1:
        return list(study.best_trials)
    try:
        return [study.best_trial]
    except ValueError:  # no COMPLETE trial yet (the first trials failed or were pruned)
        return []


def _log_best(log: _StudyLog, study: Study, names: Sequence[str], shared: bool = False) -> None:
    """best/: rewritten only when the best trial(s) change; stale best/trials/N entries are removed.

    `shared`: other processes write best/ too, so what is under best/trials/ is read again from the
    run (with what this process wrote and may not have sent yet) rather than remembered."""
    best = _best_trials(study)
    if not best:
        return
    numbers = {trial.number for trial in best}
    if shared:
        known = (log.best_numbers or set()) | log.existing_best_numbers()
    else:
        known = log.best_numbers if log.best_numbers is not None else log.existing_best_numbers()
    for stale in sorted(known - numbers):
        log.delete(f"best/trials/{stale}")
    for trial in best:
        if trial.number not in known:
            log.put(f"best/trials/{trial.number}", _trial_fields(trial, names))
    log.best_numbers = numbers
    # As neptune-optuna: best/params and best/values of the last trial of the front (the only one for a
    # single objective).
    top = best[-1]
    if log.best_top == top.number:
        return
    log.delete("best/params")  # the new best may have other parameters (conditional search spaces)
    log.put("best/params", _params(top))
    if len(names) > 1:
        if top.values is not None:
            log.put("best/values", {name: float(v) for name, v in zip(names, top.values, strict=False)})
    elif top.value is not None:
        log.put("best/value", float(top.value))
        log.put("best/value|params", f"value: {top.value}| params: {top.params}")
    log.best_top = top.number


def _log_study_details(log: _StudyLog, study: Study) -> None:
    log.put("study/study_name", study.study_name)
    if len(study.directions) > 1:
        for index, direction in enumerate(study.directions):
            log.put(f"study/directions/{index}", _direction(direction))
    else:
        log.put("study/direction", _direction(study.direction))
    log.put("study/user_attrs", stringify_unsupported(study.user_attrs))
    study_id = getattr(study, "_study_id", None)
    if isinstance(study_id, int):
        log.put("study/_study_id", study_id)
    storage = getattr(study, "_storage", None)
    if storage is not None:
        log.put("study/_storage", str(storage))


def _log_sweep_shape(root: Run, study: Study, names: Sequence[str]) -> None:
    """What the server's sweep plots read on the study run: its objectives and their directions."""
    _assign(root, "sweep/study_name", study.study_name)
    for index, (name, direction) in enumerate(zip(names, study.directions, strict=True)):
        _assign(root, f"sweep/objectives/{index}", name)
        _assign(root, f"sweep/directions/{index}", direction.name)


def _reconcile(log: _StudyLog, study: Study, names: Sequence[str]) -> None:
    """Rewrite the study-level fields (study/, best/) from the storage, the source of truth: what a
    distributed sweep's last word must be, whatever order its workers' writes arrived in."""
    log.best_numbers = None
    log.best_top = None
    _log_best(log, study, names, shared=True)
    _log_study_details(log, study)
    _log_study(log, study)


def _log_distributions(log: _StudyLog, trial: FrozenTrial) -> None:
    for name, distribution in trial.distributions.items():
        log.put(f"study/distributions/{name}", str(distribution))


def _storage_location(storage: Any) -> tuple[str, str | None]:
    """(storage type, URL) as neptune-optuna names them; JournalStorage added (its file or Redis URL)."""
    import optuna.storages as storages

    if type(storage) is storages.InMemoryStorage:
        return "InMemoryStorage", None
    redis_storage = getattr(storages, "RedisStorage", None)  # removed in optuna 3.1
    if redis_storage is not None and isinstance(storage, redis_storage):
        return "RedisStorage", str(getattr(storage, "_url", ""))
    if isinstance(storage, storages._CachedStorage):
        storage = getattr(storage, "_backend", storage)
    if isinstance(storage, storages.RDBStorage):
        return "RDBStorage", _without_password(str(storage.url))
    if isinstance(storage, storages.JournalStorage):
        backend = getattr(storage, "_backend", None)
        location = getattr(backend, "_file_path", None) or getattr(backend, "_url", None)
        if isinstance(location, str):
            return "JournalStorage", location
    return "unknown storage type", "unknown storage url"


def _without_password(url: str) -> str:
    """A database URL as logged: everyone who can read the run sees it, so its password is masked."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return url
    return parsed.render_as_string(hide_password=True) if parsed.password else url


def _pickle_study(study: Study) -> File:
    """The pickled study, taken under the in-memory storage's lock: other threads add trials meanwhile."""
    lock = getattr(getattr(study, "_storage", None), "_lock", None)
    guard = lock if lock is not None and hasattr(lock, "__enter__") else contextlib.nullcontext()
    with guard:
        return File.as_pickle(study)


def _log_study(log: _StudyLog, study: Study) -> None:
    """What load_study_from_run needs: the pickled study (in memory) or where its storage is."""
    log.put("study/study_name", study.study_name)
    log.put("study/user_attrs", stringify_unsupported(study.user_attrs))
    storage_type, url = _storage_location(getattr(study, "_storage", None))
    log.put("study/storage_type", storage_type)
    if storage_type == "InMemoryStorage":
        log.put("study/study", _pickle_study(study))
    else:
        log.put("study/storage_url", url)


# -- plots ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlotOptions:
    backend: str
    contour: bool
    edf: bool
    parallel_coordinate: bool
    param_importances: bool
    pareto_front: bool
    slice: bool
    intermediate_values: bool
    optimization_history: bool


def _visualization_module(backend: str) -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's matplotlib helpers are "experimental"
        vis = importlib.import_module(
            "optuna.visualization.matplotlib" if backend == "matplotlib" else "optuna.visualization"
        )
        available = bool(vis.is_available())
    if not available:
        _warn(f"Despina logs no Optuna plots: the {backend} backend is not installed (pip install {backend})")
        return None
    return vis


def _html(figure: Any, backend: str) -> File:
    """An interactive plotly page, or (matplotlib) a page showing the figure; matplotlib figures are
    closed once converted, or a long study would keep every figure it ever drew in memory."""
    if backend == "plotly":
        return File.as_html(figure)
    axes = figure.flat[0] if hasattr(figure, "flat") else figure  # several params: an array of Axes
    mpl_figure = axes.get_figure()
    try:
        return File.as_html(mpl_figure)
    finally:
        import matplotlib.pyplot as plt

        plt.close(mpl_figure)


def _draw(log: _StudyLog, sub: str, backend: str, make: Callable[[], Any]) -> None:
    """Draw one plot and store it; a plot Optuna cannot draw for this study only warns."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            file = _html(make(), backend)
    except Exception as exc:
        _warn(f"Despina could not draw {sub}: {type(exc).__name__}: {exc}")
        return
    log.put(sub, file)


def _log_plots(log: _StudyLog, study: Study, names: Sequence[str], options: _PlotOptions) -> None:
    from optuna.trial import TrialState

    vis = _visualization_module(options.backend)
    if vis is None:
        return
    trials = study.get_trials(deepcopy=False)
    has_params = any(trial.params for trial in trials)
    scored = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    multi = len(names) > 1
    backend = options.backend
    for index, name in enumerate(names):
        prefix = f"visualizations/{name}" if multi else "visualizations"
        target = _objective(index) if multi else None
        wanted = {
            "plot_contour": options.contour and has_params,
            "plot_edf": options.edf,
            "plot_parallel_coordinate": options.parallel_coordinate,
            "plot_param_importances": options.param_importances and scored > 1,
            "plot_slice": options.slice and has_params,
            "plot_optimization_history": options.optimization_history,
        }
        for kind, enabled in wanted.items():
            if enabled:
                make = functools.partial(getattr(vis, kind), study, target=target, target_name=name)
                _draw(log, f"{prefix}/{kind}", backend, make)
        if not multi and options.intermediate_values and any(trial.intermediate_values for trial in trials):
            _draw(
                log,
                f"{prefix}/plot_intermediate_values",
                backend,
                functools.partial(vis.plot_intermediate_values, study),
            )
    if multi and options.pareto_front and hasattr(vis, "plot_pareto_front"):
        make = functools.partial(vis.plot_pareto_front, study, target_names=list(names))
        _draw(log, "visualizations/plot_pareto_front", backend, make)


def _objective(index: int) -> Callable[[FrozenTrial], float]:
    """The plot target of one objective of a multi-objective study."""

    def target(trial: FrozenTrial) -> float:
        return float(trial.values[index])

    return target


# -- trials as runs ------------------------------------------------------------------------------------

_registry_lock = threading.Lock()
# Creating and stopping runs from several threads at once is serialised: it touches process-wide
# state (the live-run set, console capture, exit hooks) that is not meant for concurrent changes.
_lifecycle_lock = threading.RLock()
_open_trial_runs: dict[str, Run] = {}  # trial runs opened by trial_run(), waiting for the callback
_failed_trial_runs: dict[str, str | None] = {}  # trial runs trial_run() closed as failed: their ids
_sweeps: weakref.WeakValueDictionary[str, DespinaCallback] = weakref.WeakValueDictionary()

# A run the callback opens for a trial that has already finished records nothing live.
_AFTER_THE_FACT: dict[str, Any] = {
    "capture_stdout": False,
    "capture_stderr": False,
    "capture_hardware_metrics": False,
}


def _sweep_key(root: Run) -> str:
    """What identifies the study run: its id, else (offline) its custom run id or its journal."""
    if root.id is not None:
        return root.id
    return root.custom_run_id or f"offline-{root.writer_id}"


def _trial_run_key(root: Run, number: int) -> str:
    """The custom run id of a trial's run: the same in every process that logs this trial."""
    return f"{_sweep_key(root)}-trial-{number}"


def _open_trial_run(root: Run, number: int, study_name: str | None, options: Mapping[str, Any]) -> Run:
    if root.mode == "read-only":
        raise DespinaConfigError(
            f"the study run {root.id} is open read-only; trial runs need a study run that can be written"
        )
    kwargs: dict[str, Any] = {"mode": root.mode, "name": f"trial-{number}", **options}
    extra_tags = kwargs.pop("tags", None) or ()
    tags = [TRIAL_RUN_TAG, *([extra_tags] if isinstance(extra_tags, str) else extra_tags)]
    for fixed in ("project", "custom_run_id", "with_id"):
        if kwargs.pop(fixed, None) is not None:
            raise DespinaConfigError(
                f"a trial run's {fixed} is set by the Optuna integration; do not pass it"
            )
    with _lifecycle_lock:
        run = init_run(project=root.project, custom_run_id=_trial_run_key(root, number), tags=tags, **kwargs)
    if root.id is not None:
        run["sweep/run_id"] = root.id
    run["sweep/trial_number"] = number
    if study_name:
        run["sweep/study_name"] = study_name
    return run


def _stop(run: Run) -> None:
    with _lifecycle_lock:
        run.stop()


def _write_trial_run(run: Run, trial: FrozenTrial, names: Sequence[str]) -> None:
    """The fields of a finished trial's own run."""
    from optuna.distributions import distribution_to_json

    _assign(run, "parameters", _params(trial))
    _assign(run, "distributions", {name: distribution_to_json(d) for name, d in trial.distributions.items()})
    if len(names) > 1:
        if trial.values is not None:
            _assign(run, "values", {name: float(v) for name, v in zip(names, trial.values, strict=False)})
    elif trial.value is not None:
        _assign(run, "value", float(trial.value))
    _assign(run, "state", trial.state.name)
    for step in sorted(trial.intermediate_values):
        _append(run, "intermediate_values", float(trial.intermediate_values[step]), step)
    if trial.duration is not None:
        _assign(run, "duration_s", trial.duration.total_seconds())
    _assign(run, "datetime_start", trial.datetime_start)
    _assign(run, "datetime_complete", trial.datetime_complete)
    _assign(run, "user_attrs", stringify_unsupported(trial.user_attrs))


def _finish_trial_run(root: Run, study: Study, trial: FrozenTrial, names: Sequence[str]) -> str | None:
    """Complete the trial's run (the one trial_run() opened, or a new one) and stop it; its id."""
    key = _trial_run_key(root, trial.number)
    with _registry_lock:
        run = _open_trial_runs.pop(key, None)
        failed = key in _failed_trial_runs
        failed_id = _failed_trial_runs.pop(key, None)
    if run is None and failed:
        # trial_run() already closed it as failed, with the traceback; reopening it would turn it back
        # into a finished run.
        return failed_id
    if run is None:
        run = _open_trial_run(root, trial.number, study.study_name, _AFTER_THE_FACT)
    try:
        _write_trial_run(run, trial, names)
    finally:
        _stop(run)
    return run.id


def _record_live_trial(run: Run, trial: Trial, state: str | None) -> None:
    """What trial_run() knows of a trial when the objective ends: parameters so far, user attributes.

    A failing trial's run is closed here, before Optuna records the trial, so it also gets its end
    time and duration as of now (Optuna's own are a few milliseconds later)."""
    _assign(run, "parameters", _params(trial))
    _assign(run, "user_attrs", stringify_unsupported(trial.user_attrs))
    _assign(run, "datetime_start", trial.datetime_start)
    if state is not None:
        _assign(run, "state", state)
    if state == "FAIL":
        now = datetime.now()  # naive local time, as Optuna's datetimes
        _assign(run, "datetime_complete", now)
        if trial.datetime_start is not None:
            _assign(run, "duration_s", (now - trial.datetime_start).total_seconds())


@contextlib.contextmanager
def trial_run(trial: Trial, study_run: Run | Handler, **init_run_kwargs: Any) -> Iterator[Run]:
    """Open the run of `trial` now, for the objective to log into (curves per epoch, artifacts...).

        def objective(trial):
            with trial_run(trial, study_run) as run:
                for epoch in range(10):
                    run["train/loss"].append(loss)
                ...
                return accuracy

        study.optimize(objective, callbacks=[DespinaCallback(study_run, trial_runs=True)])

    It is the run that `DespinaCallback(..., trial_runs=True)` completes once Optuna has finished the
    trial (value, state, intermediate values, duration): with such a callback on `study_run` in this
    process, the run stays open when the block ends and the callback stops it. Without one, the run
    gets the parameters and user attributes and is stopped when the block ends.

    An exception other than `optuna.TrialPruned` leaving the block (Optuna marks the trial FAIL) ends
    the run at once as failed, with its traceback, `state` = "FAIL", its end time and duration (not its
    intermediate values: Optuna has not handed the trial over yet); a pruned trial's run ends normally
    with `state` = "PRUNED". `init_run_kwargs` go to `despina.init_run` (`capture_hardware_metrics=False`,
    more `tags`, a `mode` other than the study run's...); the project and custom run id are the
    integration's.
    """
    optuna = _require_optuna()
    root, _ = _resolve(study_run, "")
    number = trial.number
    study = getattr(trial, "study", None)
    study_name = getattr(study, "study_name", None)
    run = _open_trial_run(root, number, study_name if isinstance(study_name, str) else None, init_run_kwargs)
    key = _trial_run_key(root, number)
    with _registry_lock:
        managed = _sweep_key(root) in _sweeps
        if managed:
            _open_trial_runs[key] = run
    try:
        yield run
    except optuna.TrialPruned:
        _record_live_trial(run, trial, "PRUNED")
        if not managed:
            _close_unmanaged(run, study_run, number)
        raise
    except BaseException as exc:
        _record_live_trial(run, trial, "FAIL")
        with _registry_lock:
            _open_trial_runs.pop(key, None)
            if managed:
                _failed_trial_runs[key] = run.id
        with _lifecycle_lock:
            run.__exit__(type(exc), exc, exc.__traceback__)  # failed, with the traceback
        if not managed:
            _link(study_run, number, run.id)
        raise
    else:
        _record_live_trial(run, trial, None)
        if not managed:
            _close_unmanaged(run, study_run, number)


def _close_unmanaged(run: Run, study_run: Run | Handler, number: int) -> None:
    _stop(run)
    _link(study_run, number, run.id)


def _link(study_run: Run | Handler, number: int, run_id: str | None) -> None:
    """sweep/trial_runs/N on the study run: where trial N's run is."""
    if run_id is None:
        return
    root, base = _resolve(study_run, "")
    with _lock_for(root):
        _assign(root, _join(base, f"sweep/trial_runs/{number}"), run_id)


def with_trial_run(
    study_run: Run | Handler, **init_run_kwargs: Any
) -> Callable[[Callable[[Trial, Run], _R]], Callable[[Trial], _R]]:
    """Decorator form of :func:`trial_run`: the objective takes the trial's run as second argument.

    @with_trial_run(study_run)
    def objective(trial, run):
        run["train/loss"].append(loss)
        return accuracy
    """

    def decorate(objective: Callable[[Trial, Run], _R]) -> Callable[[Trial], _R]:
        @functools.wraps(objective)
        def wrapped(trial: Trial) -> _R:
            with trial_run(trial, study_run, **init_run_kwargs) as run:
                return objective(trial, run)

        return wrapped

    return decorate


# -- the callback --------------------------------------------------------------------------------------


def _check_frequency(name: str, value: object) -> Frequency:
    if value == "never":
        return "never"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"{name} must be a positive int or 'never', not {value!r}")


def _due(frequency: Frequency, trial: FrozenTrial) -> bool:
    return frequency != "never" and trial.number % frequency == 0


def _check_backend(value: object) -> str:
    if value not in ("plotly", "matplotlib"):
        raise ValueError(f"visualization_backend must be 'plotly' or 'matplotlib', not {value!r}")
    return str(value)


def _check_target_names(value: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(name, str) and name.strip("/ ") for name in value):
        raise ValueError(f"target_names must be a list of non-empty names, not {value!r}")
    return list(value)


class DespinaCallback:
    """Log an Optuna study to a run as it optimizes: `study.optimize(objective, callbacks=[cb])`.

    `run` is a Run or a namespace of one (`run["hpo"]`); fields go under `base_namespace` inside it.
    Plots are redrawn every `plots_update_freq` trials and the study (pickled, or its storage URL)
    saved every `study_update_freq` trials ("never" turns either off); plots are interactive HTML pages
    (`visualization_backend="plotly"`) or pictures of matplotlib figures, each `log_plot_*` switch
    turning one plot off. Plotly pages embed plotly.js (about 5 MB each) so that they open without a
    network: for long studies, raise `plots_update_freq`, or call `log_study_metadata` once at the end.
    `target_names` names the objectives (default "objective_value", or "objective_<i>");
    `log_all_trials=False` skips `trials/` (best/, study/ and the plots are still logged).
    `trial_runs=True` also makes each finished trial a run of its own (see the module docstring).
    `distributed=True`: other processes optimize the same study (an RDB storage) and log into the same
    run, so each process writes only its own trials' paths: the trials/ series are left out (points from
    several workers arrive out of step order; the server draws the history from the trial runs, see
    :func:`study_plots`) and best/ is worked out from the storage after every trial (see
    :func:`sweep_study`, which sets this up).

    Safe with `n_jobs > 1`; a trial that fails (or a first trial that fails) is logged with its state.
    """

    def __init__(
        self,
        run: Run | Handler,
        base_namespace: str = "",
        plots_update_freq: Frequency = 1,
        study_update_freq: Frequency = 1,
        visualization_backend: Literal["plotly", "matplotlib"] = "plotly",
        log_plot_contour: bool = True,
        log_plot_edf: bool = True,
        log_plot_parallel_coordinate: bool = True,
        log_plot_param_importances: bool = True,
        log_plot_pareto_front: bool = True,
        log_plot_slice: bool = True,
        log_plot_intermediate_values: bool = True,
        log_plot_optimization_history: bool = True,
        target_names: Sequence[str] | None = None,
        log_all_trials: bool = True,
        trial_runs: bool = False,
        distributed: bool = False,
    ) -> None:
        optuna = _require_optuna()
        self._log = _StudyLog(run, base_namespace)
        self._plots_update_freq = _check_frequency("plots_update_freq", plots_update_freq)
        self._study_update_freq = _check_frequency("study_update_freq", study_update_freq)
        self._plots = _PlotOptions(
            backend=_check_backend(visualization_backend),
            contour=log_plot_contour,
            edf=log_plot_edf,
            parallel_coordinate=log_plot_parallel_coordinate,
            param_importances=log_plot_param_importances,
            pareto_front=log_plot_pareto_front,
            slice=log_plot_slice,
            intermediate_values=log_plot_intermediate_values,
            optimization_history=log_plot_optimization_history,
        )
        self._target_names = _check_target_names(target_names)
        self._names: list[str] | None = None
        self._log_all_trials = log_all_trials
        self._trial_runs = trial_runs
        self._distributed = distributed
        root = self._log.root
        with self._log.lock:
            root[INTEGRATION_VERSION_KEY] = str(optuna.__version__)
        if trial_runs:
            if root.mode == "read-only":
                raise DespinaConfigError(f"the study run {root.id} is open read-only; it cannot log a study")
            with _registry_lock:
                _sweeps[_sweep_key(root)] = self  # trial_run() leaves runs open for this callback

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        from optuna.trial import TrialState

        log = self._log
        with log.lock:
            if self._names is None:
                self._names = _objective_names(study, self._target_names)
            names = self._names
        trial_run_id = None
        if self._trial_runs:
            # First, and outside the study run's lock: the trial's run is done as soon as possible
            # (plots may take seconds), while other threads log their trials meanwhile.
            trial_run_id = _finish_trial_run(log.root, study, trial, names)
        with log.lock:
            if not log.details_logged:
                _log_study_details(log, study)
                if self._trial_runs:
                    _log_sweep_shape(log.root, study, names)
                log.details_logged = True
            if self._log_all_trials:
                _log_trial(log, trial, names, series=not self._distributed)
            if trial_run_id is not None:
                log.put(f"sweep/trial_runs/{trial.number}", trial_run_id)
            _log_distributions(log, trial)
            _log_best(log, study, names, shared=self._distributed)
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if complete and _due(self._plots_update_freq, trial):
                _log_plots(log, study, names, self._plots)
            if _due(self._study_update_freq, trial):
                _log_study(log, study)

    def reconcile(self, study: Study) -> None:
        """Rewrite study/ and best/ from the study's storage (a distributed sweep's final word)."""
        log = self._log
        with log.lock:
            if self._names is None:
                self._names = _objective_names(study, self._target_names)
            _reconcile(log, study, self._names)


# -- after the fact ------------------------------------------------------------------------------------


def log_study_metadata(
    study: Study,
    run: Run | Handler,
    base_namespace: str = "",
    log_plots: bool = True,
    log_study: bool = True,
    log_all_trials: bool = True,
    log_distributions: bool = True,
    visualization_backend: Literal["plotly", "matplotlib"] = "plotly",
    log_plot_contour: bool = True,
    log_plot_edf: bool = True,
    log_plot_parallel_coordinate: bool = True,
    log_plot_param_importances: bool = True,
    log_plot_pareto_front: bool = True,
    log_plot_slice: bool = True,
    log_plot_intermediate_values: bool = True,
    log_plot_optimization_history: bool = True,
    target_names: Sequence[str] | None = None,
) -> None:
    """Log a whole study at once (after `study.optimize`, or a study loaded from its storage).

    Writes what DespinaCallback writes over a study's life (every trial, best/, study/, the plots and
    the study itself), plus `study/distributions/trial/<i>/<param>` for every trial when
    `log_distributions`.
    """
    optuna = _require_optuna()
    from optuna.trial import TrialState

    log = _StudyLog(run, base_namespace)
    names = _objective_names(study, _check_target_names(target_names))
    options = _PlotOptions(
        backend=_check_backend(visualization_backend),
        contour=log_plot_contour,
        edf=log_plot_edf,
        parallel_coordinate=log_plot_parallel_coordinate,
        param_importances=log_plot_param_importances,
        pareto_front=log_plot_pareto_front,
        slice=log_plot_slice,
        intermediate_values=log_plot_intermediate_values,
        optimization_history=log_plot_optimization_history,
    )
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    with log.lock:
        log.root[INTEGRATION_VERSION_KEY] = str(optuna.__version__)
        _log_best(log, study, names)
        _log_study_details(log, study)
        if log_all_trials:
            for trial in trials:
                _log_trial(log, trial, names)
        if log_distributions:
            for index, trial in enumerate(trials):
                for name, distribution in trial.distributions.items():
                    log.put(f"study/distributions/trial/{index}/{name}", str(distribution))
        if log_plots and study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            _log_plots(log, study, names, options)
        if log_study:
            _log_study(log, study)


def load_study_from_run(run: Run | Handler, *, storage_url: str | None = None) -> Study:
    """The study a run logged: unpickled from `study/study` (in-memory storage), else loaded from its
    storage (`study/storage_url`), to look at it or to optimize further.

        run = despina.init_run(project="team/hpo", with_id="HPO-12")
        study = load_study_from_run(run)
        study.optimize(objective, n_trials=20, callbacks=[DespinaCallback(run)])

    A database password is not logged (`study/storage_url` shows it as ***): pass the full URL as
    `storage_url`. Only load runs you trust: the in-memory study is a pickle, and unpickling runs code.
    """
    optuna = _require_optuna()
    root, base = _resolve(run, "")

    def field(sub: str) -> Any:
        return root[_join(base, sub)].fetch()

    storage_type = field("study/storage_type")
    if storage_type == "InMemoryStorage":
        with tempfile.TemporaryDirectory(prefix="despina-optuna-") as folder:
            target = root[_join(base, "study/study")].download(Path(folder) / "study.pkl")
            with open(target, "rb") as stream:
                study = pickle.load(stream)
        if not isinstance(study, optuna.Study):
            raise TypeError(
                f"study/study of run {root.id} holds a {type(study).__name__}, not an optuna Study"
            )
        unpickled: Study = study
        return unpickled
    study_name = field("study/study_name")
    url = storage_url or field("study/storage_url")
    storage: Any
    if storage_type in ("RDBStorage", "RedisStorage"):
        storage = url
    elif storage_type == "JournalStorage":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

        backend = JournalRedisBackend(url) if url.startswith("redis") else JournalFileBackend(url)
        storage = JournalStorage(backend)
    else:
        raise ValueError(f"run {root.id} logged a study in {storage_type!r}, which Despina cannot reopen")
    loaded: Study = optuna.load_study(study_name=study_name, storage=storage)
    return loaded


# -- distributed sweeps --------------------------------------------------------------------------------

# What `despina sweep run` tells its workers (read by sweep_study when called, never at import).
ENV_SWEEP_STUDY = "DESPINA_SWEEP_STUDY"  # the study's name
ENV_SWEEP_STORAGE = "DESPINA_SWEEP_STORAGE"  # Optuna's storage URL, e.g. postgresql+psycopg://...
ENV_SWEEP_TRIALS = "DESPINA_SWEEP_TRIALS"  # finished trials the whole study stops at
ENV_SWEEP_WORKER_TRIALS = "DESPINA_SWEEP_WORKER_TRIALS"  # this worker's share of them
ENV_SWEEP_ID = "DESPINA_SWEEP_ID"  # the study run's custom run id, when not derived from the study
SWEEP_RUN_TAG = "optuna-sweep"

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def _storage_identity(url: str) -> str:
    """A storage URL without what differs between workers of one database: driver, user, password,
    spelling of the default port."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # not an SQLAlchemy URL (a journal file, Redis): the URL itself
        return url
    backend = parsed.get_backend_name()
    port = parsed.port or _DEFAULT_PORTS.get(backend) or ""
    return f"{backend}://{(parsed.host or '').lower()}:{port}/{parsed.database or ''}"


def sweep_run_id(study: Study) -> str:
    """The custom run id of the run that every worker of a distributed study logs into.

    Derived from the storage (database host, port and name: not the driver or the credentials), the
    study's name and its id in the storage, so that workers on other machines find the same run, and
    a study deleted and made again under the same name gets a new one. Workers that reach the database
    under different host names must agree on an id through DESPINA_SWEEP_ID instead.
    """
    storage_type, url = _storage_location(getattr(study, "_storage", None))
    if storage_type == "InMemoryStorage" or url is None:
        raise DespinaConfigError(
            f"study {study.study_name!r} is in memory: a distributed sweep needs a storage every worker "
            "reaches, e.g. storage='postgresql+psycopg://user:password@host/optuna'"
        )
    identity = f"{_storage_identity(url)}\n{study.study_name}\n{getattr(study, '_study_id', '')}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", study.study_name).strip("-")[:48] or "study"
    return f"optuna-{slug}-{digest}"


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise DespinaConfigError(f"{name}={raw!r} is not a whole number of trials") from None
    if value < 0:
        raise DespinaConfigError(f"{name}={raw!r} must not be negative")
    return value


def _finished_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class Sweep:
    """One worker's side of a distributed study: the study, the run it shares with the other workers,
    and the callback that logs this worker's trials into it. Made by :func:`sweep_study`.

    `n_trials` is the study's total (the study stops once it has that many finished trials, whoever ran
    them); `worker_trials` this worker's share (`despina sweep run` splits the total between its
    workers so that together they run exactly the total).
    """

    def __init__(
        self,
        study: Study,
        run: Run,
        callback: DespinaCallback,
        n_trials: int | None = None,
        worker_trials: int | None = None,
    ) -> None:
        self.study = study
        self.run = run
        self.callback = callback
        self.n_trials = n_trials
        self.worker_trials = worker_trials

    def optimize(
        self,
        objective: Callable[[Trial], Any],
        n_trials: int | None = None,
        *,
        callbacks: Sequence[Callable[[Study, FrozenTrial], None]] | None = None,
        **optimize_options: Any,
    ) -> None:
        """`study.optimize` for this worker's share of trials (or `n_trials`), stopping early once the
        study has `self.n_trials` finished trials; other `study.optimize` arguments pass through."""
        from optuna.study import MaxTrialsCallback

        budget = n_trials if n_trials is not None else self.worker_trials
        if budget is None:
            budget = self.n_trials
        if budget is None and optimize_options.get("timeout") is None:
            raise DespinaConfigError(
                f"the sweep of study {self.study.study_name!r} has no trial budget: pass n_trials, or set "
                f"{ENV_SWEEP_TRIALS} (`despina sweep run --trials` does)"
            )
        all_callbacks: list[Callable[[Study, FrozenTrial], None]] = [self.callback, *(callbacks or ())]
        if self.n_trials is not None:
            states = _finished_states()
            left = self.n_trials - len(self.study.get_trials(deepcopy=False, states=states))
            if left <= 0:
                return
            budget = left if budget is None else min(budget, left)
            all_callbacks.append(MaxTrialsCallback(self.n_trials, states=states))
        self.study.optimize(objective, n_trials=budget, callbacks=all_callbacks, **optimize_options)

    def close(self) -> None:
        """Write study/ and best/ once more from the storage, then stop this worker's writer of the run."""
        try:
            self.callback.reconcile(self.study)
        finally:
            _stop(self.run)

    def __enter__(self) -> Sweep:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sweep_study(
    study_name: str | None = None,
    storage: str | Any | None = None,
    *,
    n_trials: int | None = None,
    project: str | None = None,
    sweep_id: str | None = None,
    run_options: Mapping[str, Any] | None = None,
    callback_options: Mapping[str, Any] | None = None,
    **create_study_options: Any,
) -> Sweep:
    """Join (or start) a study that several processes optimize together, and its Despina run.

        def objective(trial):
            x = trial.suggest_float("x", -10, 10)
            return (x - 2) ** 2

        with sweep_study(direction="minimize") as sweep:  # the study and budget from despina sweep run
            sweep.optimize(objective)

    The study is `optuna.create_study(study_name, storage, load_if_exists=True, **create_study_options)`;
    `study_name`, `storage` and the budget default to DESPINA_SWEEP_STUDY, DESPINA_SWEEP_STORAGE,
    DESPINA_SWEEP_TRIALS (the study's total) and DESPINA_SWEEP_WORKER_TRIALS (this worker's share), which
    `despina sweep run` sets. Every worker logs into one run of `project` (default DESPINA_PROJECT),
    found by the custom run id :func:`sweep_run_id` (or `sweep_id` / DESPINA_SWEEP_ID), named after the
    study and tagged "optuna-sweep"; each trial is a run of its own (`trial_runs=True`) keyed by the study
    run and the trial number, so a trial is one run whichever worker reports it, however often.
    `run_options` go to `despina.init_run`, `callback_options` to :class:`DespinaCallback` (defaults here:
    `plots_update_freq="never"`, `study_update_freq="never"`, `trial_runs=True`, `distributed=True`: the
    server computes the plots, see :func:`study_plots`).
    """
    optuna = _require_optuna()
    study_name = study_name or os.environ.get(ENV_SWEEP_STUDY) or None
    storage = storage or os.environ.get(ENV_SWEEP_STORAGE) or None
    if not study_name or storage is None:
        raise DespinaConfigError(
            "a distributed sweep needs a study name and a storage: pass study_name= and storage=, or set "
            f"{ENV_SWEEP_STUDY} and {ENV_SWEEP_STORAGE} (`despina sweep run --study --storage` does)"
        )
    if n_trials is not None and (not isinstance(n_trials, int) or n_trials < 1):
        raise ValueError(f"n_trials must be a positive int, not {n_trials!r}")
    total = n_trials if n_trials is not None else _int_env(ENV_SWEEP_TRIALS)
    share = None if n_trials is not None else _int_env(ENV_SWEEP_WORKER_TRIALS)
    study = optuna.create_study(
        study_name=study_name, storage=storage, load_if_exists=True, **create_study_options
    )
    custom_run_id = sweep_id or os.environ.get(ENV_SWEEP_ID) or sweep_run_id(study)
    init_options: dict[str, Any] = {"name": study_name, "tags": [SWEEP_RUN_TAG], **(run_options or {})}
    with _lifecycle_lock:
        run = init_run(project=project, custom_run_id=custom_run_id, **init_options)
    options: dict[str, Any] = {
        "plots_update_freq": "never",
        "study_update_freq": "never",
        "trial_runs": True,
        "distributed": True,
        **(callback_options or {}),
    }
    try:
        callback = DespinaCallback(run, **options)
    except BaseException:
        _stop(run)
        raise
    return Sweep(study, run, callback, n_trials=total, worker_trials=share)


@dataclass(frozen=True)
class SweepSummary:
    """Where a distributed study stands: its run, trials by state, and finished trials whose trial run
    the study run does not link (none, when every worker reported every trial)."""

    study_name: str
    run_id: str | None
    states: dict[str, int]
    best_values: list[float] | None
    unlinked: list[int]


def finalize_sweep(
    study_name: str, storage: str | Any, *, project: str | None = None, sweep_id: str | None = None
) -> SweepSummary:
    """After the workers: write study/ and best/ of the study run from the storage (the last word,
    whatever order the workers' writes arrived in) and say what the study holds. `despina sweep run`
    calls it once its workers have ended; call it after workers started by hand on several machines."""
    optuna = _require_optuna()
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    finished = {t.number for t in trials if t.state in _finished_states()}
    best = _best_trials(study)
    best_values = None if not best or best[-1].values is None else [float(v) for v in best[-1].values]
    if not finished:
        return SweepSummary(study.study_name, None, states, best_values, [])
    custom_run_id = sweep_id or os.environ.get(ENV_SWEEP_ID) or sweep_run_id(study)
    with _lifecycle_lock:
        run = init_run(
            project=project,
            custom_run_id=custom_run_id,
            capture_stdout=False,
            capture_stderr=False,
            capture_hardware_metrics=False,
        )
    try:
        run.wait()
        names = _objective_names(study, None)
        if run.exists("sweep/objectives"):
            logged = run["sweep/objectives"].fetch()
            if len(logged) == len(names):
                names = [str(logged[key]) for key in sorted(logged, key=int)]
        log = _StudyLog(run, "")
        with log.lock:
            _reconcile(log, study, names)
        links = run["sweep/trial_runs"].fetch() if run.exists("sweep/trial_runs") else {}
        linked = {int(key) for key in links if str(key).isdigit()}
        return SweepSummary(study.study_name, run.id, states, best_values, sorted(finished - linked))
    finally:
        _stop(run)


# -- plots computed by the server ----------------------------------------------------------------------


def study_plots(run: Run | str, *, project: str | None = None) -> dict[str, Any]:
    """The plot data of a sweep, computed from its trial runs where the runs are (the server, or this
    process on the embedded store): history with best-so-far, parallel coordinates and parameter
    importance, as described in `despina.store.sweep_plots`. `run` is the study run or its id.

        plots = study_plots("HPO-12", project="team/hpo")
        plots["history"]["objective_value"]["best"]
    """
    from despina.backends import backend_for
    from despina.backends.http import HttpBackend, _project_path
    from despina.client.run import resolve_project
    from despina.config import read_settings
    from despina.store.sweep_plots import sweep_plots
    from despina.store.wire import decode_value

    settings = read_settings()
    if isinstance(run, Run):
        if run.id is None:
            raise DespinaConfigError("the study run has no id yet (offline): sync it first (despina sync)")
        if run.mode not in ("read-only", "debug"):
            run.wait()  # the study run's sweep/ fields, sent
        project, run_id = run.project, run.id
    else:
        project, run_id = resolve_project(project, settings), run
    backend = backend_for(settings)
    if isinstance(backend, HttpBackend):
        data: dict[str, Any] = decode_value(
            backend._json("GET", f"{_project_path(project)}/sweeps/{run_id}/plots")
        )
        return data
    backend.get_run(project, run_id)  # RunNotFoundError, as the server's 404
    return sweep_plots(backend, project, run_id)
