#!/usr/bin/env python3
"""Web UI benchmark (issue 6), measured in headless Chromium (Debian's, driven by Playwright).

Figures (median of `--repeat` timings after one warm-up; each timing is a fresh page):

- runs table: navigation to the first frame that shows rows (timed in the page), 10,000 runs x 30
  columns (`--runs`), the project of bench/bench_query.py (built straight into the store's tables);
  then a scroll through 2,000 rows at one step per frame, with the frames that took longer than
  25 ms counted as dropped (median of `--repeat`); and a slower scroll (half a row a frame, 300
  frames) that starts with the first rows, while the rest of the 10,000 load in the background
  (median of `--repeat`; the table reads its background pages between scrolls, and during one only
  as it nears the last row read); and, for reference, the first scroll over a plain page of rows
  with no script (what the browser alone does on this machine);
- compare page: 100 runs (`--compare-runs`) x 3 series x 100,000 points (`--points`) from navigation
  to the first frame in which every chart has drawn all its runs (downsampled to 1,000 buckets
  each; timed in the page, as first rows are);
- live: a point appended by a running script (the client over HTTP) until it is in the open chart;
- compare of every run of the runs table (its header checkbox: `compare?all=1`): from navigation to
  the side-by-side table's first cells, and to every chart's lines (no goal in the issue: "any
  number of runs").

    .venv/bin/python bench/bench_ui.py
    .venv/bin/python bench/bench_ui.py --runs 1000 --compare-runs 10 --points 10000   # quick look
    .venv/bin/python bench/bench_ui.py --table-only   # the runs table's figures only
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "e2e")]

from bench_query import COLUMNS, PROJECT, build  # noqa: E402
from ui_browser import CHROMIUM, CHROMIUM_FLAGS, ServerThread, ui_settings  # noqa: E402
from ui_seed import client_env, quiet_run  # noqa: E402

from despina.client import field_types as ft  # noqa: E402
from despina.client.operations import AppendPoints  # noqa: E402
from despina.server.app import create_app, open_state  # noqa: E402
from despina.store.base import RunCreate  # noqa: E402

COMPARE_PROJECT = "bench/compare"
SERIES = ("train/loss", "train/accuracy", "val/loss")
FRAME_BUDGET_MS = 25.0
TABS = ("table", "charts")  # the compare page's tabs timed with every run of the table


def median_of(work: Callable[[], float], repeat: int) -> float:
    work()  # warm-up: the server's caches and the browser's compiled bundle
    return statistics.median(work() for _ in range(repeat))


def seed_compare(state: Any, runs: int, points: int) -> list[str]:
    """`runs` runs with three float series of `points` points each, through the store's ingest."""
    ids = []
    steps = np.arange(points, dtype=np.float64)
    stamps = 1.7e9 + steps
    for i in range(runs):
        info, _ = state.store.create_run(RunCreate(project=COMPARE_PROJECT, owner="bench", name=f"c{i}"))
        rng = np.random.default_rng(i)
        ops = [
            AppendPoints(
                path, ft.FLOAT_SERIES, steps, stamps, np.exp(-steps / (points / 5)) + rng.random(points)
            )
            for path in SERIES
        ]
        state.store.ingest(COMPARE_PROJECT, info.id, "bench", list(enumerate(ops)), len(ops) - 1)
        ids.append(info.id)
    return ids


# Marks, in the page's own clock (0: navigation start), the first frame that shows rows: the
# first animation frame after a row is in the document, once that frame's work is done. Playwright's
# waits poll at growing intervals (up to half a second), which a wait's end time would count in.
MARK_FIRST_ROWS = """
new MutationObserver((_, observer) => {
  if (!document.querySelector('[data-run]')) return;
  observer.disconnect();
  requestAnimationFrame(() => setTimeout(() => { window.__firstRowsShown = performance.now(); }, 0));
}).observe(document, { childList: true, subtree: true });
"""


