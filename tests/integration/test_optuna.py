"""The Optuna integration writes neptune-optuna's field layout, and trials as runs, from real studies.

Each test runs a real `study.optimize` over a small scikit-learn model on the wine data set that ships
with scikit-learn (178 samples: every trial takes milliseconds), in its own DESPINA_HOME, and reads the
fields back path by path through a read-only run, as a dashboard would.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("sklearn")

from sklearn.datasets import load_wine  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import despina  # noqa: E402
from despina.integrations.optuna import (  # noqa: E402
    INTEGRATION_VERSION_KEY,
    TRIAL_RUN_TAG,
    DespinaCallback,
    load_study_from_run,
    log_study_metadata,
    trial_run,
    with_trial_run,
)

PROJECT = "team/hpo"
PLOTS = (
    "plot_contour",
    "plot_edf",
    "plot_parallel_coordinate",
    "plot_param_importances",
    "plot_slice",
    "plot_optimization_history",
)
COMPLETE, PRUNED, FAIL = "<TrialState.COMPLETE: 1>", "<TrialState.PRUNED: 2>", "<TrialState.FAIL: 3>"

# A field the integration fails to write must fail the test, not pass with a warning.
pytestmark = pytest.mark.filterwarnings("error::despina.integrations.optuna.OptunaLoggingWarning")

optuna.logging.set_verbosity(optuna.logging.ERROR)


class Wine:
    """The wine data set, split once, raw and standardised."""

    def __init__(self) -> None:
        x, y = load_wine(return_X_y=True)
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(
            x, y, test_size=0.3, random_state=0, stratify=y
        )
        scaler = StandardScaler().fit(self.x_train)
        self.xs_train, self.xs_test = scaler.transform(self.x_train), scaler.transform(self.x_test)
        self.classes = np.unique(y)


@pytest.fixture(scope="module")
def wine() -> Wine:
    return Wine()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for name in ("PROJECT", "MODE", "CUSTOM_RUN_ID", "URL", "STOP_TIMEOUT"):
        monkeypatch.delenv(f"DESPINA_{name}", raising=False)
    return tmp_path


@pytest.fixture
def study_run() -> Iterator[despina.Run]:
    """The run a study logs to; light (no console or hardware capture) to keep the tests fast."""
    run = despina.init_run(
        project=PROJECT,
        name="sweep",
        capture_stdout=False,
        capture_stderr=False,
        capture_hardware_metrics=False,
    )
    yield run
    run.stop()


def read(run: despina.Run) -> despina.Run:
    """Stop `run` and open it again read-only: what a dashboard sees."""
    run.stop()
    assert run.id is not None
    return despina.init_run(project=PROJECT, with_id=run.id, mode="read-only")


def forest_objective(wine: Wine) -> Callable[[Any], float]:
    def objective(trial: Any) -> float:
        n_estimators = trial.suggest_int("n_estimators", 2, 20)
        max_depth = trial.suggest_int("max_depth", 1, 6)
        criterion = trial.suggest_categorical("criterion", ["gini", "entropy"])
        max_features = trial.suggest_float("max_features", 0.2, 1.0)
        trial.set_user_attr("n_features", int(wine.x_train.shape[1]))
        model = RandomForestClassifier(
            n_estimators=n_estimators,
            max_depth=max_depth,
            criterion=criterion,
            max_features=max_features,
            random_state=0,
        )
        model.fit(wine.x_train, wine.y_train)
        return float(model.score(wine.x_test, wine.y_test))

    return objective


def sgd_epochs(wine: Wine, trial: Any, epochs: int = 4) -> Iterator[tuple[int, float]]:
    """Train an SGD classifier epoch by epoch; yields (epoch, test accuracy). Unscaled inputs train badly,
    which is what the pruner catches."""
    scale = trial.suggest_categorical("scale", [True, False])
    alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
    x_train, x_test = (wine.xs_train, wine.xs_test) if scale else (wine.x_train, wine.x_test)
    model = SGDClassifier(alpha=alpha, random_state=0)
    for epoch in range(epochs):
        model.partial_fit(x_train, wine.y_train, classes=wine.classes)
        yield epoch, float(model.score(x_test, wine.y_test))


def html_of(run: despina.Run, path: str, tmp_path: Path) -> str:
    assert run[path].fetch_extension() == "html"
    return run[path].download(tmp_path / "plots" / f"{path.replace('/', '_')}.html").read_text("utf-8")


def same_time(logged: datetime, naive_local: datetime) -> bool:
    """Optuna's datetimes are naive local times; the run gives them back in UTC."""
    return abs(logged - naive_local.astimezone()) < timedelta(milliseconds=1)


