"""`despina import neptune`: a fixture in neptune-exporter's documented Parquet layout, imported twice."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from server_harness import server_with_user

from despina.backends.http import HttpBackend
from despina.cli.main import cli
from despina.store.sql.store import open_embedded_store

# neptune-exporter's schema (src/neptune_exporter/.../SCHEMA): one row per value or series point.
SCHEMA = pa.schema(
    [
        ("project_id", pa.string()),
        ("run_id", pa.string()),
        ("attribute_path", pa.string()),
        ("attribute_type", pa.string()),
        ("step", pa.decimal128(18, 6)),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("int_value", pa.int64()),
        ("float_value", pa.float64()),
        ("string_value", pa.string()),
        ("bool_value", pa.bool_()),
        ("datetime_value", pa.timestamp("ms", tz="UTC")),
        ("string_set_value", pa.list_(pa.string())),
        ("file_value", pa.struct([("path", pa.string())])),
        (
            "histogram_value",
            pa.struct(
                [("type", pa.string()), ("edges", pa.list_(pa.float64())), ("values", pa.list_(pa.float64()))]
            ),
        ),
    ]
)
CREATED = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def _row(
    path: str, type_: str, column: str | None = None, value: Any = None, step: float | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in SCHEMA.names}
    row.update(attribute_path=path, attribute_type=type_)
    if column is not None:
        row[column] = value
    if step is not None:
        row["step"] = Decimal(str(step)).quantize(Decimal("0.000001"))
        row["timestamp"] = datetime(2024, 3, 1, 12, 0, int(step), tzinfo=timezone.utc)
    return row


def _write_run(data: Path, project: str, run_id: str, rows: list[dict[str, Any]], parts: int = 1) -> None:
    folder = data / project.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        row.update(project_id=project, run_id=run_id)
    size = -(-len(rows) // parts)
    for n in range(parts):
        table = pa.Table.from_pylist(rows[n * size : (n + 1) * size], schema=SCHEMA)
        pq.write_table(table, folder / f"{run_id}_part_{n}.parquet")


def _sys(run_id: str, name: str, tags: list[str]) -> list[dict[str, Any]]:
    return [
        _row("sys/id", "string", "string_value", run_id),
        _row("sys/name", "string", "string_value", name),
        _row("sys/description", "string", "string_value", f"about {name}"),
        _row("sys/owner", "string", "string_value", "alice"),
        _row("sys/tags", "string_set", "string_set_value", tags),
        _row("sys/state", "string", "string_value", "Inactive"),
        _row("sys/failed", "bool", "bool_value", False),
        _row("sys/creation_time", "datetime", "datetime_value", CREATED),
        _row("sys/modification_time", "datetime", "datetime_value", CREATED),
        _row("sys/hostname", "string", "string_value", "gpu-1"),
    ]


def _export(root: Path) -> None:
    data, files = root / "data", root / "files"
    (files / "ws_vision" / "CAS-1").mkdir(parents=True)
    (files / "ws_vision" / "CAS-1" / "model.bin").write_bytes(b"weights")
    (files / "ws_vision" / "CAS-1" / "img0.png").write_bytes(b"png0")
    (files / "ws_vision" / "CAS-1" / "img1.png").write_bytes(b"png1")
    parent = [
        *_sys("CAS-1", "baseline", ["a", "b"]),
        _row("params/lr", "float", "float_value", 0.001),
        _row("params/nan", "float", "float_value", math.nan),
        _row("params/inf", "float", "float_value", -math.inf),
        _row("params/epochs", "int", "int_value", 2**40),
        _row("params/opt", "string", "string_value", "adam"),
        _row("params/on", "bool", "bool_value", True),
        _row("params/when", "datetime", "datetime_value", CREATED),
        _row("params/set", "string_set", "string_set_value", ["x", "y"]),
        _row("model", "file", "file_value", {"path": "ws_vision/CAS-1/model.bin"}),
        *[
            _row("loss", "float_series", "float_value", v, s)
            for s, v in enumerate([1.0, math.nan, 0.5, 0.25])
        ],
        *[_row("log", "string_series", "string_value", f"line {s}", s) for s in range(3)],
        *[
            _row("images", "file_series", "file_value", {"path": f"ws_vision/CAS-1/img{s}.png"}, s)
            for s in range(2)
        ],
    ]
    _write_run(data, "ws/vision", "CAS-1", parent, parts=2)
    fork = [
        *_sys("CAS-2", "forked", ["a"]),
        _row("sys/forking/parent", "string", "string_value", "CAS-1"),
        _row("sys/forking/step", "float", "float_value", 1.0),
        _row("params/lr", "float", "float_value", 0.01),
        *[_row("loss", "float_series", "float_value", v, s) for s, v in [(2, 0.4), (3, 0.3)]],
    ]
    _write_run(data, "ws/vision", "CAS-2", fork)  # sorts after its parent by id; parents go first anyway
    _write_run(
        data, "ws/nlp", "NLP-7", [*_sys("NLP-7", "bert", []), _row("acc", "float", "float_value", 0.9)]
    )
    (data / "ws_nlp" / "NLP-8_part_1.parquet").write_bytes(b"")  # incomplete (no part 0): skipped


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_a_neptune_export_imports_once(tmp_path: Path) -> None:
    _export(tmp_path / "export")
    home = tmp_path / "home"
    code, output = _invoke("import", "neptune", str(tmp_path / "export"), "--home", str(home))
    assert code == 0, output
    assert "Imported 3 Neptune run(s) into ws/nlp, ws/vision (3 new, 0 already there)" in output

    store = open_embedded_store(home)
    try:
        assert sorted(store.list_projects()) == ["ws/nlp", "ws/vision"]
        rows = store.runs_table("ws/vision", columns=["sys/id", "sys/custom_run_id"])
        ids = {row["sys/custom_run_id"].value: row["sys/id"].value for row in rows}
        assert set(ids) == {"CAS-1", "CAS-2"}
        parent, fork = ids["CAS-1"], ids["CAS-2"]

        info = store.get_run("ws/vision", parent)
        assert (info.name, info.description, info.owner, info.state) == (
            "baseline",
            "about baseline",
            "alice",
            "finished",
        )
        assert info.creation_time == CREATED
        fields = store.fields("ws/vision", parent)
        assert fields["params/lr"].value == 0.001
        assert math.isnan(fields["params/nan"].value) and fields["params/inf"].value == -math.inf
        assert fields["params/epochs"].value == 2**40 and fields["params/on"].value is True
        assert fields["params/opt"].value == "adam" and fields["params/when"].value == CREATED
        assert set(fields["params/set"].value) == {"x", "y"}
        assert set(fields["sys/tags"].value) == {"a", "b"}
        assert fields["neptune/sys/hostname"].value == "gpu-1"
        with store.open_blob(fields["model"].value.sha256) as blob:
            assert blob.read() == b"weights"

        loss = store.series("ws/vision", parent, "loss")
        assert list(loss.steps) == [0, 1, 2, 3] and math.isnan(loss.values[1]) and loss.values[3] == 0.25
        assert loss.timestamps[2] == CREATED.timestamp() + 2
        assert store.series("ws/vision", parent, "log").values == ["line 0", "line 1", "line 2"]
        images = store.series("ws/vision", parent, "images").values
        with store.open_blob(images[1].sha256) as blob:
            assert blob.read() == b"png1"

        fork_info = store.get_run("ws/vision", fork)
        assert (fork_info.fork_parent, fork_info.fork_step) == (parent, 1.0)
        fork_fields = store.fields("ws/vision", fork)
        assert fork_fields["params/lr"].value == 0.01 and "params/opt" not in fork_fields
        assert set(fork_fields["sys/tags"].value) == {"a"}
        forked_loss = store.series("ws/vision", fork, "loss")
        assert list(forked_loss.steps) == [0, 1, 2, 3] and list(forked_loss.values[2:]) == [0.4, 0.3]

        (nlp,) = store.runs_table("ws/nlp", columns=["sys/id", "sys/custom_run_id", "acc"])
        assert nlp["sys/custom_run_id"].value == "NLP-7" and nlp["acc"].value == 0.9
    finally:
        store.close()

    code, output = _invoke("import", "neptune", str(tmp_path / "export"), "--home", str(home))
    assert code == 0, output
    assert "(0 new, 3 already there): 0 operation(s), 0 point(s), 0 new file(s)" in output


def test_a_neptune_export_imports_into_a_server_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neptune's users had no server of their own: `--url` fills a team's Despina server instead."""
    _export(tmp_path / "export")
    with server_with_user(tmp_path / "server", "admin", admin=True) as (url, token, _):
        monkeypatch.setenv("DESPINA_API_TOKEN", token)
        monkeypatch.delenv("DESPINA_URL", raising=False)
        code, output = _invoke("import", "neptune", str(tmp_path / "export"), "--url", url)
        assert code == 0, output
        assert "Imported 3 Neptune run(s) into ws/nlp, ws/vision (3 new, 0 already there)" in output
        assert "3 new file(s)" in output  # the model and the two images

        server = HttpBackend(url, token)
        try:
            assert sorted(server.list_projects()) == ["ws/nlp", "ws/vision"]
            rows = server.runs_table("ws/vision", columns=["sys/id", "sys/custom_run_id"])
            ids = {row["sys/custom_run_id"].value: row["sys/id"].value for row in rows}
            parent, fork = ids["CAS-1"], ids["CAS-2"]
            info = server.get_run("ws/vision", parent)
            assert (info.owner, info.creation_time) == ("alice", CREATED)  # kept: an admin imported
            fields = server.fields("ws/vision", parent)
            assert fields["params/lr"].value == 0.001 and math.isnan(fields["params/nan"].value)
            with server.open_blob("ws/vision", fields["model"].value.sha256) as blob:
                assert blob.read() == b"weights"
            images = server.series("ws/vision", parent, "images").values
            with server.open_blob("ws/vision", images[1].sha256) as blob:
                assert blob.read() == b"png1"
            assert server.get_run("ws/vision", fork).fork_parent == parent
        finally:
            server.close()

        code, output = _invoke("import", "neptune", str(tmp_path / "export"), "--url", url)
        assert code == 0, output
        assert "(0 new, 3 already there): 0 operation(s), 0 point(s), 0 new file(s)" in output
