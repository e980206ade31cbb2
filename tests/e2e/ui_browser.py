"""What the browser tests share: Debian's chromium and its flags, the server settings, screenshots."""

from __future__ import annotations

import colorsys
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from despina.server.settings import ServerSettings
from despina.server.state import ServerState
from despina.server.static import STATIC_DIR

# The real-server harness of the integration tests (ServerThread), shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from server_harness import ServerThread

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "ServerThread",
    "UiServer",
    "ink",
    "inked_width",
    "line_columns",
    "painted_pixels",
    "require_browser",
    "screenshot",
    "series_rgb",
    "table_pixels",
    "ui_settings",
]

CHROMIUM = "/usr/bin/chromium"
# What works on these machines: no sandbox as root, no GPU, and no background connections (the
# network is closed, and chromium would keep retrying them).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@dataclass
class UiServer:
    url: str
    state: ServerState
    root: Path
    run_ids: list[str]


def ui_settings(root: Path, auth_required: bool = False) -> ServerSettings:
    return ServerSettings(
        db_url=f"sqlite:///{root / 'server.db'}",
        blobs_url=str(root / "blobs"),
        auth_required=auth_required,
        secure_cookies=False,
        upgrade_database=True,
    )


def require_browser() -> Any:
    """Playwright's sync API, or a skip that says what is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not (STATIC_DIR / "index.html").is_file():
        pytest.fail(f"the web UI is not built ({STATIC_DIR}): pip install -e . builds it (hatch_build.py)")
    return sync_playwright


def series_rgb(index: int) -> tuple[int, int, int]:
    """colorFor(index) of web/src/components/Chart.tsx, hsl(index x 137.508 deg, 65%, 45%), in RGB."""
    red, green, blue = colorsys.hls_to_rgb((index * 137.508) % 360 / 360, 0.45, 0.65)
    return round(red * 255), round(green * 255), round(blue * 255)


FIRST_SERIES_RGB = series_rgb(0)  # (189, 40, 40): the first series of a chart


def painted_pixels(chart: Any, rgb: tuple[int, int, int] = FIRST_SERIES_RGB, tolerance: int = 12) -> int:
    """Pixels of a chart's canvas painted in `rgb`: what a user sees drawn, not what was handed to
    the chart library."""
    count: int = chart.locator("canvas").first.evaluate(
        """(canvas, [r, g, b, tol]) => {
          const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let n = 0;
          const near = (i, v) => Math.abs(d[i] - v) <= tol;
          for (let i = 0; i < d.length; i += 4) if (near(i, r) && near(i + 1, g) && near(i + 2, b)) n++;
          return n;
        }""",
        [*rgb, tolerance],
    )
    return count


def line_columns(chart: Any, rgb: tuple[int, int, int], tolerance: int = 12) -> dict[int, tuple[int, int]]:
    """Where a chart's line of colour `rgb` is drawn: for each canvas column it crosses, the top and
    bottom pixel rows painted in that colour (rows count down from the canvas's top)."""
    columns: list[list[int]] = chart.locator("canvas").first.evaluate(
        """(canvas, [r, g, b, tol]) => {
          const w = canvas.width, d = canvas.getContext('2d').getImageData(0, 0, w, canvas.height).data;
          const top = new Map(), bottom = new Map();
          for (let i = 0; i < d.length; i += 4) {
            const far = (k, v) => Math.abs(d[i + k] - v) > tol;
            if (far(0, r) || far(1, g) || far(2, b)) continue;
            const x = (i / 4) % w, y = Math.floor(i / 4 / w);
            if (!top.has(x)) top.set(x, y);
            bottom.set(x, y);
          }
          return [...top.keys()].map((x) => [x, top.get(x), bottom.get(x)]);
        }""",
        [*rgb, tolerance],
    )
    return {x: (top, bottom) for x, top, bottom in columns}


Pixel = tuple[int, int, int]


def table_pixels(page: Any, box: dict[str, float]) -> list[list[Pixel]]:
    """The colours the runs table's canvas drew over `box` (page coordinates), row by row of
    pixels: what a user sees in its scrolling cells, which the page draws rather than lays out."""
    pixels: list[list[list[int]]] = page.locator(".grid-canvas").evaluate(
        """(canvas, box) => {
          const at = canvas.getBoundingClientRect(), k = canvas.width / at.width;
          const x = Math.round((box.x - at.left) * k), y = Math.round((box.y - at.top) * k);
          const w = Math.max(1, Math.round(box.width * k)), h = Math.max(1, Math.round(box.height * k));
          const d = canvas.getContext('2d').getImageData(x, y, w, h).data;
          const rows = [];
          for (let j = 0; j < h; j++) {
            const row = [];
            for (let i = 4 * j * w; i < 4 * (j + 1) * w; i += 4) row.push([d[i], d[i + 1], d[i + 2]]);
            rows.push(row);
          }
          return rows;
        }""",
        box,
    )
    return [[(r, g, b) for r, g, b in row] for row in pixels]


def is_ink(pixel: Pixel) -> bool:
    """Whether a pixel is text: darker than any background or line the table draws."""
    return sum(pixel) < 3 * 150


def ink(pixels: list[list[Pixel]]) -> int:
    """How many of `pixels` are text."""
    return sum(1 for row in pixels for pixel in row if is_ink(pixel))


def inked_width(pixels: list[list[Pixel]]) -> int:
    """Pixels from the first column of `pixels` that holds text to the last: the drawn text's width."""
    inked = [x for x in range(len(pixels[0]) if pixels else 0) if any(is_ink(row[x]) for row in pixels)]
    return inked[-1] - inked[0] + 1 if inked else 0


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
