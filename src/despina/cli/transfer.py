"""`despina export PROJECT DIR` and `despina import despina|neptune|mlflow ...`.

`import` is a group so that importers from other trackers sit beside `despina`. Both work where runs
are logged: the server at `--url` (else DESPINA_URL, when set and no `--home` is given, with
DESPINA_API_TOKEN), or the local home (`--home`, else DESPINA_HOME).
This module does not import `despina.cli.main` (main imports it), so it has its own `--home` option.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from despina.config import read_settings
from despina.exceptions import DespinaError

if TYPE_CHECKING:
    from despina.backends.http import HttpBackend
    from despina.store.base import Store
    from despina.transfer.target import ImportTarget

console = Console()

home_option = click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="Despina home folder (default: DESPINA_HOME or ./.despina).",
)


url_option = click.option(
    "--url",
    default=None,
    help="The Despina server at URL, with the token in DESPINA_API_TOKEN "
    "(default: DESPINA_URL when set and --home is not given).",
)


def _home(home: str | None) -> Path:
    return Path(home).absolute() if home else read_settings().home


def _store(home: Path) -> Store:
    """The store of a home folder (the same one `despina sync` and runs in this process use)."""
    from despina.backends.local import LocalBackend, backend_for

    backend = backend_for(dataclasses.replace(read_settings(), home=home, url=None))
    assert isinstance(backend, LocalBackend)  # no URL: the home's embedded store
    return backend.store


def _server_url(home: str | None, url: str | None) -> str | None:
    """The server a command works on: the one named, else DESPINA_URL's unless a home is named."""
    if home and url:
        raise click.UsageError("give --home (a local home) or --url (a server), not both")
    return url or (None if home else read_settings().url)


@contextmanager
def _server(url: str) -> Iterator[HttpBackend]:
    from despina.backends.http import HttpBackend

    backend = HttpBackend(url, read_settings().api_token)
    try:
        yield backend
    finally:
        backend.close()


@contextmanager
def _import_target(home: str | None, url: str | None) -> Iterator[ImportTarget]:
    """Where an import writes: the server named (or DESPINA_URL's), else the local home."""
    from despina.transfer.target import ServerTarget, StoreTarget

    server = _server_url(home, url)
    if server is None:
        yield StoreTarget(_store(_home(home)))
        return
    with _server(server) as backend:
        yield ServerTarget(backend)


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "export and import write Parquet and need pyarrow: pip install 'despina[transfer]'"
        ) from None


def _report_problems(notes: list[str], rejected: list[str]) -> None:
    """Print an import's notes and what it could not apply; the latter makes the command fail."""
    for note in notes:
        console.print(f"[yellow]Note:[/yellow] {note}")
    for reason in rejected:
        console.print(f"[red]Not applied:[/red] {reason}")
    if rejected:
        raise SystemExit(1)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar over runs, fed by the (done, total, run id) callback of export and import."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[run]}"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None, run="")

        def update(done: int, total: int, run_id: str) -> None:
            bar.update(task, completed=done, total=total, run=run_id)

        yield update


@click.command()
@click.argument("project")
@click.argument("directory", type=click.Path(file_okay=False))
@home_option
@url_option
def export(project: str, directory: str, home: str | None, url: str | None) -> None:
    """Write every run of PROJECT into DIRECTORY: runs, fields and series as Parquet, files as blobs.

    DIRECTORY must be new or empty. `despina import despina DIRECTORY` reads it back, into a home or
    a server; any Parquet reader (pandas, DuckDB, Spark) reads it without Despina. From a server
    (--url, or DESPINA_URL) the token needs the viewer role on PROJECT.
    """
    _need_pyarrow()
    from despina.transfer import export_project
    from despina.transfer.source import ServerSource

    server = _server_url(home, url)
    if server is None:
        root = _home(home)
        if not (root / "despina.db").exists():
            raise click.ClickException(f"there is no Despina store in {root} (use --home or DESPINA_HOME)")
    try:
        with _progress("exporting runs") as update:
            if server is None:
                summary = export_project(_store(root), project, Path(directory), update)
            else:
                with _server(server) as backend:
                    summary = export_project(ServerSource(backend, project), project, Path(directory), update)
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(
        f"Exported {summary.runs} run(s) of {summary.project}: {summary.fields} field(s), "
        f"{summary.series} series with {summary.points} point(s), {summary.blobs} file(s) "
        f"({summary.blob_bytes / 1e6:.1f} MB) to {summary.directory}"
    )


