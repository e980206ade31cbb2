"""`despina diff-data RUN_A RUN_B`: which tracked files (track_files) differ between two runs."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from despina.exceptions import DespinaError

console = Console()
_SHOWN = 50  # rows per list before "... and N more" (--all shows every file, --json everything)


def _size(n: int) -> str:
    return f"{n:,} B"


@click.command("diff-data")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--field", "field", default=None, help="Only this artifact field, e.g. datasets/train.")
@click.option("--project", default=None, help="Project of both runs (default: DESPINA_PROJECT).")
@click.option("--json", "as_json", is_flag=True, help="Print the difference as JSON.")
@click.option("--all", "show_all", is_flag=True, help=f"List every file, not only the first {_SHOWN}.")
def diff_data_command(
    run_a: str, run_b: str, field: str | None, project: str | None, as_json: bool, show_all: bool
) -> None:
    """List files added, removed and changed between the tracked files of RUN_A and RUN_B.

    Exits with 0 when the data is the same, 1 when it differs, 2 on an error (as `diff` does).
    """
    from despina.client.data_diff import diff_data

    try:
        diffs = diff_data(run_a, run_b, field=field, project=project)
    except (DespinaError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    if as_json:
        click.echo(
            json.dumps({"run_a": run_a, "run_b": run_b, "fields": [d.to_dict() for d in diffs]}, indent=2)
        )
    elif not diffs:
        console.print(f"Neither {run_a} nor {run_b} has tracked files.")
    for diff in [] if as_json else diffs:
        if diff.same:
            console.print(
                f"[bold]{diff.path}[/bold]: same data ({diff.unchanged:,} files, hash {diff.hash_a})",
                highlight=False,
            )
            continue
        console.print(
            f"[bold]{diff.path}[/bold]: {len(diff.added):,} added, {len(diff.removed):,} removed, "
            f"{len(diff.changed):,} changed, {diff.unchanged:,} unchanged  "
            f"({run_a}: {diff.hash_a or 'none'} -> {run_b}: {diff.hash_b or 'none'})",
            highlight=False,
        )
        rows: list[tuple[str, str, str]] = [("+", f.path, _size(f.size)) for f in diff.added]
        rows += [("-", f.path, _size(f.size)) for f in diff.removed]
        rows += [("~", b.path, f"{_size(a.size)} -> {_size(b.size)}") for a, b in diff.changed]
        rows.sort(key=lambda r: r[1])
        table = Table(show_header=True, box=None)
        table.add_column("")
        table.add_column("file")
        table.add_column("size", justify="right")
        limit = len(rows) if show_all else _SHOWN
        for mark, path, size in rows[:limit]:
            style = {"+": "green", "-": "red", "~": "yellow"}[mark]
            table.add_row(f"[{style}]{mark}[/{style}]", path, size)
        console.print(table)
        if len(rows) > limit:
            console.print(f"... and {len(rows) - limit:,} more (--all lists them)")
    sys.exit(0 if all(d.same for d in diffs) else 1)