# -- single objective -----------------------------------------------------------------------------------


def test_single_objective_study_is_logged_with_neptunes_layout(
    wine: Wine, study_run: despina.Run, tmp_path: Path
) -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.set_user_attr("dataset", "wine")
    callback = DespinaCallback(study_run, plots_update_freq=7, study_update_freq=3)
    study.optimize(forest_objective(wine), n_trials=8, callbacks=[callback])
    run = read(study_run)

    assert run[INTEGRATION_VERSION_KEY].fetch() == optuna.__version__
    for trial in study.trials:
        base = f"trials/trials/{trial.number}"
        assert run[f"{base}/params/n_estimators"].fetch() == trial.params["n_estimators"]
        assert isinstance(run[f"{base}/params/n_estimators"].fetch(), int)
        assert run[f"{base}/params/max_features"].fetch() == pytest.approx(trial.params["max_features"])
        assert run[f"{base}/params/criterion"].fetch() == trial.params["criterion"]
        assert run[f"{base}/value"].fetch() == pytest.approx(trial.value)
        assert run[f"{base}/state"].fetch() == COMPLETE
        assert run[f"{base}/duration"].fetch() == str(trial.duration)
        assert same_time(run[f"{base}/datetime_start"].fetch(), trial.datetime_start)
        assert same_time(run[f"{base}/datetime_complete"].fetch(), trial.datetime_complete)
        assert run[f"{base}/distributions/n_estimators"].fetch() == str(trial.distributions["n_estimators"])
        assert run[f"{base}/user_attrs/n_features"].fetch() == 13

    values = run["trials/values"].fetch_values()
    assert values["step"].tolist() == [float(t.number) for t in study.trials]
    assert values["value"].tolist() == pytest.approx([t.value for t in study.trials])
    trees = run["trials/params/n_estimators"].fetch_values()
    assert trees["value"].tolist() == [float(t.params["n_estimators"]) for t in study.trials]
    assert run["trials/params/criterion"].fetch_values()["value"].tolist() == [
        t.params["criterion"] for t in study.trials
    ]
    assert run["trials/values|params"].fetch_last() == (
        f"value: {study.trials[-1].value}| params: {study.trials[-1].params}"
    )

    best = study.best_trial
    assert run["best/value"].fetch() == pytest.approx(study.best_value)
    assert run["best/params"].fetch() == pytest.approx(study.best_params)
    assert set(run["best/trials"].fetch()) == {str(best.number)}  # only the current best
    assert run[f"best/trials/{best.number}/value"].fetch() == pytest.approx(best.value)
    assert run["best/value|params"].fetch() == f"value: {best.value}| params: {best.params}"

    assert run["study/study_name"].fetch() == study.study_name
    assert run["study/direction"].fetch() == "StudyDirection.MAXIMIZE"
    assert run["study/user_attrs/dataset"].fetch() == "wine"
    assert run["study/_study_id"].fetch() == 0
    assert "InMemoryStorage" in run["study/_storage"].fetch()
    assert run["study/distributions/criterion"].fetch().startswith("CategoricalDistribution(")
    assert run["study/storage_type"].fetch() == "InMemoryStorage"
    assert run["study/study"].fetch_extension() == "pkl"

    for plot in PLOTS:
        page = html_of(run, f"visualizations/{plot}", tmp_path)
        assert "<html>" in page and "Plotly.newPlot" in page, plot
    assert not run.exists("visualizations/plot_intermediate_values")  # no trial reported any
    assert not run.exists("visualizations/plot_pareto_front")  # single objective

    loaded = load_study_from_run(run)
    assert loaded.study_name == study.study_name
    assert loaded.best_value == study.best_value  # pickled at trial 6, the last multiple of 3...
    assert len(loaded.trials) == 7  # ...so it holds the first 7 trials


