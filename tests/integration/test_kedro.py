"""The Kedro plugin end to end: a fresh copy of examples/kedro-optuna run by `kedro run` in a child
process, with each runner, and the stored run read back path by path. Also: a failing node, the
configuration (validation, per-environment switch, DISABLE_HOOKS_FOR_PLUGINS), `kedro despina init`
and `despina demo`. CI runs this module against Kedro 1.x and against Kedro 0.19.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("kedro", reason="the Kedro plugin tests need kedro (the test extra installs it)")
pytest.importorskip("optuna", reason="the example pipeline tunes with optuna (the test extra installs it)")

import kedro

import despina
from despina.cli.demo import copy_kedro_example, kedro_env, kedro_run

PROJECT = "demo/kedro-wine"
NODES = ["split_data", "fill_missing", "data_science.tune_model", "data_science.evaluate_model"]
SMALL_SEARCH = """\
data_science:
  n_trials: 2
  cv_folds: 5
  random_seed: 0
  n_estimators: {low: 5, high: 15}
  max_depth: {low: 2, high: 5}
"""
# `<name>@despina` uploads a file another dataset writes (here DespinaMetricsDataset's JSON).
ALIAS_ENTRY = """
data_science.metrics_file@despina:
  type: despina.integrations.kedro.DespinaFileDataset
  filepath: data/08_reporting/metrics.json
