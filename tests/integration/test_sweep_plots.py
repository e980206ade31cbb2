"""Study plots computed by the server from trial runs: a study of 50 quick trials logged through a real
server (trial runs, no plot files), then its history, parallel coordinates and parameter importance read
over HTTP and through `study_plots`, checked against the study itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_harness import ServerThread

optuna = pytest.importorskip("optuna")

import despina  # noqa: E402
from despina.integrations.optuna import DespinaCallback, study_plots  # noqa: E402
from despina.server.app import create_app, open_state  # noqa: E402
from despina.server.settings import ServerSettings  # noqa: E402
from despina.store.wire import decode_value  # noqa: E402

PROJECT = "team/hpo"
TRIALS = 50
LIGHT = {"capture_stdout": False, "capture_stderr": False, "capture_hardware_metrics": False}

optuna.logging.set_verbosity(optuna.logging.ERROR)


@dataclass
class Logged:
    url: str
    token: str
    study: Any
    run_id: str


def objective(trial: Any) -> float:
    """x matters a lot, y barely; a corner fails and another is pruned."""
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_int("y", 0, 3)
    act = trial.suggest_categorical("act", ["relu", "tanh"])
    if x > 4.6:
        raise ValueError("diverged")
    if x < -4.6:
        raise optuna.TrialPruned()
    return (x - 1.0) ** 2 + 0.01 * y + (0.001 if act == "tanh" else 0.0)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    folder = tmp_path_factory.mktemp("sweep-plots")
    settings = ServerSettings(
        db_url=f"sqlite:///{folder / 'server.db'}",
        blobs_url=str(folder / "blobs"),
        secure_cookies=False,
        upgrade_database=True,
    )
    state = open_state(settings)
    state.access.create_user("sophia", "correct horse battery", admin=True)
    token, _ = state.access.create_token("sophia", "tests", None)
    thread = ServerThread(create_app(settings, state)).start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESPINA_HOME", str(folder / "client-home"))
        patch.setenv("DESPINA_URL", thread.url)
        patch.setenv("DESPINA_API_TOKEN", token)
        patch.setenv("DESPINA_PROJECT", PROJECT)
        for name in ("MODE", "CUSTOM_RUN_ID", "STOP_TIMEOUT"):
            patch.delenv(f"DESPINA_{name}", raising=False)
        run = despina.init_run(name="sweep", **LIGHT)
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=3))
        study.enqueue_trial({"x": 4.9, "y": 0, "act": "relu"})  # FAIL
        study.enqueue_trial({"x": -4.9, "y": 0, "act": "relu"})  # PRUNED
        callback = DespinaCallback(run, plots_update_freq="never", study_update_freq="never", trial_runs=True)
        study.optimize(objective, n_trials=TRIALS, callbacks=[callback], catch=(ValueError,))
        run.stop()
        assert run.id is not None
        try:
            yield Logged(thread.url, token, study, run.id)
        finally:
            thread.stop()
            state.close()


def get_plots(logged: Logged, run_id: str) -> httpx.Response:
    return httpx.get(
        f"{logged.url}/api/v1/projects/{PROJECT}/sweeps/{run_id}/plots",
        headers={"Authorization": f"Bearer {logged.token}"},
        timeout=60,
    )


@pytest.mark.slow
def test_the_server_draws_a_studys_plots_from_its_trial_runs(logged: Logged) -> None:
    answer = get_plots(logged, logged.run_id)
    assert answer.status_code == 200, answer.text
    plots = decode_value(answer.json())
    study = logged.study
    complete = sorted(
        (t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.number
    )

    assert plots["run_id"] == logged.run_id
    assert plots["study_name"] == study.study_name
    assert plots["objectives"] == ["objective_value"] and plots["directions"] == ["minimize"]
    assert plots["trials"]["total"] == TRIALS
    assert plots["trials"]["by_state"] == {
        state: sum(t.state.name == state for t in study.trials) for state in ("COMPLETE", "PRUNED", "FAIL")
    }
    assert plots["trials"]["by_state"]["FAIL"] >= 1 and plots["trials"]["by_state"]["PRUNED"] >= 1

    # History: the COMPLETE trials in order, with the best value so far.
    history = plots["history"]["objective_value"]
    assert history["numbers"] == [t.number for t in complete]
    assert history["values"] == pytest.approx([t.value for t in complete])
    running, best = [], float("inf")
    for t in complete:
        best = min(best, t.value)
        running.append(best)
    assert history["best"] == pytest.approx(running)
    assert history["best"][-1] == pytest.approx(study.best_value)

    # Parallel coordinates: one column per parameter, typed as searched.
    parallel = plots["parallel_coordinates"]
    assert parallel["numbers"] == [t.number for t in complete]
    assert parallel["objectives"]["objective_value"] == pytest.approx([t.value for t in complete])
    columns = {c["name"]: c for c in parallel["params"]}
    assert sorted(columns) == ["act", "x", "y"]
    assert columns["x"]["kind"] == "float" and columns["y"]["kind"] == "int"
    assert columns["act"]["kind"] == "categorical" and columns["act"]["choices"] == ["relu", "tanh"]
    for name in ("x", "y", "act"):
        assert columns[name]["values"] == [t.params[name] for t in complete]

    # Importance: normalised, and x (the parameter the objective hinges on) first.
    importance = plots["importance"]
    assert importance["method"] in ("ped-anova", "fanova")
    values = importance["values"]["objective_value"]
    assert set(values) == {"x", "y", "act"}
    assert sum(values.values()) == pytest.approx(1.0)
    assert max(values, key=values.__getitem__) == "x"

    # The Python API gives the same, through the server; and no plot file was uploaded.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESPINA_URL", logged.url)
        patch.setenv("DESPINA_API_TOKEN", logged.token)
        patch.setenv("DESPINA_PROJECT", PROJECT)
        assert study_plots(logged.run_id) == plots
        run = despina.init_run(with_id=logged.run_id, mode="read-only")
        assert not run.exists("visualizations")
        run.stop()


@pytest.mark.slow
def test_plots_of_an_unknown_run_are_a_404_and_of_a_plain_run_are_empty(logged: Logged) -> None:
    assert get_plots(logged, "HPO-9999").status_code == 404
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESPINA_URL", logged.url)
        patch.setenv("DESPINA_API_TOKEN", logged.token)
        patch.setenv("DESPINA_PROJECT", PROJECT)
        with despina.init_project(PROJECT) as project:
            trial_id = project.fetch_runs_table(tags="optuna-trial").to_rows()[0]["sys/id"]
    plots = decode_value(get_plots(logged, str(trial_id)).json())
    assert plots["trials"] == {"total": 0, "by_state": {}}
    assert plots["history"]["objective_value"]["numbers"] == []
    assert plots["importance"]["values"] == {} and plots["importance"]["note"]


def test_a_multi_objective_studys_plots_on_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    for name in ("MODE", "CUSTOM_RUN_ID", "URL", "API_TOKEN", "STOP_TIMEOUT"):
        monkeypatch.delenv(f"DESPINA_{name}", raising=False)
    run = despina.init_run(name="pareto", **LIGHT)
    study = optuna.create_study(
        directions=["minimize", "maximize"], sampler=optuna.samplers.RandomSampler(seed=4)
    )
    callback = DespinaCallback(run, plots_update_freq="never", trial_runs=True, target_names=["loss", "acc"])
    study.optimize(
        lambda t: ((t.suggest_float("x", 0.0, 1.0) - 0.3) ** 2, t.suggest_float("y", 0.0, 1.0)),
        n_trials=8,
        callbacks=[callback],
    )
    plots = study_plots(run)
    run.stop()

    assert plots["objectives"] == ["loss", "acc"] and plots["directions"] == ["minimize", "maximize"]
    trials = sorted(study.trials, key=lambda t: t.number)
    best_acc = [max(t.values[1] for t in trials[: i + 1]) for i in range(len(trials))]
    assert plots["history"]["acc"]["best"] == pytest.approx(best_acc)
    assert plots["history"]["loss"]["values"] == pytest.approx([t.values[0] for t in trials])
    assert plots["parallel_coordinates"]["objectives"]["acc"] == pytest.approx([t.values[1] for t in trials])
    importance = plots["importance"]["values"]
    assert set(importance) == {"loss", "acc"}
    assert max(importance["acc"], key=importance["acc"].__getitem__) == "y"  # acc is y itself
