"""The compatibility layer's API, in process: Neptune 1.x's arguments, variables, value rules, handler
methods, value objects and runs table, each checked against what the native API stored."""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from neptune_corpus import read_run

import despina
import despina.compat.neptune as neptune
from despina.compat.neptune import exceptions, new
from despina.compat.neptune.types import (
    Boolean,
    Datetime,
    FileSet,
    Float,
    FloatSeries,
    GitRef,
    Integer,
    Namespace,
    String,
    StringSeries,
    StringSet,
)
from despina.compat.neptune.utils import stringify_unsupported
from despina.exceptions import DespinaConfigError, FieldTypeError

PROJECT = "team/compat"
LIGHT: dict[str, Any] = {"capture_stdout": False, "capture_stderr": False, "capture_hardware_metrics": False}


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Iterator[neptune.Run]:
    monkeypatch.setenv("NEPTUNE_PROJECT", PROJECT)
    run = neptune.init_run(**LIGHT)
    yield run
    run.stop()


def stored(run: neptune.Run) -> despina.Run:
    """Stop `run` and read it back with the native API."""
    run.stop()
    assert run.id is not None
    return read_run(PROJECT, run.id)


def caught(action: Any) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        action()
    return [w for w in record if issubclass(w.category, exceptions.NeptuneWarning)]


# -- constructors and environment ------------------------------------------------------------------


def test_init_run_takes_every_neptune_1x_keyword(tmp_path: Path) -> None:
    run = neptune.init_run(
        None,
        project=PROJECT,
        api_token=neptune.ANONYMOUS_API_TOKEN,
        custom_run_id=None,
        mode="debug",
        name="all-kwargs",
        description="every keyword",
        tags="one-tag",
        source_files=[],
        capture_stdout=False,
        capture_stderr=False,
        capture_hardware_metrics=False,
        fail_on_exception=True,
        monitoring_namespace="monitoring",
        flush_period=2,
        proxies={"https": "http://proxy:3128"},
        capture_traceback=True,
        git_ref=GitRef.DISABLED,
        dependencies=None,
        async_lag_callback=lambda run: None,
        async_lag_threshold=10.0,
        async_no_progress_callback=lambda run: None,
        async_no_progress_threshold=5.0,
    )
    assert isinstance(run, neptune.Run) and isinstance(run, despina.Run)
    assert run.mode == "debug" and run.project == PROJECT
    run.stop()
    signature = inspect.signature(neptune.Run.__init__)
    assert list(signature.parameters)[1:-1] == [
        "with_id", "project", "api_token", "custom_run_id", "mode", "name", "description", "tags",
        "source_files", "capture_stdout", "capture_stderr", "capture_hardware_metrics", "fail_on_exception",
        "monitoring_namespace", "flush_period", "proxies", "capture_traceback", "git_ref", "dependencies",
        "async_lag_callback", "async_lag_threshold", "async_no_progress_callback",
        "async_no_progress_threshold",
    ]  # fmt: skip
    assert neptune.init_run is neptune.Run