def test_update_frequencies_never_and_base_namespace(wine: Wine, study_run: despina.Run) -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    callback = DespinaCallback(
        study_run, base_namespace="hpo", plots_update_freq="never", study_update_freq="never"
    )
    study.optimize(forest_objective(wine), n_trials=3, callbacks=[callback])
    run = read(study_run)
    assert run["hpo/best/value"].fetch() == pytest.approx(study.best_value)
    assert run["hpo/trials/values"].fetch_values()["step"].tolist() == [0.0, 1.0, 2.0]
    assert run["hpo/study/study_name"].fetch() == study.study_name
    assert not run.exists("hpo/visualizations")
    assert not run.exists("hpo/study/study")
    assert not run.exists("hpo/study/storage_type")
    assert not run.exists("trials")
    assert run[INTEGRATION_VERSION_KEY].fetch() == optuna.__version__  # on the run itself


def test_log_all_trials_false_keeps_best_and_study_only(wine: Wine, study_run: despina.Run) -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=2))
    callback = DespinaCallback(study_run, plots_update_freq="never", log_all_trials=False)
    study.optimize(forest_objective(wine), n_trials=3, callbacks=[callback])
    run = read(study_run)
    assert not run.exists("trials")
    assert run["best/value"].fetch() == pytest.approx(study.best_value)
    assert run["study/storage_type"].fetch() == "InMemoryStorage"


def test_arguments_are_checked(study_run: despina.Run) -> None:
    with pytest.raises(ValueError, match="plots_update_freq"):
        DespinaCallback(study_run, plots_update_freq=0)
    with pytest.raises(ValueError, match="study_update_freq"):
        DespinaCallback(study_run, study_update_freq="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="visualization_backend"):
        DespinaCallback(study_run, visualization_backend="bokeh")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="despina Run"):
        DespinaCallback("HPO-1")  # type: ignore[arg-type]
    study = optuna.create_study(directions=["maximize", "minimize"])
    callback = DespinaCallback(study_run, target_names=["accuracy"], plots_update_freq="never")
    with pytest.raises(ValueError, match="target_names has 1 name"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1, callbacks=[callback])


# -- multi-objective ------------------------------------------------------------------------------------


def test_multi_objective_logs_every_direction_and_the_pareto_front(
    wine: Wine, study_run: despina.Run, tmp_path: Path
) -> None:
    def objective(trial: Any) -> tuple[float, int]:
        accuracy = forest_objective(wine)(trial)
        return accuracy, trial.params["n_estimators"] * trial.params["max_depth"]

    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=3)
    )
    names = ["accuracy", "cost"]
    callback = DespinaCallback(study_run, target_names=names, plots_update_freq=5)
    study.optimize(objective, n_trials=6, callbacks=[callback])
    run = read(study_run)

    assert run["study/directions/0"].fetch() == "StudyDirection.MAXIMIZE"
    assert run["study/directions/1"].fetch() == "StudyDirection.MINIMIZE"
    assert not run.exists("study/direction")
    for trial in study.trials:
        assert run[f"trials/trials/{trial.number}/values/accuracy"].fetch() == pytest.approx(trial.values[0])
        assert run[f"trials/trials/{trial.number}/values/cost"].fetch() == pytest.approx(trial.values[1])
        assert not run.exists(f"trials/trials/{trial.number}/value")
    for index, name in enumerate(names):
        series = run[f"trials/values/{name}"].fetch_values()
        assert series["value"].tolist() == pytest.approx([t.values[index] for t in study.trials])
    assert not run.exists("trials/values|params")  # single-objective only, as in neptune-optuna

    front = {str(t.number) for t in study.best_trials}
    assert set(run["best/trials"].fetch()) == front
    last = study.best_trials[-1]
    assert run["best/values/accuracy"].fetch() == pytest.approx(last.values[0])
    assert run["best/values/cost"].fetch() == pytest.approx(last.values[1])
    assert run["best/params"].fetch() == pytest.approx(last.params)

    for name in names:
        for plot in PLOTS:
            assert "Plotly.newPlot" in html_of(run, f"visualizations/{name}/{plot}", tmp_path), (name, plot)
    assert "Plotly.newPlot" in html_of(run, "visualizations/plot_pareto_front", tmp_path)


