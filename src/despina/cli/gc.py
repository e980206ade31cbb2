"""`despina gc`: delete file contents no run refers to any more (after runs were deleted from the
trash, or files overwritten), from a home's blob folder or a server's (`--db` and `--blobs`). Safe
while runs write: see `despina.store.sql.blob_gc`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from despina.config import read_settings
from despina.exceptions import DespinaError

console = Console()


@click.command()
@click.option("--home", type=click.Path(file_okay=False), default=None, help="Despina home folder.")
@click.option("--db", "db_url", default=None, help="A server's database URL (with --blobs).")
@click.option(
    "--blobs", "blobs_folder", type=click.Path(file_okay=False), default=None, help="Its blob folder."
)
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    metavar="HOURS",
    help="Keep content stored or found stored within this many hours.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def gc(
    home: str | None, db_url: str | None, blobs_folder: str | None, older_than: float, dry_run: bool
) -> None:
    """Delete file contents that no run refers to (the home's, or a server's with --db and --blobs)."""
    from despina.store.blobs.local import LocalBlobStore
    from despina.store.sql.store import open_embedded_store, open_store

    if (db_url is None) != (blobs_folder is None):
        raise click.UsageError("--db and --blobs go together (a server's database and blob folder)")
    if db_url is not None and home is not None:
        raise click.UsageError("give --home, or --db with --blobs, not both")
    try:
        if db_url is not None:
            assert blobs_folder is not None
            store = open_store(db_url, LocalBlobStore(Path(blobs_folder)))
        else:
            root = Path(home).absolute() if home else read_settings().home
            if not (root / "despina.db").exists():
                raise click.ClickException(
                    f"there is no Despina store in {root} (use --home or DESPINA_HOME)"
                )
            store = open_embedded_store(root)
        try:
            report = store.collect_garbage(older_than=older_than * 3600, dry_run=dry_run)
        finally:
            store.close()
    except DespinaError as exc:
        raise click.ClickException(str(exc)) from None
    verb = "Would delete" if dry_run else "Deleted"
    console.print(
        f"{verb} {report.deleted} file content(s), {report.freed_bytes / 1e6:.1f} MB, of {report.stored} "
        f"stored; {report.kept_recent} more no run refers to were used within {older_than:g} hours and stay."
    )
