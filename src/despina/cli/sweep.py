"""`despina sweep run`: N local worker processes optimize one Optuna study over a shared storage.

Each worker runs SCRIPT, which joins the study with `despina.integrations.optuna.sweep_study()`: the
study name, storage and trial budget reach it as DESPINA_SWEEP_* variables. The total is split between
the workers so that together they run exactly `--trials` trials; each also stops once the study has
that many finished trials (workers started elsewhere against the same storage count too). When every
worker has ended, the study run's study/ and best/ fields are written once more from the storage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import click


def _shares(total: int, workers: int) -> list[int]:
    """`total` trials split between `workers` as evenly as can be (workers with no share do not start)."""
    base, extra = divmod(total, workers)
    return [share for share in (base + (1 if i < extra else 0) for i in range(workers)) if share > 0]


def _prepare_storage(storage: str) -> None:
    """Make Optuna's tables once, before the workers start: N processes creating them at once on a new
    PostgreSQL database collide."""
    import optuna

    if "://" not in storage:
        return  # not an RDB URL (a journal file): its own workers' business
    try:
        optuna.storages.RDBStorage(storage)
    except Exception as exc:
        message = f"cannot open the Optuna storage {storage!r}: {type(exc).__name__}: {exc}"
        raise click.ClickException(message) from exc


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # KeyboardInterrupt in the worker: its runs stop cleanly
    for process in workers:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@click.group()
def sweep() -> None:
    """Optuna sweeps: one study, several worker processes, one Despina run."""


@sweep.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--study", "study_name", required=True, help="The Optuna study's name (made if missing).")
@click.option(
    "--storage",
    required=True,
    help="Optuna storage every worker reaches, e.g. postgresql+psycopg://USER:PASS@HOST/DB.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 512), help="Local workers.")
@click.option(
    "--trials", required=True, type=click.IntRange(1), help="Finished trials the whole study stops at."
)
@click.option("--project", default=None, help="Despina project (default: DESPINA_PROJECT).")
@click.option(
    "--sweep-id",
    default=None,
    help="Custom run id of the study run (default: derived from the storage and the study).",
)
def run(
    script: str,
    script_args: tuple[str, ...],
    study_name: str,
    storage: str,
    workers: int,
    trials: int,
    project: str | None,
    sweep_id: str | None,
) -> None:
    """Run SCRIPT in WORKERS processes that optimize the study STUDY together until it has TRIALS
    finished trials; arguments after SCRIPT go to it.

    SCRIPT joins the study through despina.integrations.optuna.sweep_study(). Start more workers on
    other machines with the same --study, --storage and --trials (and DESPINA_URL pointing at the same
    Despina server): they all log into the same study run.
    """
    from despina.integrations.optuna import (
        ENV_SWEEP_ID,
        ENV_SWEEP_STORAGE,
        ENV_SWEEP_STUDY,
        ENV_SWEEP_TRIALS,
        ENV_SWEEP_WORKER_TRIALS,
        finalize_sweep,
    )

    _prepare_storage(storage)
    base = dict(os.environ)
    base.update({ENV_SWEEP_STUDY: study_name, ENV_SWEEP_STORAGE: storage, ENV_SWEEP_TRIALS: str(trials)})
    if project:
        base["DESPINA_PROJECT"] = project
    if sweep_id:
        base[ENV_SWEEP_ID] = sweep_id
    shares = _shares(trials, workers)
    split = ", ".join(map(str, shares))
    click.echo(f"Study {study_name!r}: {trials} trial(s) over {len(shares)} worker(s) ({split}).")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for share in shares:
            env = {**base, ENV_SWEEP_WORKER_TRIALS: str(share)}
            processes.append(subprocess.Popen([sys.executable, script, *script_args], env=env))
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:
        _stop_workers(processes)
        raise click.Abort() from None
    failed = [(index, code) for index, code in enumerate(codes) if code != 0]

    try:
        summary = finalize_sweep(study_name, storage, project=project, sweep_id=sweep_id)
    except KeyError:  # no worker got as far as making the study
        summary = None
    if summary is not None:
        states = ", ".join(f"{count} {state}" for state, count in sorted(summary.states.items())) or "none"
        click.echo(f"Study {study_name!r}: {sum(summary.states.values())} trial(s) ({states}).")
        if summary.best_values is not None:
            click.echo(f"Best value(s): {', '.join(f'{v:.6g}' for v in summary.best_values)}")
        if summary.run_id is not None:
            click.echo(f"Despina run: {summary.run_id}")
        if summary.unlinked:
            click.echo(f"Trials without a trial run: {summary.unlinked}", err=True)
    for index, code in failed:
        click.echo(f"worker {index} exited with status {code}", err=True)
    if failed:
        raise SystemExit(1)
