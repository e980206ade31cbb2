"""`kedro despina init`: write the plugin's configuration into a Kedro project.

Registered through the `kedro.project_commands` entry point, so it appears in `kedro --help` of any
project once Despina is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from despina.integrations.kedro.config import (
    CONFIG_FILE,
    CREDENTIALS_FILE,
    CREDENTIALS_TEMPLATE,
    DEFAULT_NAMESPACE,
    config_template,
    parse_config,
)


def _project_path(metadata: Any) -> Path:
    path = getattr(metadata, "project_path", None)
    return Path(path) if path is not None else Path.cwd()


def write_config(
    project_path: Path,
    *,
    project: str,
    base_namespace: str = DEFAULT_NAMESPACE,
    env: str = "base",
    dependencies: str | None = "infer",
    force: bool = False,
) -> list[tuple[Path, bool]]:
    """Write `conf/<env>/despina.yml` and `conf/local/credentials_despina.yml`.

    Returns each file with whether it was written (an existing file is kept unless `force`).
    """
    config_text = config_template(project, base_namespace, env, dependencies)
    # Check the template against the validator: what init writes must load.
    import yaml

    parse_config(yaml.safe_load(config_text), origin=CONFIG_FILE)
    files = [
        (project_path / "conf" / env / CONFIG_FILE, config_text),
        (project_path / "conf" / "local" / CREDENTIALS_FILE, CREDENTIALS_TEMPLATE),
    ]
    written = []
    for path, text in files:
        if path.exists() and not force:
            written.append((path, False))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append((path, True))
    return written


@click.group(name="Despina")
def commands() -> None:
    """Despina commands for a Kedro project."""


@commands.group(name="despina")
def despina_group() -> None:
    """Track `kedro run`s with Despina."""


@despina_group.command(name="init")
@click.option("--project", default="$DESPINA_PROJECT", show_default=True, help="Despina project (team/name).")
@click.option(
    "--base-namespace", default=DEFAULT_NAMESPACE, show_default=True, help="Namespace of Kedro fields."
)
@click.option(
    "--env", "env", default="base", show_default=True, help="Kedro configuration environment to write."
)
@click.option(
    "--dependencies",
    default="infer",
    show_default=True,
    help="'infer' (installed packages), a requirements file, or 'none'.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.pass_obj
def init(metadata: Any, project: str, base_namespace: str, env: str, dependencies: str, force: bool) -> None:
    """Write conf/<env>/despina.yml and conf/local/credentials_despina.yml."""
    if "/" not in project and not project.startswith("$"):
        raise click.BadParameter(f"{project!r} is not of the form workspace/name", param_hint="--project")
    deps = None if dependencies.lower() in ("none", "null", "") else dependencies
    root = _project_path(metadata)
    for path, written in write_config(
        root, project=project, base_namespace=base_namespace, env=env, dependencies=deps, force=force
    ):
        shown = path.relative_to(root)
        if written:
            click.echo(f"Wrote {shown}")
        else:
            click.echo(f"Kept {shown}: it exists (--force overwrites it)")