def test_matplotlib_backend_logs_pages_with_the_figure(
    wine: Wine, study_run: despina.Run, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=4))
    only_history = {
        f"log_plot_{name}": False
        for name in (
            "contour",
            "edf",
            "parallel_coordinate",
            "param_importances",
            "slice",
            "intermediate_values",
        )
    }
    callback = DespinaCallback(
        study_run,
        visualization_backend="matplotlib",
        plots_update_freq=2,
        study_update_freq="never",
        **only_history,
    )
    study.optimize(forest_objective(wine), n_trials=3, callbacks=[callback])
    run = read(study_run)
    assert "data:image/png;base64," in html_of(run, "visualizations/plot_optimization_history", tmp_path)
    assert not run.exists("visualizations/plot_edf")


# -- pruned and failed trials ---------------------------------------------------------------------------


def test_pruned_and_failed_trials_keep_their_state(
    wine: Wine, study_run: despina.Run, tmp_path: Path
) -> None:
    def objective(trial: Any) -> float:
        if trial.number == 2:
            raise RuntimeError("out of memory")
        accuracy = 0.0
        for epoch, accuracy in sgd_epochs(wine, trial):
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=5),
        pruner=optuna.pruners.ThresholdPruner(lower=0.8, n_warmup_steps=1),
    )
    study.enqueue_trial({"scale": True, "alpha": 1e-3})
    study.enqueue_trial({"scale": False, "alpha": 1e-3})  # trains badly: pruned at epoch 1
    callback = DespinaCallback(study_run, plots_update_freq=5)
    study.optimize(objective, n_trials=6, callbacks=[callback], catch=(RuntimeError,))
    run = read(study_run)

    states = {t.number: t.state for t in study.trials}
    assert states[0] == optuna.trial.TrialState.COMPLETE
    assert states[1] == optuna.trial.TrialState.PRUNED
    assert states[2] == optuna.trial.TrialState.FAIL
    expected = {"COMPLETE": COMPLETE, "PRUNED": PRUNED, "FAIL": FAIL}
    for trial in study.trials:
        assert run[f"trials/trials/{trial.number}/state"].fetch() == expected[trial.state.name]
        for step, value in trial.intermediate_values.items():
            assert run[f"trials/trials/{trial.number}/intermediate_values/{step}"].fetch() == pytest.approx(
                value
            )
    # The failed trial has no value; a pruned one has its last reported value, as Optuna gives it.
    assert not run.exists("trials/trials/2/value")
    assert run["trials/trials/1/value"].fetch() == pytest.approx(study.trials[1].value)
    with_value = [t for t in study.trials if t.value is not None]
    assert run["trials/values"].fetch_values()["step"].tolist() == [float(t.number) for t in with_value]
    assert run["best/value"].fetch() == pytest.approx(study.best_value)
    assert "Plotly.newPlot" in html_of(run, "visualizations/plot_intermediate_values", tmp_path)


