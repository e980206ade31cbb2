"""A distributed Optuna sweep: `despina sweep run` starts two worker processes that optimize one study
on a PostgreSQL storage (Optuna's own distributed mode) and report into one study run of a shared
Despina home; the study ends with exactly the requested trials, each once in Optuna and as a trial run.

Skipped, with the reason, where PostgreSQL's server binaries are missing (see conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

import despina  # noqa: E402
from despina.exceptions import DespinaConfigError  # noqa: E402
from despina.integrations.optuna import (  # noqa: E402
    SWEEP_RUN_TAG,
    TRIAL_RUN_TAG,
    study_plots,
    sweep_run_id,
    sweep_study,
)

PROJECT = "team/hpo"
TRIALS = 12

optuna.logging.set_verbosity(optuna.logging.ERROR)

# A quadratic with a failing corner; the objective logs a curve into its own trial run and records which
# worker process ran it.
WORKER = """
    import os

    import optuna
    from despina.integrations.optuna import sweep_study, trial_run

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    LIGHT = dict(capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False)

    with sweep_study(direction="minimize", run_options=LIGHT) as sweep:

        def objective(trial):
            with trial_run(trial, sweep.run, **LIGHT) as run:
                x = trial.suggest_float("x", -4.0, 4.0)
                kind = trial.suggest_categorical("kind", ["square", "abs"])
                trial.set_user_attr("worker_pid", os.getpid())
                run["curve"].append(x)
                if x > 3.5:
                    raise ValueError("out of range")
                return (x - 1.0) ** 2 if kind == "square" else abs(x - 1.0)

        sweep.optimize(objective, catch=(ValueError,))
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(folder))
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    for name in ("MODE", "CUSTOM_RUN_ID", "URL", "API_TOKEN", "STOP_TIMEOUT"):
        monkeypatch.delenv(f"DESPINA_{name}", raising=False)
    for name in ("STUDY", "STORAGE", "TRIALS", "WORKER_TRIALS", "ID"):
        monkeypatch.delenv(f"DESPINA_SWEEP_{name}", raising=False)
    return folder


def rows(tag: str) -> list[dict[str, object]]:
    project = despina.init_project(PROJECT)
    try:
        return project.fetch_runs_table(tags=tag).to_rows()
    finally:
        project.stop()


@pytest.mark.slow
def test_two_workers_run_one_study_on_postgresql_and_report_each_trial_once(
    postgres_db_url: str, home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "despina.cli.main", "sweep", "run", str(script), "--study", "quad"]
    done = subprocess.run(
        [*command, "--storage", postgres_db_url, "--workers", "2", "--trials", str(TRIALS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"{TRIALS} trial(s)" in done.stdout, done.stdout

    # Optuna: exactly the requested trials, each number once, all finished, run by both workers.
    study = optuna.load_study(study_name="quad", storage=postgres_db_url)
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(TRIALS))
    assert all(t.state.is_finished() for t in trials)
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2, "both workers should have run trials"

    # Despina: one study run, found by every worker under the id derived from the study.
    [sweep_row] = rows(SWEEP_RUN_TAG)
    assert sweep_row["sys/custom_run_id"] == sweep_run_id(study)
    assert sweep_row["sys/name"] == "quad"
    sweep = despina.init_run(with_id=str(sweep_row["sys/id"]), mode="read-only")

    # ... and one trial run per trial, linked to it, with Optuna's state and value.
    trial_rows = rows(TRIAL_RUN_TAG)
    assert sorted(int(str(r["sweep/trial_number"])) for r in trial_rows) == list(range(TRIALS))
    assert {r["sweep/run_id"] for r in trial_rows} == {sweep.id}
    by_number = {t.number: t for t in trials}
    for row in trial_rows:
        trial = by_number[int(str(row["sweep/trial_number"]))]
        assert row["state"] == trial.state.name
        assert row["sys/custom_run_id"] == f"{sweep.id}-trial-{trial.number}"
        assert row["curve"] == pytest.approx(trial.params["x"])  # logged by the objective, same run
        if trial.value is not None:
            assert row["value"] == pytest.approx(trial.value)
    links = sweep["sweep/trial_runs"].fetch()
    assert {int(n): rid for n, rid in links.items()} == {
        int(str(r["sweep/trial_number"])): r["sys/id"] for r in trial_rows
    }

    # Per-trial fields of both workers side by side; study-level fields as the storage says.
    assert sorted(int(n) for n in sweep["trials/trials"].fetch()) == list(range(TRIALS))
    assert not sweep.exists("trials/values"), "several workers' series points would arrive out of order"
    assert sweep["best/value"].fetch() == pytest.approx(study.best_value)
    assert sorted(sweep["best/trials"].fetch()) == [str(study.best_trial.number)]
    assert sweep["study/storage_type"].fetch() == "RDBStorage"

    # The plots the server would draw, from the trial runs.
    plots = study_plots(sweep.id or "", project=PROJECT)
    complete = sorted((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.number)
    assert plots["trials"]["total"] == TRIALS
    assert plots["history"]["objective_value"]["numbers"] == [t.number for t in complete]
    assert plots["history"]["objective_value"]["best"][-1] == pytest.approx(study.best_value)
    sweep.stop()


def test_the_study_run_id_is_the_same_for_every_worker_and_names_the_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = optuna.create_study(study_name="wine forest", storage=url)
    again = optuna.load_study(study_name="wine forest", storage=url)
    other = optuna.create_study(study_name="other", storage=url)
    assert sweep_run_id(first).startswith("optuna-wine-forest-")
    assert sweep_run_id(again) == sweep_run_id(first)
    assert sweep_run_id(other) != sweep_run_id(first)
    with pytest.raises(DespinaConfigError, match="in memory"):
        sweep_run_id(optuna.create_study())


def test_sweep_study_says_what_it_needs(home: Path) -> None:
    with pytest.raises(DespinaConfigError, match="DESPINA_SWEEP_STUDY"):
        sweep_study()
