"""The sweep page of an Optuna study logged through the client: optimization history, parallel
coordinates and parameter importance, with the study's best trial highlighted."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from ui_browser import UiServer, painted_pixels, screenshot
from ui_seed import client_env, quiet_run

optuna = pytest.importorskip("optuna")

from despina.integrations.optuna import DespinaCallback  # noqa: E402

PROJECT = "team/hpo"
TRIALS = 14


def objective(trial: Any) -> float:
    """x decides the value; y barely matters; one corner fails."""
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_int("y", 0, 3)
    if x > 4.5:
        raise ValueError("diverged")
    return (x - 1.0) ** 2 + 0.01 * y


@pytest.fixture(scope="module")
def study(ui_server: UiServer) -> tuple[Any, str]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with client_env(ui_server.url, ui_server.root / "sweep-client"):
        run = quiet_run(project=PROJECT, name="lr sweep")
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=5))
        study.enqueue_trial({"x": 4.9, "y": 0})  # fails
        callback = DespinaCallback(run, plots_update_freq="never", trial_runs=True)
        study.optimize(objective, n_trials=TRIALS, callbacks=[callback], catch=(ValueError,))
        run.stop()
    assert run.id is not None
    return study, run.id


def test_sweep_page_shows_history_coordinates_importance_and_the_best_trial(
    page: Any, ui_server: UiServer, study: tuple[Any, str]
) -> None:
    optuna_study, run_id = study
    complete = [t for t in optuna_study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = optuna_study.best_trial

    page.goto(f"{ui_server.url}/p/{PROJECT}/runs/{run_id}")
    page.get_by_role("link", name="Sweep", exact=True).click()
    page.wait_for_url(f"**/p/{PROJECT}/sweeps/{run_id}")

    summary = page.locator(".sweep-page p").first
    # The page's chunk and the study's runs are read first: on a loaded 2-core machine that has
    # taken more than the default 5 s once.
    expect(summary).to_contain_text(f"{TRIALS} trials", timeout=20_000)
    expect(summary).to_contain_text(f"{len(complete)} complete")
    expect(summary).to_contain_text("1 fail")
    expect(page.get_by_test_id("best-trial")).to_contain_text(f"trial {best.number} = {best.value}")

    # History: every complete trial as a point, and the best-so-far line through them.
    history = page.get_by_test_id("sweep-history")
    history.locator("canvas").wait_for()
    expect(history).to_have_attribute("data-points", str(2 * len(complete)))
    assert painted_pixels(history) >= 5 * len(complete)  # the trials' dots are on the canvas

    # Parallel coordinates: one line per complete trial, the best one drawn last and thickest.
    lines = page.get_by_test_id("parallel-coords").locator("polyline")
    expect(lines).to_have_count(len(complete))
    thick = page.get_by_test_id("parallel-coords").locator('polyline[stroke-width="3"]')
    expect(thick).to_have_count(1)
    expect(thick.locator("title")).to_have_text(f"trial {best.number}")
    # The pointer between two axes is over the line there (its title is the tooltip), not over the
    # axes drawn above the lines.
    pointed = thick.evaluate(
        """line => {
             const [a, b] = line.getAttribute('points').split(' ').map(p => p.split(',').map(Number));
             const box = line.ownerSVGElement.getBoundingClientRect();
             const hit = document.elementFromPoint(box.x + (a[0] + b[0]) / 2, box.y + (a[1] + b[1]) / 2);
             return hit?.closest('polyline')?.getAttribute('stroke-width') ?? hit?.tagName ?? null;
           }"""
    )
    assert pointed == "3", pointed

    # Importance: both parameters, the one that decides the value first.
    importance = page.get_by_test_id("importance").locator("th")
    expect(importance).to_have_count(2)
    expect(importance.first).to_have_text("x")
    screenshot(page, "5-sweep")
