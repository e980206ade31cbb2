"""The access routes and dependencies over HTTP, in a small app built here around a real SQLite store.

Besides the access router, the app has two project routes shaped like the lead's (`runs`: viewer,
`POST runs`: contributor) that answer 404 `{"detail": "project '...' not found"}` for a project the
store does not have, so an outsider's answer can be compared with a missing project's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from despina.server.auth.dependencies import CSRF_HEADER, SESSION_COOKIE, ContributorAccess, ViewerAccess
from despina.server.auth.service import AccessService
from despina.server.routers import access as access_routes
from despina.server.settings import ServerSettings
from despina.store.blobs.local import LocalBlobStore
from despina.store.sql.store import SqlStore

PASSWORD = "correct horse battery"


@dataclass
class Server:
    app: FastAPI
    access: AccessService
    projects: set[str] = field(default_factory=lambda: {"team/cassava"})

    def client(self) -> TestClient:
        # https, so that the client sends back cookies marked Secure
        return TestClient(self.app, base_url="https://testserver")

    def login(self, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
        client = self.client()
        response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return client, response.json()["csrf_token"]

    def bearer(self, username: str) -> dict[str, str]:
        token, _ = self.access.create_token(username, "test")
        return {"Authorization": f"Bearer {token}"}


def build_app(tmp_path: Path, **settings: bool) -> Iterator[Server]:
    store = SqlStore(f"sqlite:///{tmp_path / 'despina.db'}", LocalBlobStore(tmp_path / "blobs"))
    app = FastAPI()
    app.state.settings = ServerSettings(db_url=store.url, blobs_url=str(tmp_path / "blobs"), **settings)
    app.state.access = AccessService(store.engine, read_engine=store.read_engine)
    app.include_router(access_routes.router, prefix="/api/v1")
    server = Server(app, app.state.access)

    def check_exists(name: str) -> None:  # what the lead's routes do for a project the store lacks
        if name not in server.projects:
            raise HTTPException(404, detail=f"project {name!r} not found")

    @app.get("/api/v1/projects/{workspace}/{project}/runs")
    def list_runs(project_access: ViewerAccess) -> dict[str, str]:
        check_exists(project_access.project)
        return {"project": project_access.project, "role": project_access.role.label}

    @app.post("/api/v1/projects/{workspace}/{project}/runs")
    def create_run(project_access: ContributorAccess) -> dict[str, str]:
        check_exists(project_access.project)
        return {"created_by": project_access.principal.username}

    yield server
    store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from build_app(tmp_path)


@pytest.fixture
def people(server: Server) -> Server:
    """root: server admin; ann: owner of team/cassava; vic: its viewer; out: no role."""
    server.access.create_user("root", PASSWORD, admin=True)
    for name in ["ann", "vic", "out"]:
        server.access.create_user(name, PASSWORD)
    server.access.grant_role("team/cassava", "ann", "owner")
    server.access.grant_role("team/cassava", "vic", "viewer")
    return server


RUNS = "/api/v1/projects/team/cassava/runs"
MEMBERS = "/api/v1/projects/team/cassava/members"


# -- sign-in and sessions ------------------------------------------------------------------------------


def test_login_sets_a_locked_down_session_cookie(people: Server) -> None:
    client = people.client()
    response = client.post("/api/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "ann" and body["via"] == "session" and len(body["csrf_token"]) >= 32
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert {"httponly", "secure", "max-age", "path"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert f"Max-Age={14 * 24 * 3600}" in cookie
    me = client.get("/api/v1/auth/me").json()
    assert me == {"username": "ann", "is_admin": False, "via": "session", "csrf_token": body["csrf_token"]}


def test_wrong_password_and_bad_bodies(people: Server) -> None:
    client = people.client()
    for username, password in [("ann", "wrong password"), ("nobody", PASSWORD)]:
        response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert (response.status_code, response.json()) == (401, {"detail": "wrong username or password"})
        assert "set-cookie" not in response.headers
    response = client.post("/api/v1/auth/login", json={"username": "ann"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "password"]
    response = client.post("/api/v1/auth/login", json={"username": "a" * 65, "password": PASSWORD})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "username"]
    # A cross-site HTML form cannot send JSON: a form-encoded login is refused.
    response = client.post("/api/v1/auth/login", data={"username": "ann", "password": PASSWORD})
    assert response.status_code == 422


def test_insecure_cookies_when_configured(tmp_path: Path) -> None:
    for server in build_app(tmp_path, secure_cookies=False):
        server.access.create_user("ann", PASSWORD)
        response = server.client().post("/api/v1/auth/login", json={"username": "ann", "password": PASSWORD})
        assert "secure" not in response.headers["set-cookie"].lower()
        assert "httponly" in response.headers["set-cookie"].lower()


def test_csrf_is_required_for_unsafe_methods_with_a_session(people: Server) -> None:
    client, csrf = people.login("ann")
    assert client.get(RUNS).status_code == 200  # safe methods need no CSRF token
    for headers in [{}, {CSRF_HEADER: "wrong"}]:
        response = client.post(RUNS, headers=headers)
        assert (response.status_code, response.json()) == (403, {"detail": "CSRF token missing or wrong"})
    response = client.post(RUNS, headers={CSRF_HEADER: csrf})
    assert (response.status_code, response.json()) == (200, {"created_by": "ann"})


def test_a_bearer_token_needs_no_csrf_token(people: Server) -> None:
    client = people.client()
    response = client.post(RUNS, headers=people.bearer("ann"))
    assert (response.status_code, response.json()) == (200, {"created_by": "ann"})
    assert client.get("/api/v1/auth/me", headers=people.bearer("vic")).json() == {
        "username": "vic",
        "is_admin": False,
        "via": "token",
        "csrf_token": None,
    }


def test_logout_ends_the_session(people: Server) -> None:
    client, csrf = people.login("ann")
    cookie = client.cookies[SESSION_COOKIE]
    response = client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf})
    assert response.status_code == 204
    assert (
        f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
        and "Max-Age=0" in response.headers["set-cookie"]
    )
    again = people.client()
    again.cookies.set(SESSION_COOKIE, cookie)
    response = again.get(RUNS)
    assert response.status_code == 401 and "signed out" in response.json()["detail"]


def test_missing_bad_expired_and_revoked_credentials_are_401(people: Server) -> None:
    client = people.client()
    response = client.get(RUNS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "DESPINA_API_TOKEN" in response.json()["detail"]

    response = client.get(RUNS, headers={"Authorization": "Basic YW5uOnB3"})
    assert response.status_code == 401 and "Bearer <API token>" in response.json()["detail"]

    response = client.get(RUNS, headers={"Authorization": "Bearer dsp_not-a-real-token"})
    assert response.status_code == 401 and "not recognised" in response.json()["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    token, info = people.access.create_token("ann", "old")
    people.access.revoke_token("ann", info.id)
    response = client.get(RUNS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "API token 'old'" in response.json()["detail"]
    assert "revoked" in response.json()["detail"]


def test_expired_token_is_401_saying_so(people: Server) -> None:
    token, _ = people.access.create_token("ann", "brief", timedelta(microseconds=1))
    response = people.client().get(RUNS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_without_auth_every_request_is_the_local_admin(tmp_path: Path) -> None:
    for server in build_app(tmp_path, auth_required=False):
        client = server.client()
        assert client.get("/api/v1/auth/me").json()["username"] == "local"
        assert client.post(RUNS).json() == {"created_by": "local"}
        assert client.get("/api/v1/tokens").status_code == 400  # no user to own tokens


# -- project access ------------------------------------------------------------------------------------


def test_forbidden_and_unknown_projects_look_alike(people: Server) -> None:
    outsider = people.client().get(RUNS, headers=people.bearer("out"))
    people.projects.discard("team/cassava")  # now it does not exist, even for an admin
    missing = people.client().get(RUNS, headers=people.bearer("root"))
    assert outsider.status_code == missing.status_code == 404
    assert outsider.content == missing.content == b'{"detail":"project \'team/cassava\' not found"}'
    assert outsider.headers["content-type"] == missing.headers["content-type"]
    # the same for a POST, and for the members routes
    assert people.client().post(RUNS, headers=people.bearer("out")).content == missing.content
    assert people.client().get(MEMBERS, headers=people.bearer("out")).content == missing.content


def test_insufficient_role_is_403_naming_the_role(people: Server) -> None:
    client = people.client()
    assert client.get(RUNS, headers=people.bearer("vic")).json() == {
        "project": "team/cassava",
        "role": "viewer",
    }
    response = client.post(RUNS, headers=people.bearer("vic"))
    assert response.status_code == 403
    assert (
        response.json()["detail"]
        == "this needs the contributor role on project 'team/cassava'; you are a viewer"
    )


def test_workspace_admins_and_server_admins_own_projects(people: Server) -> None:
    people.access.create_user("lead", None)
    people.access.add_workspace_admin("team", "lead")
    client = people.client()
    assert client.get(RUNS, headers=people.bearer("lead")).json()["role"] == "owner"
    assert client.get(RUNS, headers=people.bearer("root")).json()["role"] == "owner"


def test_members_are_managed_by_owners_only(people: Server) -> None:
    client = people.client()
    ann, vic = people.bearer("ann"), people.bearer("vic")
    listed = client.get(MEMBERS, headers=vic)
    assert listed.status_code == 200
    assert listed.json() == [
        {"username": "ann", "role": "owner", "source": "project"},
        {"username": "vic", "role": "viewer", "source": "project"},
    ]
    response = client.put(f"{MEMBERS}/out", json={"role": "contributor"}, headers=vic)
    assert response.status_code == 403 and "owner role" in response.json()["detail"]
    assert client.delete(f"{MEMBERS}/ann", headers=vic).status_code == 403

    response = client.put(f"{MEMBERS}/out", json={"role": "contributor"}, headers=ann)
    assert response.json() == {"username": "out", "role": "contributor", "source": "project"}
    assert client.post(RUNS, headers=people.bearer("out")).status_code == 200

    response = client.put(f"{MEMBERS}/out", json={"role": "boss"}, headers=ann)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "role"]
    response = client.put(f"{MEMBERS}/nobody", json={"role": "viewer"}, headers=ann)
    assert (response.status_code, response.json()) == (404, {"detail": "no user named 'nobody'"})

    assert client.delete(f"{MEMBERS}/out", headers=ann).status_code == 204
    assert client.get(RUNS, headers=people.bearer("out")).status_code == 404
    response = client.delete(f"{MEMBERS}/out", headers=ann)
    assert response.status_code == 404 and "'out' has no role" in response.json()["detail"]


# -- tokens and users ----------------------------------------------------------------------------------


def test_tokens_are_created_in_a_session_shown_once_and_revocable(people: Server) -> None:
    client, csrf = people.login("vic")
    response = client.post(
        "/api/v1/tokens", json={"name": "laptop", "expires_in_days": 30}, headers={CSRF_HEADER: csrf}
    )
    assert response.status_code == 201
    created = response.json()
    token = created["token"]
    assert token.startswith(created["prefix"]) and created["status"] == "active"
    assert created["expires_at"] == pytest.approx(created["created_at"] + 30 * 86400)

    bearer = {"Authorization": f"Bearer {token}"}
    assert people.client().get(RUNS, headers=bearer).status_code == 200
    listed = client.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["laptop"] and token not in str(listed)
    assert "token" not in listed[0]

    # A token cannot mint tokens (a leaked one would outlive its revocation).
    response = people.client().post("/api/v1/tokens", json={"name": "more"}, headers=bearer)
    assert response.status_code == 403 and "cannot create tokens" in response.json()["detail"]

    # Nobody else can revoke it; its owner can, and it stops working at once.
    other = people.client().delete(f"/api/v1/tokens/{created['id']}", headers=people.bearer("ann"))
    assert other.status_code == 404
    response = client.delete(f"/api/v1/tokens/{created['id']}", headers={CSRF_HEADER: csrf})
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert people.client().get(RUNS, headers=bearer).status_code == 401

    bad = client.post("/api/v1/tokens", json={"name": "", "expires_in_days": 0}, headers={CSRF_HEADER: csrf})
    assert bad.status_code == 422
    assert {tuple(error["loc"]) for error in bad.json()["detail"]} == {
        ("body", "name"),
        ("body", "expires_in_days"),
    }


def test_users_are_managed_by_server_admins_only(people: Server) -> None:
    client = people.client()
    root, ann = people.bearer("root"), people.bearer("ann")
    assert client.get("/api/v1/users", headers=ann).status_code == 403
    response = client.post("/api/v1/users", json={"username": "new", "password": PASSWORD}, headers=ann)
    assert response.status_code == 403

    assert [u["username"] for u in client.get("/api/v1/users", headers=root).json()] == [
        "ann",
        "out",
        "root",
        "vic",
    ]
    response = client.post("/api/v1/users", json={"username": "new", "password": PASSWORD}, headers=root)
    assert response.status_code == 201
    assert response.json()["username"] == "new" and response.json()["has_password"] is True
    assert people.access.verify_login("new", PASSWORD) is not None
    response = client.post("/api/v1/users", json={"username": "new"}, headers=root)
    assert (response.status_code, response.json()) == (409, {"detail": "a user named 'new' already exists"})
    response = client.post("/api/v1/users", json={"username": "a b", "password": "short"}, headers=root)
    assert response.status_code == 422
    assert {tuple(error["loc"]) for error in response.json()["detail"]} == {
        ("body", "username"),
        ("body", "password"),
    }
    response = client.post("/api/v1/users", json={"username": "x", "is_admin": True}, headers=root)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "is_admin"]


def test_every_route_has_a_unique_name() -> None:
    routes = [route for route in access_routes.router.routes if isinstance(route, APIRoute)]
    names = [route.name for route in routes]
    assert len(names) == len(set(names)) == 11
