"""`despina db`: see and upgrade the schema revision of a database.

A server refuses a database at another revision than its own (`migrate="check"`); an operator runs
`despina db upgrade --db URL` once, with every server of the new version stopped or not yet started.
The embedded store (a DESPINA_HOME folder) upgrades itself when opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console

from despina.config import read_settings
from despina.exceptions import DespinaError

if TYPE_CHECKING:  # imported when a command runs: `despina --help` need not load SQLAlchemy
    from sqlalchemy import Engine

console = Console()

db_option = click.option(
    "--db",
    "db_url",
    default=None,
    help="Database URL: sqlite:///PATH or postgresql://USER:PASS@HOST/DB "
    "(default: the SQLite database of DESPINA_HOME).",
)


def _default_db_url() -> str:
    home = read_settings().home
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'despina.db'}"


@contextmanager
def _engine(db_url: str | None) -> Iterator[tuple[Engine, str]]:
    """The database's engine and its URL as shown (password hidden); errors become one-line CLI errors."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from despina.store.sql.store import create_store_engine

    url = db_url or _default_db_url()
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        engine = create_store_engine(url, write=True)
    except (ArgumentError, ValueError) as exc:
        raise click.ClickException(f"{url!r} is not a database URL: {exc}") from None
    except (SQLAlchemyError, ImportError) as exc:
        raise click.ClickException(f"cannot use database {shown}: {exc}") from None
    try:
        yield engine, shown
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database {shown}: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()


@click.group()
def db() -> None:
    """The database's schema revision: show it, upgrade it."""


@db.command()
@db_option
def current(db_url: str | None) -> None:
    """Print the database's schema revision and this Despina's."""
    from despina.store.sql.migrate import HEAD_REVISION, current_revision, is_current, known_revisions

    with _engine(db_url) as (engine, shown):
        revision = current_revision(engine)
        if revision is None:
            state = "empty, no Despina tables yet: `despina db upgrade` creates them"
        elif revision not in known_revisions():
            state = "newer than this Despina: upgrade Despina"
        elif is_current(engine):
            state = "up to date"
        else:
            state = "older: run `despina db upgrade`"
    console.print(f"database: {shown}", highlight=False, soft_wrap=True)
    console.print(f"revision: {revision or '(none)'} ({state})", highlight=False)
    console.print(f"this Despina: {HEAD_REVISION}", highlight=False)


@db.command()
@db_option
def upgrade(db_url: str | None) -> None:
    """Upgrade the database to this Despina's schema, in one transaction (all or nothing).

    Back up the database first; stop servers of the older version, which cannot read the new schema.
    """
    from despina.store.sql import migrate

    with _engine(db_url) as (engine, shown):
        before, after = migrate.upgrade(engine)
    if before == after and before is not None:
        # `upgrade` also records the revision of a database made before Despina used Alembic.
        console.print(f"{shown} is at revision {after}: nothing to upgrade.", highlight=False, soft_wrap=True)
    else:
        console.print(
            f"Upgraded {shown} from revision {before or '(empty)'} to {after}.",
            highlight=False,
            soft_wrap=True,
        )
