"""`despina server` (a shared tracking server) and `despina ui` (one person's home folder, no login)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from despina.config import LOCAL_UI_PORT, read_settings


def _serve(settings_json: str, host: str, port: int, workers: int, log_level: str) -> None:
    from despina.server.app import SETTINGS_ENV
    from despina.server.listen import serve

    os.environ[SETTINGS_ENV] = settings_json
    serve("despina.server.app:app_from_environment", host, port, workers, log_level)


def _check_database(settings_json: str) -> None:
    """Open the store once before forking workers, so a wrong schema is one clear message, not N."""
    from despina.exceptions import SchemaVersionError
    from despina.server.app import open_state
    from despina.server.settings import ServerSettings

    try:
        open_state(ServerSettings.from_json(settings_json)).close()
    except SchemaVersionError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option(
    "--db",
    "db_url",
    default=None,
    help="Database URL: sqlite:///PATH or postgresql://USER:PASS@HOST/DB "
    "(default: the SQLite database of DESPINA_HOME).",
)
@click.option(
    "--blobs",
    "blobs_url",
    default=None,
    help="Where file contents go: a folder, file:///PATH, or "
    "s3://BUCKET/PREFIX?endpoint_url=... (default: DESPINA_HOME/blobs).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one)."
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option(
    "--insecure-cookies", is_flag=True, help="Session cookies without the Secure flag (plain HTTP)."
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(
    db_url: str | None,
    blobs_url: str | None,
    host: str,
    port: int,
    workers: int,
    insecure_cookies: bool,
    log_level: str,
) -> None:
    """Run the tracking server: the HTTP API (docs at /docs) over a database and a blob store.

    Every request needs a login or an API token (`despina user create`, `despina token create`).
    """
    from despina.server.access_log import configure_access_log
    from despina.server.settings import ServerSettings

    home = read_settings().home
    settings = ServerSettings(
        db_url=db_url or f"sqlite:///{home / 'despina.db'}",
        blobs_url=blobs_url or str(home / "blobs"),
        auth_required=True,
        secure_cookies=not insecure_cookies,
    )
    text = settings.to_json()
    _check_database(text)
    configure_access_log()
    click.echo(f"Despina server on http://{host}:{port} (API docs at /docs)", err=True)
    _serve(text, host, port, workers, log_level)


@click.command()
@click.argument("home", required=False, type=click.Path(file_okay=False))
@click.option("--port", default=LOCAL_UI_PORT, show_default=True, type=click.IntRange(0, 65535))
def ui(home: str | None, port: int) -> None:
    """Serve the runs in HOME (default: DESPINA_HOME or ./.despina) on 127.0.0.1, with no login.

    For one person on one machine: it listens on the loopback address only.
    """
    from despina.server.settings import ServerSettings

    folder = Path(home).absolute() if home else read_settings().home
    folder.mkdir(parents=True, exist_ok=True)
    settings = ServerSettings(
        db_url=f"sqlite:///{folder / 'despina.db'}",
        blobs_url=str(folder / "blobs"),
        auth_required=False,
        secure_cookies=False,
        upgrade_database=True,
    )
    click.echo(f"Despina UI for {folder} on http://127.0.0.1:{port}", err=True)
    _serve(settings.to_json(), "127.0.0.1", port, 1, "warning")