def test_a_first_trial_that_fails_does_not_break_the_callback(wine: Wine, study_run: despina.Run) -> None:
    def objective(trial: Any) -> float:
        accuracy = forest_objective(wine)(trial)
        if trial.number == 0:
            raise ValueError("bad configuration")
        if trial.number == 1:
            return math.nan  # Optuna marks this FAIL too
        return accuracy

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=6))
    callback = DespinaCallback(study_run, plots_update_freq=1)
    study.optimize(objective, n_trials=2, callbacks=[callback], catch=(ValueError,))
    assert not study_run.exists("best")  # no COMPLETE trial yet: nothing is best
    assert not study_run.exists("visualizations")
    study.optimize(objective, n_trials=2, callbacks=[callback], catch=(ValueError,))
    run = read(study_run)

    assert run["trials/trials/0/state"].fetch() == FAIL
    assert run["trials/trials/1/state"].fetch() == FAIL
    assert not run.exists("trials/trials/0/value")
    assert run["trials/trials/0/params/n_estimators"].fetch() == study.trials[0].params["n_estimators"]
    assert run["trials/values"].fetch_values()["step"].tolist() == [2.0, 3.0]
    assert run["best/value"].fetch() == pytest.approx(study.best_value)
    assert run.exists("visualizations/plot_optimization_history")


# -- threads --------------------------------------------------------------------------------------------


def test_n_jobs_logs_every_trial_once_with_trial_runs(wine: Wine, study_run: despina.Run) -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=7))
    callback = DespinaCallback(study_run, plots_update_freq="never", study_update_freq=4, trial_runs=True)
    study.optimize(forest_objective(wine), n_trials=10, n_jobs=2, callbacks=[callback])
    run = read(study_run)

    numbers = sorted(t.number for t in study.trials)
    assert numbers == list(range(10))
    assert sorted(int(n) for n in run["trials/trials"].fetch()) == numbers
    for trial in study.trials:
        assert run[f"trials/trials/{trial.number}/value"].fetch() == pytest.approx(trial.value)
    # Trials finish out of order: the series keeps increasing steps, each at its trial's value.
    series = run["trials/values"].fetch_values()
    steps = series["step"].tolist()
    assert steps == sorted(set(steps)) and set(steps) <= {float(n) for n in numbers}
    by_number = {float(t.number): t.value for t in study.trials}
    assert series["value"].tolist() == pytest.approx([by_number[s] for s in steps])
    assert run["best/value"].fetch() == pytest.approx(study.best_value)

    table = despina.init_project(PROJECT).fetch_runs_table(tags=TRIAL_RUN_TAG).to_pandas()
    assert sorted(table["sweep/trial_number"].tolist()) == numbers
    links = run["sweep/trial_runs"].fetch()
    assert {int(n): rid for n, rid in links.items()} == dict(
        zip(table["sweep/trial_number"], table["sys/id"], strict=True)
    )
    assert (table["sweep/run_id"] == run.id).all()


# -- trials as runs -------------------------------------------------------------------------------------


