"""Schema versions of the SQL store: which revision a database is at, and upgrading it to this Despina's.

Revisions are Alembic scripts in `migrations/versions/`, configured here in code (no alembic.ini).
A database is in one of these states:

- empty (no Despina tables): `upgrade` creates it at the head revision;
- made before Despina used Alembic (`schema_info` at version 1, no `alembic_version`): it is at
  revision 0001, and `upgrade` stamps it so before upgrading;
- at a revision this Despina knows: `upgrade` applies the rest;
- at a revision it does not know: a newer Despina upgraded it, and this one refuses to touch it.

`upgrade` applies every pending revision in one transaction, holding a lock (PostgreSQL: an advisory
lock; SQLite: the write lock), so two processes starting at once migrate once, and a failing revision
leaves the database as it was. Alembic is imported only when there is something to do: opening a
store whose database is current costs one small query.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.engine import make_url

from despina.exceptions import SchemaVersionError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# The newest revision in migrations/versions (a test checks it against Alembic's view of the scripts);
# knowing it without Alembic keeps opening an up-to-date store cheap.
HEAD_REVISION = "0007"
# What a database made before Alembic (`schema_info` version 1, tables from `create_all`) is at.
LEGACY_REVISION = "0001"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number: PostgreSQL advisory locks are keyed by a bigint shared by the whole server.
_ADVISORY_LOCK_KEY = 0x64657370_696E6101  # "despina" + 1
_DESPINA_TABLES = ("projects", "runs", "series", "fields", "writers")

MigrateMode = Literal["auto", "check"]


@dataclass(frozen=True)
class _State:
    """What a database says about its schema."""

    revision: str | None  # None: no Despina tables at all
    stamped: bool  # False for an empty database and one made before Alembic


def script_directory() -> ScriptDirectory:
    """Alembic's view of the revisions shipped in this package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def known_revisions() -> list[str]:
    """Every revision this Despina ships, oldest first."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def head_revision() -> str:
    """The newest revision: the schema this Despina reads and writes."""
    head = script_directory().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


def _display_url(engine: Engine) -> str:
    return make_url(engine.url).render_as_string(hide_password=True)


def _read_state(conn: Connection) -> _State:
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        if len(versions) > 1:
            raise SchemaVersionError(
                f"the database is at several revisions at once ({', '.join(versions)}); "
                "Despina's migrations are linear, so it was changed by hand"
            )
        if versions:
            return _State(str(versions[0]), stamped=True)
    if "schema_info" in tables:
        version = conn.execute(text("SELECT max(version) FROM schema_info")).scalar()
        if version == 1:
            return _State(LEGACY_REVISION, stamped=False)
        raise SchemaVersionError(
            f"the database's schema_info says version {version!r}, which no Despina wrote; "
            "it was changed by hand or by another program"
        )
    if tables.intersection(_DESPINA_TABLES):
        raise SchemaVersionError(
            f"the database has Despina tables ({', '.join(sorted(tables.intersection(_DESPINA_TABLES)))}) "
            "but no schema version; it was not made by Despina, or was changed by hand"
        )
    return _State(None, stamped=False)


def _state(engine: Engine) -> _State:
    with engine.connect() as conn:
        return _read_state(conn)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has no Despina tables yet.

    A database made before Alembic counts as revision 0001.
    """
    return _state(engine).revision


def is_current(engine: Engine) -> bool:
    """Whether the database is stamped at this Despina's head revision (nothing to migrate)."""
    state = _state(engine)
    return state.stamped and state.revision == HEAD_REVISION


def _newer_error(revision: str) -> SchemaVersionError:
    return SchemaVersionError(
        f"this database was upgraded by a newer Despina (revision {revision}, unknown to this one, "
        f"whose newest is {HEAD_REVISION}); upgrade Despina"
    )


def check_schema(engine: Engine) -> None:
    """Raise SchemaVersionError unless the database is at this Despina's head revision.

    The message says what to do: upgrade the database (it is older or empty), or upgrade Despina (a
    newer one changed the database).
    """
    state = _state(engine)
    if state.stamped and state.revision == HEAD_REVISION:
        return
    url = _display_url(engine)
    if state.revision is None:
        raise SchemaVersionError(
            f"the database {url} has no Despina tables yet; "
            f"run `despina db upgrade --db {url}` to create them"
        )
    if state.revision not in known_revisions():
        raise _newer_error(state.revision)
    raise SchemaVersionError(
        f"the database {url} is at revision {state.revision}, older than this Despina's "
        f"{HEAD_REVISION}; run `despina db upgrade --db {url}` (back the database up first)"
    )


@contextmanager
def _locked_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that only one migrating process at a time can be in."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "sqlite":
            # SqlStore's write engine begins with BEGIN IMMEDIATE already; a plain engine's driver
            # would only begin at the first INSERT, leaving DDL outside any transaction.
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None and not getattr(dbapi, "in_transaction", True):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(select(text(f"pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")))
        yield conn


def _alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str]:
    """Apply every pending revision up to `target`, all in one transaction; returns (before, after).

    On any failure the transaction rolls back and the database stays at its old revision. Raises
    SchemaVersionError when a newer Despina upgraded the database, or when it is already past
    `target` (this never downgrades).
    """
    from alembic import command

    known = known_revisions()
    wanted = known[-1] if target == "head" else target
    if wanted not in known:
        raise ValueError(f"unknown revision {target!r}; this Despina has {', '.join(known)}")
    with _locked_transaction(engine) as conn:
        # Read under the lock: another process may have migrated while this one waited.
        state = _read_state(conn)
        if state.revision is not None and state.revision not in known:
            raise _newer_error(state.revision)
        if state.revision is not None and known.index(state.revision) > known.index(wanted):
            raise SchemaVersionError(
                f"the database is at revision {state.revision}, past {wanted}; Despina does not downgrade"
            )
        if state.stamped and state.revision == wanted:
            return state.revision, wanted
        config = _alembic_config(conn)
        if state.revision is not None and not state.stamped:
            command.stamp(config, state.revision)  # made before Alembic: record what it is
        command.upgrade(config, wanted)
        return state.revision, wanted


def prepare_schema(engine: Engine, mode: MigrateMode, *, read_engine: Engine | None = None) -> None:
    """Make sure a store can use the database, as `mode` allows.

    `engine` writes (migrations run on it); `read_engine`, when given, is used to find out whether
    there is anything to do (SQLite: without taking the write lock).

    - "auto" (the embedded store, owned by one user): upgrade to head, whatever the database is at.
    - "check" (a server, where upgrading is an operator's decision): create the schema in an empty
      database, and otherwise raise SchemaVersionError unless the database is at head.

    Both refuse a database that a newer Despina upgraded.
    """
    if mode not in ("auto", "check"):
        raise ValueError(f"migrate must be 'auto' or 'check', not {mode!r}")
    state = _state(read_engine or engine)
    if state.stamped and state.revision == HEAD_REVISION:
        return
    if mode == "auto" or state.revision is None:
        upgrade(engine)
    else:
        check_schema(engine)


__all__ = [
    "HEAD_REVISION",
    "LEGACY_REVISION",
    "MIGRATIONS_DIR",
    "MigrateMode",
    "check_schema",
    "current_revision",
    "head_revision",
    "is_current",
    "known_revisions",
    "prepare_schema",
    "script_directory",
    "upgrade",
]
