"""The compare page's log scale and smoothing in Chromium, judged by where the lines are drawn."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from ui_browser import FIRST_SERIES_RGB, UiServer, line_columns, screenshot
from ui_seed import client_env, quiet_run

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.slow
PROJECT = "team/curves"
STEPS = 201


@pytest.fixture(scope="module")
def compare_url(ui_server: UiServer) -> str:
    """Two runs' charts: a loss falling four decades (1 to 1e-4) and a metric that flips between two
    values every step. The first run's lines are drawn in the first series colour."""
    ids = []
    with client_env(ui_server.url, ui_server.root / "curves-client"):
        for lr, decay, offset in ((0.1, 50, 1.0), (0.01, 100, 2.0)):
            run = quiet_run(project=PROJECT, name=f"lr-{lr}")
            run["parameters/lr"] = lr
            # The second run's loss starts at half the first's: the two lines never share an end.
            scale = 1.0 if lr == 0.1 else 0.5
            run["train/loss"].extend([scale * 10 ** (-s / decay) for s in range(STEPS)])
            amplitude = 0.5 if lr == 0.1 else 0.1
            run["train/noisy"].extend([offset + amplitude * (-1) ** s for s in range(STEPS)])
            ids.append(run["sys/id"].fetch())
            run.stop()
    return f"{ui_server.url}/p/{PROJECT}/compare?runs={','.join(ids)}&series=train/loss,train/noisy"


def first_line(page: Any, path: str) -> dict[int, tuple[int, int]]:
    return line_columns(page.get_by_test_id(f"compare-chart-{path}"), FIRST_SERIES_RGB)


def settled(page: Any, measure: Callable[[], float], test: Callable[[float], bool]) -> float:
    """`measure()` once `test` holds of it (the chart redraws a moment after the control changes), or
    its last value after five seconds."""
    for _ in range(50):
        value = measure()
        if test(value):
            return value
        page.wait_for_timeout(100)
    return measure()


def middle_height(page: Any) -> float:
    """How far down the first run's loss line is at its middle step, from 0 (where it starts) to 1
    (where it ends): on a linear axis 1e-2 of 1 sits near the bottom; on a log axis, halfway."""
    columns = first_line(page, "train/loss")
    if len(columns) < 10:
        return -1.0
    left, right = min(columns), max(columns)
    at = {x: sum(columns[x]) / 2 for x in columns}
    middle = min(columns, key=lambda x: abs(x - (left + right) / 2))
    return (at[middle] - at[left]) / (at[right] - at[left])


def flip_height(page: Any) -> float:
    """How many pixels tall the first run's flipping line is over its middle third."""
    columns = first_line(page, "train/noisy")
    if len(columns) < 10:
        return -1.0
    left, right = min(columns), max(columns)
    middle = [span for x, span in columns.items() if abs(x - (left + right) / 2) < (right - left) / 6]
    return max(bottom for _, bottom in middle) - min(top for top, _ in middle)


def test_log_scale_and_smoothing_change_the_drawn_lines(page: Any, compare_url: str) -> None:
    page.goto(compare_url)
    for path in ("train/loss", "train/noisy"):
        chart = page.get_by_test_id(f"compare-chart-{path}")
        expect(chart).to_have_attribute("data-points", str(2 * STEPS), timeout=10_000)

    linear = settled(page, lambda: middle_height(page), lambda h: h > 0)
    assert linear > 0.95, linear  # 0.01 on an axis from 1e-4 to 1: hugging the bottom
    page.get_by_label("log scale").check()
    expect(page).to_have_url(re.compile(r"log=1"))
    log = settled(page, lambda: middle_height(page), lambda h: abs(h - 0.5) < 0.05)
    assert abs(log - 0.5) < 0.05, log  # two decades of four: halfway down
    screenshot(page, "4-compare-log-scale")
    page.reload()  # the link holds it
    expect(page.get_by_label("log scale")).to_be_checked()
    assert abs(settled(page, lambda: middle_height(page), lambda h: abs(h - 0.5) < 0.05) - 0.5) < 0.05
    page.get_by_label("log scale").uncheck()
    assert settled(page, lambda: middle_height(page), lambda h: h > 0.95) > 0.95

    # A metric flipping every step fills its band; smoothed, it is a thin line through the middle.
    raw = settled(page, lambda: flip_height(page), lambda h: h > 0)
    assert raw > 50, raw
    page.get_by_label("smoothing").fill("0.9")
    expect(page).to_have_url(re.compile(r"smooth=0\.9"))
    smoothed = settled(page, lambda: flip_height(page), lambda h: 0 <= h < raw / 4)
    assert 0 <= smoothed < raw / 4, (raw, smoothed)
    expect(page.get_by_test_id("compare-chart-train/noisy")).to_have_attribute("data-points", str(2 * STEPS))
    screenshot(page, "4-compare-smoothed")
    page.get_by_label("smoothing").fill("0")
    assert settled(page, lambda: flip_height(page), lambda h: h > raw * 0.8) > raw * 0.8
