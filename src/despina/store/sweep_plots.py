"""A sweep's study plots as data, computed from its trial runs: no plot file is ever uploaded.

A study logged with `DespinaCallback(..., trial_runs=True)` has one run per trial, tagged
`optuna-trial`, that links to the study run (`sweep/run_id`) and carries `sweep/trial_number`, `state`
("COMPLETE", "PRUNED", "FAIL"), `value` (or `values/<objective>`), `parameters/<p>` and
`distributions/<p>` (Optuna's JSON form). The study run carries `sweep/objectives/<i>` and
`sweep/directions/<i>` ("MINIMIZE", "MAXIMIZE"). From these, `sweep_plots` returns what the sweep page
draws, in plain JSON-ready values (non-finite floats go through the wire encoding over HTTP):

    {"run_id": "HPO-3", "study_name": "wine", "objectives": ["objective_value"],
     "directions": ["minimize"], "trials": {"total": 50, "by_state": {"COMPLETE": 48, "FAIL": 2}},
     "history": {"objective_value": {"numbers": [...], "values": [...], "best": [...]}},
     "parallel_coordinates": {"numbers": [...], "objectives": {"objective_value": [...]},
                              "params": [{"name": "x", "kind": "float", "log": false,
                                          "values": [...], "choices": null}, ...]},
     "importance": {"method": "ped-anova", "note": null,
                    "values": {"objective_value": {"x": 0.8, "y": 0.2}}}}

- history: the COMPLETE trials by trial number, with the best value so far in the study's direction
  (one entry per objective of a multi-objective study);
- parallel coordinates: one column per parameter over the COMPLETE trials (None where a conditional
  parameter was not suggested), and the objective values;
- importance: Optuna's default evaluator (PED-ANOVA; fANOVA on Optuna releases without it) on an
  in-memory study rebuilt from the trial runs with `optuna.trial.create_trial`, normalised to sum 1
  per objective. Without optuna installed where this runs, or with fewer than two COMPLETE trials,
  `values` is empty and `note` says why.

The trial runs are found through the runs table filtered by tag (all trial runs of the project, then
those of this sweep): one query, whatever the number of trials.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from despina.store.base import FieldValue

__all__ = ["TRIAL_RUN_TAG", "SweepReader", "logged_choice", "sweep_plots"]

TRIAL_RUN_TAG = "optuna-trial"
DEFAULT_OBJECTIVE = "objective_value"
_COLUMNS = ("sweep/run_id", "sweep/trial_number", "state", "value", "values", "parameters", "distributions")


class SweepReader(Protocol):
    """What the plots read: a Store or a client Backend (both have these two methods)."""

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]: ...

    def runs_table(
        self,
        project: str,
        *,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]: ...


@dataclass
class _Trial:
    number: int
    state: str
    values: dict[str, float]
    params: dict[str, Any]
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)


def _atom(row: Mapping[str, Any], path: str) -> Any:
    cell = row.get(path)
    return cell.value if isinstance(cell, FieldValue) else cell


def _under(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """{name: value} of the atoms directly under `prefix/` (parameter names may hold no '/')."""
    start = prefix + "/"
    return {path[len(start) :]: _atom(row, path) for path in row if path.startswith(start)}


def _distribution(text: Any) -> dict[str, Any] | None:
    """Optuna's JSON form of a distribution, or None when missing or unreadable (older trial runs)."""
    if not isinstance(text, str):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if (
        isinstance(data, dict)
        and isinstance(data.get("name"), str)
        and isinstance(data.get("attributes"), dict)
    ):
        return data
    return None


