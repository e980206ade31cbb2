"""The compare page in Chromium: the charts' x axes, log scale and smoothing, judged by where the
lines are drawn, and the side-by-side table's pinned baseline."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from ui_browser import FIRST_SERIES_RGB, UiServer, line_columns, screenshot, series_rgb
from ui_seed import client_env, quiet_run

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.slow
PROJECT = "team/curves"
STEPS = 201


@pytest.fixture(scope="module")
def compare_url(ui_server: UiServer) -> str:
    """Two runs' charts: a loss falling four decades (1 to 1e-4) and a metric that flips between two
    values every step. The first run's lines are drawn in the first series colour.

    The first run logged a point a second for 200 s; the second started 300 s after it and logged
    twice as fast (100 s in all)."""
    ids = []
    start = time.time() - 3600
    with client_env(ui_server.url, ui_server.root / "curves-client"):
        for lr, decay, offset in ((0.1, 50, 1.0), (0.01, 100, 2.0)):
            run = quiet_run(project=PROJECT, name=f"lr-{lr}")
            run["parameters/lr"] = lr
            # The second run's loss starts at half the first's: the two lines never share an end.
            scale = 1.0 if lr == 0.1 else 0.5
            began, pace = (start, 1.0) if lr == 0.1 else (start + 300, 0.5)
            run["train/loss"].extend(
                [scale * 10 ** (-s / decay) for s in range(STEPS)],
                timestamps=[began + s * pace for s in range(STEPS)],
            )
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
    # click, not check: the box is drawn from the link, which the router updates a moment later.
    page.get_by_label("log scale").click()
    expect(page).to_have_url(re.compile(r"log=1"))
    log = settled(page, lambda: middle_height(page), lambda h: abs(h - 0.5) < 0.05)
    assert abs(log - 0.5) < 0.05, log  # two decades of four: halfway down
    screenshot(page, "4-compare-log-scale")
    page.reload()  # the link holds it
    expect(page.get_by_label("log scale")).to_be_checked()
    assert abs(settled(page, lambda: middle_height(page), lambda h: abs(h - 0.5) < 0.05) - 0.5) < 0.05
    page.get_by_label("log scale").click()
    expect(page.get_by_label("log scale")).not_to_be_checked()
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


def spans(page: Any) -> list[tuple[int, int]]:
    """The leftmost and rightmost canvas columns of each run's loss line, first run first."""
    chart = page.get_by_test_id("compare-chart-train/loss")
    lines = [line_columns(chart, series_rgb(i)) for i in range(2)]
    return [(min(line), max(line)) if line else (-1, -1) for line in lines]


def test_the_x_axis_is_the_step_the_time_since_each_start_or_the_clock(page: Any, compare_url: str) -> None:
    page.goto(compare_url)
    chart = page.get_by_test_id("compare-chart-train/loss")
    expect(chart).to_have_attribute("data-points", str(2 * STEPS), timeout=10_000)
    # By step both runs cover 0..200: their lines start and end in the same columns.
    (a0, a1), (b0, b1) = settled(page, lambda: spans(page), lambda s: min(min(s)) >= 0)  # type: ignore[arg-type]
    assert abs(a0 - b0) <= 2 and abs(a1 - b1) <= 2, spans(page)

    # Since each run's start: both start at 0, and the second (100 s) ends halfway along the first.
    page.get_by_label("x axis").select_option("relative")
    expect(page).to_have_url(re.compile("x=relative"))

    def halfway(s: list[tuple[int, int]]) -> bool:
        (a0, a1), (b0, b1) = s
        return abs(a0 - b0) <= 2 and abs((b1 - b0) - (a1 - a0) / 2) <= 3

    assert halfway(settled(page, lambda: spans(page), halfway)), spans(page)  # type: ignore[arg-type]

    # By the clock: the second run's line starts after the first's has ended.
    page.get_by_label("x axis").select_option("wall")
    expect(page).to_have_url(re.compile("x=wall"))
    after = settled(page, lambda: spans(page), lambda s: s[1][0] > s[0][1] > 0)  # type: ignore[arg-type]
    assert after[1][0] > after[0][1] > 0, after
    screenshot(page, "4-compare-wall-time")
    expect(chart).to_have_attribute("data-points", str(2 * STEPS))


def test_the_side_by_side_table_pins_a_chosen_baseline(page: Any, compare_url: str) -> None:
    page.goto(compare_url + "&tab=table")
    table = page.get_by_test_id("side-by-side")
    heads = table.get_by_role("columnheader")
    expect(heads).to_have_count(3, timeout=10_000)
    first, second = re.findall(r"runs=([^&,]+),([^&]+)", compare_url)[0]
    assert heads.nth(1).get_attribute("data-run") == first  # the first run named, to begin with
    expect(heads.nth(1)).to_contain_text("baseline")

    heads.nth(2).get_by_role("button", name="pin").click()
    expect(page).to_have_url(re.compile(f"base={second}"))
    expect(heads.nth(1)).to_have_attribute("data-run", second)
    expect(heads.nth(1)).to_contain_text("baseline")
    # Each other run's cell is marked where it differs from the baseline's.
    lr = table.locator('[data-path="parameters/lr"]')
    expect(lr.locator(f'[data-run="{second}"]')).to_have_text("0.01")
    expect(lr.locator(f'[data-run="{first}"]')).to_have_class(re.compile("differs"))
    screenshot(page, "4-compare-baseline")
    page.reload()  # the link holds the baseline
    expect(table.get_by_role("columnheader").nth(1)).to_have_attribute("data-run", second, timeout=10_000)
