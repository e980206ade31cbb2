"""Browser tests of the web UI: a real server on a free port, runs logged through the client, and
Debian's chromium driven by Playwright (no browser is downloaded). Skipped, with the reason, when
chromium or Playwright is absent; screenshots of every page go to test-artifacts/e2e/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_browser import CHROMIUM, CHROMIUM_FLAGS, ServerThread, UiServer, require_browser, ui_settings
from ui_seed import client_env, seed_project

from despina.server.app import create_app, open_state


@pytest.fixture(scope="session")
def playwright_browser() -> Iterator[Any]:
    sync_playwright = require_browser()
    # Playwright gives each launch a new empty profile of its own (it refuses --user-data-dir).
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """`despina ui`'s setup (no login) over a fresh home, seeded through the HTTP client."""
    require_browser()
    root = tmp_path_factory.mktemp("ui")
    settings = ui_settings(root)
    state = open_state(settings)
    thread = ServerThread(create_app(settings, state)).start()
    try:
        with client_env(thread.url, root / "client"):
            run_ids = seed_project(root / "files")
        yield UiServer(thread.url, state, root, run_ids)
    finally:
        thread.stop()
        state.close()


@pytest.fixture
def page(playwright_browser: Any) -> Iterator[Any]:
    """A fresh page; the test fails on any script error or CSP violation it logs."""
    context = playwright_browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"
