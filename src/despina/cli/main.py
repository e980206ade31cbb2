"""`despina` commands: demo, sync, status, clear."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from despina.config import read_settings

console = Console()


def _home(home: str | None) -> Path:
    return Path(home).absolute() if home else read_settings().home


home_option = click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="Despina home folder (default: DESPINA_HOME or ./.despina).",
)


@click.group()
@click.version_option(package_name="despina")
def cli() -> None:
    """Despina: a self-hosted experiment tracker."""


@cli.command()
@click.option(
    "--project", default=None, help="Project to log into [default: demo/kedro-wine; --script: demo/wine]."
)
@click.option("--runs", default=3, show_default=True, type=click.IntRange(1, 20), help="Kedro runs to make.")
@click.option("--script", is_flag=True, help="Train one scikit-learn model in a plain script instead.")
@click.option("--epochs", default=15, show_default=True, type=click.IntRange(1, 1000), help="With --script.")
@home_option
def demo(project: str | None, runs: int, script: bool, epochs: int, home: str | None) -> None:
    """Run the example Kedro + Optuna pipeline a few times with different parameters (each `kedro run`
    is a run), then list the runs; with --script, log one scikit-learn model and print its fields."""
    from despina.cli.demo import run_demo, run_kedro_demo

    if script:
        run_demo(project or "demo/wine", epochs, _home(home), console)
    else:
        run_kedro_demo(project, runs, _home(home), console)


def _journals(path: Path) -> list[Path]:
    from despina.client.journal import list_journals

    if (path / "meta.json").exists():
        return [path]
    return list_journals(path)


@cli.command()
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_id", default=None, help="Only journals of this run id (KEY-N).")
@home_option
def sync(path: str | None, run_id: str | None, home: str | None) -> None:
    """Apply journals left on disk (offline runs, killed processes) to the store.

    PATH is a Despina home or one journal folder. Safe to repeat and to run while a writer is still
    logging: nothing is applied twice.
    """
    from despina.backends import backend_for
    from despina.client.sync import journal_status, sync_journal

    settings = read_settings()
    root = Path(path).absolute() if path else _home(home)
    if path and not (root / "meta.json").exists() and home is None:
        settings = type(settings)(**{**settings.__dict__, "home": root})
    elif home:
        settings = type(settings)(**{**settings.__dict__, "home": _home(home)})
    folders = _journals(root)
    statuses = []
    broken: list[tuple[Path, str]] = []
    for folder in folders:
        try:
            status = journal_status(folder)
        except Exception as exc:
            if folder.exists():  # a journal that vanished was finished by its own writer
                broken.append((folder, f"{type(exc).__name__}: {exc}"))
            continue
        if run_id is None or status.run_id == run_id:
            statuses.append(status)
    if not statuses and not broken:
        console.print("Nothing to sync.")
        return
    backend = backend_for(settings)
    total = sum(s.pending for s in statuses)
    synced = 0
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("syncing operations", total=total)
        for status in statuses:
            try:
                outcome = sync_journal(
                    status.folder, backend, lambda n: progress.advance(task, n), pending=status.pending
                )
            except Exception as exc:
                broken.append((status.folder, f"{type(exc).__name__}: {exc}"))
                continue
            if outcome.error:
                broken.append((status.folder, outcome.error))
                continue
            synced += 1
            note = " (ignored a torn last record)" if outcome.torn else ""
            progress.console.print(f"{outcome.run_id}: {outcome.applied} operation(s) applied{note}")
    backend.close()
    console.print(f"Synced {synced} journal(s).")
    for folder, error in broken:
        console.print(f"[red]Could not sync {folder}:[/red] {error}")
    if broken:
        raise SystemExit(1)


@cli.command()
@home_option
def status(home: str | None) -> None:
    """List journals with operations not yet in the store."""
    from despina.client.sync import journal_status

    root = _home(home)
    table = Table("run", "project", "pending operations", "writer", "journal")
    rows = 0
    for folder in _journals(root):
        try:
            item = journal_status(folder)
        except Exception as exc:
            table.add_row("?", "?", "?", "?", f"{folder} (unreadable: {exc})")
            rows += 1
            continue
        if item.pending == 0:
            continue
        table.add_row(
            item.run_id or "(offline, new)",
            item.project,
            str(item.pending),
            "running" if item.alive else "exited",
            str(folder),
        )
        rows += 1
    if rows == 0:
        console.print(f"Everything in {root} is synced.")
    else:
        console.print(table)
        console.print("Run `despina sync` to apply them.")


@cli.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@home_option
def clear(yes: bool, home: str | None) -> None:
    """Remove journals whose operations are all in the store."""
    from despina.client.sync import clear_synced, synced_journals

    root = _home(home)
    candidates = synced_journals(root)
    if not candidates:
        console.print("No synced journals to remove.")
        return
    if not yes and not click.confirm(f"Remove {len(candidates)} synced journal(s) from {root / 'journal'}?"):
        console.print("Nothing removed.")
        return
    removed = clear_synced(candidates)
    console.print(f"Removed {len(removed)} journal(s).")


from despina.cli.server import server as server_command  # noqa: E402
from despina.cli.server import ui as ui_command  # noqa: E402
from despina.cli.transfer import export, import_  # noqa: E402

cli.add_command(export)
cli.add_command(import_)
cli.add_command(server_command)
cli.add_command(ui_command)

from despina.cli.users import token as token_command  # noqa: E402
from despina.cli.users import user as user_command  # noqa: E402

cli.add_command(user_command)
cli.add_command(token_command)

from despina.cli.db import db as db_command  # noqa: E402

cli.add_command(db_command)

from despina.cli.sweep import sweep as sweep_command  # noqa: E402

cli.add_command(sweep_command)

from despina.cli.data import diff_data_command  # noqa: E402

cli.add_command(diff_data_command)

from despina.cli.trash import trash as trash_command  # noqa: E402

cli.add_command(trash_command)

from despina.cli.gc import gc as gc_command  # noqa: E402

cli.add_command(gc_command)

if __name__ == "__main__":  # pragma: no cover
    cli()
