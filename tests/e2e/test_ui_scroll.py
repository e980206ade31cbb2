"""Scrolling a runs table longer than the window: the table renders a window of rows and hands the
elements of a row scrolled out to the row scrolled in, so each check here is that a row's elements
show that row's run, wherever the table has been scrolled to. And the runs' links open in the app.

There are more runs than the table's first page: the rows after it come from a page read in the
background, which a worker decodes (web/src/api/pageDecoder).

The compare page's side-by-side table of the same runs is a column per run, far wider than the page:
it too draws only what is in view, and each drawn cell must hold its own column's run's value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_browser import UiServer, screenshot
from ui_seed import client_env, quiet_run

MANY = "team/many"
RUNS = 130  # the first page holds 100 (web/src/api/runsPage.ts, FIRST_PAGE)
ROW_HEIGHT = 32  # px, as the table draws them


@pytest.fixture(scope="module")
def many_runs(ui_server: UiServer) -> dict[str, str]:
    """More runs than a window of rows and than the first page, through the client: run id -> name."""
    names: dict[str, str] = {}
    with client_env(ui_server.url, ui_server.root / "client-many"):
        for i in range(RUNS):
            run = quiet_run(project=MANY, name=f"run-{i:03d}")
            run["parameters/i"] = i
            names[run["sys/id"].fetch()] = f"run-{i:03d}"
            run.stop()
    return names


@pytest.fixture
def table(page: Any, ui_server: UiServer, many_runs: dict[str, str]) -> Iterator[Any]:
    page.set_viewport_size({"width": 1000, "height": 500})
    page.goto(f"{ui_server.url}/p/{MANY}?cols=sys/name,parameters/i&sort=parameters/i&asc=1")
    expect(page.get_by_test_id("row-count")).to_have_text(f"{RUNS} runs")
    yield page.get_by_test_id("runs-table")


def rendered_rows(page: Any) -> list[dict[str, Any]]:
    """Every rendered row: its run id, the texts of its cells and where its two parts are drawn."""
    rows: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('[data-run]')].map(row => {
             const id = row.dataset.run;
             const pinned = document.querySelector(`[data-run-pinned="${CSS.escape(id)}"]`);
             return {
               id,
               cells: [...row.querySelectorAll('.grid-cell')].map(c => c.textContent),
               pinnedCells: pinned && [...pinned.querySelectorAll('.grid-cell')].map(c => c.textContent),
               top: row.getBoundingClientRect().top,
               pinnedTop: pinned ? pinned.getBoundingClientRect().top : null,
             };
           })"""
    )
    return rows


def scroll_to(page: Any, table: Any, top: int) -> None:
    table.evaluate("(grid, top) => { grid.scrollTop = top; }", top)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_every_scrolled_row_shows_its_own_run(page: Any, table: Any, many_runs: dict[str, str]) -> None:
    order = sorted(many_runs, key=many_runs.__getitem__)  # sorted by parameters/i, as the names
    # Rows of the first page, then of the page the worker decoded, then back.
    for top in (0, 7 * ROW_HEIGHT, 25 * ROW_HEIGHT, 105 * ROW_HEIGHT, 3 * ROW_HEIGHT, RUNS * ROW_HEIGHT):
        scroll_to(page, table, top)
        rows = rendered_rows(page)
        assert rows
        header = min(r["top"] for r in rows) - min(order.index(r["id"]) for r in rows) * ROW_HEIGHT
        for row in rows:
            name = many_runs[row["id"]]
            # The id and the name in the pinned part, the name and parameters/i in the others.
            assert row["pinnedCells"] is not None and row["id"] in row["pinnedCells"], row
            assert name in row["cells"] and str(int(name[4:])) in row["cells"], row
            # Drawn in its place in the sort order, level with its pinned part.
            assert row["top"] == header + order.index(row["id"]) * ROW_HEIGHT, row
            assert row["pinnedTop"] == row["top"], row
    # At the end, the last run is shown.
    expect(page.locator(f'[data-run="{order[-1]}"]')).to_be_in_viewport()
    # The page after the first was decoded off the main thread (the worker loaded under the
    # page's Content-Security-Policy).
    assert any("pageDecoder" in worker.url for worker in page.workers), [w.url for w in page.workers]


def test_hover_follows_its_run_when_the_row_scrolls_away(page: Any, table: Any) -> None:
    scroll_to(page, table, 0)
    first = rendered_rows(page)[0]["id"]
    cell = page.locator(f'[data-run="{first}"] .grid-cell').last
    cell.hover()  # the pointer stays at the cell's centre
    box = cell.bounding_box()
    pointer = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator(f'[data-run="{first}"]')).to_have_class("grid-row hovered")
    element = page.locator(f'[data-run="{first}"]').element_handle()
    # Far enough that the hovered row leaves the window and its elements show another run; read in
    # the frame the table scrolled in.
    now_shown, lit, under_pointer = table.evaluate(
        """async (grid, [element, x, y]) => {
             grid.scrollTop = 40 * 32;
             await new Promise(requestAnimationFrame);
             const lit = [...document.querySelectorAll('.grid-row.hovered')]
               .map(r => r.dataset.run ?? r.dataset.runPinned);
             const under = document.elementFromPoint(x, y)?.closest('[data-run]')?.dataset.run ?? null;
             return [element.dataset.run, lit, under];
           }""",
        [element, *pointer],
    )
    assert now_shown != first
    # The run now in the hovered row's elements is lit only if the pointer is over it.
    if now_shown != under_pointer:
        assert now_shown not in lit, (now_shown, lit)
    assert set(lit) <= {first, under_pointer}, lit