def table_first_rows(browser: Any, url: str) -> float:
    """Seconds from navigation start to the first frame that shows rows of the table."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.add_init_script(MARK_FIRST_ROWS)
    cols = ",".join(c for c in COLUMNS if c != "sys/tags")
    page.goto(f"{url}/p/{PROJECT}?cols={cols}")
    page.locator("[data-run]").first.wait_for()
    page.wait_for_timeout(100)  # the frame after the rows
    shown: float = page.evaluate("() => window.__firstRowsShown")
    # The page's later reads (the other pages of the table, the column picker's paths) finish before
    # the next navigation: a server still busy with them would make that one's first rows wait
    # behind a tab nobody looks at (measured: 0.1-0.5 s more, back to back).
    page.get_by_test_id("row-count").filter(has_not_text="+").wait_for(timeout=120_000)
    page.wait_for_timeout(1000)
    page.close()
    return shown / 1000


def table_scroll(browser: Any, url: str) -> tuple[int, int, float]:
    """(frames, dropped frames) while scrolling 2,000 rows, one step per animation frame; and the
    kilobytes of JavaScript the runs-table page loaded (decoded, before compression)."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    cols = ",".join(c for c in COLUMNS if c != "sys/tags")
    page.goto(f"{url}/p/{PROJECT}?cols={cols}")
    page.locator("[data-run]").first.wait_for()
    script_bytes: float = page.evaluate(
        """() => performance.getEntriesByType('resource')
             .filter(e => e.name.endsWith('.js'))
             .reduce((a, e) => a + e.decodedBodySize, 0)"""
    )
    # Wait until the background pages of the table are in.
    page.get_by_test_id("row-count").filter(has_not_text="+").wait_for(timeout=120_000)
    result: list[int] = page.evaluate(
        """async (budget) => {
          const grid = document.querySelector('[data-testid="runs-table"]');
          const frames = []; let last = performance.now();
          for (let i = 0; i < 300; i++) {
            grid.scrollTop += 213;  // about 6.7 rows per frame: 2,000 rows in 300 frames
            await new Promise(requestAnimationFrame);
            const now = performance.now(); frames.push(now - last); last = now;
          }
          return [frames.length, frames.filter(f => f > budget).length];
        }""",
        FRAME_BUDGET_MS,
    )
    page.close()
    return result[0], result[1], script_bytes / 1000


