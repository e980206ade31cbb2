"""Everything a user logs through `import despina` reads back the way they logged it.

Each test has its own DESPINA_HOME (the embedded SQLite store) and working folder under tmp_path. Runs
are in the default mode (async): reads wait for the run's own writes, as a user's notebook would.
"""

from __future__ import annotations

import argparse
import io
import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import despina
from despina import File
from despina.exceptions import FieldPathError, FieldTypeError, MissingFieldError, StepOrderError

PROJECT = "team/cassava"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T0 = 1_700_000_000.0


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESPINA_USER", "sophia")
    for name in ("PROJECT", "MODE", "CUSTOM_RUN_ID", "URL", "STOP_TIMEOUT"):
        monkeypatch.delenv(f"DESPINA_{name}", raising=False)
    return tmp_path


@pytest.fixture
def start() -> Iterator[Callable[..., despina.Run]]:
    """Start runs of PROJECT (keywords go to init_run); those still running stop after the test."""
    started: list[despina.Run] = []

    def start_run(**kwargs: Any) -> despina.Run:
        run = despina.init_run(project=PROJECT, **kwargs)
        started.append(run)
        return run

    yield start_run
    for run in started:
        run.stop()


@pytest.fixture
def run(start: Callable[..., despina.Run]) -> despina.Run:
    return start()


def reopen(run_id: str) -> despina.Run:
    """The run as another process would read it."""
    return despina.init_run(project=PROJECT, with_id=run_id, mode="read-only")


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def same_floats(actual: Any, expected: Any) -> bool:
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return bool(np.array_equal(a, e, equal_nan=True))


# -- atoms and namespaces ----------------------------------------------------------------------------


def test_atoms_of_every_type_read_back(run: despina.Run) -> None:
    aware = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone.utc)
    naive = datetime(2024, 5, 1, 12, 30, 15)
    run["f/plain"] = 0.25
    run["f/nan"] = math.nan
    run["f/inf"] = math.inf
    run["f/ninf"] = -math.inf
    run["f/numpy"] = np.float32(0.5)
    run["i/max"] = 2**63 - 1
    run["i/min"] = -(2**63)
    run["i/numpy"] = np.int64(7)
    run["b/yes"] = True
    run["b/no"] = np.bool_(False)
    run["s/text"] = "héllo ✓"
    run["s/empty"] = ""
    run["d/aware"] = aware
    run["d/naive"] = naive

    assert run["f/plain"].fetch() == 0.25
    assert math.isnan(run["f/nan"].fetch())
    assert run["f/inf"].fetch() == math.inf and run["f/ninf"].fetch() == -math.inf
    assert run["f/numpy"].fetch() == 0.5
    assert run["i/max"].fetch() == 2**63 - 1 and run["i/min"].fetch() == -(2**63)
    assert run["i/numpy"].fetch() == 7
    assert run["b/yes"].fetch() is True and run["b/no"].fetch() is False
    assert run["s/text"].fetch() == "héllo ✓" and run["s/empty"].fetch() == ""
    assert run["d/aware"].fetch() == aware
    assert run["d/naive"].fetch() == naive.astimezone()  # a naive datetime is local time
    structure = run.get_structure()
    assert structure["f"]["plain"] == "float" and structure["i"]["max"] == "int"
    assert structure["b"]["yes"] == "bool" and structure["s"]["text"] == "string"
    assert structure["d"]["aware"] == "datetime"


def test_a_dict_assigns_a_namespace_and_fetch_reads_a_field_a_namespace_and_the_run(run: despina.Run) -> None:
    config = {
        "lr": 1e-3,
        "optimizer": "Adam",
        "epochs": 10,
        "use_amp": False,
        "model": {"layers": 3, "dropout": 0.1},
    }
    run["parameters"] = config
    run["data"] = argparse.Namespace(batch_size=32, root="/data")
    run["score"] = 0.66
    run["train/loss"].append(0.5)

    assert run["parameters/lr"].fetch() == 1e-3
    assert run["parameters"]["model"]["layers"].fetch() == 3
    assert run["parameters"].fetch() == config
    assert run["parameters/model"].fetch() == {"layers": 3, "dropout": 0.1}
    assert run["data"].fetch() == {"batch_size": 32, "root": "/data"}
    everything = run.fetch()
    assert everything["parameters"] == config
    assert everything["score"] == 0.66
    assert "train" not in everything  # series are not atoms
    assert everything["sys"]["id"] == run.id
    assert everything["sys"]["owner"] == "sophia"
    assert everything["sys"]["state"] == "running"
    with pytest.raises(MissingFieldError, match="parameters/momentum"):
        run["parameters/momentum"].fetch()