"""


def make_project(target: Path) -> Path:
    project = copy_kedro_example(target)
    (project / "conf/base/parameters_data_science.yml").write_text(SMALL_SEARCH)
    with (project / "conf/base/catalog.yml").open("a") as catalog:
        catalog.write(ALIAS_ENTRY)
    return project


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the example shared by the runner tests (the copy is what takes time to set up)."""
    return make_project(tmp_path_factory.mktemp("kedro") / "kedro-optuna")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(folder))
    for name in ("DESPINA_URL", "DESPINA_MODE", "DESPINA_CUSTOM_RUN_ID", "DESPINA_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    yield folder


def run_kedro(project: Path, home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = kedro_run(project, home, args)
    output = result.stdout + result.stderr
    if ok:
        assert result.returncode == 0, output[-6000:]
    return result


def runs(project: str = PROJECT) -> list[dict[str, Any]]:
    handle = despina.init_project(project)
    try:
        return handle.fetch_runs_table().to_rows()
    finally:
        handle.stop()


def only_run(project: str = PROJECT) -> despina.Run:
    rows = runs(project)
    assert len(rows) == 1, f"expected exactly one run, found {[r['sys/id'] for r in rows]}"
    return despina.init_run(project=project, with_id=rows[0]["sys/id"], mode="read-only")


def no_runs(home: Path, project: str = PROJECT) -> bool:
    try:
        return runs(project) == []
    except despina.DespinaError:  # no store, or no such project: nothing was logged
        return True


def log_lines(run: despina.Run) -> list[str]:
    return [str(v) for v in run["kedro/log"].fetch_values()["value"].tolist()]


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["SequentialRunner", "ThreadRunner", "ParallelRunner"])
def test_each_runner_logs_one_complete_run(example: Path, home: Path, tmp_path: Path, runner: str) -> None:
    run_kedro(example, home, "--runner", runner)
    run = only_run()
    assert run["sys/state"].fetch() == "finished"
    assert run["sys/failed"].fetch() is False
    assert run["sys/custom_run_id"].fetch().startswith("kedro-")
    assert "kedro" in run["sys/tags"].fetch()
    assert run["source_code/integrations/despina-kedro"].fetch() == kedro.__version__

    # The command, Kedro's run parameters and every parameter.
    assert run["kedro/kedro_command"].fetch() == f"kedro run --runner {runner}"
    assert runner in run["kedro/run_params/runner"].fetch()
    assert run["kedro/run_params/project_path"].fetch() == str(example)
    assert run["kedro/catalog/parameters/data_processing/frac"].fetch() == 0.25
    assert run["kedro/catalog/parameters/data_processing/random_seed"].fetch() == 42
    assert run["kedro/catalog/parameters/data_science/n_trials"].fetch() == 2
    assert run["kedro/catalog/parameters/data_science/n_estimators/high"].fetch() == 15

    # Datasets, the pipeline's structure and its execution order.
    assert run["kedro/catalog/datasets/wine/type"].fetch() == "kedro_optuna.datasets.WineDataset"
    assert "missing_fraction=0.02" in run["kedro/catalog/datasets/wine/description"].fetch()
    assert run["kedro/catalog/datasets/data_science.metrics/type"].fetch() == (
        "despina.integrations.kedro.datasets.DespinaMetricsDataset"
    )
    structure = json.loads(run["kedro/structure"].download(tmp_path / "structure.json").read_text())
    assert sorted(node["name"] for node in structure["pipeline"]) == sorted(NODES)
    order = run["kedro/execution_order"].fetch()
    assert [order.index(name) for name in NODES] == sorted(order.index(name) for name in NODES)

    # Every node, whichever thread or process ran it.
    for name in NODES:
        node = f"kedro/nodes/{name}"
        assert run[f"{node}/status"].fetch() == "done", name
        assert run[f"{node}/execution_time"].fetch() > 0, name
        assert run[f"{node}/started_at"].fetch() <= run[f"{node}/finished_at"].fetch(), name
    assert run["kedro/nodes/split_data/inputs"].fetch() == str(
        sorted(["wine", "params:data_processing.frac", "params:data_processing.random_seed"])
    )
    assert run["kedro/nodes/split_data/parameters/data_processing.frac"].fetch() == 0.25
    assert run["kedro/nodes/data_science.tune_model/parameters/data_science/n_trials"].fetch() == 2
    assert "data_science.model" in run["kedro/nodes/data_science.tune_model/outputs"].fetch()
    lines = log_lines(run)
    assert lines[0].startswith("Starting pipeline") and lines[-1] == "Finished pipeline"
    for name in NODES:
        assert lines.index(f"Running node: {name}") < lines.index(f"Finished node: {name}"), lines
    assert lines.index("Finished node: split_data") < lines.index("Running node: data_science.tune_model")

    # Inside the namespaced nodes: `despina_run` (as data_science.despina_run), Optuna's callback,
    # the metrics dataset and the file datasets (saved by a node, and the @despina alias).
    assert len(run["kedro/tuning/trials/values"].fetch_values()) == 2
    accuracy = run["kedro/evaluation/accuracy"].fetch()
    assert 0.5 < accuracy <= 1.0
    assert run["kedro/metrics/data_science.metrics/accuracy"].fetch() == accuracy
    assert 0.5 < run["kedro/metrics/data_science.metrics/f1_macro"].fetch() <= 1.0
    for path in ("kedro/evaluation/confusion_matrix", "kedro/catalog/files/data_science.confusion_matrix"):
        assert run[path].download(tmp_path / "cm.png").read_bytes().startswith(b"\x89PNG"), path
    metrics_file = run["kedro/catalog/files/data_science.metrics_file"].download(tmp_path / "metrics.json")
    assert json.loads(metrics_file.read_text())["accuracy"] == accuracy

    # The project's code and configuration are stored with the run; nothing is left unsent.
    files = run["source_code/files"].fetch_files_list()
    for expected in (
        "src/kedro_optuna/pipelines/data_science/nodes.py",
        "conf/base/parameters_data_science.yml",
    ):
        assert expected in files, files
    run.stop()
    # Every process that logged (ParallelRunner's workers too) took its journal folder with it.
    journals = home / "journal"
    assert not journals.is_dir() or not list(journals.iterdir()), list(journals.iterdir())
    status = subprocess.run(
        [sys.executable, "-m", "despina.cli.main", "status"],
        env=kedro_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "synced" in status.stdout, status.stdout + status.stderr


@pytest.mark.slow
def test_a_failing_node_fails_the_run_with_its_traceback(example: Path, home: Path) -> None:
    result = run_kedro(example, home, "--params", "data_processing.frac=1.5", ok=False)
    assert result.returncode != 0
    run = only_run()
    assert run["sys/state"].fetch() == "failed"
    assert run["sys/failed"].fetch() is True
    assert run["kedro/nodes/split_data/status"].fetch() == "failed"
    assert "Got 1.5 instead" in run["kedro/nodes/split_data/error"].fetch()
    assert run["kedro/error/node"].fetch() == "split_data"
    assert "Got 1.5 instead" in run["kedro/error/message"].fetch()
    assert "train_test_split" in run["kedro/error/traceback"].fetch()
    assert not run.exists("kedro/nodes/fill_missing/status")
    assert log_lines(run)[-1].startswith("Failed pipeline")
    tracebacks = [p for p in run.get_structure().get("monitoring", {}).values() if "traceback" in p]
    assert tracebacks, "the failure's traceback is also kept under monitoring/, as for any failed run"
    run.stop()


@pytest.mark.slow
def test_unknown_config_keys_stop_the_run_and_are_named(tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "project")
    (project / "conf/local/despina.yml").write_text("enabeld: false\nbase_namespace: kedro\n")
    result = run_kedro(project, home, "--pipeline", "data_processing", ok=False)
    assert result.returncode != 0
    assert "unknown key(s) enabeld" in result.stdout + result.stderr
    assert no_runs(home)


@pytest.mark.slow
def test_tracking_turned_off_for_one_environment_and_by_kedro_settings(tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "project")
    (project / "conf/test").mkdir()
    (project / "conf/test/despina.yml").write_text("enabled: false\n")
    # The nodes that take despina_run still run: they get a handle that stores nothing.
    run_kedro(project, home, "--env", "test")
    assert no_runs(home)

    (project / "src/kedro_optuna/settings.py").write_text('DISABLE_HOOKS_FOR_PLUGINS = ("despina",)\n')
    run_kedro(project, home, "--pipeline", "data_processing")
    assert no_runs(home)


@pytest.mark.slow
def test_kedro_despina_init_writes_a_working_configuration(tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "project")
    (project / "conf/base/despina.yml").unlink()
    (project / "conf/local/credentials_despina.yml").unlink()
    init = subprocess.run(
        [
            sys.executable,
            "-m",
            "kedro",
            "despina",
            "init",
            "--project",
            "team/wine",
            "--dependencies",
            "none",
        ],
        cwd=project,
        env=kedro_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "Wrote conf/base/despina.yml" in init.stdout
    assert "Wrote conf/local/credentials_despina.yml" in init.stdout
    text = (project / "conf/base/despina.yml").read_text()
    assert "project: team/wine" in text and "base_namespace: kedro" in text and "enabled: true" in text
    assert "api_token: $DESPINA_API_TOKEN" in (project / "conf/local/credentials_despina.yml").read_text()

    run_kedro(project, home, "--pipeline", "data_processing")
    run = only_run("team/wine")
    assert run["kedro/nodes/fill_missing/status"].fetch() == "done"
    assert run["kedro/catalog/parameters/data_processing/frac"].fetch() == 0.25
    run.stop()


@pytest.mark.slow
def test_despina_demo_runs_the_example_with_different_parameters(tmp_path: Path, home: Path) -> None:
    if shutil.which("kedro") is None and not (Path(sys.executable).parent / "kedro").exists():
        pytest.skip("kedro's command is not installed next to this Python")
    result = subprocess.run(
        [sys.executable, "-m", "despina.cli.main", "demo", "--runs", "2"],
        cwd=tmp_path,
        env={**kedro_env(home), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    rows = runs()
    assert len(rows) == 2
    assert {row["sys/state"] for row in rows} == {"finished"}
    assert sorted(row["kedro/catalog/parameters/data_processing/frac"] for row in rows) == [0.25, 0.3]
    assert all(0.5 < row["kedro/evaluation/accuracy"] <= 1.0 for row in rows)
    assert "KED-2" in result.stdout
