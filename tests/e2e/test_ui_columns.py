"""Runs-table columns: reorder by dragging a header, pin a column so it stays while the table
scrolls sideways, and resize by dragging a header's edge (kept across a reload). The scrolling cells
are drawn on a canvas: what it drew is read from its pixels (ui_browser.table_pixels)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect
from ui_browser import UiServer, ink, screenshot, table_pixels
from ui_seed import PROJECT

COLUMNS = ["parameters/lr", "parameters/optimizer", "parameters/batch_size", "train/loss", "train/accuracy"]


def url_columns(page: Any) -> list[str]:
    return parse_qs(urlparse(page.url).query)["cols"][0].split(",")


def header_order(page: Any) -> list[str]:
    return page.locator(".grid-head [data-column]").evaluate_all("els => els.map(e => e.dataset.column)")


def head(page: Any, path: str) -> Any:
    return page.locator(f'.grid-head [data-column="{path}"]')


def open_table(page: Any, ui_server: UiServer) -> None:
    page.goto(f"{ui_server.url}/p/{PROJECT}?cols={','.join(COLUMNS)}")
    page.locator("[data-run]").first.wait_for()


def test_dragging_a_header_moves_its_column(page: Any, ui_server: UiServer) -> None:
    open_table(page, ui_server)
    head(page, "train/loss").drag_to(head(page, "parameters/lr"))
    expect(page).to_have_url(re.compile("cols="))
    assert url_columns(page)[:2] == ["train/loss", "parameters/lr"]
    order = header_order(page)
    assert order.index("train/loss") < order.index("parameters/lr") < order.index("parameters/optimizer")


def test_a_pinned_column_stays_in_view_while_the_table_scrolls_sideways(
    page: Any, ui_server: UiServer
) -> None:
    page.set_viewport_size({"width": 700, "height": 700})  # narrower than the columns: it scrolls
    open_table(page, ui_server)
    head(page, "train/accuracy").hover()  # a header's tools show on hover
    page.get_by_label("pin train/accuracy").click()
    expect(page).to_have_url(re.compile(r"pin=train%2Faccuracy|pin=train/accuracy"))
    pinned = head(page, "train/accuracy")
    expect(pinned).to_have_class(re.compile(r"\bpinned\b"))
    unpinned = head(page, "parameters/lr")
    table = page.get_by_test_id("runs-table")
    table.evaluate("el => { el.scrollLeft = 0; }")  # hovering the last column scrolled to it
    page.wait_for_timeout(100)
    before = pinned.bounding_box()["x"], unpinned.bounding_box()["x"]
    table.evaluate("el => { el.scrollLeft = 400; }")
    page.wait_for_timeout(100)
    after = pinned.bounding_box()["x"], unpinned.bounding_box()["x"]
    assert after[0] == before[0], "the pinned column moved with the scroll"
    assert after[1] < before[1] - 100, "the table did not scroll"
    screenshot(page, "2-runs-table-pinned")


def test_dragging_a_header_edge_resizes_its_column_and_a_reload_keeps_it(
    page: Any, ui_server: UiServer
) -> None:
    open_table(page, ui_server)
    column = head(page, "parameters/optimizer")
    width = column.bounding_box()["width"]
    edge = column.locator(".resizer").bounding_box()
    x, y = edge["x"] + edge["width"] / 2, edge["y"] + edge["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=4)
    page.mouse.move(x + 90, y, steps=4)
    page.mouse.up()
    wider = column.bounding_box()["width"]
    assert abs(wider - (width + 90)) <= 4, (width, wider)
    page.reload()
    page.locator("[data-run]").first.wait_for()
    assert abs(head(page, "parameters/optimizer").bounding_box()["width"] - wider) <= 1


def test_a_value_wider_than_its_column_is_cut_and_never_drawn_over_its_neighbour(
    page: Any, ui_server: UiServer
) -> None:
    # The name column narrowed to its least width (a width kept from a resize): "resnet-0"... no
    # longer fit in it.
    sizes = '{"sys/name": 60}'
    page.add_init_script(f"localStorage.setItem('despina.sizes.{PROJECT}', '{sizes}')")
    open_table(page, ui_server)
    names = page.locator('[data-run] .grid-cell[title^="resnet-"]')
    expect(names.first).to_be_attached()
    for i in range(names.count()):
        cell = names.nth(i)
        # The whole name is the cell's text and tooltip; the canvas drew a cut one inside the cell,
        # and nothing in the first pixels of the next column (its padding).
        title = cell.get_attribute("title")
        assert title is not None and title.startswith("resnet-") and cell.text_content() == title
        box = cell.bounding_box()
        assert ink(table_pixels(page, box)) > 20, title
        after = {"x": box["x"] + box["width"], "y": box["y"], "width": 7, "height": box["height"] - 1}
        assert ink(table_pixels(page, after)) == 0, title


def test_hovering_a_row_lights_its_pinned_columns_too(page: Any, ui_server: UiServer) -> None:
    open_table(page, ui_server)
    hover = (248, 249, 250)  # .grid-row.hovered, and the canvas's row under the pointer
    hovered = re.compile(r"\bhovered\b")

    def drawn_lit(run_id: str) -> bool:
        box = page.locator(f'[data-run="{run_id}"] .grid-cell').last.bounding_box()
        padding = {"x": box["x"] + 2, "y": box["y"] + 2, "width": 1, "height": 1}
        return table_pixels(page, padding)[0][0] == hover

    first, second = page.locator("[data-run]").evaluate_all("rows => rows.map(r => r.dataset.run)")[:2]
    page.locator(f'[data-run="{first}"] .grid-cell').last.hover()
    expect(page.locator(f'[data-run-pinned="{first}"]')).to_have_class(hovered)
    expect(page.locator(f'[data-run-pinned="{first}"]')).to_have_css("background-color", f"rgb{hover}")
    assert drawn_lit(first)
    assert not drawn_lit(second)
    expect(page.locator(f'[data-run-pinned="{second}"]')).not_to_have_class(hovered)
    # Onto the next row's pinned part: both parts of that row light, the first row's go out.
    page.locator(f'[data-run-pinned="{second}"]').hover()
    expect(page.locator(f'[data-run-pinned="{first}"]')).not_to_have_class(hovered)
    assert drawn_lit(second)
    assert not drawn_lit(first)
    page.mouse.move(1, 1)  # off the table
    expect(page.locator(f'[data-run-pinned="{second}"]')).not_to_have_class(hovered)
    page.wait_for_timeout(100)
    assert not drawn_lit(second)
