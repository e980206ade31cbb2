"""`despina trash list PROJECT` and `despina trash empty PROJECT`: the runs moved to the trash (in the
web UI), listed or deleted for good. Both work where runs are logged: the server in DESPINA_URL (the
token needs the owner role to delete), else the local home. Run it from cron with `--older-than` and
`--yes` for a retention policy.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click
from rich.console import Console
from rich.table import Table

from despina.exceptions import DespinaError

console = Console()


def _trashed(project: str, older_than: float | None) -> list[tuple[str, str, datetime]]:
    """(id, name, last change) of the project's runs in the trash, oldest change first; with
    `older_than`, only those unchanged for that many days (trashing a run changes it)."""
    import despina

    table = despina.init_project(project).fetch_runs_table(
        columns=["sys/name", "sys/modification_time"], trashed=True
    )
    rows = [(str(r["sys/id"]), str(r["sys/name"]), r["sys/modification_time"]) for r in table.to_rows()]
    if older_than is not None:
        cutoff = datetime.now(timezone.utc) - timedelta(days=older_than)
        rows = [row for row in rows if row[2] < cutoff]
    return sorted(rows, key=lambda row: row[2])


@click.group()
def trash() -> None:
    """The runs in a project's trash: list them, or delete them for good."""


@trash.command(name="list")
@click.argument("project")
def list_trash(project: str) -> None:
    """List the runs of PROJECT in the trash."""
    try:
        rows = _trashed(project, None)
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    if not rows:
        console.print(f"The trash of {project} is empty.")
        return
    table = Table("run", "name", "last changed (UTC)")
    for run_id, name, changed in rows:
        table.add_row(run_id, name, f"{changed:%Y-%m-%d %H:%M}")
    console.print(table)


@trash.command(name="empty")
@click.argument("project")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=None,
    metavar="DAYS",
    help="Only runs unchanged for this many days (they changed when moved to the trash).",
)
@click.option("--yes", is_flag=True, help="Do not ask before deleting.")
def empty_trash(project: str, older_than: float | None, yes: bool) -> None:
    """Delete the runs of PROJECT in the trash for good: fields, series and points.

    File contents stay in the blob store (other runs may share them).
    """
    try:
        rows = _trashed(project, older_than)
        if not rows:
            console.print("No run to delete.")
            return
        ids = [run_id for run_id, _, _ in rows]
        shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        if not yes and not click.confirm(f"Delete {len(ids)} run(s) of {project} for good ({shown})?"):
            console.print("Nothing deleted.")
            return
        import despina

        deleted = despina.init_project(project).delete_runs(ids)
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"Deleted {deleted} run(s) of {project} for good.")
