"""`despina trash list|empty PROJECT` and `Project.delete_runs` on a local home: runs moved to the
trash (as the web UI of `despina ui` moves them) listed, and deleted for good, the oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import despina
from despina.cli.main import cli
from despina.client import field_types as ft
from despina.client.operations import AssignAtom
from despina.exceptions import RunDeletionError
from despina.store.sql.store import open_embedded_store

PROJECT = "team/trash"
LIGHT = {
    "capture_hardware_metrics": False,
    "capture_stdout": False,
    "capture_stderr": False,
    "git_ref": False,
}


def _invoke(*args: str, answer: str | None = None) -> str:
    result = CliRunner().invoke(cli, ["trash", *args], input=answer)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Three runs: `old` moved to the trash 40 days ago, `recent` a minute ago, `kept` never."""
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DESPINA_URL", raising=False)
    ids = {}
    for name in ("old", "recent", "kept"):
        with despina.init_run(project=PROJECT, name=name, source_files=[], **LIGHT) as run:
            run["train/loss"].extend([1.0, 0.5, 0.25])
            ids[name] = str(run["sys/id"].fetch())
    store = open_embedded_store(tmp_path / "home")
    try:
        for name in ("old", "recent"):
            trashed = [(0, AssignAtom("sys/trashed", ft.BOOL, True))]
            store.ingest(PROJECT, ids[name], "edit-ui", trashed, 0)
        info = store.get_run(PROJECT, ids["old"])
        store.restore_run_times(
            PROJECT, ids["old"], info.creation_time, datetime.now(timezone.utc) - timedelta(days=40)
        )
    finally:
        store.close()
    return ids


def test_the_trash_is_listed_and_emptied_oldest_first(runs: dict[str, str]) -> None:
    listed = _invoke("list", PROJECT)
    assert listed.index(runs["old"]) < listed.index(runs["recent"]) and runs["kept"] not in listed

    emptied = _invoke("empty", PROJECT, "--older-than", "30", "--yes")
    assert f"Deleted 1 run(s) of {PROJECT} for good." in emptied
    assert "Nothing deleted." in _invoke("empty", PROJECT, answer="n\n")
    asked = _invoke("empty", PROJECT, answer="y\n")
    assert f"Delete 1 run(s) of {PROJECT} for good ({runs['recent']})?" in asked
    assert "Deleted 1 run(s)" in asked
    assert f"The trash of {PROJECT} is empty." in _invoke("list", PROJECT)

    table = despina.init_project(PROJECT).fetch_runs_table(trashed=None).to_pandas()
    assert list(table["sys/id"]) == [runs["kept"]]
    with pytest.raises(despina.exceptions.RunNotFoundError):
        despina.init_run(project=PROJECT, with_id=runs["old"], mode="read-only")


def test_a_script_deletes_only_runs_in_the_trash(runs: dict[str, str]) -> None:
    project = despina.init_project(PROJECT)
    with pytest.raises(RunDeletionError, match=f"{runs['kept']} is not in the trash"):
        project.delete_runs([runs["recent"], runs["kept"]])
    assert project.delete_runs(runs["recent"]) == 1
    assert sorted(project.fetch_runs_table(trashed=None).to_pandas()["sys/id"]) == sorted(
        [runs["old"], runs["kept"]]
    )
