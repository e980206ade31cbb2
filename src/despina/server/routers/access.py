"""Sign-in, API tokens, users and project members: `/auth/*`, `/tokens`, `/users`, `/projects/.../members`.

Mounted under `/api/v1`. Every body is a model with limits, so bad input is a 422 naming the field;
unknown fields are refused too, so a typo is not silently ignored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, cast

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from despina.server.auth import names
from despina.server.auth.dependencies import (
    SESSION_COOKIE,
    Access,
    AdminPrincipal,
    CurrentPrincipal,
    OwnerAccess,
    ServerSettingsDep,
    ViewerAccess,
)
from despina.server.auth.errors import UnknownUserError, UserExistsError
from despina.server.auth.principal import Principal
from despina.server.auth.service import Member, TokenInfo, UserInfo

router = APIRouter(tags=["access"])

RoleName = Literal["viewer", "contributor", "owner"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Body):
    username: str = Field(min_length=1, max_length=names.MAX_USERNAME_LENGTH)
    password: str = Field(min_length=1, max_length=names.MAX_PASSWORD_LENGTH)


class SessionOut(BaseModel):
    username: str
    is_admin: bool
    via: Literal["token", "session", "local"]
    # For a browser session: send it back as X-CSRF-Token on every POST, PUT, PATCH and DELETE.
    csrf_token: str | None = None


class TokenCreate(_Body):
    name: str = Field(min_length=1, max_length=names.MAX_TOKEN_NAME_LENGTH)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="None: never expires")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    created_at: float = Field(description="seconds since the epoch, like every time below")
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None = Field(description="updated at most once a minute")
    status: Literal["active", "expired", "revoked"]

    @classmethod
    def of(cls, info: TokenInfo) -> TokenOut:
        return cls(
            id=info.id,
            name=info.name,
            prefix=info.prefix,
            created_at=info.created_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            last_used_at=info.last_used_at,
            status=info.status(),
        )


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself: shown this once, never again")


class UserCreate(_Body):
    username: str = Field(min_length=1, max_length=names.MAX_USERNAME_LENGTH, pattern=names.USERNAME_PATTERN)
    password: str | None = Field(
        default=None,
        min_length=names.MIN_PASSWORD_LENGTH,
        max_length=names.MAX_PASSWORD_LENGTH,
        description="None: the user can only use API tokens",
    )
    admin: bool = False


class UserOut(BaseModel):
    username: str
    is_admin: bool
    disabled: bool
    has_password: bool
    created_at: float

    @classmethod
    def of(cls, info: UserInfo) -> UserOut:
        return cls(
            username=info.username,
            is_admin=info.is_admin,
            disabled=info.disabled,
            has_password=info.has_password,
            created_at=info.created_at,
        )


class RoleUpdate(_Body):
    role: RoleName


class MemberOut(BaseModel):
    username: str
    role: RoleName
    source: Literal["project", "workspace"] = Field(
        description="project: a role on this project; workspace: an admin of its workspace (owner)"
    )

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(username=member.username, role=cast(RoleName, member.role.label), source=member.source)


def _user_of(principal: Principal) -> str:
    if principal.user_id is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="API tokens belong to users, and this server runs without login: there are none",
        )
    return principal.username


# -- sign-in -----------------------------------------------------------------------------------------


@router.post("/auth/login", name="login", response_model=SessionOut)
def login(body: LoginRequest, response: Response, access: Access, settings: ServerSettingsDep) -> SessionOut:
    """Sign in with a password: sets the `despina_session` cookie and returns its CSRF token."""
    principal = access.verify_login(body.username, body.password)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
    session_id, csrf_token = access.create_session(principal, settings.session_ttl_seconds)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(settings.session_ttl_seconds),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,  # page scripts never see it; they get the CSRF token instead
        samesite="lax",
    )
    return SessionOut(
        username=principal.username, is_admin=principal.is_admin, via="session", csrf_token=csrf_token
    )


@router.post("/auth/logout", name="logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    access: Access,
    settings: ServerSettingsDep,
) -> None:
    """End the browser session of this request (nothing to do for a token) and clear its cookie."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and principal.via == "session":
        access.end_session(session_id)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
    )


