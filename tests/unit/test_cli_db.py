"""`despina db current` and `despina db upgrade` on SQLite databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from despina.cli.db import db
from despina.store.sql import migrate
from despina.store.sql.store import create_store_engine


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(db, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_upgrade_creates_an_empty_database_and_current_reports_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    code, out = invoke("current", "--db", url)
    assert code == 0
    assert "revision: (none) (empty" in out and f"this Despina: {migrate.HEAD_REVISION}" in out

    code, out = invoke("upgrade", "--db", url)
    assert code == 0
    assert f"from revision (empty) to {migrate.HEAD_REVISION}" in out

    code, out = invoke("current", "--db", url)
    assert code == 0 and f"revision: {migrate.HEAD_REVISION} (up to date)" in out
    engine = create_store_engine(url)
    try:
        assert {"runs", "users", "alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()

    code, out = invoke("upgrade", "--db", url)
    assert code == 0 and "nothing to upgrade" in out


def test_an_older_database_is_reported_and_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_store_engine(url)
    try:
        migrate.upgrade(engine, "0001")
        code, out = invoke("current", "--db", url)
        assert code == 0 and "revision: 0001 (older: run `despina db upgrade`)" in out
        code, out = invoke("upgrade", "--db", url)
        assert code == 0 and f"from revision 0001 to {migrate.HEAD_REVISION}" in out
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_without_db_the_home_database_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    code, out = invoke("upgrade")
    assert code == 0, out
    assert (tmp_path / "home" / "despina.db").is_file()
    code, out = invoke("current")
    assert "despina.db" in out and "(up to date)" in out


def test_a_newer_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = create_store_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0042'"))
    finally:
        engine.dispose()
    code, out = invoke("current", "--db", url)
    assert code == 0 and "revision: 0042 (newer than this Despina: upgrade Despina)" in out
    code, out = invoke("upgrade", "--db", url)
    assert code == 1
    assert "Error: this database was upgraded by a newer Despina (revision 0042" in out
    assert "Traceback" not in out


def test_a_malformed_url_is_a_one_line_error() -> None:
    code, out = invoke("current", "--db", "not a url")
    assert code == 1 and "'not a url' is not a database URL" in out


def test_db_is_a_despina_command(tmp_path: Path) -> None:
    from despina.cli.main import cli

    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--db", url], catch_exceptions=False)
    assert result.exit_code == 0 and f"to {migrate.HEAD_REVISION}" in result.output
