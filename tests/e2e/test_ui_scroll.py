"""Scrolling a runs table longer than the window. The table draws the scrolling cells of the rows in
view on a canvas; their pinned columns are elements in a window of row slots, each handed from the
row scrolled out to the row scrolled in; and the rows' text is also in the page, transparent over the
canvas, once the table is still. So each check here is that what each of those shows belongs to the
run of that row, wherever the table has been scrolled to. And the runs' links open in the app.

There are more runs than the table's first page: the rows after it come from a page read in the
background, which a worker reads and decodes (web/src/api/pageDecoder).

The compare page's side-by-side table of the same runs is a column per run, far wider than the page:
it too draws only what is in view, and each drawn cell must hold its own column's run's value."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect
from ui_browser import UiServer, ink, inked_width, screenshot, table_pixels
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
    """Every row in the page's text: its run id, the texts and boxes of its cells and where its two
    parts are."""
    rows: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('[data-run]')].map(row => {
             const id = row.dataset.run;
             const pinned = document.querySelector(`[data-run-pinned="${CSS.escape(id)}"]`);
             const boxes = [...row.querySelectorAll('.grid-cell')].map(c => c.getBoundingClientRect())
               .map(b => ({ x: b.x, y: b.y, width: b.width, height: b.height }));
             return {
               id,
               boxes,
               cells: [...row.querySelectorAll('.grid-cell')].map(c => c.textContent),
               pinnedCells: pinned && [...pinned.querySelectorAll('.grid-cell')].map(c => c.textContent),
               top: row.getBoundingClientRect().top,
               pinnedTop: pinned ? pinned.getBoundingClientRect().top : null,
             };
           })"""
    )
    return rows


def scroll_to(page: Any, table: Any, top: int) -> None:
    """Scrolls the table and waits until its rows' text has followed (it does once the table is
    still: `aria-busy` until then)."""
    table.evaluate("(grid, top) => { grid.scrollTop = top; }", top)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    expect(page.get_by_test_id("rows-text")).to_have_attribute("aria-busy", "false")


def drawn_digits(page: Any, box: dict[str, float]) -> int:
    """How many digits the canvas drew in a cell's box: a digit advances 8.3 px in the table's font
    here, and its ink is 4-8 px of that ("1" to "8")."""
    return math.ceil((inked_width(table_pixels(page, box)) - 1) / 8.3)


def test_every_scrolled_row_shows_its_own_run(page: Any, table: Any, many_runs: dict[str, str]) -> None:
    order = sorted(many_runs, key=many_runs.__getitem__)  # sorted by parameters/i, as the names
    # Rows of the first page, then of the page the worker decoded, then back.
    for top in (0, 7 * ROW_HEIGHT, 25 * ROW_HEIGHT, 105 * ROW_HEIGHT, 3 * ROW_HEIGHT, RUNS * ROW_HEIGHT):
        scroll_to(page, table, top)
        rows = rendered_rows(page)
        assert rows
        drawn = page.locator(".grid-canvas").bounding_box()  # the table's viewport, under its header
        header = min(r["top"] for r in rows) - min(order.index(r["id"]) for r in rows) * ROW_HEIGHT
        for row in rows:
            name = many_runs[row["id"]]
            # The id and the name in the pinned part, the name and parameters/i in the others.
            assert row["pinnedCells"] is not None and row["id"] in row["pinnedCells"], row
            assert name in row["cells"] and str(int(name[4:])) in row["cells"], row
            # In its place in the sort order, level with its pinned part.
            assert row["top"] == header + order.index(row["id"]) * ROW_HEIGHT, row
            assert row["pinnedTop"] == row["top"], row
            # And the canvas drew that row's own values there: its name, and its parameters/i with
            # as many digits as the run's number has (1, 2 or 3: a row drawn off by one, or a stale
            # frame, would show another's).
            name_box, i_box = row["boxes"][row["cells"].index(name)], row["boxes"][-1]
            if drawn["y"] <= name_box["y"] and name_box["y"] + ROW_HEIGHT <= drawn["y"] + drawn["height"]:
                assert ink(table_pixels(page, name_box)) > 20, row
                assert drawn_digits(page, i_box) == len(str(int(name[4:]))), row
    # At the end, the last run is shown.
    expect(page.locator(f'[data-run="{order[-1]}"]')).to_be_in_viewport()
    # The page after the first was decoded off the main thread (the worker loaded under the
    # page's Content-Security-Policy).
    assert any("pageDecoder" in worker.url for worker in page.workers), [w.url for w in page.workers]


def test_a_table_scrolled_a_few_pixels_a_frame_shows_what_a_whole_drawing_does(page: Any, table: Any) -> None:
    # Small scrolls, a frame each, down then up: each frame draws on what the last one drew.
    page.mouse.move(1, 1)
    table.evaluate(
        """async (grid) => {
          for (let i = 0; i < 40; i++) { grid.scrollTop += 7; await new Promise(requestAnimationFrame); }
          for (let i = 0; i < 15; i++) { grid.scrollTop -= 5; await new Promise(requestAnimationFrame); }
        }"""
    )
    box = page.locator(".grid-canvas").bounding_box()
    stepped = table_pixels(page, box)
    top = table.evaluate("grid => grid.scrollTop")
    assert top == 40 * 7 - 15 * 5
    # The same place drawn afresh: a jump of more than the view's height away, and back. Nothing of
    # an earlier frame may be left (a strip of other rows, a row a pixel off).
    table.evaluate(
        """async (grid, top) => {
          grid.scrollTop = top + 2000; await new Promise(requestAnimationFrame);
          grid.scrollTop = top; await new Promise(requestAnimationFrame);
        }""",
        top,
    )
    assert table_pixels(page, box) == stepped
    assert ink(stepped) > 1000  # rows of text, not an empty canvas