def test_a_focused_checkbox_does_not_pass_to_the_run_scrolled_into_its_row(page: Any, table: Any) -> None:
    scroll_to(page, table, 0)
    first = rendered_rows(page)[0]["id"]
    page.get_by_label(f"select {first}", exact=True).focus()
    scroll_to(page, table, 40 * ROW_HEIGHT)  # the first run's row now shows another run
    focused = page.evaluate("() => document.activeElement?.getAttribute('aria-label') ?? null")
    assert focused in (None, f"select {first}"), focused
    page.keyboard.press("Space")  # selects nothing it was not pointed at
    page.wait_for_timeout(200)
    assert "sel=" not in page.url or f"sel={first}" in page.url, page.url


def test_a_runs_link_opens_its_page_in_the_app(page: Any, table: Any, ui_server: UiServer) -> None:
    scroll_to(page, table, 30 * ROW_HEIGHT)
    row = rendered_rows(page)[10]["id"]
    page.evaluate("() => { window.__samePage = true; }")
    page.get_by_role("link", name=row, exact=True).click()
    expect(page).to_have_url(f"{ui_server.url}/p/{MANY}/runs/{row}")
    expect(page.get_by_test_id("run-id")).to_have_text(row)
    assert page.evaluate("() => window.__samePage === true")  # no reload: the app navigated

    # With a modifier key the browser opens it, in a new tab.
    page.go_back()
    expect(page.get_by_test_id("row-count")).to_have_text(f"{RUNS} runs")
    scroll_to(page, table, 30 * ROW_HEIGHT)
    with page.context.expect_page() as opened:
        page.get_by_role("link", name=row, exact=True).click(modifiers=["Control"])
    expect(opened.value).to_have_url(f"{ui_server.url}/p/{MANY}/runs/{row}")
    expect(page).to_have_url(re.compile(rf"/p/{MANY}\?"))  # this tab stays on the table


def side_cells(page: Any, path: str) -> dict[str, str]:
    """The rendered cells of one field's row of the side-by-side table: run id -> text."""
    cells: dict[str, str] = page.evaluate(
        """(path) => Object.fromEntries([...document.querySelectorAll(
             `[data-testid=side-by-side] [data-path="${CSS.escape(path)}"] [role=cell]`)]
             .map(c => [c.dataset.run, c.textContent]))""",
        path,
    )
    return cells


def test_the_side_by_side_table_of_many_runs_renders_what_is_in_view(
    page: Any, ui_server: UiServer, many_runs: dict[str, str]
) -> None:
    # A column per run: 130 runs are far wider than the page, and only those in view are drawn.
    page.set_viewport_size({"width": 1000, "height": 500})
    page.goto(f"{ui_server.url}/p/{MANY}/compare?all=1&sort=parameters/i&asc=1&tab=table")
    heading = page.get_by_role("heading", name=re.compile("Comparing"))
    expect(heading).to_contain_text(f"Comparing {RUNS} runs")
    order = sorted(many_runs, key=many_runs.__getitem__)
    grid = page.get_by_test_id("side-by-side")
    grid.locator('[data-path="parameters/i"]').wait_for()
    heads = grid.locator("[role=columnheader][data-run]")
    assert 2 <= heads.count() < 15, heads.count()
    # The first run is the baseline; every drawn cell holds the value of its own column's run.
    assert heads.first.get_attribute("data-run") == order[0]
    for where in (0, 60 * 180, RUNS * 180):
        grid.evaluate("(g, left) => { g.scrollLeft = left; }", where)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        cells = side_cells(page, "parameters/i")
        assert order[0] in cells and len(cells) > 2, cells
        for run_id, text in cells.items():
            assert text == str(order.index(run_id)), (run_id, text)
    # Scrolled to the end: the last run is in view, and the baseline stays beside the field names.
    expect(grid.locator(f'[role=columnheader][data-run="{order[-1]}"]')).to_be_in_viewport()
    base_box = grid.locator(f'[role=columnheader][data-run="{order[0]}"]').bounding_box()
    assert base_box is not None and abs(base_box["x"] - grid.bounding_box()["x"] - 280) < 2, base_box
    # Another run pinned as the baseline takes the pinned column, and the cells that differ from it
    # are marked.
    grid.locator(f'[role=columnheader][data-run="{order[-1]}"]').get_by_title("pin as baseline").click()
    expect(page).to_have_url(re.compile(f"base={order[-1]}"))
    expect(heads.first).to_have_attribute("data-run", order[-1])
    row = grid.locator('[data-path="parameters/i"]')
    expect(row.locator(f'[data-run="{order[-1]}"]')).to_have_class(re.compile("baseline"))
    expect(row.locator(f'[data-run="{order[-2]}"]')).to_have_class(re.compile("differs"))
    screenshot(page, "4-compare-table-many")
