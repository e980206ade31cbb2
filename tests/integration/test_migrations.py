"""Schema migrations on SQLite and PostgreSQL: upgrades keep data, stores refuse what they cannot read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, inspect, text

from despina.exceptions import SchemaVersionError
from despina.store.blobs.local import LocalBlobStore
from despina.store.sql import migrate, schema
from despina.store.sql import store as store_module
from despina.store.sql.store import SqlStore, create_store_engine, open_embedded_store, open_store

pytest.register_assert_rewrite("store_conformance")

from store_conformance import PROJECT, T0, atom, floats, ingest, new_run, same_floats  # noqa: E402

SERVER_TABLES = {"users", "api_tokens", "workspace_admins", "project_roles", "web_sessions", "project_blobs"}
FIRST_TABLES = {
    "schema_info",
    "projects",
    "runs",
    "fields",
    "string_set_items",
    "series",
    "series_chunks",
    "writers",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'despina.db'}"
    return str(request.getfixturevalue("postgres_db_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_store_engine(db_url)
    yield engine
    engine.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def schema_differences(engine: Engine, metadata: MetaData) -> list[object]:
    """What differs between the database and `metadata`, but for PostgreSQL's own path indexes
    (revision 0006), which schema.py names without describing."""

    def described(name: str | None, type_: str, *_: object) -> bool:
        return not (type_ == "index" and name in schema.POSTGRESQL_ONLY_INDEXES)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": described})
        return list(compare_metadata(context, metadata))


def write_runs_at_0001(db_url: str, blobs: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Runs with atoms, tags and points written into a database at revision 0001.

    The store of that time had only the revision 0001 tables, and these are all the store's run code
    touches, so today's store writes them with its migration step switched off.
    """
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "prepare_schema", lambda *args, **kwargs: None)
        store = SqlStore(db_url, LocalBlobStore(blobs))
    try:
        first = new_run(store, tags=("baseline",))
        second = new_run(store, name="second", custom_run_id="sweep-7")
        values = np.linspace(0.0, 1.0, 25_000)
        values[3] = np.nan
        ingest(store, first, [atom("parameters/lr", 0.01), floats("train/loss", np.arange(25_000.0), values)])
        ingest(store, second, [atom("parameters/optimizer", "Adam")])
        return {"first": first.id, "second": second.id, "values": values}
    finally:
        store.close()


# -- the shipped scripts ------------------------------------------------------------------------------


def test_revisions_ship_inside_the_package() -> None:
    package = resources.files("despina.store.sql.migrations")
    assert package.joinpath("env.py").is_file()
    shipped = sorted(p.name for p in package.joinpath("versions").iterdir() if p.name.endswith(".py"))
    assert {"r0001_initial.py", "r0002_users_and_access.py"} <= set(shipped)
    assert migrate.known_revisions()[:2] == ["0001", "0002"]
    # The constant that lets a current store open without Alembic is the scripts' head.
    assert migrate.head_revision() == migrate.HEAD_REVISION == migrate.known_revisions()[-1]


# -- schema --------------------------------------------------------------------------------------------


def test_migrated_schema_is_the_metadata_of_schema_py(engine: Engine) -> None:
    assert migrate.upgrade(engine) == (None, migrate.HEAD_REVISION)
    assert schema_differences(engine, schema.metadata) == []
    # The comparison sees a difference when there is one.
    changed = MetaData()
    for table in schema.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["runs"].append_column(Column("priority", Integer))
    assert schema_differences(engine, changed) != []


def test_an_empty_database_is_created_at_head_even_in_check_mode(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, LocalBlobStore(tmp_path / "blobs"), migrate="check")
    try:
        assert migrate.current_revision(store.engine) == migrate.HEAD_REVISION
        assert tables(store.engine) >= FIRST_TABLES | SERVER_TABLES
        run = new_run(store)
        assert store.get_run(PROJECT, run.id).id == run.id
    finally:
        store.close()


