"""`despina import mlflow`: a real MLflow tracking store (SQLite plus a local artifact root) built by the
test is imported through the CLI, read back through the Despina API, and imported again unchanged."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from server_harness import server_with_user

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'despina[mlflow]')")

import despina  # noqa: E402
from despina.cli.main import cli  # noqa: E402

T0 = 1_700_000_000_000  # ms


def _build(root: Path) -> tuple[str, dict[str, str]]:
    """Two experiments: `Vision Models` (three runs, one failed) and `nlp` (one run)."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    ids: dict[str, str] = {}
    vision = client.create_experiment("Vision Models", artifact_location=(root / "artifacts").as_uri())
    nlp = client.create_experiment("nlp", artifact_location=(root / "artifacts-nlp").as_uri())

    run = client.create_run(vision, start_time=T0, run_name="resnet", tags={"mlflow.user": "ada"})
    rid = ids["resnet"] = run.info.run_id
    loss = [Metric("loss", 1.0 / (s + 1), T0 + 1000 * s, s) for s in range(5)]
    loss.append(Metric("loss", 99.0, T0 + 9000, 2))  # a repeated step: dropped
    client.log_batch(
        rid,
        metrics=[*loss, Metric("acc", 0.5, T0 + 500, 0), Metric("acc", 0.75, T0 + 1500, 1)],
        params=[Param("lr", "0.001"), Param("optimizer", "adam")],
        tags=[RunTag("team", "vision"), RunTag("mlflow.note.content", "a baseline")],
    )
    files = root / "upload"
    (files / "plots").mkdir(parents=True)
    (files / "model.txt").write_bytes(b"weights v1\n")
    (files / "plots" / "curve.csv").write_bytes(b"step,loss\n0,1\n")
    client.log_artifact(rid, str(files / "model.txt"))
    client.log_artifacts(rid, str(files / "plots"), artifact_path="plots")
    client.set_terminated(rid, "FINISHED", end_time=T0 + 60_000)

    run = client.create_run(vision, start_time=T0 + 100_000, run_name="broken")
    ids["broken"] = run.info.run_id
    client.log_param(ids["broken"], "lr", "10")
    client.log_metric(ids["broken"], "loss", math.nan, timestamp=T0 + 101_000, step=0)
    client.set_terminated(ids["broken"], "FAILED", end_time=T0 + 102_000)

    run = client.create_run(vision, start_time=T0 + 200_000, run_name="killed")
    ids["killed"] = run.info.run_id
    client.set_terminated(ids["killed"], "KILLED", end_time=T0 + 201_000)

    run = client.create_run(nlp, start_time=T0 + 300_000, run_name="bert")
    ids["bert"] = run.info.run_id
    client.log_metric(ids["bert"], "f1", 0.9, timestamp=T0 + 301_000, step=10)
    client.set_terminated(ids["bert"], "FINISHED", end_time=T0 + 302_000)

    run = client.create_run(nlp, start_time=T0 + 400_000, run_name="live")  # left RUNNING
    ids["live"] = run.info.run_id
    client.log_metric(ids["live"], "f1", 0.1, timestamp=T0 + 401_000, step=0)
    return uri, ids