@router.get("/auth/me", name="whoami", response_model=SessionOut)
def whoami(request: Request, principal: CurrentPrincipal) -> SessionOut:
    """Who this request acts as; for a browser session also its CSRF token (after a page reload)."""
    return SessionOut(
        username=principal.username,
        is_admin=principal.is_admin,
        via=principal.via,
        csrf_token=getattr(request.state, "csrf_token", None),
    )


# -- API tokens ----------------------------------------------------------------------------------------


@router.get("/tokens", name="list_tokens", response_model=list[TokenOut])
def list_tokens(principal: CurrentPrincipal, access: Access) -> list[TokenOut]:
    """The caller's API tokens (never the tokens themselves)."""
    return [TokenOut.of(info) for info in access.list_tokens(_user_of(principal))]


@router.post("/tokens", name="create_token", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, principal: CurrentPrincipal, access: Access) -> TokenCreated:
    """A new API token for the caller, returned this once."""
    username = _user_of(principal)
    if principal.via == "token":
        # Otherwise a leaked token could mint tokens that outlive its own revocation.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="an API token cannot create tokens: sign in to the web UI, or use `despina token create`",
        )
    expires_in = timedelta(days=body.expires_in_days) if body.expires_in_days is not None else None
    plaintext, info = access.create_token(username, body.name, expires_in)
    return TokenCreated(**TokenOut.of(info).model_dump(), token=plaintext)


@router.delete("/tokens/{token_id}", name="revoke_token", response_model=TokenOut)
def revoke_token(token_id: int, principal: CurrentPrincipal, access: Access) -> TokenOut:
    """Revoke one of the caller's tokens; it stops working at once on this server process."""
    try:
        return TokenOut.of(access.revoke_token(_user_of(principal), token_id))
    except UnknownUserError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"you have no API token with id {token_id}"
        ) from None


# -- users (server admins) -----------------------------------------------------------------------------


@router.get("/users", name="list_users", response_model=list[UserOut])
def list_users(_: AdminPrincipal, access: Access) -> list[UserOut]:
    """Every user (server admins only)."""
    return [UserOut.of(info) for info in access.list_users()]


@router.post("/users", name="create_user", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, _: AdminPrincipal, access: Access) -> UserOut:
    """Add a user (server admins only)."""
    try:
        return UserOut.of(access.create_user(body.username, body.password, admin=body.admin))
    except UserExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None


# -- project members -----------------------------------------------------------------------------------


@router.get(
    "/projects/{workspace}/{project}/members", name="list_project_members", response_model=list[MemberOut]
)
def list_project_members(project_access: ViewerAccess, access: Access) -> list[MemberOut]:
    """Who has a role on the project: workspace admins, then project roles by rank."""
    return [MemberOut.of(member) for member in access.members(project_access.project)]


@router.put(
    "/projects/{workspace}/{project}/members/{username}",
    name="set_project_member_role",
    response_model=MemberOut,
)
def set_project_member_role(
    username: str, body: RoleUpdate, project_access: OwnerAccess, access: Access
) -> MemberOut:
    """Give a user a role on the project, replacing the one they had (owners only)."""
    try:
        access.grant_role(project_access.project, username, body.role)
    except UnknownUserError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user named {username!r}") from None
    except ValueError as exc:  # a project name the path allowed but roles do not
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    return MemberOut(username=username, role=body.role, source="project")


@router.delete(
    "/projects/{workspace}/{project}/members/{username}",
    name="remove_project_member",
    status_code=status.HTTP_204_NO_CONTENT,
)
def remove_project_member(username: str, project_access: OwnerAccess, access: Access) -> None:
    """Take away a user's role on the project (owners only); workspace admins stay owners."""
    try:
        removed = access.revoke_role(project_access.project, username)
    except UnknownUserError:
        removed = False
    if not removed:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"{username!r} has no role on project {project_access.project!r}",
        )


__all__ = ["router"]