def _trials(reader: SweepReader, project: str, run_id: str, objectives: Sequence[str]) -> list[_Trial]:
    rows = reader.runs_table(project, tags=[TRIAL_RUN_TAG], columns=list(_COLUMNS))
    by_number: dict[int, _Trial] = {}
    for row in rows:
        number = _atom(row, "sweep/trial_number")
        if _atom(row, "sweep/run_id") != run_id or not isinstance(number, int):
            continue
        if len(objectives) == 1:
            value = _atom(row, "value")
            values = {objectives[0]: float(value)} if isinstance(value, (int, float)) else {}
        else:
            logged = _under(row, "values")
            values = {
                name: float(logged[name]) for name in objectives if isinstance(logged.get(name), (int, float))
            }
        distributions = {
            name: parsed
            for name, text in _under(row, "distributions").items()
            if (parsed := _distribution(text)) is not None
        }
        state = _atom(row, "state")
        # A trial run is keyed by its trial number, so there is one per number; should a store still hold
        # two (an import), the later run wins.
        by_number[number] = _Trial(
            number=number,
            state=state if isinstance(state, str) else "UNKNOWN",
            values=values,
            params=_under(row, "parameters"),
            distributions=distributions,
        )
    return [by_number[n] for n in sorted(by_number)]


def _study_shape(reader: SweepReader, project: str, run_id: str) -> tuple[list[str], list[str], str | None]:
    """(objective names, directions, study name) as the callback recorded them on the study run."""
    fields = reader.fields(project, run_id, "sweep")

    def indexed(prefix: str) -> list[str]:
        items = {
            int(path.rsplit("/", 1)[1]): f.value
            for path, f in fields.items()
            if path.startswith(prefix + "/") and path.rsplit("/", 1)[1].isdigit() and isinstance(f.value, str)
        }
        return [items[i] for i in sorted(items)]

    objectives = indexed("sweep/objectives") or [DEFAULT_OBJECTIVE]
    directions = [d.lower() for d in indexed("sweep/directions")]
    if len(directions) != len(objectives):
        directions = ["minimize"] * len(objectives)  # Optuna's default direction
    name = fields.get("sweep/study_name")
    return objectives, directions, name.value if name is not None and isinstance(name.value, str) else None


def _history(trials: Sequence[_Trial], objective: str, direction: str) -> dict[str, list[Any]]:
    numbers: list[int] = []
    values: list[float] = []
    best: list[float] = []
    current: float | None = None
    for trial in trials:
        value = trial.values.get(objective)
        if trial.state != "COMPLETE" or value is None:
            continue
        if current is None or math.isnan(current):
            current = value
        elif not math.isnan(value):
            current = min(current, value) if direction == "minimize" else max(current, value)
        numbers.append(trial.number)
        values.append(value)
        best.append(current)
    return {"numbers": numbers, "values": values, "best": best}


def _kind(distribution: Mapping[str, Any] | None, values: Sequence[Any]) -> str:
    if distribution is not None:
        return {"FloatDistribution": "float", "IntDistribution": "int"}.get(
            distribution["name"], "categorical"
        )
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "categorical"


def logged_choice(choices: Sequence[Any], value: Any) -> Any:
    """A categorical parameter's value as the Optuna integration logs it: one type per parameter in
    every trial, so that trials compare as one column (choices that mix types, e.g. ("relu", None, 1),
    are logged as text; ints and floats mixed, as floats)."""
    if all(type(choice) is bool for choice in choices):
        return value
    if all(isinstance(choice, int) and not isinstance(choice, bool) for choice in choices):
        return value
    if all(isinstance(choice, (int, float)) and not isinstance(choice, bool) for choice in choices):
        return float(value)
    return str(value)


def _choices(distribution: Mapping[str, Any] | None, values: Sequence[Any]) -> list[Any]:
    """The categories: the search space's (as logged) in its order, then any other value logged."""
    listed = distribution["attributes"].get("choices") if distribution is not None else None
    ordered: list[Any] = []
    if isinstance(listed, list) and listed:
        for choice in listed:
            as_logged = logged_choice(listed, choice)
            if not any(as_logged == c and type(as_logged) is type(c) for c in ordered):
                ordered.append(as_logged)
    for value in values:
        if value is not None and not any(value == c and type(value) is type(c) for c in ordered):
            ordered.append(value)
    return ordered


