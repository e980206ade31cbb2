"""FastAPI dependencies: who calls (`get_principal`), with which role on a project (`project_access`).

The app keeps its `AccessService` at `app.state.access` and its `ServerSettings` at
`app.state.settings`. Credentials, in order: `Authorization: Bearer <API token>` (scripts and
training code; no CSRF check, since browsers never add that header by themselves), then the
`despina_session` cookie (the web UI; unsafe methods must echo the session's CSRF token in
`X-CSRF-Token`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from despina.config import ENV_API_TOKEN
from despina.exceptions import AccessDeniedError
from despina.server.auth.principal import LOCAL_PRINCIPAL, Principal, Role
from despina.server.auth.service import AccessService
from despina.server.settings import ServerSettings

SESSION_COOKIE = "despina_session"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_access(request: Request) -> AccessService:
    """The app's AccessService."""
    access = getattr(request.app.state, "access", None)
    if not isinstance(access, AccessService):
        raise RuntimeError("app.state.access holds no AccessService: build the app with create_app(settings)")
    return access


def get_server_settings(request: Request) -> ServerSettings:
    """The app's ServerSettings."""
    settings = getattr(request.app.state, "settings", None)
    if not isinstance(settings, ServerSettings):
        raise RuntimeError(
            "app.state.settings holds no ServerSettings: build the app with create_app(settings)"
        )
    return settings


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge})


def get_principal(request: Request) -> Principal:
    """The caller, or 401 (no, unknown, expired or revoked credentials) or 403 (a missing CSRF token).

    Also sets `request.state.principal`, and `request.state.csrf_token` for a browser session.
    """
    if not get_server_settings(request).auth_required:
        request.state.principal = LOCAL_PRINCIPAL
        return LOCAL_PRINCIPAL
    access = get_access(request)
    authorization = request.headers.get("authorization")
    session_id = request.cookies.get(SESSION_COOKIE)
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must read 'Bearer <API token>'", "invalid_request")
        try:
            principal = access.authenticate_token(token.strip())
        except AccessDeniedError as exc:
            raise _unauthorized(str(exc), "invalid_token") from None
    elif session_id:
        try:
            principal, csrf_token = access.authenticate_session(session_id)
        except AccessDeniedError as exc:
            raise _unauthorized(str(exc)) from None
        # A cookie rides along with requests other sites trigger; the CSRF token only our pages can read.
        if request.method in _UNSAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, "").encode(), csrf_token.encode()
        ):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="CSRF token missing or wrong")
        request.state.csrf_token = csrf_token
    else:
        raise _unauthorized(
            f"authentication required: set {ENV_API_TOKEN} to an API token (create one with "
            "`despina token create` or in the web UI) or sign in"
        )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
Access = Annotated[AccessService, Depends(get_access)]


def require_admin(principal: CurrentPrincipal) -> Principal:
    """The caller, if a server admin; 403 otherwise."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only a server admin can do this")
    return principal


@dataclass(frozen=True)
class ProjectAccess:
    """A request's project (`workspace/project`), caller, and the caller's role there."""

    project: str
    principal: Principal
    role: Role


def project_not_found(project: str) -> HTTPException:
    """The answer for a project that does not exist, and for one the caller may not see: the same."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"project {project!r} not found")


def _make_project_access(min_role: Role) -> Callable[..., ProjectAccess]:
    def dependency(
        workspace: str, project: str, principal: CurrentPrincipal, access: Access
    ) -> ProjectAccess:
        name = f"{workspace}/{project}"
        role = access.role_of(principal, name)
        if role is None:  # outsiders must not learn that the project exists
            raise project_not_found(name)
        if role < min_role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the {min_role.label} role on project {name!r}; you are a {role.label}",
            )
        return ProjectAccess(project=name, principal=principal, role=role)

    dependency.__name__ = f"project_access_{min_role.label}"
    return dependency


# One dependency per role, so that `project_access(Role.VIEWER)` is the same callable every time
# (FastAPI then runs it once per request, and tests can override it).
_PROJECT_ACCESS = {role: _make_project_access(role) for role in Role}


def project_access(min_role: Role) -> Callable[..., ProjectAccess]:
    """A dependency for routes under `/projects/{workspace}/{project}`: the caller's access there.

    Below `min_role`: no role at all gives 404 with the very body of a project that does not exist;
    a lower role gives 403.
    """
    return _PROJECT_ACCESS[min_role]


# Parameter annotations for routes: `def handler(access: ViewerAccess) -> ...`.
ViewerAccess = Annotated[ProjectAccess, Depends(project_access(Role.VIEWER))]
ContributorAccess = Annotated[ProjectAccess, Depends(project_access(Role.CONTRIBUTOR))]
OwnerAccess = Annotated[ProjectAccess, Depends(project_access(Role.OWNER))]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
ServerSettingsDep = Annotated[ServerSettings, Depends(get_server_settings)]