def test_trial_runs_carry_their_trial_and_the_objectives_own_curves(
    wine: Wine, study_run: despina.Run
) -> None:
    def objective(trial: Any) -> float:
        with trial_run(trial, study_run, capture_hardware_metrics=False) as run:
            accuracy = 0.0
            for epoch, accuracy in sgd_epochs(wine, trial):
                if trial.number == 3:
                    raise RuntimeError("diverged")
                run["train/accuracy"].append(accuracy, step=epoch)  # the objective's own curve
                trial.report(accuracy, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            trial.set_user_attr("epochs", epoch + 1)
            return accuracy

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=8),
        pruner=optuna.pruners.ThresholdPruner(lower=0.8, n_warmup_steps=1),
    )
    study.enqueue_trial({"scale": True, "alpha": 1e-3})
    study.enqueue_trial({"scale": False, "alpha": 1e-3})
    callback = DespinaCallback(study_run, plots_update_freq="never", trial_runs=True)
    study.optimize(objective, n_trials=5, callbacks=[callback], catch=(RuntimeError,))
    sweep = read(study_run)

    table = despina.init_project(PROJECT).fetch_runs_table(tags=TRIAL_RUN_TAG, sort_by="value").to_pandas()
    assert len(table) == 5
    assert table["sys/name"].tolist()[0] == f"trial-{study.best_trial.number}"  # best first
    assert table["value"].iloc[0] == pytest.approx(study.best_value)
    assert (table["sweep/run_id"] == sweep.id).all()
    assert set(table["state"]) == {"COMPLETE", "PRUNED", "FAIL"}

    for trial in study.trials:
        run_id = sweep[f"sweep/trial_runs/{trial.number}"].fetch()
        run = despina.init_run(project=PROJECT, with_id=run_id, mode="read-only")
        assert run["sys/custom_run_id"].fetch() == f"{sweep.id}-trial-{trial.number}"
        assert run["sys/name"].fetch() == f"trial-{trial.number}"
        assert TRIAL_RUN_TAG in run["sys/tags"].fetch()
        assert run["sweep/run_id"].fetch() == sweep.id
        assert run["sweep/trial_number"].fetch() == trial.number
        assert run["sweep/study_name"].fetch() == study.study_name
        assert run["state"].fetch() == trial.state.name
        assert run["parameters/scale"].fetch() is trial.params["scale"]
        assert run["parameters/alpha"].fetch() == pytest.approx(trial.params["alpha"])
        assert same_time(run["datetime_start"].fetch(), trial.datetime_start)
        if trial.state == optuna.trial.TrialState.FAIL:
            # Closed by trial_run() as failed, with the traceback; the callback leaves it so.
            assert run["sys/failed"].fetch() is True
            assert run["sys/state"].fetch() == "failed"
            assert not run.exists("value")
            assert 0 <= run["duration_s"].fetch() < 5
            assert isinstance(run["datetime_complete"].fetch(), datetime)
            monitoring = run.get_structure()["monitoring"]
            tracebacks = [
                run[f"monitoring/{key}/traceback"] for key in monitoring if "traceback" in monitoring[key]
            ]
            assert "RuntimeError: diverged" in tracebacks[0].fetch_values()["value"].tolist()
            continue
        assert run["sys/state"].fetch() == "finished"
        assert run["sys/failed"].fetch() is False
        assert run["value"].fetch() == pytest.approx(trial.value)
        assert run["duration_s"].fetch() == pytest.approx(trial.duration.total_seconds())
        assert same_time(run["datetime_complete"].fetch(), trial.datetime_complete)
        reported = sorted(trial.intermediate_values)
        optuna_curve = run["intermediate_values"].fetch_values()
        assert optuna_curve["step"].tolist() == [float(s) for s in reported]
        assert optuna_curve["value"].tolist() == pytest.approx(
            [trial.intermediate_values[s] for s in reported]
        )
        own_curve = run["train/accuracy"].fetch_values()  # logged by the objective, same run
        assert own_curve["value"].tolist() == pytest.approx(optuna_curve["value"].tolist())
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert run["user_attrs/epochs"].fetch() == 4


def test_trial_runs_without_the_helper(wine: Wine, study_run: despina.Run) -> None:
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=9))
    callback = DespinaCallback(
        study_run, plots_update_freq="never", study_update_freq="never", trial_runs=True
    )
    study.optimize(lambda t: 1.0 - forest_objective(wine)(t), n_trials=3, callbacks=[callback])
    sweep = read(study_run)
    table = despina.init_project(PROJECT).fetch_runs_table(
        tags=TRIAL_RUN_TAG, sort_by="value", ascending=True
    )
    rows = table.to_rows()
    assert [row["value"] for row in rows] == pytest.approx(sorted(t.value for t in study.trials))
    assert rows[0]["sweep/trial_number"] == study.best_trial.number
    assert all(row["sys/state"] == "finished" and row["state"] == "COMPLETE" for row in rows)
    assert all(isinstance(row["parameters/n_estimators"], int) for row in rows)
    assert {row["sys/id"] for row in rows} == set(sweep["sweep/trial_runs"].fetch().values())


def test_with_trial_run_decorator_alone_logs_parameters_and_links_the_run(study_run: despina.Run) -> None:
    @with_trial_run(study_run, capture_hardware_metrics=False)
    def objective(trial: Any, run: despina.Run) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        run["curve"].append(x)
        return x * x

    study = optuna.create_study()
    study.optimize(objective, n_trials=2)  # no DespinaCallback: the helper stops each run itself
    sweep = read(study_run)
    for trial in study.trials:
        run_id = sweep[f"sweep/trial_runs/{trial.number}"].fetch()
        run = despina.init_run(project=PROJECT, with_id=run_id, mode="read-only")
        assert run["sys/state"].fetch() == "finished"
        assert run["parameters/x"].fetch() == pytest.approx(trial.params["x"])
        assert run["curve"].fetch_last() == pytest.approx(trial.params["x"])