def test_the_owner_comes_from_despina_user(run: despina.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run["sys/owner"].fetch() == "sophia"
    monkeypatch.setenv("DESPINA_USER", "paul")
    with despina.init_run(project=PROJECT) as other:
        assert other["sys/owner"].fetch() == "paul"


# -- series ------------------------------------------------------------------------------------------


def test_float_series_with_and_without_steps_and_timestamps(run: despina.Run) -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    loss = run["train/loss"]
    loss.append(0.9)  # step 0
    loss.append(1)  # step 1, an int is a float point
    loss.log(np.float64(0.7))  # step 2
    loss.append(0.5, step=10)
    loss.append(math.nan)  # step 11
    loss.extend([0.4, math.inf])  # steps 12, 13
    loss.extend([0.3, -math.inf], steps=[20, 25.5], timestamps=[T0 + 1, T0 + 2.5])
    loss.append(0.1, step=30, timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc))
    after = datetime.now(timezone.utc) + timedelta(seconds=1)

    frame = loss.fetch_values()
    assert list(frame.columns) == ["step", "value", "timestamp"]
    assert frame["step"].tolist() == [0, 1, 2, 10, 11, 12, 13, 20, 25.5, 30]
    assert same_floats(frame["value"], [0.9, 1, 0.7, 0.5, math.nan, 0.4, math.inf, 0.3, -math.inf, 0.1])
    assert frame["value"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(frame["timestamp"])
    stamps = list(frame["timestamp"])
    assert stamps[7] == pd.Timestamp(T0 + 1, unit="s", tz="UTC")
    assert stamps[8] == pd.Timestamp(T0 + 2.5, unit="s", tz="UTC")
    assert stamps[9] == pd.Timestamp("2024-01-01", tz="UTC")
    assert all(before <= stamp <= after for stamp in stamps[:7])  # the time of the call
    assert loss.fetch_last() == 0.1
    assert loss.fetch() == 0.1
    assert list(loss.fetch_values(include_timestamp=False).columns) == ["step", "value"]
    assert loss.fetch_values(step_range=(10, 20))["step"].tolist() == [10, 11, 12, 13, 20]
    assert run.get_structure()["train"]["loss"] == "floatSeries"


def test_the_last_value_of_a_series_may_be_nan(run: despina.Run) -> None:
    run["acc"].extend([0.5, math.nan])
    assert math.isnan(run["acc"].fetch_last())


def test_a_dict_appends_to_a_namespace_of_series(run: despina.Run) -> None:
    for epoch in range(3):
        run["train"].append({"loss": 1.0 / (epoch + 1), "acc": epoch / 10})
    assert run["train/loss"].fetch_values()["value"].tolist() == [1.0, 0.5, 1 / 3]
    assert run["train/acc"].fetch_values()["step"].tolist() == [0, 1, 2]


def test_string_series(run: despina.Run) -> None:
    logs = run["logs"]
    logs.append("epoch 0 done")
    logs.extend(["epoch 1 done", "épocha 2 ✓"])
    logs.log("finished", step=10)
    frame = logs.fetch_values()
    assert frame["step"].tolist() == [0, 1, 2, 10]
    assert frame["value"].tolist() == ["epoch 0 done", "epoch 1 done", "épocha 2 ✓", "finished"]
    assert logs.fetch_last() == "finished"
    assert run.get_structure()["logs"] == "stringSeries"


def test_string_sets_and_tags(start: Callable[..., despina.Run]) -> None:
    run = start(tags=["baseline", "cnn"])
    assert run["sys/tags"].fetch() == {"baseline", "cnn"}
    run["sys/tags"].add("best")
    run["sys/tags"].add(["v2", "gpu"])
    run["sys/tags"].remove("cnn")
    assert run["sys/tags"].fetch() == {"baseline", "best", "v2", "gpu"}
    run["data/classes"].add(["cat", "dog"])
    run["data/classes"].remove(["dog"])
    assert run["data/classes"].fetch() == {"cat"}
    run["sys/tags"] = ["only", "these"]
    assert run["sys/tags"].fetch() == {"only", "these"}
    assert run.get_structure()["data"]["classes"] == "stringSet"


# -- files -------------------------------------------------------------------------------------------


def test_upload_a_path_and_download_it_to_a_folder_and_to_a_file(run: despina.Run, tmp_path: Path) -> None:
    content = np.random.default_rng(0).bytes(300_000)
    source = write(tmp_path / "inputs" / "model.pt", content)
    run["model/weights"].upload(str(source))
    source.write_bytes(b"changed after the upload")  # what was logged is what the file held at the call
    assert run["model/weights"].fetch_extension() == "pt"

    folder = tmp_path / "restored"
    folder.mkdir()
    downloaded = run["model/weights"].download(folder)
    assert downloaded == folder / "model.pt"
    assert downloaded.read_bytes() == content
    target = run["model/weights"].download(tmp_path / "elsewhere" / "weights.bin")
    assert target == tmp_path / "elsewhere" / "weights.bin"
    assert target.read_bytes() == content
    assert run.get_structure()["model"]["weights"] == "file"


def test_upload_content_a_dataframe_and_figures(run: despina.Run, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    run["config"].upload(File.from_content('{"lr": 0.1}', extension="json"))
    table = pd.DataFrame({"epoch": [0, 1, 2], "loss": [0.9, 0.5, 0.25], "name": ["a", "b", "c"]})
    run["data/table"].upload(table)
    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [0.9, 0.5, 0.25])
    run["charts/loss"].upload(figure)
    run["charts/assigned"] = figure  # a figure assigned is uploaded too
    plt.close(figure)
    run["charts/interactive"].upload(go.Figure(go.Scatter(x=[0, 1, 2], y=[3, 1, 2])))

    out = tmp_path / "out"
    out.mkdir()
    config = run["config"].download(out)
    assert config.parent == out and config.suffix == ".json"
    assert config.read_bytes() == b'{"lr": 0.1}'
    assert run["data/table"].fetch_extension() == "csv"
    pd.testing.assert_frame_equal(pd.read_csv(run["data/table"].download(out / "table.csv")), table)
    for path in ("charts/loss", "charts/assigned"):
        assert run[path].fetch_extension() == "png"
        png = run[path].download(out / f"{path.replace('/', '-')}.png").read_bytes()
        assert png.startswith(PNG_SIGNATURE)
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.width > 10
    assert run["charts/interactive"].fetch_extension() == "html"
    page = run["charts/interactive"].download(out / "chart.html").read_text(encoding="utf-8")
    assert "<html" in page.lower() and "plotly" in page.lower()


def test_upload_files_makes_a_file_set(run: despina.Run, tmp_path: Path) -> None:
    data = tmp_path / "inputs" / "data"
    files = {
        "a.csv": b"x,y\n1,2\n",
        "b.csv": b"x,y\n3,4\n",
        "sub/c.txt": b"nested",
    }
    for name, content in files.items():
        write(data / name, content)
    write(tmp_path / "inputs" / "notes.md", b"# notes")

    run["dataset"].upload_files("inputs/data/*.csv")
    assert run["dataset"].fetch_files_list() == ["a.csv", "b.csv"]
    run["everything"].upload_files(str(data))  # a folder: every file in it, by relative name
    assert run["everything"].fetch_files_list() == ["a.csv", "b.csv", "sub/c.txt"]
    run["dataset"].upload_files(["inputs/*.md"])  # adds to the set
    assert run["dataset"].fetch_files_list() == ["a.csv", "b.csv", "notes.md"]
    assert run.get_structure()["dataset"] == "fileSet"

    folder = run["everything"].download(tmp_path / "restored")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(files)
    for name, content in files.items():
        assert (folder / name).read_bytes() == content
    with pytest.raises(FileNotFoundError, match="nothing"):
        run["dataset"].upload_files("inputs/nothing/*")


def test_file_series(run: despina.Run, tmp_path: Path) -> None:
    samples = run["samples"]
    samples.append(File.from_content(b"first", extension="bin"))
    samples.append(File.from_content(b"second", extension="bin"))
    samples.append(File.from_content(b"tenth", extension="bin"), step=10)
    assert run.get_structure()["samples"] == "fileSeries"
    assert samples.fetch_values()["step"].tolist() == [0, 1, 10]
    folder = samples.download(tmp_path / "samples")
    assert (folder / "0.bin").read_bytes() == b"first"
    assert (folder / "1.bin").read_bytes() == b"second"
    assert (folder / "10.bin").read_bytes() == b"tenth"
    assert samples.download_last(tmp_path / "last.bin").read_bytes() == b"tenth"


# -- deleting and the structure ------------------------------------------------------------------------


def test_delete_a_field_and_pop_a_namespace(run: despina.Run) -> None:
    run["params"] = {"lr": 0.1, "momentum": 0.9}
    run["train/loss"].extend([1.0, 0.5])
    run["train/acc"].extend([0.1, 0.2])
    run["score"] = 0.5
    assert run.exists("params/lr") and run.exists("params") and run.exists("train/loss")
    assert not run.exists("params/nothing")

    del run["params/lr"]
    assert not run.exists("params/lr")
    assert run.exists("params/momentum")
    with pytest.raises(MissingFieldError, match="params/lr"):
        run["params/lr"].fetch()
    run["train"].pop()
    assert not run.exists("train") and not run.exists("train/loss")
    assert run.exists("score")
    with pytest.raises(MissingFieldError, match="train"):
        del run["train"]
    # The paths are free again: a new type, and a series that starts over.
    run["params/lr"] = "cosine"
    run["train/loss"].append(7.0)
    assert run["params/lr"].fetch() == "cosine"
    assert run["train/loss"].fetch_values()["step"].tolist() == [0]
    run.wait()
    reader = reopen(run.id)  # the store agrees
    assert reader.exists("params/lr") and not reader.exists("train/acc")
    assert reader["train/loss"].fetch_values()["value"].tolist() == [7.0]


def test_get_structure_and_print_structure(run: despina.Run, capsys: pytest.CaptureFixture[str]) -> None:
    run["parameters"] = {"lr": 0.1, "optimizer": "adam"}
    run["train/loss"].append(0.5)
    structure = run.get_structure()
    assert structure["parameters"] == {"lr": "float", "optimizer": "string"}
    assert structure["train"] == {"loss": "floatSeries"}
    assert structure["sys"]["id"] == "string" and structure["sys"]["tags"] == "stringSet"
    capsys.readouterr()
    run.print_structure()
    printed = capsys.readouterr().out
    for word in ("parameters", "lr", "optimizer", "train", "loss", "floatSeries", run.id or "?"):
        assert word in printed


# -- errors at the call site ---------------------------------------------------------------------------


def test_errors_are_raised_at_the_call_site_and_name_the_field(run: despina.Run) -> None:
    with pytest.raises(ValueError, match="empty"):
        run[""] = 1
    long_path = "a" * 1025
    with pytest.raises(FieldPathError, match="1025"):
        run[long_path] = 1
    run["a" * 1024] = 1  # the longest path allowed
    with pytest.raises(ValueError, match="sys/state"):
        run["sys/state"] = "finished"
    with pytest.raises(TypeError, match="stringify_unsupported") as appended:
        run["train/layers"].append([64, 32])
    assert "train/layers" in str(appended.value)
    with pytest.raises(TypeError, match="stringify_unsupported") as assigned:
        run["params/layers"] = [64, 32]
    assert "params/layers" in str(assigned.value)
    with pytest.raises(FieldTypeError, match="64-bit"):
        run["params/big"] = 2**64

    run["acc"].append(0.5, step=5)
    with pytest.raises(StepOrderError, match="last step 5") as same_step:
        run["acc"].append(0.6, step=5)
    assert "'acc'" in str(same_step.value)
    with pytest.raises(ValueError, match="last step 5"):
        run["acc"].append(0.6, step=2)

    run["lr"] = 0.1
    with pytest.raises(TypeError, match="'lr'") as retyped:
        run["lr"] = "fast"
    assert "float" in str(retyped.value)
    run["lr"] = 2  # an int into a float field is fine
    # What failed was not logged; the rest was.
    assert run["acc"].fetch_values()["step"].tolist() == [5]
    assert run["lr"].fetch() == 2.0
    assert run["sys/state"].fetch() == "running"
    assert not run.exists("params/layers") and not run.exists("train/layers")


def test_an_unknown_init_run_argument_raises_type_error() -> None:
    with pytest.raises(TypeError, match="nmae"):
        despina.init_run(project=PROJECT, nmae="typo")  # type: ignore[call-arg]


# -- resuming and forking ------------------------------------------------------------------------------


def test_resume_reads_overwrites_and_continues_a_series(start: Callable[..., despina.Run]) -> None:
    first = start(name="first")
    first["parameters"] = {"lr": 0.1, "epochs": 5}
    first["train/loss"].extend([1.0, 0.8, 0.6, 0.4, 0.2])
    first.stop()
    assert first.id is not None

    resumed = start(with_id=first.id)
    assert resumed.id == first.id
    assert resumed["parameters/lr"].fetch() == 0.1
    assert resumed["sys/name"].fetch() == "first"
    assert resumed["sys/state"].fetch() == "running"
    resumed["parameters/lr"] = 0.05
    resumed["train/loss"].append(0.1)  # step 5, after the last one
    resumed["train/loss"].append(0.05)
    with pytest.raises(StepOrderError, match="last step 6"):
        resumed["train/loss"].append(0.0, step=3)
    with pytest.raises(TypeError, match="parameters/lr"):
        resumed["parameters/lr"] = "slow"  # the type is known from the stored run
    resumed.stop()

    reader = reopen(first.id)
    frame = reader["train/loss"].fetch_values()
    assert frame["step"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert frame["value"].tolist() == [1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.05]
    assert reader["parameters"].fetch() == {"lr": 0.05, "epochs": 5}
    assert reader["sys/state"].fetch() == "finished"


def test_a_fork_inherits_series_up_to_the_fork_step_and_parameters(start: Callable[..., despina.Run]) -> None:
    parent = start(name="parent")
    parent["parameters"] = {"lr": 0.1, "optimizer": "adam"}
    parent["train/loss"].extend([float(v) for v in range(10)])
    parent.wait()
    assert parent.id is not None

    child = start(fork_run_id=parent.id, fork_step=4)
    assert child.id != parent.id
    assert child["sys/forking/parent"].fetch() == parent.id
    assert child["sys/forking/step"].fetch() == 4.0
    assert child["parameters"].fetch() == {"lr": 0.1, "optimizer": "adam"}
    child["train/loss"].append(-5.0)  # continues after the fork step
    child["train/loss"].append(-6.0)
    with pytest.raises(StepOrderError):
        child["train/loss"].append(-1.0, step=4)
    child["parameters/lr"] = 0.01
    parent["train/loss"].append(10.0)

    frame = child["train/loss"].fetch_values()
    assert frame["step"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert frame["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, -5.0, -6.0]
    assert child["train/loss"].fetch_last() == -6.0
    assert child["parameters/lr"].fetch() == 0.01
    # The parent is unchanged.
    parent_frame = parent["train/loss"].fetch_values()
    assert parent_frame["step"].tolist() == list(range(11))
    assert parent_frame["value"].tolist() == [float(v) for v in range(11)]
    assert parent["parameters/lr"].fetch() == 0.1
    assert not parent.exists("sys/forking/parent")


# -- life cycle ----------------------------------------------------------------------------------------


def test_a_with_block_marks_the_run_finished_or_failed() -> None:
    with despina.init_run(project=PROJECT) as good:
        good["score"] = 1.0
    with pytest.raises(RuntimeError, match="diverged"), despina.init_run(project=PROJECT) as bad:
        bad["score"] = float("nan")
        raise RuntimeError("loss diverged")
    assert good.id is not None and bad.id is not None
    good_again, bad_again = reopen(good.id), reopen(bad.id)
    assert good_again["sys/state"].fetch() == "finished"
    assert good_again["sys/failed"].fetch() is False
    assert good_again["score"].fetch() == 1.0
    assert bad_again["sys/state"].fetch() == "failed"
    assert bad_again["sys/failed"].fetch() is True
    assert math.isnan(bad_again["score"].fetch())


# -- the runs table ------------------------------------------------------------------------------------


@pytest.fixture
def three_runs(start: Callable[..., despina.Run], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """finished (alice, baseline), failed (bob, baseline+cnn), running (alice); and one in another project."""
    ids: dict[str, str] = {}
    monkeypatch.setenv("DESPINA_USER", "alice")
    with despina.init_run(project=PROJECT, tags=["baseline"]) as finished:
        finished["score"] = 0.5
        finished["epochs"] = 10
        finished["use_amp"] = True
        finished["started_at"] = datetime(2024, 1, 1, tzinfo=timezone.utc)
        finished["parameters"] = {"lr": 0.1, "optimizer": "adam"}
        finished["train/loss"].extend([0.9, 0.3])
    monkeypatch.setenv("DESPINA_USER", "bob")
    with pytest.raises(RuntimeError), despina.init_run(project=PROJECT, tags=["baseline", "cnn"]) as failed:
        failed["score"] = 0.9
        failed["epochs"] = 20
        failed["use_amp"] = False
        failed["started_at"] = datetime(2024, 1, 2, tzinfo=timezone.utc)
        failed["parameters"] = {"lr": 0.01, "optimizer": "sgd"}
        failed["train/loss"].extend([0.8, 0.2, 0.1])
        raise RuntimeError("out of memory")
    monkeypatch.setenv("DESPINA_USER", "alice")
    running = start()
    running["score"] = 0.7
    running["epochs"] = 5
    running["use_amp"] = True
    running["started_at"] = datetime(2024, 1, 3, tzinfo=timezone.utc)
    running["parameters"] = {"lr": 0.001, "optimizer": "adam"}
    running["train/loss"].append(0.6)
    running.wait()
    with despina.init_run(project="team/maize", tags=["baseline"]) as elsewhere:
        elsewhere["score"] = 1.0
    for name, run in (("finished", finished), ("failed", failed), ("running", running)):
        assert run.id is not None
        ids[name] = run.id
    return ids


def _ids(table: despina.RunsTable) -> list[str]:
    return [row["sys/id"] for row in table.to_rows()]


def test_runs_table_has_one_row_per_run_newest_first(three_runs: dict[str, str]) -> None:
    project = despina.init_project(project=PROJECT)
    table = project.fetch_runs_table()
    assert len(table) == 3
    assert _ids(table) == [three_runs["running"], three_runs["failed"], three_runs["finished"]]
    frame = table.to_pandas()
    assert len(frame) == 3 and frame["sys/id"].is_unique
    assert frame.columns[0] == "sys/id"
    rows = frame.set_index("sys/id")
    assert rows.loc[three_runs["failed"], "sys/state"] == "failed"
    assert bool(rows.loc[three_runs["failed"], "sys/failed"]) is True
    assert rows.loc[three_runs["finished"], "sys/state"] == "finished"
    assert rows.loc[three_runs["running"], "sys/owner"] == "alice"
    assert rows.loc[three_runs["failed"], "train/loss"] == 0.1  # a series shows its last value
    assert rows.loc[three_runs["finished"], "parameters/optimizer"] == "adam"
    project.stop()


def test_runs_table_filters(three_runs: dict[str, str]) -> None:
    project = despina.init_project(project=PROJECT)

    def ids(**filters: Any) -> set[str]:
        return set(_ids(project.fetch_runs_table(**filters)))

    finished, failed, running = three_runs["finished"], three_runs["failed"], three_runs["running"]
    assert ids(owner="alice") == {finished, running}
    assert ids(owner=["alice", "bob"]) == {finished, failed, running}
    assert ids(owner="carol") == set()
    assert ids(tags="baseline") == {finished, failed}
    assert ids(tags=["baseline", "cnn"]) == {failed}  # every tag must match
    assert ids(state="finished") == {finished}
    assert ids(state=["failed", "running"]) == {failed, running}
    assert ids(owner="alice", state="running") == {running}
    assert ids(owner="bob", tags="cnn", state="failed") == {failed}
    with pytest.raises(ValueError, match="stopped"):
        project.fetch_runs_table(state="stopped")
    project.stop()


def test_runs_table_columns_sorting_and_limit(three_runs: dict[str, str]) -> None:
    project = despina.init_project(project=PROJECT)
    finished, failed, running = three_runs["finished"], three_runs["failed"], three_runs["running"]

    frame = project.fetch_runs_table(columns=["score", "parameters"]).to_pandas()
    assert set(frame.columns) == {
        "sys/id",
        "sys/creation_time",
        "score",
        "parameters/lr",
        "parameters/optimizer",
    }
    assert _ids(project.fetch_runs_table(sort_by="score", ascending=True)) == [finished, running, failed]
    assert _ids(project.fetch_runs_table(sort_by="score")) == [failed, running, finished]
    by_lr = project.fetch_runs_table(sort_by="parameters/lr", ascending=True)
    assert _ids(by_lr) == [running, failed, finished]
    limited = project.fetch_runs_table(sort_by="score", limit=2)
    assert len(limited) == 2
    assert _ids(limited) == [failed, running]
    assert len(limited.to_pandas()) == 2
    assert _ids(project.fetch_runs_table(limit=1)) == [running]
    project.stop()


def test_runs_table_to_pandas_dtypes(three_runs: dict[str, str]) -> None:
    with despina.init_project(project=PROJECT) as project:
        frame = project.fetch_runs_table().to_pandas()
    assert frame["score"].dtype == np.float64
    assert frame["parameters/lr"].dtype == np.float64
    assert frame["train/loss"].dtype == np.float64
    assert frame["epochs"].dtype == np.int64
    assert frame["use_amp"].dtype == np.bool_
    assert frame["sys/failed"].dtype == np.bool_
    assert pd.api.types.is_datetime64_any_dtype(frame["sys/creation_time"])
    assert pd.api.types.is_datetime64_any_dtype(frame["sys/modification_time"])
    assert pd.api.types.is_datetime64_any_dtype(frame["started_at"])
    rows = frame.set_index("sys/id")
    assert rows.loc[three_runs["failed"], "epochs"] == 20
    assert bool(rows.loc[three_runs["finished"], "use_amp"]) is True
    assert rows.loc[three_runs["failed"], "started_at"] == pd.Timestamp("2024-01-02", tz="UTC")
    created = rows["sys/creation_time"]
    assert created.max() - created.min() < pd.Timedelta(minutes=5)


def test_runs_table_column_with_types_differing_between_runs(home: Path) -> None:
    first = despina.init_run(project=PROJECT, mode="sync")
    first["p"] = 1
    first.stop()
    second = despina.init_run(project=PROJECT, mode="sync")
    second["p"] = "a"
    second.stop()
    frame = despina.init_project(PROJECT).fetch_runs_table().to_pandas().set_index("sys/id")
    assert frame.loc[first.id, "p"] == 1
    assert frame.loc[second.id, "p"] == "a"


def test_a_runs_url_is_its_page_where_despina_ui_serves_this_home(start: Callable[..., despina.Run]) -> None:
    run = start()
    url = f"http://127.0.0.1:8765/p/team/cassava/runs/{run.id}"
    assert run.get_url() == url
    shown = run._repr_html_()  # what a notebook shows for `run`
    assert f'<a href="{url}"' in shown and f"team/cassava / {run.id}</a>" in shown
    offline = start(mode="offline")  # no id until `despina sync`: the project's page
    assert offline.get_url() == "http://127.0.0.1:8765/p/team/cassava"
    assert "not created yet" in offline._repr_html_()
