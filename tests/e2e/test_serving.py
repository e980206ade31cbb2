"""How the server serves the UI (no browser): client-side paths, the API untouched, compression, CSP."""

from __future__ import annotations

import gzip
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from ui_browser import ui_settings

from despina.server.app import create_app
from despina.server.static import CONTENT_SECURITY_POLICY, mount_web_ui

INDEX = '<!doctype html><script type="module" src="/assets/app-1234.js"></script>'
SCRIPT = "console.log('despina');\n" * 200


def bundle(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-1234.js").write_text(SCRIPT)
    return root


def ui_app(root: Path) -> TestClient:
    app = FastAPI()

    @app.get("/api/v1/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    mount_web_ui(app, root)
    return TestClient(app)


def test_client_side_paths_get_the_page_and_the_api_keeps_its_answers(tmp_path: Path) -> None:
    client = ui_app(bundle(tmp_path / "static"))
    for path in ("/", "/p/team/cassava", "/p/team/cassava/runs/CAS-1?tab=files", "/login"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.text == INDEX
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["cache-control"] == "no-cache"
    assert client.get("/api/v1/ping").json() == {"pong": "yes"}
    unknown = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/json"
    assert client.get("/assets/missing.js").status_code == 404


def test_assets_are_compressed_and_cached_for_good(tmp_path: Path) -> None:
    client = ui_app(bundle(tmp_path / "static"))
    response = client.get("/assets/app-1234.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"].startswith("text/javascript")
    assert "immutable" in response.headers["cache-control"]
    assert response.text == SCRIPT  # httpx undoes the gzip
    assert int(response.headers["content-length"]) < len(gzip.compress(SCRIPT.encode())) + 64
    plain = client.get("/assets/app-1234.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == SCRIPT


def test_the_policy_allows_no_inline_script_and_frames_only_our_preview() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["frame-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_a_package_without_its_bundle_says_so(tmp_path: Path) -> None:
    client = ui_app(tmp_path / "empty")
    response = client.get("/p/team/cassava")
    assert response.status_code == 503
    assert "web UI is not built" in response.text and "npm" in response.text


def test_the_html_preview_is_sandboxed_and_checked_against_the_project(tmp_path: Path) -> None:
    client = TestClient(create_app(ui_settings(tmp_path)))
    with client:
        unknown = client.get(f"/preview/team/x/{'a' * 64}")
        assert unknown.status_code == 404
        assert client.get("/preview/team/x/not-a-hash").status_code == 422