def table_scroll_loading(browser: Any, url: str) -> tuple[int, int]:
    """(frames, dropped frames) while scrolling half a row a frame from the first rows on, as the
    table's background pages load (about five seconds for 10,000 runs)."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    cols = ",".join(c for c in COLUMNS if c != "sys/tags")
    page.goto(f"{url}/p/{PROJECT}?cols={cols}")
    page.locator("[data-run]").first.wait_for()
    result: list[int] = page.evaluate(
        """async (budget) => {
          const grid = document.querySelector('[data-testid="runs-table"]');
          const frames = []; let last = performance.now();
          for (let i = 0; i < 300; i++) {
            grid.scrollTop += 16;
            await new Promise(requestAnimationFrame);
            const now = performance.now(); frames.push(now - last); last = now;
          }
          return [frames.length, frames.filter(f => f > budget).length];
        }""",
        FRAME_BUDGET_MS,
    )
    # Let the load finish before the next page, as table_first_rows does.
    page.get_by_test_id("row-count").filter(has_not_text="+").wait_for(timeout=120_000)
    page.close()
    return result[0], result[1]


# The same scroll over a page of plain rows, all in the page from the start and no script: what the
# browser itself does on this machine, to read the runs table's figure against (a page laid out
# once, so scrolling it is only painting and rasterising new tiles).
PLAIN_ROWS = """<html><body style="margin:0;font:13px sans-serif">
<div id="grid" style="height:1000px;overflow:auto"><div style="height:%dpx;position:relative">%s</div></div>
</body></html>"""
PLAIN_ROW = '<div style="position:absolute;left:0;top:%dpx;height:32px;display:flex">%s</div>'
PLAIN_CELL = '<div style="width:100px;padding:6px 8px;white-space:nowrap">%s</div>'


def plain_rows_scroll(browser: Any, rows: int = 2_200, cells: int = 15) -> int:
    """Frames over budget of 300, scrolling a plain page of `rows` rows as table_scroll scrolls."""
    rng = np.random.default_rng(0)
    body = "".join(
        PLAIN_ROW % (i * 32, "".join(PLAIN_CELL % f"{v:.6f}" for v in rng.random(cells))) for i in range(rows)
    )
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_content(PLAIN_ROWS % (rows * 32, body))
    page.wait_for_timeout(500)
    dropped: int = page.evaluate(
        """async (budget) => {
          const grid = document.getElementById('grid');
          let last = performance.now(), dropped = 0;
          for (let i = 0; i < 300; i++) {
            grid.scrollTop += 213;
            await new Promise(requestAnimationFrame);
            const now = performance.now(); if (now - last > budget) dropped++; last = now;
          }
          return dropped;
        }""",
        FRAME_BUDGET_MS,
    )
    page.close()
    return dropped


# Marks, in the page's own clock, the first frame in which every compare chart has drawn: its title
# no longer counts runs still loading, its canvas is there and it holds points (as MARK_FIRST_ROWS
# marks first rows: Playwright's waits poll at up to half-second intervals).
MARK_COMPARE_DRAWN = """
new MutationObserver((_, observer) => {
  const charts = [...document.querySelectorAll('[data-testid^="compare-chart-"]')];
  if (charts.length < %d) return;
  const drawn = charts.every((chart) =>
    !chart.querySelector('.chart-title')?.textContent?.includes('loading') &&
    chart.querySelector('canvas') && Number(chart.getAttribute('data-points')) > 0);
  if (!drawn) return;
  observer.disconnect();
  requestAnimationFrame(() => setTimeout(() => { window.__compareDrawn = performance.now(); }, 0));
}).observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
"""


def compare_drawn(browser: Any, url: str, run_ids: list[str], points: int) -> float:
    """Seconds from navigation start to the first frame with every chart drawn (the page's clock)."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.add_init_script(MARK_COMPARE_DRAWN % len(SERIES))
    page.goto(f"{url}/p/{COMPARE_PROJECT}/compare?runs={','.join(run_ids)}&series={','.join(SERIES)}")
    for path in SERIES:
        chart = page.get_by_test_id(f"compare-chart-{path}")
        chart.locator(".chart-title").filter(has_not_text="loading").wait_for(timeout=120_000)
        chart.locator("canvas").wait_for()
    page.wait_for_function("() => window.__compareDrawn !== undefined", timeout=10_000)
    elapsed: float = page.evaluate("() => window.__compareDrawn") / 1000
    drawn = sum(
        int(page.get_by_test_id(f"compare-chart-{p}").get_attribute("data-points") or 0) for p in SERIES
    )
    assert drawn > len(run_ids) * len(SERIES), f"only {drawn} points drawn"
    page.close()
    return elapsed


def compare_every_run(browser: Any, url: str, tab: str) -> tuple[float, int]:
    """Seconds from navigation to a compare page of every run of the runs table (`all=1`, the table's
    header checkbox) with `tab` drawn: the side-by-side table's first cells, or every chart's lines;
    and how many runs it compares. Timed from here: these take seconds."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    started = time.perf_counter()
    page.goto(f"{url}/p/{PROJECT}/compare?all=1&asc=1&tab={tab}")
    if tab == "table":
        page.locator("[data-testid=side-by-side] [role=cell]").first.wait_for(timeout=300_000)
    else:
        page.wait_for_function(
            """() => {
                 const charts = [...document.querySelectorAll('[data-testid^=compare-chart-]')];
                 return charts.length > 0 && charts.every(c => Number(c.dataset.points) > 0
                   && !c.querySelector('.chart-title').textContent.includes('loading'));
               }""",
            timeout=300_000,
        )
    elapsed = time.perf_counter() - started
    heading = page.get_by_role("heading", name="Comparing").inner_text()
    page.close()
    return elapsed, int(heading.split()[1])


def live_point(browser: Any, url: str, home: Path) -> float:
    with client_env(url, home):
        run = quiet_run(project=COMPARE_PROJECT, name="live", flush_period=0.1)
        try:
            run["train/loss"].extend([1.0 / (s + 1) for s in range(50)])
            run.wait()
            page = browser.new_page()
            page.goto(f"{url}/p/{COMPARE_PROJECT}/runs/{run['sys/id'].fetch()}")
            chart = page.get_by_test_id("chart-train/loss")
            chart.and_(page.locator('[data-points="50"]')).wait_for()
            page.wait_for_timeout(1000)  # the stream is open and quiet
            started = time.perf_counter()
            run["train/loss"].append(0.0)
            chart.and_(page.locator('[data-points="51"]')).wait_for(timeout=30_000)
            elapsed = time.perf_counter() - started
            page.close()
            return elapsed
        finally:
            run.stop()


def passes(dropped: list[int], frames: int) -> str:
    """A scrolling figure: the median of its passes, and each pass (a median of 0 can hide one)."""
    return f"{statistics.median(dropped):g} of {frames} (passes: {', '.join(map(str, dropped))})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--compare-runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--table-only", action="store_true", help="the runs table's figures only")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = ui_settings(root)
        build(settings.db_url, root, args.runs, 10, 1000)
        state = open_state(settings)
        started = time.perf_counter()
        run_ids = [] if args.table_only else seed_compare(state, args.compare_runs, args.points)
        print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        thread = ServerThread(create_app(settings, state)).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                first = median_of(lambda: table_first_rows(browser, thread.url), args.repeat)
                scrolls = [table_scroll(browser, thread.url) for _ in range(args.repeat)]
                frames, script_kb = scrolls[0][0], scrolls[0][2]
                dropped_each = [d for _, d, _ in scrolls]
                table_scroll_loading(browser, thread.url)  # warm-up
                loading = [table_scroll_loading(browser, thread.url) for _ in range(args.repeat)]
                loading_frames = loading[0][0]
                loading_each = [d for _, d in loading]
                plain_each = [plain_rows_scroll(browser) for _ in range(args.repeat)]
                if not args.table_only:
                    compare = median_of(
                        lambda: compare_drawn(browser, thread.url, run_ids, args.points), args.repeat
                    )
                    live = median_of(lambda: live_point(browser, thread.url, root / "client"), args.repeat)

                    def seconds_to(tab: str) -> float:
                        return compare_every_run(browser, thread.url, tab)[0]

                    every = {tab: median_of(partial(seconds_to, tab), args.repeat) for tab in TABS}
                    compared = compare_every_run(browser, thread.url, "table")[1]
                browser.close()
        finally:
            thread.stop()
            state.close()
    n = args.compare_runs
    print("| figure | median | goal |\n|---|---:|---:|")
    print(f"| runs table {args.runs:,} x 30: first rows visible | {first * 1000:.0f} ms | <= 1 s |")
    print(f"| runs table page: JavaScript loaded (decoded) | {script_kb:.0f} kB | |")
    budget = f"{FRAME_BUDGET_MS:.0f} ms"
    print(f"| runs table: frames over {budget} while scrolling | {passes(dropped_each, frames)} | 0 |")
    print(
        f"| runs table: frames over {budget} while scrolling as rows load "
        f"| {passes(loading_each, loading_frames)} | 0 |"
    )
    print(
        f"| for reference, a plain page of 2,200 rows x 15 cells (no script): frames over "
        f"{budget} in the same scroll | {passes(plain_each, 300)} | |"
    )
    if args.table_only:
        return
    shape = f"{n} runs x 3 series x {args.points:,} points"
    print(f"| compare {shape}: drawn | {compare * 1000:.0f} ms | <= 1.5 s |")
    print(f"| live: appended point in the open chart | {live * 1000:.0f} ms | <= 2 s |")
    for tab, seconds in every.items():
        print(f"| compare every run of the table ({compared:,}): {tab} drawn | {seconds:.1f} s | |")


if __name__ == "__main__":
    main()
