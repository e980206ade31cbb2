"""Authorization as a matrix: every endpoint x every kind of caller, with the status each must get.

The cases come from the app's route table: an endpoint without a rule in RULES fails the test, so a
new endpoint cannot ship without saying who may call it. Outsiders get for a project they cannot see
exactly what they get for a project that does not exist.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from despina.client import field_types as ft
from despina.client.codec import encode_batch
from despina.client.operations import AssignAtom
from despina.server.app import create_app, open_state
from despina.server.auth.principal import Role
from despina.server.routers.blobs import upload_id_for
from despina.server.settings import ServerSettings
from despina.server.state import ServerState
from despina.store.base import RunCreate

PROJECT = "team/cassava"
WORKSPACE, NAME = PROJECT.split("/")
CALLERS = ("anonymous", "viewer", "contributor", "owner", "other_owner", "admin", "revoked", "expired")
NOT_FOUND = {"detail": f"project {PROJECT!r} not found"}

# Who may call each endpoint: "public", "authenticated", "session" (a signed-in browser, never a
# token), "admin", or the least project role.
RULES: dict[str, str | Role] = {
    "health": "public",
    "ready": "public",
    "login": "public",
    "logout": "authenticated",
    "whoami": "authenticated",
    "list_tokens": "authenticated",
    "create_token": "session",
    "revoke_token": "authenticated",
    "list_users": "admin",
    "create_user": "admin",
    "list_projects": "authenticated",
    "create_run": Role.CONTRIBUTOR,
    "get_run": Role.VIEWER,
    "get_fields": Role.VIEWER,
    "get_writer": Role.VIEWER,
    "get_series": Role.VIEWER,
    "runs_table": Role.VIEWER,
    "query_runs": Role.VIEWER,
    "fetch_series": Role.VIEWER,
    "get_series_buckets": Role.VIEWER,
    "sweep_plots": Role.VIEWER,
    "ingest": Role.CONTRIBUTOR,
    "start_upload": Role.CONTRIBUTOR,
    "upload_status": Role.CONTRIBUTOR,
    "upload_part": Role.CONTRIBUTOR,
    "complete_upload": Role.CONTRIBUTOR,
    "download_blob": Role.VIEWER,
    "diff_data": Role.VIEWER,
    "update_run": Role.CONTRIBUTOR,
    "edit_tags": Role.CONTRIBUTOR,
    "trash_runs": Role.CONTRIBUTOR,
    "restore_runs": Role.CONTRIBUTOR,
    "restore_run_times": Role.CONTRIBUTOR,
    "delete_runs": Role.OWNER,
    "list_views": Role.VIEWER,
    "save_view": Role.CONTRIBUTOR,
    "delete_view": Role.CONTRIBUTOR,
    "project_changes": Role.VIEWER,
    "list_field_paths": Role.VIEWER,
    "get_many_series_buckets": Role.VIEWER,
    "run_live": Role.VIEWER,
    "list_project_members": Role.VIEWER,
    "set_project_member_role": Role.OWNER,
    "remove_project_member": Role.OWNER,
}
CALLER_ROLES = {"viewer": Role.VIEWER, "contributor": Role.CONTRIBUTOR, "owner": Role.OWNER}


@dataclass
class World:
    """A server with a project, a run, a stored file, and one token per kind of caller."""

    app: FastAPI
    client: TestClient
    state: ServerState
    tokens: dict[str, str] = field(default_factory=dict)
    spare_tokens: dict[str, int] = field(default_factory=dict)
    run_id: str = ""
    linked_sha: str = ""
    view_ids: dict[str, int] = field(default_factory=dict)


def _content(caller: str) -> bytes:
    return f"contents uploaded by {caller}".encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("authz")
    settings = ServerSettings(
        db_url=f"sqlite:///{folder / 'db.sqlite'}",
        blobs_url=str(folder / "blobs"),
        secure_cookies=False,
        upgrade_database=True,
    )
    state = open_state(settings)
    access = state.access
    app = create_app(settings, state)
    world = World(app, TestClient(app), state)
    for caller in CALLERS[1:]:
        access.create_user(caller, "long enough password", admin=caller == "admin")
        world.spare_tokens[caller] = access.create_token(caller, "spare", None)[1].id
        access.create_user(f"bystander-{caller}", "long enough password")
        access.grant_role(PROJECT, f"bystander-{caller}", Role.VIEWER)
    access.create_user("loginuser", "long enough password")
    for caller, role in CALLER_ROLES.items():
        access.grant_role(PROJECT, caller, role)
    for caller in ("revoked", "expired"):  # owners, until their token stops working
        access.grant_role(PROJECT, caller, Role.OWNER)
    access.grant_role("team/other", "other_owner", Role.OWNER)
    for caller in CALLERS[1:]:
        expires = timedelta(seconds=1) if caller == "expired" else None
        world.tokens[caller], info = access.create_token(caller, "matrix", expires)
        if caller == "revoked":
            access.revoke_token(caller, info.id)

    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    answer = world.client.post(f"/api/v1/projects/{PROJECT}/runs", json={"name": "r"}, headers=admin)
    world.run_id = answer.json()["run"]["id"]
    content = b"weights"
    world.linked_sha = hashlib.sha256(content).hexdigest()
    _upload(world.client, admin, content)
    for caller in CALLERS:  # parts staged so that each caller's "complete" has something to join
        status = _start(world.client, admin, _content(caller))
        world.client.put(
            f"/api/v1/projects/{PROJECT}/uploads/{status['upload_id']}/parts/0",
            content=_content(caller),
            headers=admin,
        )
    for caller in CALLERS:  # a view for each caller to delete
        answer = world.client.post(
            f"/api/v1/projects/{PROJECT}/views", json={"name": f"old {caller}"}, headers=admin
        )
        world.view_ids[caller] = answer.json()["id"]
    time.sleep(1.1)  # the expired token's second has passed
    yield world
    world.client.close()
    state.close()


def _start(client: TestClient, headers: dict[str, str], content: bytes) -> dict[str, Any]:
    sha = hashlib.sha256(content).hexdigest()
    answer = client.post(
        f"/api/v1/projects/{PROJECT}/uploads", json={"sha256": sha, "size": len(content)}, headers=headers
    )
    result: dict[str, Any] = answer.json()
    return result


def _upload(client: TestClient, headers: dict[str, str], content: bytes) -> None:
    status = _start(client, headers, content)
    base = f"/api/v1/projects/{PROJECT}/uploads/{status['upload_id']}"
    client.put(f"{base}/parts/0", content=content, headers=headers)
    client.post(f"{base}/complete", json={"sha256": hashlib.sha256(content).hexdigest()}, headers=headers)


def _trashed_run(world: World, caller: str) -> str:
    """A run of PROJECT in the trash, for a caller to delete."""
    info, _ = world.state.store.create_run(RunCreate(project=PROJECT, owner="admin", name=f"old {caller}"))
    world.state.store.ingest(PROJECT, info.id, "edit", [(0, AssignAtom("sys/trashed", ft.BOOL, True))], 0)
    return info.id


def _request(route_name: str, caller: str, world: World) -> dict[str, Any]:
    """Path parameters and body that make the call succeed for a caller allowed to make it."""
    p = {"workspace": WORKSPACE, "project": NAME, "run_id": world.run_id}
    sha = hashlib.sha256(_content(caller)).hexdigest()
    bodies: dict[str, Callable[[], dict[str, Any]]] = {
        "login": lambda: {"json": {"username": "loginuser", "password": "long enough password"}},
        "create_token": lambda: {"json": {"name": f"new-{caller}"}},
        "revoke_token": lambda: {"path": {"token_id": world.spare_tokens.get(caller, 1)}},
        "create_user": lambda: {
            "json": {"username": f"made-by-{caller}", "password": "long enough password"}
        },
        "create_run": lambda: {"json": {"name": f"run of {caller}"}},
        "get_writer": lambda: {"path": {"writer_id": "w-1"}},
        "get_series": lambda: {"params": {"path": "loss"}},
        "query_runs": lambda: {"params": {"query": "exists loss", "limit": 5}},
        "fetch_series": lambda: {"params": {"path": "loss", "query": "exists loss"}},
        "get_series_buckets": lambda: {"params": {"path": "loss", "buckets": 10}},
        "diff_data": lambda: {"params": {"run_a": world.run_id, "run_b": world.run_id}},
        "ingest": lambda: {
            "content": msgpack.packb(
                {
                    "writer_id": f"w-{caller}",
                    "last_seq": 0,
                    "batch": encode_batch([(0, AssignAtom("x", ft.FLOAT, 1.0))]),
                },
                use_bin_type=True,
            ),
            "headers": {"Content-Type": "application/msgpack"},
        },
        "start_upload": lambda: {"json": {"sha256": sha, "size": len(_content(caller))}},
        "upload_status": lambda: {"path": {"upload_id": upload_id_for(PROJECT, sha)}},
        "upload_part": lambda: {
            "path": {"upload_id": upload_id_for(PROJECT, sha), "part_no": 0},
            "content": _content(caller),
        },
        "complete_upload": lambda: {
            "path": {"upload_id": upload_id_for(PROJECT, sha)},
            "json": {"sha256": sha},
        },
        "download_blob": lambda: {"path": {"sha256": world.linked_sha}},
        "update_run": lambda: {"json": {"name": f"renamed by {caller}"}},
        "edit_tags": lambda: {"json": {"run_ids": [world.run_id], "add": [caller]}},
        "trash_runs": lambda: {"json": {"run_ids": [world.run_id]}},
        "restore_runs": lambda: {"json": {"run_ids": [world.run_id]}},
        "delete_runs": lambda: {"json": {"run_ids": [_trashed_run(world, caller)]}},
        "restore_run_times": lambda: {
            "json": {"creation_time": "2024-03-01T12:00:00Z", "modification_time": "2024-03-02T12:00:00Z"}
        },
        "save_view": lambda: {"json": {"name": f"view of {caller}", "query": "f1 > 0.5"}},
        "delete_view": lambda: {"path": {"view_id": world.view_ids[caller]}},
        "project_changes": lambda: {"params": {"since": 0}},
        "get_many_series_buckets": lambda: {"params": {"run_id": [world.run_id], "path": ["loss"]}},
        "run_live": lambda: {"params": {"seconds": 0.2}},
        "set_project_member_role": lambda: {
            "path": {"username": f"bystander-{caller}"},
            "json": {"role": "viewer"},
        },
        "remove_project_member": lambda: {"path": {"username": f"bystander-{caller}"}},
    }
    spec = bodies.get(route_name, dict)()
    return {**spec, "path": {**p, **spec.get("path", {})}}


def expected(rule: str | Role, caller: str) -> str:
    """'allowed', or the status the caller must get."""
    if rule == "public":
        return "allowed"
    if caller in ("anonymous", "revoked", "expired"):
        return "401"
    if rule == "authenticated":
        return "allowed"
    if rule == "session":
        return "403"  # every caller here holds a token
    if rule == "admin":
        return "allowed" if caller == "admin" else "403"
    assert isinstance(rule, Role)
    if caller == "admin":
        return "allowed"
    role = CALLER_ROLES.get(caller)
    if role is None:
        return "404"  # no role: the project does not exist for them
    return "allowed" if role >= rule else "403"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str


def _routes(world: World) -> dict[str, Endpoint]:
    """Every operation of the OpenAPI schema by its id (the route's name)."""
    routes: dict[str, Endpoint] = {}
    for path, operations in world.app.openapi()["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"] not in routes, f"two endpoints named {operation['operationId']}"
            routes[operation["operationId"]] = Endpoint(method.upper(), path)
    return routes


def test_every_endpoint_has_an_authorization_rule(world: World) -> None:
    routes = _routes(world)
    missing = sorted(set(routes) - set(RULES))
    assert not missing, f"endpoints without an authorization rule in RULES: {missing}"
    assert not sorted(set(RULES) - set(routes)), "RULES names endpoints that no longer exist"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route_name", sorted(RULES))
def test_authorization_matrix(route_name: str, caller: str, world: World) -> None:
    route = _routes(world)[route_name]
    spec = _request(route_name, caller, world)
    path = route.path.format(**spec["path"])
    headers = dict(spec.get("headers", {}))
    if caller != "anonymous":
        headers["Authorization"] = f"Bearer {world.tokens[caller]}"
    method = route.method
    world.client.cookies.clear()  # a login case signs the shared client in: callers here use tokens only
    answer = world.client.request(
        method,
        path,
        headers=headers,
        json=spec.get("json"),
        content=spec.get("content"),
        params=spec.get("params"),
    )
    want = expected(RULES[route_name], caller)
    detail = f"{method} {path} as {caller}: {answer.status_code} {answer.text[:300]}"
    if want == "allowed":
        assert answer.status_code < 300, detail
    else:
        assert str(answer.status_code) == want, detail
    if want == "404":
        assert answer.json() == NOT_FOUND, detail  # exactly what a missing project answers


def test_a_hidden_project_answers_like_a_missing_one(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['other_owner']}"}
    hidden = world.client.get(f"/api/v1/projects/{PROJECT}/runs", headers=headers)
    owner = {"Authorization": f"Bearer {world.tokens['owner']}"}
    missing = world.client.get("/api/v1/projects/team/nothing-here/runs", headers=owner)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(PROJECT, "X") == missing.json()["detail"].replace(
        "team/nothing-here", "X"
    )
    assert set(hidden.headers) == set(missing.headers)


def test_revoked_and_expired_tokens_say_why(world: World) -> None:
    for caller, reason in (("revoked", "revoked"), ("expired", "expired")):
        answer = world.client.get(
            "/api/v1/projects", headers={"Authorization": f"Bearer {world.tokens[caller]}"}
        )
        assert answer.status_code == 401 and reason in answer.json()["detail"]
