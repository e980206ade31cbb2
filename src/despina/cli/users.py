"""`despina user ...` and `despina token ...`: manage a server's users, roles and API tokens.

They work on the database directly (`--db`, default the SQLite database of DESPINA_HOME), so the
first admin can be made before the server ever starts. A database at another schema revision is
refused, as the server refuses it: `despina db upgrade` first.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from despina.config import read_settings
from despina.exceptions import DespinaError
from despina.server.auth.names import MIN_PASSWORD_LENGTH
from despina.server.auth.principal import Role

if TYPE_CHECKING:  # imported when a command runs: `despina --help` need not load SQLAlchemy
    from despina.server.auth.service import AccessService

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
def _access(db_url: str | None) -> Iterator[AccessService]:
    """An AccessService on the database; its errors (and the database's) become one-line CLI errors."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from despina.server.auth.service import AccessService
    from despina.store.sql.migrate import prepare_schema
    from despina.store.sql.store import create_store_engine

    url = db_url or _default_db_url()
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        engine = create_store_engine(url, write=True)
    except (SQLAlchemyError, ValueError) as exc:
        raise click.ClickException(f"cannot use database {shown}: {exc}") from None
    try:
        # Like a server: create the tables in an empty database, refuse one at another revision.
        prepare_schema(engine, "check")
        yield AccessService(engine, cache_seconds=0)
    except (DespinaError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database {shown}: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp is not None else "-"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    return str(
        click.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)", hide_input=True, confirmation_prompt=True
        )
    )


password_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)


# -- users ---------------------------------------------------------------------------------------------


@click.group("user")
def user() -> None:
    """Manage users, their project roles and workspace admins."""


@user.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="A server admin: owner of every project, manages users.")
@password_stdin_option
@click.option("--no-password", is_flag=True, help="No password: the user can only use API tokens.")
@db_option
def create_user(name: str, admin: bool, password_stdin: bool, no_password: bool, db_url: str | None) -> None:
    """Add user NAME (asks for a password unless --password-stdin or --no-password)."""
    if password_stdin and no_password:
        raise click.UsageError("--password-stdin and --no-password exclude each other")
    password = None if no_password else _read_password(password_stdin)
    with _access(db_url) as access:
        access.create_user(name, password, admin=admin)
    console.print(f"Created {'server admin' if admin else 'user'} {name!r}.")


@user.command("list")
@db_option
def list_users(db_url: str | None) -> None:
    """List users."""
    with _access(db_url) as access:
        users = access.list_users()
    if not users:
        console.print("No users yet: add one with `despina user create NAME --admin`.")
        return
    table = Table("user", "admin", "password", "disabled", "created")
    for info in users:
        table.add_row(
            info.username,
            "yes" if info.is_admin else "",
            "yes" if info.has_password else "tokens only",
            "yes" if info.disabled else "",
            _when(info.created_at),
        )
    console.print(table)


@user.command("set-password")
@click.argument("name")
@password_stdin_option
@db_option
def set_password(name: str, password_stdin: bool, db_url: str | None) -> None:
    """Change NAME's password; their browser sessions are signed out."""
    password = _read_password(password_stdin)
    with _access(db_url) as access:
        access.set_password(name, password)
    console.print(f"Changed the password of {name!r}.")


@user.command("disable")
@click.argument("name")
@db_option
def disable(name: str, db_url: str | None) -> None:
    """Stop NAME's password, sessions and API tokens from working (until `despina user enable`)."""
    with _access(db_url) as access:
        access.set_disabled(name, True)
    console.print(f"Disabled {name!r}.")


@user.command("enable")
@click.argument("name")
@db_option
def enable(name: str, db_url: str | None) -> None:
    """Let a disabled user in again."""
    with _access(db_url) as access:
        access.set_disabled(name, False)
    console.print(f"Enabled {name!r}.")


@user.command("grant")
@click.argument("name")
@click.argument("project")
@click.argument("role", type=click.Choice([role.label for role in Role]))
@db_option
def grant(name: str, project: str, role: str, db_url: str | None) -> None:
    """Give NAME ROLE on PROJECT (workspace/project), replacing the role they had."""
    with _access(db_url) as access:
        access.grant_role(project, name, role)
    console.print(f"{name!r} is now {role} of {project!r}.")


@user.command("revoke-role")
@click.argument("name")
@click.argument("project")
@db_option
def revoke_role(name: str, project: str, db_url: str | None) -> None:
    """Take away NAME's role on PROJECT."""
    with _access(db_url) as access:
        removed = access.revoke_role(project, name)
    if not removed:
        raise click.ClickException(f"{name!r} has no role on {project!r}")
    console.print(f"{name!r} has no role on {project!r} any more.")


@user.command("workspace-admin")
@click.argument("name")
@click.argument("workspace")
@click.option("--remove", is_flag=True, help="Stop NAME being an admin of WORKSPACE.")
@db_option
def workspace_admin(name: str, workspace: str, remove: bool, db_url: str | None) -> None:
    """Make NAME an admin of WORKSPACE: owner of every project whose name starts with WORKSPACE/."""
    with _access(db_url) as access:
        if remove:
            if not access.remove_workspace_admin(workspace, name):
                raise click.ClickException(f"{name!r} is not an admin of workspace {workspace!r}")
            console.print(f"{name!r} is no longer an admin of workspace {workspace!r}.")
            return
        access.add_workspace_admin(workspace, name)
    console.print(f"{name!r} is an admin of workspace {workspace!r}.")


# -- API tokens ----------------------------------------------------------------------------------------


@click.group("token")
def token() -> None:
    """Manage API tokens (what training code sends as DESPINA_API_TOKEN)."""


user_option = click.option("--user", "username", required=True, help="The user the token belongs to.")


@token.command("create")
@user_option
@click.option("--name", "label", required=True, help="What the token is for, e.g. 'ci' or 'laptop'.")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None, help="Default: never expires.")
@db_option
def create_token(username: str, label: str, expires_days: int | None, db_url: str | None) -> None:
    """Create an API token and print it: it is shown this once."""
    expires_in = timedelta(days=expires_days) if expires_days is not None else None
    with _access(db_url) as access:
        plaintext, info = access.create_token(username, label, expires_in)
    # The token alone on stdout, so that `$(despina token create ...)` captures just it.
    click.echo(plaintext)
    expiry = f"expires {_when(info.expires_at)}" if info.expires_at is not None else "never expires"
    click.echo(
        f"Token {info.id} ({label!r}) for {username!r}, {expiry}. Copy it now: it cannot be shown again.",
        err=True,
    )


@token.command("list")
@user_option
@db_option
def list_tokens(username: str, db_url: str | None) -> None:
    """List a user's API tokens (their first characters, never the tokens)."""
    with _access(db_url) as access:
        tokens = access.list_tokens(username)
    if not tokens:
        console.print(f"{username!r} has no API tokens.")
        return
    table = Table("id", "name", "starts with", "status", "created", "expires", "last used")
    for info in tokens:
        table.add_row(
            str(info.id),
            info.name,
            info.prefix,
            info.status(),
            _when(info.created_at),
            _when(info.expires_at),
            _when(info.last_used_at),
        )
    console.print(table)


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@user_option
@db_option
def revoke_token(token_id: int, username: str, db_url: str | None) -> None:
    """Revoke token ID of a user. Servers notice within a few seconds (they cache tokens briefly)."""
    with _access(db_url) as access:
        access.revoke_token(username, token_id)
    console.print(f"Revoked token {token_id} of {username!r}.")