def _parallel_coordinates(trials: Sequence[_Trial], objectives: Sequence[str]) -> dict[str, Any]:
    complete = [t for t in trials if t.state == "COMPLETE" and len(t.values) == len(objectives)]
    names = sorted({name for t in complete for name in t.params})
    columns = []
    for name in names:
        values = [t.params.get(name) for t in complete]
        distribution = next((t.distributions[name] for t in complete if name in t.distributions), None)
        kind = _kind(distribution, values)
        log = bool(distribution["attributes"].get("log")) if distribution is not None else False
        columns.append(
            {
                "name": name,
                "kind": kind,
                "log": log,
                "values": values,
                "choices": _choices(distribution, values) if kind == "categorical" else None,
            }
        )
    return {
        "numbers": [t.number for t in complete],
        "objectives": {name: [t.values[name] for t in complete] for name in objectives},
        "params": columns,
    }


@dataclass
class _Importance:
    method: str | None = None
    note: str | None = None
    values: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "note": self.note, "values": self.values}


def _rebuilt_distribution(optuna: Any, trials: Sequence[_Trial], name: str) -> Any:
    """The parameter's distribution: as logged, else inferred from the values the trials took."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    values = [t.params[name] for t in trials if name in t.params]
    logged = next((t.distributions[name] for t in trials if name in t.distributions), None)
    kind = _kind(logged, values)
    if kind == "categorical":
        return CategoricalDistribution(_choices(logged, values))
    if logged is not None:
        rebuilt = optuna.distributions.json_to_distribution(json.dumps(logged))
        if all(rebuilt._contains(rebuilt.to_internal_repr(v)) for v in values):
            return rebuilt
    low, high = min(values), max(values)
    return (
        IntDistribution(int(low), int(high)) if kind == "int" else FloatDistribution(float(low), float(high))
    )


def _objective(index: int) -> Callable[[Any], float]:
    def target(trial: Any) -> float:
        return float(trial.values[index])

    return target


def _importance(
    trials: Sequence[_Trial], objectives: Sequence[str], directions: Sequence[str]
) -> _Importance:
    try:
        import optuna
    except ImportError:
        return _Importance(note="optuna is not installed where the plots are computed")
    from optuna.trial import TrialState, create_trial

    complete = [
        t
        for t in trials
        if t.state == "COMPLETE"
        and len(t.values) == len(objectives)
        and all(math.isfinite(v) for v in t.values.values())
    ]
    names = sorted({name for t in complete for name in t.params})
    if len(complete) < 2 or not names:
        return _Importance(note="parameter importance needs at least two COMPLETE trials with parameters")
    distributions = {name: _rebuilt_distribution(optuna, complete, name) for name in names}
    study = optuna.create_study(directions=[optuna.study.StudyDirection[d.upper()] for d in directions])
    for t in complete:
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                params=dict(t.params),
                distributions={name: distributions[name] for name in t.params},
                values=[t.values[name] for name in objectives],
            )
        )
    evaluator_class = getattr(optuna.importance, "PedAnovaImportanceEvaluator", None)
    if evaluator_class is not None:
        result = _Importance(method="ped-anova")
        evaluator = evaluator_class()
    else:
        result = _Importance(method="fanova")
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    for index, objective in enumerate(objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "experimental" notes
                importances = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=_objective(index)
                )
        except Exception as exc:  # a degenerate study (one value everywhere): say so, draw the rest
            result.note = f"importance of {objective} could not be computed: {type(exc).__name__}: {exc}"
            continue
        result.values[objective] = {name: float(v) for name, v in importances.items()}
    return result


def sweep_plots(reader: SweepReader, project: str, run_id: str) -> dict[str, Any]:
    """The plot data of the sweep whose study run is `run_id` (see the module docstring).

    Raises RunNotFoundError (through `reader`) when `run_id` is no run of `project`; a run that has no
    trial runs gives empty plots."""
    objectives, directions, study_name = _study_shape(reader, project, run_id)
    trials = _trials(reader, project, run_id, objectives)
    by_state: dict[str, int] = {}
    for trial in trials:
        by_state[trial.state] = by_state.get(trial.state, 0) + 1
    return {
        "run_id": run_id,
        "study_name": study_name,
        "objectives": list(objectives),
        "directions": list(directions),
        "trials": {"total": len(trials), "by_state": by_state},
        "history": {
            name: _history(trials, name, direction)
            for name, direction in zip(objectives, directions, strict=True)
        },
        "parallel_coordinates": _parallel_coordinates(trials, objectives),
        "importance": _importance(trials, objectives, directions).as_dict(),
    }