# -- after the fact, other storages ---------------------------------------------------------------------


def test_log_study_metadata_and_load_study_from_an_rdb_storage(
    wine: Wine, study_run: despina.Run, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(
        study_name="wine-forest",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=10),
    )
    study.optimize(forest_objective(wine), n_trials=4)
    only_history = {
        f"log_plot_{name}": False
        for name in (
            "contour",
            "edf",
            "parallel_coordinate",
            "param_importances",
            "slice",
            "intermediate_values",
        )
    }
    log_study_metadata(study, study_run["hpo"], target_names=["accuracy"], **only_history)
    run = read(study_run)

    assert run["hpo/study/storage_type"].fetch() == "RDBStorage"
    assert run["hpo/study/storage_url"].fetch() == storage
    assert run["hpo/study/study_name"].fetch() == "wine-forest"
    assert not run.exists("hpo/study/study")
    assert run["hpo/trials/values"].fetch_values()["value"].tolist() == pytest.approx(
        [t.value for t in study.trials]
    )
    for index, trial in enumerate(study.trials):
        logged = run[f"hpo/study/distributions/trial/{index}/max_depth"].fetch()
        assert logged == str(trial.distributions["max_depth"])
    assert run["hpo/best/value"].fetch() == pytest.approx(study.best_value)
    assert "Plotly.newPlot" in html_of(run, "hpo/visualizations/plot_optimization_history", tmp_path)
    assert not run.exists("hpo/visualizations/plot_edf")

    loaded = load_study_from_run(run["hpo"])
    assert [t.value for t in loaded.trials] == [t.value for t in study.trials]
    loaded.optimize(forest_objective(wine), n_trials=1)  # a live study: optimization goes on
    assert len(optuna.load_study(study_name="wine-forest", storage=storage).trials) == 5


def test_load_study_from_a_journal_storage(wine: Wine, study_run: despina.Run, tmp_path: Path) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = str(tmp_path / "optuna.log")
    study = optuna.create_study(
        study_name="wine-journal", storage=JournalStorage(JournalFileBackend(journal))
    )
    callback = DespinaCallback(study_run, plots_update_freq="never")
    study.optimize(lambda t: 1.0 - forest_objective(wine)(t), n_trials=2, callbacks=[callback])
    run = read(study_run)
    assert run["study/storage_type"].fetch() == "JournalStorage"
    assert run["study/storage_url"].fetch() == journal
    assert [t.value for t in load_study_from_run(run).trials] == [t.value for t in study.trials]


def test_a_resumed_study_logs_into_its_resumed_run(wine: Wine, study_run: despina.Run) -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=11))
    study.optimize(
        forest_objective(wine), n_trials=2, callbacks=[DespinaCallback(study_run, plots_update_freq="never")]
    )
    run_id = study_run.id
    study_run.stop()

    resumed = despina.init_run(project=PROJECT, with_id=run_id, capture_hardware_metrics=False)
    again = load_study_from_run(resumed)
    again.optimize(
        forest_objective(wine), n_trials=2, callbacks=[DespinaCallback(resumed, plots_update_freq="never")]
    )
    run = read(resumed)
    assert run["trials/values"].fetch_values()["step"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert run["best/value"].fetch() == pytest.approx(again.best_value)
    assert set(run["best/trials"].fetch()) == {str(again.best_trial.number)}


# -- optuna is optional ---------------------------------------------------------------------------------


def test_the_module_imports_without_optuna_and_says_what_to_install(
    study_run: despina.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = "import sys; sys.modules['optuna'] = None; import despina.integrations.optuna; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "ok"
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install \"despina\[optuna\]\""):
        DespinaCallback(study_run)
