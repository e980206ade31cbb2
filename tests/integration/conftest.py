"""Fixtures for integration tests that need a real PostgreSQL.

- `postgres_server` (session): the running `PostgresServer` (see postgres_server.py), started once
  per test session on a free port of 127.0.0.1 and stopped at its end.
- `postgres_url` (session): a SQLAlchemy URL (`postgresql+psycopg://...`) of a database made for the
  session; tests that share it must not assume it is empty.
- `postgres_db_url` (function): the URL of a fresh, empty database for one test, dropped afterwards.
- `sql_store` (function, twice): a `SqlStore` on a fresh SQLite file, then on a fresh PostgreSQL
  database, with its blobs in a folder.

Without PostgreSQL server binaries (`initdb`, `postgres`) the tests that use them are skipped, with
the reason; CI installs Debian's postgresql package, so there they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresServer, PostgresUnavailable
from sqlalchemy.engine import make_url

from despina.store.blobs.local import LocalBlobStore
from despina.store.sql.store import SqlStore


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("despina")


@pytest.fixture
def postgres_db_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        name = make_url(url).database
        assert name is not None
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    url = (
        f"sqlite:///{tmp_path / 'despina.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_db_url"))
    )
    opened = SqlStore(url, LocalBlobStore(tmp_path / "blobs"))
    yield opened
    opened.close()