@click.group(name="import")
def import_() -> None:
    """Import runs into a Despina server or home (from a Despina export, or other trackers)."""


@import_.command(name="despina")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--project", default=None, help="Project to import into (default: the exported project).")
@home_option
@url_option
def import_despina(directory: str, project: str | None, home: str | None, url: str | None) -> None:
    """Read back a folder written by `despina export`.

    Safe to repeat: importing the same folder again changes nothing, and an interrupted import
    continues where it stopped.
    """
    _need_pyarrow()
    from despina.transfer import import_directory

    try:
        with _import_target(home, url) as target, _progress("importing runs") as update:
            summary = import_directory(target, Path(directory), update, project=project)
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    existing = summary.runs - summary.created
    console.print(
        f"Imported {summary.runs} run(s) of {summary.source_project} into {summary.project} "
        f"({summary.created} new, {existing} already there): {summary.operations} operation(s), "
        f"{summary.points} point(s), {summary.blobs} new file(s)"
    )
    renamed = {old: new for old, new in summary.ids.items() if old != new}
    for old, new in renamed.items():
        console.print(f"  {old} is now {new}")
    _report_problems(summary.notes, summary.rejected)


@import_.command(name="neptune")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--files-path",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="The exporter's --files-path folder (default: PATH/files).",
)
@home_option
@url_option
def import_neptune_command(path: str, files_path: str | None, home: str | None, url: str | None) -> None:
    """Read a folder written by Neptune's exporter (`neptune-exporter export`).

    PATH holds `data/` and `files/` (or is the data folder). Projects keep their names, runs keep their
    Neptune id as custom run id. Safe to repeat: importing again changes nothing.
    """
    _need_pyarrow()
    from despina.transfer.import_neptune import import_neptune

    try:
        with _import_target(home, url) as target, _progress("importing Neptune runs") as update:
            summary = import_neptune(target, Path(path), files_path, update)
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(
        f"Imported {summary.runs} Neptune run(s) into {', '.join(summary.projects)} "
        f"({summary.created} new, {summary.runs - summary.created} already there): "
        f"{summary.operations} operation(s), {summary.points} point(s), {summary.blobs} new file(s)"
    )
    _report_problems(summary.notes, summary.rejected)


@import_.command(name="mlflow")
@click.option(
    "--tracking-uri",
    required=True,
    help="MLflow tracking URI (sqlite:///mlflow.db, file:./mlruns, http://...).",
)
@click.option("--experiment", default=None, help="Import only this experiment (by name; default: all).")
@click.option(
    "--project",
    default=None,
    help="Project to import into (default: mlflow/<experiment name> per experiment).",
)
@home_option
@url_option
def import_mlflow(
    tracking_uri: str, experiment: str | None, project: str | None, home: str | None, url: str | None
) -> None:
    """Copy experiments, runs, params, tags, metric histories and artifacts from MLflow.

    Safe to repeat: importing again finds the runs it created (their custom run id is the MLflow run
    id) and applies nothing twice.
    """
    from despina.transfer.import_mlflow import import_mlflow as run_import

    try:
        with _import_target(home, url) as target, _progress("importing MLflow runs") as update:
            summary = run_import(target, tracking_uri, experiment, project, update)
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    existing = summary.runs - summary.created
    console.print(
        f"Imported {summary.runs} run(s) of {summary.experiments} MLflow experiment(s) into "
        f"{', '.join(summary.projects) or 'no project'} ({summary.created} new, {existing} already there): "
        f"{summary.operations} operation(s), {summary.points} point(s), {summary.blobs} new file(s)"
    )
    _report_problems(summary.notes, summary.rejected)
