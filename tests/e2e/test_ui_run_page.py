"""The run page's captured context in Chromium: the output with its search, the source files and the
git state with its diff, the hardware charts, and the run's name and description edited in place.

The run is written the way a user's is: a training script started as its own process, inside a git
repository with an uncommitted change, with every capture of the client left on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ui_browser import UiServer, painted_pixels, screenshot, series_rgb
from ui_seed import client_env

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.slow
PROJECT = "team/capture"

TRAINING_SCRIPT = """\
import sys
import time

import despina

run = despina.init_run(project="team/capture", name="captured", monitoring_interval=0.2)
run["parameters/lr"] = 0.01
for epoch in range(1, 13):
    print(f"epoch {epoch} loss {1 / epoch:.3f}", flush=True)
print("warning: the learning rate looks high", file=sys.stderr, flush=True)
time.sleep(1.5)  # a few hardware readings
with open(sys.argv[1], "w") as out:
    out.write(run["sys/id"].fetch())
run.stop()
"""
# The change left uncommitted: the git diff the run page must show.
UNCOMMITTED = "# try a smaller learning rate next\n"


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=Sophia", "-c", "user.email=sophia@example.com"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def captured_run(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The id of a run logged by `train.py`, committed and then changed, run in its repository."""
    repo = tmp_path_factory.mktemp("repo")
    script = repo / "train.py"
    script.write_text(TRAINING_SCRIPT)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first training script")
    script.write_text(TRAINING_SCRIPT + UNCOMMITTED)
    run_id = tmp_path_factory.mktemp("out") / "run_id"
    with client_env(ui_server.url, ui_server.root / "capture-client"):
        done = subprocess.run(
            [sys.executable, "train.py", str(run_id)],
            cwd=repo,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    return run_id.read_text()


def test_output_is_shown_per_stream_and_searched(page: Any, ui_server: UiServer, captured_run: str) -> None:
    page.goto(f"{ui_server.url}/p/{PROJECT}/runs/{captured_run}?tab=logs")
    stream = page.get_by_label("output stream")
    lines = page.get_by_test_id("log-lines")
    expect(lines).to_contain_text("epoch 12 loss 0.083", timeout=10_000)
    expect(lines.locator(":scope > div")).to_have_count(12)
    assert "warning" not in lines.inner_text()
    screenshot(page, "3-run-logs")

    page.get_by_label("search output").fill("LOSS 0.5")
    expect(lines.locator(":scope > div")).to_have_count(1)
    expect(lines).to_contain_text("epoch 2 loss 0.500")
    expect(page.get_by_text("1 of 12 lines")).to_be_visible()
    expect(lines.locator("mark")).to_have_text("loss 0.5")  # the match, in the line's own case
    page.get_by_label("search output").fill("")
    expect(lines.locator(":scope > div")).to_have_count(12)

    stderr = next(o for o in stream.locator("option").all_inner_texts() if o.endswith("/stderr"))
    stream.select_option(stderr)
    expect(lines).to_have_text("1warning: the learning rate looks high")


def test_source_files_and_the_git_diff(page: Any, ui_server: UiServer, captured_run: str) -> None:
    page.goto(f"{ui_server.url}/p/{PROJECT}/runs/{captured_run}?tab=source")
    git_table = page.locator("table.git")
    expect(git_table).to_contain_text("first training script", timeout=10_000)
    expect(git_table.locator("tr", has_text="dirty")).to_contain_text("true")
    expect(git_table.locator("tr", has_text="branch")).to_contain_text("main")

    # The entry script as it ran (with the uncommitted line), highlighted as Python.
    page.get_by_role("button", name="train.py").click()
    code = page.get_by_test_id("file-preview").locator("pre.code")
    expect(code).to_contain_text("try a smaller learning rate next")
    expect(code.locator(".hljs-keyword", has_text="import").first).to_be_visible()
    screenshot(page, "3-run-source")
    with page.expect_download() as download:
        page.get_by_test_id("file-preview").get_by_role("link", name="download").click()
    assert Path(download.value.path()).read_text() == TRAINING_SCRIPT + UNCOMMITTED

    # The diff against the commit: the added line marked as an addition.
    page.get_by_role("button", name="source_code/git/diff").click()
    diff = page.get_by_test_id("file-preview").locator("pre.code")
    expect(diff.locator(".hljs-addition")).to_contain_text("+# try a smaller learning rate next")
    screenshot(page, "3-run-git-diff")


def test_hardware_charts(page: Any, ui_server: UiServer, captured_run: str) -> None:
    page.goto(f"{ui_server.url}/p/{PROJECT}/runs/{captured_run}?tab=monitoring")
    charts = page.locator("figure.chart")
    expect(charts.filter(has_text="/cpu")).to_have_count(1, timeout=10_000)
    screenshot(page, "3-run-monitoring")
    titles = charts.locator(".chart-title").all_inner_texts()
    for metric in ("cpu", "memory"):
        index = next(i for i, title in enumerate(titles) if title.endswith(f"/{metric}"))
        chart = charts.nth(index)
        assert int(chart.get_attribute("data-points") or 0) >= 3, metric
        # The readings' line is drawn, in the chart's colour (one per chart, as in the Charts tab).
        assert painted_pixels(chart, series_rgb(index)) > 0, metric


def test_name_and_description_are_edited_on_the_run_page(
    page: Any, ui_server: UiServer, captured_run: str
) -> None:
    url = f"{ui_server.url}/p/{PROJECT}/runs/{captured_run}"
    page.goto(url)
    name = page.get_by_label("run name")
    expect(name).to_have_value("captured", timeout=10_000)
    saved = lambda r: r.request.method == "PATCH" and r.ok  # noqa: E731
    with page.expect_response(saved):
        name.fill("captured, lr 0.01")
        name.press("Enter")  # commits (blur does too)
    description = page.get_by_label("run description")
    with page.expect_response(saved):
        description.fill("the baseline the sweep starts from")
        description.blur()
    # Kept by the server, not only by the page: a reload reads them back.
    page.reload()
    expect(page.get_by_label("run name")).to_have_value("captured, lr 0.01", timeout=10_000)
    expect(page.get_by_label("run description")).to_have_value("the baseline the sweep starts from")
    screenshot(page, "3-run-edited")


def chip(tag: str) -> re.Pattern[str]:
    """A tag chip's text: the tag, then its remove button's cross (U+00D7)."""
    return re.compile(f"^{re.escape(tag)}\\u00d7$")


def test_tags_are_added_and_removed_on_the_run_page(
    page: Any, ui_server: UiServer, captured_run: str
) -> None:
    page.goto(f"{ui_server.url}/p/{PROJECT}/runs/{captured_run}")
    head = page.locator(".run-head")
    add = page.get_by_label("add tag")
    for tag in ("best", "submitted"):
        with page.expect_response(lambda r: r.request.method == "POST" and "/tags" in r.url and r.ok):
            add.fill(tag)
            add.press("Enter")
    chips = head.locator(".tag")
    expect(chips).to_have_text([chip("best"), chip("submitted")])
    page.reload()
    expect(chips).to_have_text([chip("best"), chip("submitted")], timeout=10_000)
    page.get_by_label("remove tag best").click()
    expect(chips).to_have_text([chip("submitted")])
    page.reload()
    expect(chips).to_have_text([chip("submitted")], timeout=10_000)
    # The runs table reads the same tags.
    page.goto(f'{ui_server.url}/p/{PROJECT}?q=sys/tags contains "submitted"')
    expect(page.locator("[data-run]")).to_have_count(1, timeout=10_000)


def test_json_and_image_files_are_previewed_as_what_they_are(page: Any, ui_server: UiServer) -> None:
    page.goto(f"{ui_server.url}/p/team/vision/runs/VIS-1?tab=files")
    preview = page.get_by_test_id("file-preview")
    page.get_by_role("button", name="reports/config").click()
    # Pretty-printed: one key a line, indented (the file holds it on one line).
    code = preview.locator("pre.code")
    expect(code).to_contain_text('"layers": 50')
    assert '\n  "model": "resnet",\n' in code.inner_text()
    expect(code.locator(".hljs-attr").first).to_be_visible()

    page.get_by_role("button", name="samples/first").click()
    image = preview.locator("img.preview-image")
    expect(image).to_be_visible()
    size = image.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
    assert size == [16, 16]  # the PNG itself, decoded by the browser
    expect(preview).to_contain_text("image/png")
    screenshot(page, "3-run-image-file")