def _invoke(args: list[str], home: Path) -> Any:
    result = CliRunner().invoke(cli, args, env={"DESPINA_HOME": str(home)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _open(project: str, custom_id: str) -> Any:
    table = despina.init_project(project, mode="read-only").fetch_runs_table().to_pandas()
    row = table[table["sys/custom_run_id"] == custom_id]
    assert len(row) == 1
    return despina.init_run(project=project, with_id=row["sys/id"].iloc[0], mode="read-only")


def test_import_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, ids = _build(tmp_path / "mlflow")
    home = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(home))
    result = _invoke(["import", "mlflow", "--tracking-uri", uri, "--home", str(home)], home)
    assert "5 new" in result.output, result.output
    assert "1 metric point" in result.output

    table = despina.init_project("mlflow/vision-models", mode="read-only").fetch_runs_table().to_pandas()
    assert sorted(table["sys/name"]) == ["broken", "killed", "resnet"]
    assert set(table["sys/custom_run_id"]) == {ids["resnet"], ids["broken"], ids["killed"]}
    states = dict(zip(table["sys/name"], table["sys/state"], strict=True))
    assert states == {"resnet": "finished", "broken": "failed", "killed": "failed"}

    run = _open("mlflow/vision-models", ids["resnet"])
    try:
        assert run["sys/description"].fetch() == "a baseline"
        assert run["sys/owner"].fetch() == "ada"
        assert run["sys/failed"].fetch() is False
        assert run["parameters/lr"].fetch() == "0.001"
        assert run["parameters/optimizer"].fetch() == "adam"
        assert run["tags/team"].fetch() == "vision"
        assert run["mlflow/user"].fetch() == "ada"
        assert run["sys/creation_time"].fetch().timestamp() == pytest.approx(T0 / 1000)
        assert run["sys/modification_time"].fetch().timestamp() == pytest.approx(T0 / 1000 + 60)
        loss = run["metrics/loss"].fetch_values()
        assert loss["step"].tolist() == [0, 1, 2, 3, 4]
        assert loss["value"].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]  # the first point of step 2
        assert [t.timestamp() for t in loss["timestamp"]] == pytest.approx([T0 / 1000 + s for s in range(5)])
        assert run["metrics/acc"].fetch_values()["value"].tolist() == [0.5, 0.75]
        assert run["artifacts"].fetch_files_list() == ["model.txt", "plots/curve.csv"]
        folder = run["artifacts"].download(tmp_path / "out")
        assert (folder / "model.txt").read_bytes() == b"weights v1\n"
        assert (folder / "plots" / "curve.csv").read_bytes() == b"step,loss\n0,1\n"
    finally:
        run.stop()

    broken = _open("mlflow/vision-models", ids["broken"])
    try:
        assert broken["sys/failed"].fetch() is True
        assert math.isnan(broken["metrics/loss"].fetch_values()["value"].iloc[0])
    finally:
        broken.stop()

    bert = _open("mlflow/nlp", ids["bert"])
    try:
        assert bert["metrics/f1"].fetch_values()["step"].tolist() == [10]
    finally:
        bert.stop()
    nlp = despina.init_project("mlflow/nlp", mode="read-only").fetch_runs_table().to_pandas()
    # A RUNNING run's heartbeat is its last sign of life, long ago: it reads as crashed.
    assert dict(zip(nlp["sys/name"], nlp["sys/state"], strict=True)) == {
        "bert": "finished",
        "live": "crashed",
    }

    # Again: nothing new, no point twice.
    again = _invoke(["import", "mlflow", "--tracking-uri", uri, "--home", str(home)], home)
    assert "0 new, 5 already there" in again.output and "0 operation(s)" in again.output, again.output
    table = despina.init_project("mlflow/vision-models", mode="read-only").fetch_runs_table().to_pandas()
    assert len(table) == 3
    run = _open("mlflow/vision-models", ids["resnet"])
    try:
        assert run["metrics/loss"].fetch_values()["step"].tolist() == [0, 1, 2, 3, 4]
    finally:
        run.stop()


def test_import_one_experiment_into_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, ids = _build(tmp_path / "mlflow")
    home = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(home))
    _invoke(["import", "mlflow", "--tracking-uri", uri, "--experiment", "nlp", "--project", "team/nlp"], home)
    table = despina.init_project("team/nlp", mode="read-only").fetch_runs_table().to_pandas()
    assert sorted(table["sys/custom_run_id"]) == sorted([ids["bert"], ids["live"]])
    result = CliRunner().invoke(
        cli,
        ["import", "mlflow", "--tracking-uri", uri, "--experiment", "nope"],
        env={"DESPINA_HOME": str(home)},
    )
    assert result.exit_code != 0 and "no experiment named 'nope'" in result.output


def test_import_mlflow_into_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With DESPINA_URL set, the import fills the server the team logs to, read back as a user would."""
    uri, ids = _build(tmp_path / "mlflow")
    with server_with_user(tmp_path / "server", "admin", admin=True) as (url, token, _):
        monkeypatch.setenv("DESPINA_URL", url)
        monkeypatch.setenv("DESPINA_API_TOKEN", token)
        home = tmp_path / "client-home"  # the client's journals; nothing is imported into it
        result = _invoke(["import", "mlflow", "--tracking-uri", uri], home)
        assert "5 new" in result.output and "2 new file(s)" in result.output, result.output
        assert not (home / "despina.db").exists()

        run = _open("mlflow/vision-models", ids["resnet"])
        try:
            assert run["sys/owner"].fetch() == "ada"
            assert run["sys/creation_time"].fetch().timestamp() == pytest.approx(T0 / 1000)
            assert run["metrics/loss"].fetch_values()["value"].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]
            folder = run["artifacts"].download(tmp_path / "out")
            assert (folder / "plots" / "curve.csv").read_bytes() == b"step,loss\n0,1\n"
        finally:
            run.stop()

        again = _invoke(["import", "mlflow", "--tracking-uri", uri], home)
        assert "0 new, 5 already there" in again.output and "0 new file(s)" in again.output, again.output