def shown_pixels(page: Any, box: dict[str, float]) -> list[tuple[int, int, int]]:
    """The colours on screen over `box` (the canvas and everything over it, as a user sees it)."""
    with Image.open(io.BytesIO(page.screenshot(clip=box))) as shot:
        data = shot.convert("RGB").tobytes()
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]


def test_a_drag_over_rows_selects_their_text_and_the_selection_shows(
    page: Any, table: Any, many_runs: dict[str, str]
) -> None:
    scroll_to(page, table, 0)
    rows = rendered_rows(page)

    def name_box(row: dict[str, Any]) -> dict[str, float]:
        box: dict[str, float] = row["boxes"][row["cells"].index(many_runs[row["id"]])]
        return box

    def highlighted(box: dict[str, float]) -> int:
        # The selection's blue over the table's white; no other colour of the table is as blue.
        return sum(1 for r, _, b in shown_pixels(page, box) if b - r > 35)

    first, middle, last = name_box(rows[1]), name_box(rows[2]), name_box(rows[3])
    assert highlighted(middle) == 0
    page.mouse.move(first["x"] + 3, first["y"] + first["height"] / 2)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] - 3, last["y"] + last["height"] / 2, steps=5)
    page.mouse.up()
    # What a copy takes: the dragged-over runs' cells, as text.
    selected = page.evaluate("() => getSelection().toString()")
    assert all(many_runs[row["id"]] in selected for row in rows[1:4]), selected
    assert many_runs[rows[0]["id"]] not in selected and many_runs[rows[5]["id"]] not in selected
    # And the user sees what is selected, over the cells the canvas draws.
    assert highlighted(middle) > 100
    # As after a select-all, whose ends are outside the table.
    page.evaluate("() => getSelection().removeAllRanges()")
    expect(page.get_by_test_id("rows-text")).not_to_have_class(re.compile(r"\bselecting\b"))
    assert highlighted(middle) == 0
    page.evaluate("() => getSelection().selectAllChildren(document.body)")
    expect(page.get_by_test_id("rows-text")).to_have_class(re.compile(r"\bselecting\b"))
    assert highlighted(middle) > 100


HOVER = (248, 249, 250)  # .grid-row.hovered, and the canvas's row under the pointer


def test_hover_follows_its_run_when_the_row_scrolls_away(page: Any, table: Any) -> None:
    scroll_to(page, table, 0)
    first = rendered_rows(page)[0]["id"]
    cell = page.locator(f'[data-run="{first}"] .grid-cell').last
    cell.hover()  # the pointer stays at the cell's centre
    box = cell.bounding_box()
    pointer = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # Lit: the row's pinned part, and its drawn cells (a pixel of the cell's padding).
    expect(page.locator(f'[data-run-pinned="{first}"]')).to_have_class(re.compile(r"\bhovered\b"))
    padding = {"x": box["x"] + 2, "y": box["y"] + 2, "width": 1, "height": 1}
    assert table_pixels(page, padding)[0][0] == HOVER
    # Far enough that the hovered row leaves the window and its pinned part's slot shows another
    # run; then still, so the rows' text follows.
    scroll_to(page, table, 40 * ROW_HEIGHT)
    page.wait_for_timeout(300)
    lit, under_pointer = page.evaluate(
        """([x, y]) => [
             [...document.querySelectorAll('.grid-row.hovered')]
               .map(r => r.dataset.run ?? r.dataset.runPinned),
             document.elementFromPoint(x, y)?.closest('[data-run]')?.dataset.run ?? null,
           ]""",
        list(pointer),
    )
    # Only the run under the pointer may be lit, never the one scrolled away; and the canvas lights
    # the row under the pointer exactly when that run is lit.
    assert under_pointer not in (None, first)
    assert set(lit) <= {under_pointer}, lit
    assert (table_pixels(page, padding)[0][0] == HOVER) == (under_pointer in lit), (lit, under_pointer)


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


def test_a_running_runs_badge_is_drawn_and_its_time_ticks(page: Any, ui_server: UiServer) -> None:
    with client_env(ui_server.url, ui_server.root / "client-running"):
        run = quiet_run(project="team/running", name="still-going")
        run_id = run["sys/id"].fetch()
        try:
            page.goto(f"{ui_server.url}/p/team/running")
            state = page.locator(f'[data-run="{run_id}"] [data-testid=state]')
            expect(state).to_contain_text("running")
            box = page.locator(f'[data-run="{run_id}"] .grid-cell:has([data-testid=state])').bounding_box()
            before = table_pixels(page, box)
            assert any(pixel == (211, 249, 216) for row in before for pixel in row)  # .state-running
            # The canvas draws the badge again as the clock ticks: its running time changed.
            page.wait_for_timeout(1500)
            assert table_pixels(page, box) != before
        finally:
            run.stop()