def test_several_processes_creating_the_schema_at_once_create_it_once(engine: Engine) -> None:
    errors: list[BaseException] = []
    results: list[tuple[str | None, str]] = []

    def work() -> None:
        try:
            results.append(migrate.upgrade(engine))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # One of them created the tables; the others found them done, under the same lock.
    head = migrate.HEAD_REVISION
    assert sorted(results, key=repr) == [(head, head)] * 3 + [(None, head)]
    assert schema_differences(engine, schema.metadata) == []


# -- upgrades keep data ---------------------------------------------------------------------------------


def test_upgrading_a_0001_database_keeps_its_runs_and_points(
    db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(engine, "0001")
    assert migrate.current_revision(engine) == "0001"
    assert tables(engine) == FIRST_TABLES | {"alembic_version"}
    written = write_runs_at_0001(db_url, tmp_path / "blobs", monkeypatch)

    assert migrate.upgrade(engine) == ("0001", migrate.HEAD_REVISION)
    assert schema_differences(engine, schema.metadata) == []

    store = open_store(db_url, LocalBlobStore(tmp_path / "blobs"), migrate="check")
    try:
        first = store.get_run(PROJECT, str(written["first"]))
        fields = store.fields(PROJECT, first.id)
        assert fields["parameters/lr"].value == 0.01
        assert fields["sys/tags"].value == {"baseline"}
        data = store.series(PROJECT, first.id, "train/loss")
        assert same_floats(data.values, written["values"])  # type: ignore[arg-type]
        assert np.allclose(data.timestamps, T0 + np.arange(25_000.0))
        second = store.get_run(PROJECT, str(written["second"]))
        assert second.custom_run_id == "sweep-7"
        assert store.fields(PROJECT, second.id)["parameters/optimizer"].value == "Adam"
        # New runs continue the numbering.
        assert new_run(store).id.endswith("-3")
    finally:
        store.close()


def test_a_database_from_before_alembic_counts_as_0001_and_is_upgraded(
    db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Despina made before it used Alembic: the first tables, schema_info at 1, no alembic_version.
    migrate.upgrade(engine, "0001")
    written = write_runs_at_0001(db_url, tmp_path / "blobs", monkeypatch)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    assert migrate.current_revision(engine) == "0001"
    assert not migrate.is_current(engine)

    with pytest.raises(SchemaVersionError, match="run `despina db upgrade --db "):
        open_store(db_url, LocalBlobStore(tmp_path / "blobs"), migrate="check")

    store = open_store(db_url, LocalBlobStore(tmp_path / "blobs"), migrate="auto")
    try:
        assert migrate.is_current(store.engine)
        with store.engine.connect() as conn:
            assert list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [
                migrate.HEAD_REVISION
            ]
        data = store.series(PROJECT, str(written["first"]), "train/loss")
        assert same_floats(data.values, written["values"])  # type: ignore[arg-type]
    finally:
        store.close()


def test_the_embedded_store_upgrades_an_older_home_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'despina.db'}"
    engine = create_store_engine(url)
    try:
        migrate.upgrade(engine, "0001")
        written = write_runs_at_0001(url, tmp_path / "blobs", monkeypatch)
        store = open_embedded_store(tmp_path)
        try:
            assert migrate.is_current(engine)
            assert store.fields(PROJECT, str(written["first"]))["parameters/lr"].value == 0.01
        finally:
            store.close()
    finally:
        engine.dispose()


# -- refusing what this Despina cannot read --------------------------------------------------------------


def test_a_server_store_refuses_an_older_database_with_what_to_run(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    migrate.upgrade(engine, "0001")
    with pytest.raises(SchemaVersionError) as raised:
        open_store(db_url, LocalBlobStore(tmp_path / "blobs"), migrate="check")
    message = str(raised.value)
    assert "revision 0001" in message and "run `despina db upgrade --db " in message
    assert migrate.current_revision(engine) == "0001"  # checking changed nothing
    assert not SERVER_TABLES & tables(engine)


@pytest.mark.parametrize("mode", ["check", "auto"])
def test_every_store_refuses_a_database_upgraded_by_a_newer_despina(
    db_url: str, engine: Engine, tmp_path: Path, mode: str
) -> None:
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(SchemaVersionError) as raised:
        open_store(db_url, LocalBlobStore(tmp_path / "blobs"), migrate=mode)  # type: ignore[arg-type]
    assert "upgraded by a newer Despina (revision 0099" in str(raised.value)
    assert "upgrade Despina" in str(raised.value)
    with pytest.raises(SchemaVersionError, match="newer Despina"):
        migrate.check_schema(engine)
    assert migrate.current_revision(engine) == "0099"


def test_a_failing_migration_leaves_the_database_at_its_old_revision(
    db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(engine, "0001")
    written = write_runs_at_0001(db_url, tmp_path / "blobs", monkeypatch)
    # A table in the way of the last one revision 0002 creates: the tables before it get created,
    # then the revision fails.
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE project_blobs (note TEXT)"))
    with pytest.raises(Exception, match="project_blobs"):
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) == "0001"
    assert tables(engine) == FIRST_TABLES | {"alembic_version", "project_blobs"}
    assert [c["name"] for c in inspect(engine).get_columns("project_blobs")] == ["note"]

    with engine.begin() as conn:  # the operator moves the table away and tries again
        conn.execute(text("DROP TABLE project_blobs"))
    assert migrate.upgrade(engine) == ("0001", migrate.HEAD_REVISION)
    store = open_store(db_url, LocalBlobStore(tmp_path / "blobs"), migrate="check")
    try:
        data = store.series(PROJECT, str(written["first"]), "train/loss")
        assert same_floats(data.values, written["values"])  # type: ignore[arg-type]
    finally:
        store.close()


def test_a_database_with_despina_tables_but_no_version_is_refused(db_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY)"))
    with pytest.raises(SchemaVersionError, match="no schema version"):
        migrate.upgrade(engine)
    assert tables(engine) == {"runs"}


def test_postgresql_finds_a_namespace_s_paths_through_an_index(postgres_db_url: str) -> None:
    """A runs-table column that names a namespace is found with a bytewise path range; on
    PostgreSQL, in any collation, an index of revision 0006 serves it instead of a scan of the table
    (3-5 s per page at 10,000 runs before)."""
    engine = create_store_engine(postgres_db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: make it use an index if any
            for table in ("fields", "series", "string_set_items"):
                plan = "\n".join(
                    row[0]
                    for row in conn.exec_driver_sql(
                        f'EXPLAIN SELECT EXISTS (SELECT 1 FROM {table} WHERE path COLLATE "C" > %(low)s'
                        f' AND path COLLATE "C" < %(high)s)',
                        {"low": "parameters/", "high": "parameters0"},
                    )
                )
                assert f"{table}_path_bytewise" in plan, plan
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("index", "condition"),
    [
        ("fields_path", "FROM fields WHERE path = 'p' AND float_value > 0.5 AND type = 'float'"),
        ("fields_path_int", "FROM fields WHERE path = 'i' AND int_value >= 2 AND type = 'int'"),
        ("series_path_last", "FROM series WHERE path = 'm' AND last_float > 0.5 AND type = 'floatSeries'"),
        ("series_path_min", "FROM series WHERE path = 'm' AND min_value < 0.5 AND type = 'floatSeries'"),
        ("series_path_max", "FROM series WHERE path = 'm' AND max_value < 0.5 AND type = 'floatSeries'"),
    ],
)
def test_postgresql_reads_a_condition_s_runs_from_the_index_alone(
    postgres_db_url: str, tmp_path: Path, index: str, condition: str
) -> None:
    """The runs a value condition selects (what the query compiler's sets read) come from the
    `(path, value)` index without visiting the table: revision 0007 puts the run and the type in it."""
    store = SqlStore(postgres_db_url, LocalBlobStore(tmp_path / "blobs"))
    try:
        for number in range(200):
            run = new_run(store, name=f"r{number}")
            values = [atom("p", number / 200), atom("i", number), floats("m", [0, 1], [number, 0.5])]
            ingest(store, run, values)
        engine = store._read_engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")  # what autovacuum does: marks pages all-visible
            for setting in ("enable_seqscan", "enable_bitmapscan"):
                conn.exec_driver_sql(f"SET {setting} = off")
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN SELECT run_id {condition}"))
        assert f"Index Only Scan using {index} " in plan, plan
    finally:
        store.close()
