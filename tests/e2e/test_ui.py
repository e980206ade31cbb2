"""The web UI in Chromium: every page opened, filtered, sorted, compared, zoomed and watched live."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
from ui_browser import (
    ServerThread,
    UiServer,
    painted_pixels,
    require_browser,
    screenshot,
    table_pixels,
    ui_settings,
)
from ui_seed import PROJECT, client_env, quiet_run

from despina.server.app import create_app, open_state

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.slow
TABLE = f"/p/{PROJECT}"


def rows(page: Any) -> list[str]:
    ids: list[str] = page.locator("[data-run]").evaluate_all("els => els.map(e => e.dataset.run)")
    return ids


def wait_rows(page: Any, count: int) -> None:
    # Playwright's own waits: wait_for_function evaluates a string, which our CSP (rightly) refuses.
    expect(page.locator("[data-run]")).to_have_count(count, timeout=10_000)


def wait_first_row(page: Any, run_id: str) -> None:
    expect(page.locator("[data-run]").first).to_have_attribute("data-run", run_id, timeout=10_000)


def drag_across(page: Any, chart: Any, start: float, end: float) -> None:
    over = chart.locator(".u-over")
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * end, y, steps=4)
    page.mouse.up()


def test_projects_page_lists_runs_and_activity(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.url)
    link = page.get_by_role("link", name=PROJECT)
    link.wait_for()
    row = page.locator("tr", has=link)
    assert row.get_by_test_id("run-count").inner_text(timeout=10_000) in {"6", "7", "8"}
    assert "ago" in row.inner_text()
    screenshot(page, "1-projects")


def test_runs_table_filter_sort_and_columns(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.url + TABLE)
    page.wait_for_selector("[data-run]")
    assert set(ui_server.run_ids) <= set(rows(page))

    # Add a column from the searchable list of the project's fields.
    page.get_by_test_id("add-column").click()
    picker = page.get_by_test_id("column-picker")
    picker.get_by_placeholder("Search fields…").fill("parameters/lr")
    picker.get_by_label(re.compile("parameters/lr")).click()
    page.locator('[data-column="parameters/lr"]').wait_for()
    assert "cols=" in page.url and "parameters%2Flr" in page.url
    picker.get_by_role("button", name="close").click()

    # Sort by it: descending first, then ascending.
    page.get_by_title("sort by parameters/lr").click()
    page.wait_for_url(re.compile(r"sort=parameters"))
    wait_first_row(page, "VIS-1")
    page.get_by_title("sort by parameters/lr").click()
    page.wait_for_url(re.compile(r"asc=1"))
    wait_first_row(page, "VIS-6")

    # Filter with the query language, with completion of field paths.
    query = page.get_by_test_id("query")
    query.fill("parameters/opt")
    page.get_by_test_id("completions").get_by_text("parameters/optimizer").wait_for()
    query.press("Tab")
    assert query.input_value() == "parameters/optimizer "
    query.type('= "adam"')
    query.press("Enter")
    query.press("Enter")
    wait_rows(page, 3)
    assert set(rows(page)) == {"VIS-2", "VIS-3", "VIS-5"}
    assert "q=parameters" in page.url
    screenshot(page, "2-runs-table")

    # A syntax error is shown under the bar, pointing at the place.
    query.fill("parameters/lr >")
    query.press("Escape")
    query.press("Enter")
    error = page.get_by_test_id("query-error")
    error.wait_for()
    assert "expected a value" in error.inner_text()


def test_wide_table_scrolls_sideways_with_pinned_columns(page: Any, ui_server: UiServer) -> None:
    run_id = ui_server.run_ids[1]  # resnet-1: lr 0.01, score 0.51
    cols = (
        "sys/owner,sys/creation_time,parameters/batch_size,parameters/optimizer,"
        "train/accuracy,val/loss,train/loss,score"
    )
    page.set_viewport_size({"width": 800, "height": 700})
    page.goto(ui_server.url + TABLE + f'?q=sys/name = "resnet-1"&cols={cols},parameters/lr&pin=parameters/lr')
    wait_rows(page, 1)
    link = page.get_by_role("link", name=run_id)
    lr = page.get_by_text("0.01", exact=True)
    score = page.get_by_text("0.51", exact=True)
    expect(link).to_be_in_viewport()
    expect(lr).to_be_in_viewport()

    # The far right column comes into view; the run's id and the pinned column stay.
    page.get_by_test_id("runs-table").evaluate("grid => { grid.scrollLeft = grid.scrollWidth; }")
    expect(score).to_be_in_viewport()
    expect(link).to_be_in_viewport()
    expect(lr).to_be_in_viewport()
    screenshot(page, "2-runs-table-scrolled")

    # Moving a column (drag its header onto another) moves its cells.
    page.set_viewport_size({"width": 1400, "height": 700})
    page.get_by_test_id("runs-table").evaluate("grid => { grid.scrollLeft = 0; }")
    page.locator('[data-column="sys/creation_time"]').drag_to(page.locator('[data-column="sys/owner"]'))
    page.wait_for_url(re.compile(r"cols=sys%2Fcreation_time%2Csys%2Fowner"))
    created = page.locator(f'[data-run="{run_id}"]').get_by_text(re.compile(r"^\d{4}-\d\d-\d\d "))
    owner_head = page.locator('[data-column="sys/owner"]')
    expect(created).to_be_visible()  # the moved columns' query reads its rows again
    assert created.bounding_box()["x"] < owner_head.bounding_box()["x"]

    # Widening a column widens its cells.
    name = page.get_by_text("resnet-1", exact=True)
    before = name.bounding_box()["width"]
    handle = page.locator('[data-column="sys/name"] .resizer').bounding_box()
    page.mouse.move(handle["x"] + 2, handle["y"] + 5)
    page.mouse.down()
    page.mouse.move(handle["x"] + 102, handle["y"] + 5, steps=5)
    page.mouse.up()
    expect(page.locator('[data-column="sys/name"]')).to_have_css("width", f"{before + 100:.0f}px")
    assert name.bounding_box()["width"] == pytest.approx(before + 100, abs=1)


def test_tags_trash_and_restore(page: Any, ui_server: UiServer) -> None:
    with client_env(ui_server.url, ui_server.root / "client"):
        run = quiet_run(name="to-trash")
        run_id = run["sys/id"].fetch()
        run.stop()
    page.goto(ui_server.url + TABLE + '?q=sys/name = "to-trash"')
    wait_rows(page, 1)
    page.get_by_label(f"select {run_id}").click()
    # The selected run's row is drawn in the selection's colour (.grid-row.selected), once the
    # pointer has left it (the row under the pointer is drawn lit).
    page.mouse.move(1, 1)
    cell = page.locator(f'[data-run="{run_id}"] .grid-cell').last
    expect(cell).to_be_attached()
    box = cell.bounding_box()
    corner = {"x": box["x"] + 2, "y": box["y"] + 2, "width": 1, "height": 1}
    expect(page.locator(f'[data-run-pinned="{run_id}"]')).not_to_have_class(re.compile(r"\bhovered\b"))
    assert table_pixels(page, corner)[0][0] == (237, 242, 255)
    page.get_by_label("bulk tag").fill("keep-me")
    page.get_by_role("button", name="Add tag").click()
    page.locator(f'[data-run="{run_id}"] .tag', has_text="keep-me").wait_for()
    page.get_by_test_id("trash").click()
    wait_rows(page, 0)
    page.get_by_label("Trash").click()
    wait_rows(page, 1)
    page.get_by_label(f"select {run_id}").click()
    page.get_by_test_id("restore").click()
    wait_rows(page, 0)
    page.get_by_label("Trash").click()
    wait_rows(page, 1)


def test_runs_in_the_trash_are_deleted_forever_after_a_confirmation(page: Any, ui_server: UiServer) -> None:
    with client_env(ui_server.url, ui_server.root / "client"):
        doomed = []
        for name in ("forget-me", "forget-me-too"):
            run = quiet_run(name=name)
            run["train/loss"].extend([1.0, 0.5])
            doomed.append(run["sys/id"].fetch())
            run.stop()
    page.goto(ui_server.url + TABLE + '?q=sys/name matches "forget-me"')
    wait_rows(page, 2)
    for run_id in doomed:
        page.get_by_label(f"select {run_id}").click()
    page.get_by_test_id("trash").click()
    wait_rows(page, 0)
    page.get_by_label("Trash").click()
    wait_rows(page, 2)

    page.get_by_label(f"select {doomed[0]}").click()
    page.get_by_test_id("delete-forever").click()  # asks first
    page.get_by_role("button", name="Keep them").click()
    expect(page.get_by_test_id("confirm-delete")).to_have_count(0)
    page.get_by_test_id("delete-forever").click()
    confirm = page.get_by_test_id("confirm-delete")
    expect(confirm).to_have_text("Delete 1 run forever")
    screenshot(page, "2-runs-delete-forever")
    confirm.click()
    wait_rows(page, 1)
    assert rows(page) == [doomed[1]]
    # Gone from the server too, and its page says so; the other run is still in the trash.
    assert httpx.get(f"{ui_server.url}/api/v1/projects/{PROJECT}/runs/{doomed[0]}").status_code == 404
    page.goto(f"{ui_server.url}{TABLE}/runs/{doomed[0]}")
    expect(page.get_by_text(f"has no run '{doomed[0]}'")).to_be_visible()


def test_saved_view_restores_query_columns_and_sort(page: Any, ui_server: UiServer) -> None:
    # The sweep runs by score, highest first: VIS-4 (0.59), VIS-5 (0.512), VIS-6 (0.5015); the
    # table's own order (newest first) starts at VIS-6.
    page.goto(ui_server.url + TABLE + '?q=sys/tags contains "sweep"&cols=score&sort=score')
    wait_rows(page, 3)
    wait_first_row(page, "VIS-4")
    page.get_by_test_id("views-button").click()
    page.get_by_label("view name").fill("sweep runs")
    page.get_by_role("button", name="Save view").click()
    page.get_by_test_id("views").get_by_role("button", name="sweep runs", exact=True).wait_for()
    page.goto(ui_server.url + TABLE)
    page.wait_for_selector("[data-run]")
    page.get_by_test_id("views-button").click()
    page.get_by_test_id("views").get_by_role("button", name="sweep runs", exact=True).click()
    wait_rows(page, 3)
    page.locator('[data-column="score"]').wait_for()
    expect(page).to_have_url(re.compile(r"sort=score"))
    wait_first_row(page, "VIS-4")


def test_select_runs_and_compare(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.url + TABLE + '?q=sys/name matches "resnet"')
    wait_rows(page, 6)
    for run_id in ("VIS-1", "VIS-2", "VIS-4"):
        page.get_by_label(f"select {run_id}").click()
    page.get_by_test_id("compare-button").click()
    page.wait_for_url(re.compile(r"/compare\?runs="))
    legend = page.get_by_test_id("legend")
    legend.get_by_text("lr=0.1", exact=False).wait_for()
    # The legend names what differs (lr, optimizer), not what all three share (batch_size).
    assert "optimizer=sgd" in legend.inner_text() and "batch_size" not in legend.inner_text()
    chart = page.get_by_test_id("compare-chart-train/loss")
    chart.locator("canvas").wait_for()
    expect(chart).not_to_have_attribute("data-points", "0")
    screenshot(page, "4-compare-charts")
    # On a time axis the same downsampled lines come with their points' times.
    drawn = chart.get_attribute("data-points")
    page.get_by_label("x axis").select_option("relative")
    expect(page).to_have_url(re.compile("x=relative"))
    expect(chart.locator(".chart-title")).not_to_contain_text("loading")
    expect(chart).to_have_attribute("data-points", drawn)
    assert painted_pixels(chart) > 0  # the first run's line is on the canvas
    page.get_by_label("x axis").select_option("step")

    page.get_by_role("button", name="table").click()
    page.get_by_test_id("only-diff").click()
    table = page.get_by_test_id("side-by-side")
    assert "parameters/lr" in table.inner_text()
    assert "parameters/batch_size" not in table.inner_text()
    screenshot(page, "4-compare-table")

    page.get_by_role("button", name="parallel").click()
    expect(page.get_by_test_id("parallel-coords").locator("polyline")).to_have_count(3)
    screenshot(page, "4-compare-parallel")

    page.get_by_role("button", name="scatter").click()
    page.get_by_test_id("scatter").locator("canvas").wait_for()
    assert painted_pixels(page.get_by_test_id("scatter")) > 0  # the runs' points are drawn
    screenshot(page, "4-compare-scatter")


def test_every_run_the_query_matches_is_compared_through_a_short_link(page: Any, ui_server: UiServer) -> None:
    # The header's checkbox selects the query, not a list of ids: a link naming thousands of runs
    # one by one would not fit in a request line, so it could not be reloaded or shared.
    page.goto(ui_server.url + TABLE + '?q=sys/name matches "resnet"')
    wait_rows(page, 6)
    # click, not check: the box is drawn from the link, which the router updates a moment later.
    select_all = page.get_by_label("select every run the query matches")
    select_all.click()
    expect(select_all).to_be_checked()
    expect(page).to_have_url(re.compile(r"sel=\*"))
    expect(page.get_by_text("6 selected")).to_be_visible()
    page.get_by_test_id("compare-button").click()
    page.wait_for_url(re.compile(r"/compare\?.*all=1"))
    assert "runs=" not in page.url and "resnet" in unquote_plus(page.url)
    heading = page.get_by_role("heading", name=re.compile("Comparing"))
    expect(heading).to_contain_text("Comparing 6 runs")
    page.reload()
    expect(heading).to_contain_text("Comparing 6 runs")
    page.get_by_test_id("legend").get_by_text("lr=0.1", exact=False).wait_for()
    # Back in the table, the same query with every run selected.
    page.get_by_role("link", name="back to the table").click()
    wait_rows(page, 6)
    expect(page.get_by_text("6 selected")).to_be_visible()
    expect(page.get_by_label("select VIS-5")).to_be_checked()
    # A run unticked turns the selection into the runs named.
    page.get_by_label("select VIS-5").click()
    expect(page.get_by_label("select VIS-5")).not_to_be_checked()
    expect(page.get_by_text("5 selected")).to_be_visible()
    page.get_by_test_id("compare-button").click()
    page.wait_for_url(re.compile(r"/compare\?runs="))
    expect(heading).to_contain_text("Comparing 5 runs")


def test_run_page_charts_zoom_and_files(page: Any, ui_server: UiServer) -> None:
    page.goto(f"{ui_server.url}{TABLE}/runs/VIS-1")
    chart = page.get_by_test_id("chart-train/loss")
    note = chart.get_by_test_id("downsampled")
    note.wait_for()
    assert "5,000 points" in note.inner_text()
    screenshot(page, "3-run-charts")

    # Zoom into a narrow range: the URL holds it and the chart reads it at full resolution.
    drag_across(page, chart, 0.40, 0.45)
    page.wait_for_url(re.compile(r"zoom="))
    chart.get_by_text("all points").wait_for()
    zoom = re.search(r"zoom=([^&]+)", page.url)
    assert zoom is not None
    low, high = (float(v) for v in zoom.group(1).replace("%2C", ",").split(","))
    assert 0 < low < high < 5000
    screenshot(page, "3-run-zoomed")

    page.get_by_role("button", name="fields").click()
    tree = page.get_by_test_id("field-tree")
    assert "optimizer" in tree.inner_text() and "sgd" in tree.inner_text()
    screenshot(page, "3-run-fields")

    page.get_by_role("button", name="files").click()
    page.get_by_role("button", name="reports/metrics").click()
    expect(page.get_by_test_id("csv-table").locator("tr")).to_have_count(3)
    page.get_by_role("button", name="reports/figure").click()
    frame = page.frame_locator("iframe.html-preview")
    frame.get_by_text("figure script ran").wait_for()
    screenshot(page, "3-run-files")

    page.get_by_role("button", name="media").click()
    gallery = page.get_by_test_id("image-series")
    gallery.locator("img").wait_for()
    slider = gallery.get_by_role("slider")
    slider.fill("0")
    gallery.get_by_text("step 0").wait_for()
    screenshot(page, "3-run-media")


def test_a_live_point_arrives(page: Any, ui_server: UiServer) -> None:
    with client_env(ui_server.url, ui_server.root / "client"):
        run = quiet_run(name="live", flush_period=0.2)
        try:
            run["train/loss"].extend([1.0 / (s + 1) for s in range(20)])
            run.wait()
            assert run.get_url() == f"{ui_server.url}{TABLE}/runs/{run['sys/id'].fetch()}"
            page.goto(run.get_url())  # the link a script prints, or a notebook shows
            chart = page.get_by_test_id("chart-train/loss")
            expect(chart).to_have_attribute("data-points", "20", timeout=10_000)
            page.wait_for_timeout(700)  # the stream is open
            run["train/loss"].append(math.pi)
            expect(chart).to_have_attribute("data-points", "21", timeout=10_000)
            screenshot(page, "3-run-live")
        finally:
            run.stop()


LOGIN_RUNS = 110  # the table's first page holds 100 (web/src/api/runsPage.ts, FIRST_PAGE)


def test_login_page_when_the_server_requires_it(page: Any, tmp_path: Path) -> None:
    require_browser()
    settings = ui_settings(tmp_path, auth_required=True)
    state = open_state(settings)
    state.access.create_user("sophia", "correct horse battery", admin=True)
    token, _ = state.access.create_token("sophia", "seed", None)
    thread = ServerThread(create_app(settings, state)).start()
    try:
        # More runs than the table's first page: the rest is read by a worker, which must send the
        # session's cookie as the page's own requests do.
        with client_env(thread.url, tmp_path / "client", token):
            for i in range(LOGIN_RUNS):
                quiet_run(project="team/x", name=f"r{i}").stop()
        page.goto(thread.url + "/p/team/x")
        page.wait_for_url(re.compile(r"/login\?next="))
        screenshot(page, "0-login")
        page.get_by_label("Username").fill("sophia")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").get_by_text("wrong username or password").wait_for()
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/p/team/x$"))
        page.get_by_text("sophia").wait_for()
        expect(page.get_by_test_id("row-count")).to_have_text(f"{LOGIN_RUNS} runs", timeout=20_000)
    finally:
        thread.stop()
        state.close()


def test_the_runs_table_offers_each_user_only_the_edits_their_role_allows(page: Any, tmp_path: Path) -> None:
    """Viewers see no edits, contributors edit and move to the trash, only owners delete for good."""
    require_browser()
    settings = ui_settings(tmp_path, auth_required=True)
    state = open_state(settings)
    for user, role in (("olga", "owner"), ("li", "contributor"), ("vera", "viewer")):
        state.access.create_user(user, "correct horse battery")
        state.access.grant_role("team/roles", user, role)
    token, _ = state.access.create_token("olga", "seed", None)
    thread = ServerThread(create_app(settings, state)).start()
    try:
        with client_env(thread.url, tmp_path / "client", token):
            run = quiet_run(project="team/roles", name="old")
            run_id = run["sys/id"].fetch()
            run.stop()
        httpx.post(
            f"{thread.url}/api/v1/projects/team/roles/runs/trash",
            json={"run_ids": [run_id]},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
        offers = {  # what each sees with the run selected in the trash
            "vera": {"bulk tag": 0, "restore": 0, "delete-forever": 0},
            "li": {"bulk tag": 1, "restore": 1, "delete-forever": 0},
            "olga": {"bulk tag": 1, "restore": 1, "delete-forever": 1},
        }
        for user, offer in offers.items():
            page.context.clear_cookies()
            page.goto(thread.url + "/p/team/roles?trash=1")
            page.wait_for_url(re.compile(r"/login\?next="))
            page.get_by_label("Username").fill(user)
            page.get_by_label("Password").fill("correct horse battery")
            page.get_by_role("button", name="Sign in").click()
            wait_rows(page, 1)
            page.get_by_label(f"select {run_id}").click()
            expect(page.get_by_text("1 selected")).to_be_visible()
            # Until the role is known everything shows (the server decides): these wait for it.
            expect(page.get_by_label("bulk tag")).to_have_count(offer["bulk tag"])
            for test_id in ("restore", "delete-forever"):
                expect(page.get_by_test_id(test_id)).to_have_count(offer[test_id])
            # On the run's page, a viewer reads its name, description and tags without editing them.
            page.goto(f"{thread.url}/p/team/roles/runs/{run_id}")
            editable = offer["bulk tag"] == 1
            expect(page.get_by_label("add tag")).to_have_count(1 if editable else 0)
            for field in ("run name", "run description"):
                editor = expect(page.get_by_label(field))
                editor.to_be_editable() if editable else editor.not_to_be_editable()
        # The owner (signed in last) deletes it.
        page.goto(thread.url + "/p/team/roles?trash=1")
        wait_rows(page, 1)
        page.get_by_label(f"select {run_id}").click()
        page.get_by_test_id("delete-forever").click()
        page.get_by_test_id("confirm-delete").click()
        wait_rows(page, 0)
    finally:
        thread.stop()
        state.close()


def test_tracked_files_on_the_run_page_and_their_difference(
    page: Any, ui_server: UiServer, tmp_path: Path
) -> None:
    """Issue 10: a run's tracked files listed on its page; two runs' files compared (data-diff)."""
    project = "team/data"
    first, second = tmp_path / "v1", tmp_path / "v2"
    for folder in (first, second):
        (folder / "images").mkdir(parents=True)
        (folder / "labels.csv").write_text("id,label\n1,cat\n")
    (first / "images" / "old.png").write_bytes(b"old image")
    (first / "labels.csv").write_text("id,label\n1,cat\n2,dog\n")
    (second / "images" / "new.png").write_bytes(b"new image")
    ids = []
    with client_env(ui_server.url, ui_server.root / "client"):
        for folder in (first, second):
            run = quiet_run(project=project, name=folder.name)
            run["datasets/train"].track_files(str(folder), wait=True)
            ids.append(run["sys/id"].fetch())
            run.stop()

    page.goto(f"{ui_server.url}/p/{project}/runs/{ids[0]}?tab=data")
    field = page.get_by_test_id("artifact-datasets/train")
    files = field.get_by_test_id("artifact-files")
    expect(files.locator("tbody tr")).to_have_count(2, timeout=10_000)
    text = files.inner_text()
    assert "images/old.png" in text and "labels.csv" in text and str(first) in text
    assert len(field.get_by_test_id("artifact-hash").inner_text()) == 64
    screenshot(page, "3-run-tracked-files")

    page.goto(f"{ui_server.url}/p/{project}/compare?runs={ids[0]},{ids[1]}&tab=data")
    diff = page.get_by_test_id("data-diff")
    diff.get_by_text("different data").wait_for(timeout=10_000)
    assert "images/new.png" in diff.get_by_test_id("diff-added").inner_text()
    assert "images/old.png" in diff.get_by_test_id("diff-removed").inner_text()
    assert "labels.csv" in diff.get_by_test_id("diff-changed").inner_text()
    screenshot(page, "4-compare-data")


def test_a_compare_link_draws_its_charts_from_one_request(page: Any, ui_server: UiServer) -> None:
    """Opened from a link, the compare page's charts are requested by the entry script while the
    app loads, and the page takes that answer instead of asking again."""
    events: list[tuple[str, str]] = []  # in the order the browser reports them
    page.on("request", lambda r: events.append(("sent", r.url)))
    page.on("requestfinished", lambda r: events.append(("done", r.url)))
    runs = ",".join(ui_server.run_ids[:3])
    page.goto(f"{ui_server.url}/p/{PROJECT}/compare?runs={runs}&series=train/loss,train/accuracy")
    for path in ("train/loss", "train/accuracy"):
        chart = page.get_by_test_id(f"compare-chart-{path}")
        expect(chart.locator(".chart-title")).not_to_contain_text("loading")
        expect(chart).not_to_have_attribute("data-points", "0")
    assert painted_pixels(page.get_by_test_id("compare-chart-train/loss")) > 0
    charts = [n for n, (kind, url) in enumerate(events) if kind == "sent" and "/series/buckets" in url]
    page_code = next(
        n for n, (kind, url) in enumerate(events) if kind == "done" and "/assets/Compare-" in url
    )
    # Asked for before the page's own code had even arrived, and not asked for again.
    assert len(charts) == 1 and charts[0] < page_code, events