def test_unknown_and_mistyped_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        neptune.init_run(project=PROJECT, mode="debug", colour="red")
    with pytest.raises(TypeError, match="with_id="):
        neptune.init_run(project=PROJECT, mode="debug", run="CMP-1")
    with pytest.raises(exceptions.NeptunePossibleLegacyUsageException):
        neptune.init_run(project_qualified_name=PROJECT, mode="debug")
    with pytest.raises(TypeError, match=r"name must be a str or None \(was int\)"):
        neptune.init_run(project=PROJECT, mode="debug", name=1)
    with pytest.raises(TypeError, match="flush_period"):
        neptune.init_run(project=PROJECT, mode="debug", flush_period="5")
    with pytest.raises(TypeError, match="unexpected keyword argument 'with_id'"):
        neptune.init(project=PROJECT, mode="debug", with_id="CMP-1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        neptune.init_project(project=PROJECT, colour="red")


def test_neptune_variables_are_read_and_despina_ones_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_PROJECT", "team/from-neptune")
    monkeypatch.setenv("NEPTUNE_MODE", "debug")
    monkeypatch.setenv("NEPTUNE_API_TOKEN", "not-a-real-token")
    run = neptune.init_run(**LIGHT)
    assert (run.project, run.mode) == ("team/from-neptune", "debug")
    run.stop()
    monkeypatch.setenv("DESPINA_PROJECT", "team/from-despina")
    monkeypatch.setenv("DESPINA_MODE", "offline")
    run = neptune.init_run(**LIGHT)
    assert (run.project, run.mode) == ("team/from-despina", "offline")
    run.stop()
    assert neptune.init_run(project=PROJECT, mode="debug", **LIGHT).project == PROJECT  # arguments first


def test_project_and_mode_errors_are_neptunes() -> None:
    with pytest.raises(exceptions.NeptuneMissingProjectNameException, match="NEPTUNE_PROJECT"):
        neptune.init_run(**LIGHT)
    with pytest.raises(exceptions.NeptuneRunResumeAndCustomIdCollision):
        neptune.init_run("CMP-1", project=PROJECT, custom_run_id="job-7")
    with pytest.raises(exceptions.NeedExistingRunForReadOnlyMode):
        neptune.init_run(project=PROJECT, mode="read-only")
    assert issubclass(exceptions.NeedExistingRunForReadOnlyMode, DespinaConfigError)
    offline = neptune.init_run(mode="offline", **LIGHT)  # Neptune's offline runs need no project
    assert offline.project == "offline/project-placeholder"
    offline.stop()


def test_init_resumes_by_run_and_custom_run_id_joins(run: neptune.Run) -> None:
    run["score"] = 1
    run.stop()
    assert run.id is not None
    again = neptune.init(project=PROJECT, api_token="ANONYMOUS", run=run.id, **LIGHT)
    assert again.id == run.id
    again["score"] = 2
    again.stop()
    assert read_run(PROJECT, run.id)["score"].fetch() == 2


def test_new_module_is_the_same_api() -> None:
    for name in ("init", "init_run", "init_project", "get_project", "Run", "Project", "ANONYMOUS_API_TOKEN"):
        assert getattr(new, name) is getattr(neptune, name), name
    assert new.types.File is neptune.types.File is despina.File
    assert new.utils.stringify_unsupported is stringify_unsupported
    assert new.exceptions.MissingFieldException is despina.exceptions.MissingFieldError
    assert neptune.__version__.startswith("1.14.0+despina.")


# -- values Neptune skipped ------------------------------------------------------------------------


def test_values_neptune_skipped_are_skipped_once_warned_and_the_native_api_raises(run: neptune.Run) -> None:
    def log() -> None:
        run["params"] = {"a": None, "b": [1, 2], "c": (1,), "d": {3}, "e": object(), "ok": 1}
        run["params/a"] = None  # a second skip of the same field: no second warning
        run["big"] = 2**31
        run["nan"] = float("nan")
        run["inf"] = -math.inf
        run["loss"].append(0.5)
        run["loss"].append(float("nan"))
        run["loss"].append(float("inf"))
        run["loss"].append([1.0])
        run["loss"].append(0.25)

    record = caught(log)
    paths = sorted(str(w.message).split(" to ", 1)[1].split(":", 1)[0] for w in record)
    assert paths == sorted(
        repr(p)
        for p in ("params/a", "params/b", "params/c", "params/d", "params/e", "big", "nan", "inf", "loss")
    )
    assert all(w.filename == __file__ for w in record)  # the warning points at the caller's line
    back = stored(run)
    assert back["params"].fetch() == {"ok": 1}
    assert not back.exists("big") and not back.exists("nan") and not back.exists("inf")
    assert back["loss"].fetch_values()["value"].tolist() == [0.5, 0.25]

    native = despina.init_run(project=PROJECT, mode="debug")
    for value in (None, [1, 2], (1,), {3}, object()):
        with pytest.raises(FieldTypeError, match="stringify_unsupported"):
            native["x"] = value
    native["big"] = 2**31  # 64-bit ints and NaN are stored by the native API
    native["nan"] = float("nan")
    native.stop()


def test_a_step_out_of_order_is_skipped_with_a_warning(run: neptune.Run) -> None:
    record = caught(
        lambda: [run["acc"].append(v, step=s) for v, s in ((0.1, 1), (0.2, 1), (0.3, 0), (0.4, 2))]
    )
    assert len(record) == 1 and "not greater than its last step" in str(record[0].message)
    assert stored(run)["acc"].fetch_values()["value"].tolist() == [0.1, 0.4]


def test_neptune_coercions_of_an_existing_field(run: neptune.Run) -> None:
    run["epochs"] = 10
    run["epochs"] = 12.0
    record = caught(lambda: run["epochs"].assign(12.7))
    assert len(record) == 1 and "stored 12.7 as 12" in str(record[0].message)
    run["rate"] = 0.5
    run["rate"] = 1  # an int into a float field
    run["flag"] = True
    run["flag"] = 0
    run["decimal"] = __import__("decimal").Decimal("0.25")  # float() accepts it: a float, as Neptune
    back = stored(run)
    assert back["epochs"].fetch() == 12 and back["rate"].fetch() == 1.0
    assert back["flag"].fetch() is False and back["decimal"].fetch() == 0.25


def test_read_only_runs_ignore_writes_with_one_warning(run: neptune.Run) -> None:
    run["a"] = 1
    run.stop()
    assert run.id is not None
    ro = neptune.init_run(run.id, project=PROJECT, mode="read-only")
    record = caught(lambda: (ro.assign({"a": 2}), ro["b"].append(1.0), ro["t"].add("x"), ro.pop("a")))
    assert len(record) == 1 and "read-only" in str(record[0].message)
    assert ro["a"].fetch() == 1 and not ro.exists("b")


# -- handlers --------------------------------------------------------------------------------------


def test_value_objects_name_the_field_type(run: neptune.Run, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    run["f"] = Float(1)
    run["i"] = Integer(2.0)
    run["b"] = Boolean(1)
    run["s"] = String(5)
    run["d"] = Datetime(datetime(2024, 5, 1, tzinfo=timezone.utc))
    run["n"] = Namespace({"x": 1, "y": "z"})
    run["series"] = FloatSeries([1, 2, 3])
    run["series"] = FloatSeries([4, 5], steps=[10, 20])  # replaces the points
    run["words"] = StringSeries(["a", "b"])
    run["labels"] = StringSet(["cat", "dog"])
    run["labels"] = StringSet(["owl"])
    run["sys/tags"] = StringSet(["t1", "t2"])
    run["files"] = FileSet(str(tmp_path / "*.txt"))
    back = stored(run)
    types = back.get_structure()
    assert (types["f"], types["i"], types["b"], types["s"], types["d"]) == (
        "float",
        "int",
        "bool",
        "string",
        "datetime",
    )
    assert back["f"].fetch() == 1.0 and back["s"].fetch() == "5" and back["n"].fetch() == {"x": 1, "y": "z"}
    assert back["series"].fetch_values()[["step", "value"]].values.tolist() == [[10.0, 4.0], [20.0, 5.0]]
    assert back["words"].fetch_values()["value"].tolist() == ["a", "b"]
    assert back["labels"].fetch() == {"owl"} and back["sys/tags"].fetch() == {"t1", "t2"}
    assert back["files"].fetch_files_list() == ["a.txt"]


def test_handler_methods_of_neptune(run: neptune.Run, tmp_path: Path) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "x.csv").write_text("1")
    (tmp_path / "data" / "sub" / "y.csv").write_text("22")
    (tmp_path / "w.bin").write_bytes(b"\0")
    run["a//b/"] = 1  # Neptune's paths: empty segments are dropped
    run["a"]["c"] = 2
    run["copy"] = run["a/b"]  # a handler: its value is copied
    run["legacy"].log([1.0, 2.0, 3.0])
    run["legacy"].log(4.0, step=7)
    run["extended"].extend(__import__("pandas").Series([1.0, 2.0], index=[5, 9]))
    run["tags_like"].add(["x", "y"])
    run["tags_like"].remove("x")
    run["gone"].add("z")
    run["gone"].clear()
    run["data"].upload_files(str(tmp_path / "data"))
    run["model/weights"].upload(str(tmp_path / "w.bin"))
    assert run.exists("a/b") and run["a"].fetch() == {"b": 1, "c": 2}
    assert run["sys/state"].fetch() == "Active" and run.fetch()["sys"]["state"] == "Active"
    assert run.get_state() == "started" and run.get_url() == run.get_run_url()
    assert run["a"].get_root_object() is run and run["a"].container is run
    with pytest.raises(AttributeError, match=r"run\.wait\(\)"):
        run["a"].wait()
    with pytest.raises(ValueError, match="explicitly defined 'step'"):
        run["other"].log([1.0, 2.0], step=3)
    with pytest.raises(ValueError, match="cannot be empty"):
        run["empty"].log([])
    with pytest.raises(exceptions.MissingFieldException):
        run["missing"].fetch()
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    job = run["dataset"].track_files(str(tmp_path / "train.csv"), wait=True)  # Neptune's artifacts
    assert job.artifact is not None and run["dataset"].fetch_hash() == job.artifact.hash
    assert [(f.file_path, f.type) for f in run["dataset"].fetch_files_list()] == [("train.csv", "Local")]
    with pytest.raises(FileNotFoundError):
        run["nope"].upload(str(tmp_path / "nope.bin"))

    assert [e.name for e in run["data"].list_fileset_files()] == ["sub", "x.csv"]
    assert run["data"].list_fileset_files("sub")[0] == neptune._run.FileEntry("y.csv", 2, None, "file")
    assert run["model/weights"].download(tmp_path) == tmp_path / "weights.bin"  # Neptune's naming
    assert run["copy"].fetch() == 1 and run["tags_like"].fetch() == {"y"}
    assert run["gone"].fetch() == set()
    assert run["legacy"].fetch_values(include_timestamp=False, progress_bar=False)["step"].tolist() == [
        0.0, 1.0, 2.0, 7.0,
    ]  # fmt: skip
    assert run["extended"].fetch_values()["value"].tolist() == [1.0, 2.0]
    run.stop()
    assert run.get_state() == "stopped"
    with pytest.raises(exceptions.InactiveRunException):
        run["late"] = 1


# -- stringify_unsupported --------------------------------------------------------------------------


def test_stringify_unsupported_follows_neptune() -> None:
    np = pytest.importorskip("numpy")
    value = {"ints": [1, 2], "none": None, "big": 2**33, "nan": np.float64("nan"), 3: np.int32(7), "ok": 0.5}
    assert stringify_unsupported(value) == {
        "ints": "[1, 2]", "none": "None", "big": float(2**33), "nan": "nan", "3": 7, "ok": 0.5,
    }  # fmt: skip
    assert stringify_unsupported({"s": {"b", "a"}}, expand=True) == {"s": {"0": "a", "1": "b"}}
    assert stringify_unsupported(despina.File.from_content("x")) == despina.File.from_content("x")


# -- projects and runs tables ----------------------------------------------------------------------


def test_fetch_runs_table_with_neptune_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_PROJECT", PROJECT)
    runs = []
    for index, tags in enumerate((["a"], ["a", "b"], ["b"])):
        run = neptune.init_run(tags=tags, **LIGHT)
        run["index"] = index
        if index < 2:
            run.stop()
        else:
            run.wait()  # the last one is still running
        runs.append(run)
    ids = [run.id for run in runs]
    project = neptune.init_project()
    assert project.name == PROJECT
    frame = project.fetch_runs_table(state="active").to_pandas()
    assert frame["sys/id"].tolist() == [ids[2]] and frame["sys/state"].tolist() == ["Active"]
    assert sorted(project.fetch_runs_table(state="inactive").to_pandas()["sys/id"]) == sorted(ids[:2])
    assert project.fetch_runs_table(tag=["a", "b"]).to_pandas()["sys/id"].tolist() == [ids[1]]
    assert project.fetch_runs_table(tags="b", id=[ids[1], "CMP-99"]).to_pandas()["sys/id"].tolist() == [
        ids[1]
    ]
    assert len(project.fetch_runs_table(trashed=True)) == 0
    assert len(project.fetch_runs_table(limit=2)) == 2
    entries = list(project.fetch_runs_table(columns=["index"], sort_by="index", ascending=True))
    assert [entry["index"].get() for entry in entries] == [0, 1, 2]
    assert set(project.fetch_runs_table(columns=["index"]).to_pandas().columns) == {
        "sys/id", "sys/creation_time", "index",
    }  # fmt: skip
    with pytest.raises(ValueError):
        project.fetch_runs_table(state="idle")
    with pytest.raises(ValueError):
        project.fetch_runs_table(limit=0)
    with pytest.raises(exceptions.NeptuneUserApiInputException):
        project.fetch_runs_table(query='`sys/owner`:string = "x"', owner="x")
    assert len(project.fetch_runs_table(query='`sys/owner`:string = "nobody"').to_pandas()) == 0
    assert len(project.fetch_runs_table(query="`index`:int >= 1 AND `index`:int <= 2").to_pandas()) == 2
    legacy = neptune.get_project(name=PROJECT, api_token="ANONYMOUS")
    assert len(legacy.fetch_runs_table()) == 3
    with pytest.raises(exceptions.NeptuneUserApiInputException):
        neptune.init_project(mode="offline")
    runs[2].stop()


# -- Optuna ----------------------------------------------------------------------------------------


def test_neptune_callback_has_neptune_optunas_arguments() -> None:
    optuna_utils = pytest.importorskip("despina.compat.neptune.integrations.optuna")
    parameters = list(inspect.signature(optuna_utils.NeptuneCallback.__init__).parameters)[1:]
    assert parameters == [
        "run", "base_namespace", "plots_update_freq", "study_update_freq", "visualization_backend",
        "log_plot_contour", "log_plot_edf", "log_plot_parallel_coordinate", "log_plot_param_importances",
        "log_plot_pareto_front", "log_plot_slice", "log_plot_intermediate_values",
        "log_plot_optimization_history", "target_names", "log_all_trials",
    ]  # fmt: skip
    legacy = pytest.importorskip("despina.compat.neptune.new.integrations.optuna")
    assert legacy.NeptuneCallback is optuna_utils.NeptuneCallback
