"""`AccessService`: the only code that reads or writes users, API tokens, sessions, and roles.

Credentials are checked on every request, ingest included, so the service keeps short in-process
caches (`cache_seconds`, 5 s by default) of validated tokens, sessions and roles. A change made
through this service drops the affected entries at once; a change made by another server process
(or by `despina token revoke` against the same database) takes effect here within `cache_seconds`.
An expiry time is checked on every use, cached or not, so expiry is exact.

`last_used_at` of a token is written at most once a minute per token and process: a write on every
request would take SQLite's write lock away from ingest.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from despina.exceptions import AccessDeniedError
from despina.server.auth import names
from despina.server.auth.cache import TtlCache
from despina.server.auth.errors import UnknownUserError, UserExistsError
from despina.server.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from despina.server.auth.principal import Principal, Role
from despina.store.sql.schema import api_tokens, project_roles, users, web_sessions, workspace_admins

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "dsp_"  # lets people (and secret scanners) recognise a Despina token
_TOKEN_DISPLAY_LENGTH = 12  # "dsp_" and 8 random characters: enough to tell tokens apart in a list
DEFAULT_CACHE_SECONDS = 5.0
LAST_USED_INTERVAL = 60.0
DEFAULT_SESSION_TTL = 14 * 24 * 3600.0


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    is_admin: bool
    disabled: bool
    has_password: bool  # False for a user who signs in with API tokens only
    created_at: float  # seconds since the epoch


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token after its creation: never the token itself."""

    id: int
    username: str
    name: str
    prefix: str  # its first characters
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None  # updated at most once a minute

    def status(self, now: float | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and (time.time() if now is None else now) >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True)
class Member:
    """Someone with a role on a project: by a project role, or as an admin of its workspace (owner)."""

    username: str
    role: Role
    source: Literal["project", "workspace"]


@dataclass(frozen=True)
class _CachedToken:
    principal: Principal
    token_id: int
    expires_at: float | None


@dataclass(frozen=True)
class _CachedSession:
    principal: Principal
    csrf_token: str
    expires_at: float


def _sha256(secret: str) -> str:
    # Tokens and session ids are 256 random bits: a fast hash is enough, a slow one would only cost time.
    return hashlib.sha256(secret.encode()).hexdigest()


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        username=row.username,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _user_info(row: Any) -> UserInfo:
    return UserInfo(
        id=row.id,
        username=row.username,
        is_admin=bool(row.is_admin),
        disabled=bool(row.disabled),
        has_password=row.password_hash is not None,
        created_at=row.created_at,
    )


_TOKEN_COLUMNS = (
    api_tokens.c.id,
    users.c.username,
    api_tokens.c.name,
    api_tokens.c.prefix,
    api_tokens.c.created_at,
    api_tokens.c.expires_at,
    api_tokens.c.revoked_at,
    api_tokens.c.last_used_at,
)


class AccessService:
    """Users, API tokens, browser sessions, workspace admins and project roles over one database.

    `engine` writes; on SQLite its transactions should begin IMMEDIATE (as `SqlStore.engine` does).
    `read_engine`, when given, serves the reads (on SQLite a deferred-transaction engine lets them run
    beside writers); by default `engine` serves both.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        read_engine: Engine | None = None,
        session_ttl_seconds: float = DEFAULT_SESSION_TTL,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._read_engine = read_engine or engine
        self.session_ttl_seconds = session_ttl_seconds
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._tokens: TtlCache[str, _CachedToken] = TtlCache(cache_seconds, clock)
        self._sessions: TtlCache[str, _CachedSession] = TtlCache(cache_seconds, clock)
        # (user id, project) -> (role,): a 1-tuple so that "no role" can be cached too.
        self._roles: TtlCache[tuple[int, str], tuple[Role | None]] = TtlCache(cache_seconds, clock)
        self._touched: dict[int, float] = {}
        self._touched_lock = threading.Lock()

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _user_id(conn: Connection, username: str) -> int:
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            raise UnknownUserError(f"no user named {username!r}; create one with `despina user create`")
        return int(user_id)

    def _forget_user(self, user_id: int) -> None:
        """Drop every cached credential and role of a user whose standing changed."""
        self._tokens.drop_where(lambda _, entry: entry.principal.user_id == user_id)
        self._sessions.drop_where(lambda _, entry: entry.principal.user_id == user_id)
        self._roles.drop_where(lambda key, _: key[0] == user_id)

    # -- users -------------------------------------------------------------------------------------

    def create_user(self, username: str, password: str | None, *, admin: bool = False) -> UserInfo:
        """Add a user; `password=None` makes a user who can only use API tokens.

        Raises ValueError for an invalid name or a short password, UserExistsError for a taken name.
        """
        names.check_username(username)
        password_hash = hash_password(names.check_password(password)) if password is not None else None
        now = self._clock()
        try:
            with self._engine.begin() as conn:
                if conn.execute(select(users.c.id).where(users.c.username == username)).first():
                    raise UserExistsError(f"a user named {username!r} already exists")
                user_id = conn.execute(
                    insert(users).values(
                        username=username,
                        password_hash=password_hash,
                        is_admin=admin,
                        created_at=now,
                        disabled=False,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError:  # another process created it between the check and the insert
            raise UserExistsError(f"a user named {username!r} already exists") from None
        return UserInfo(int(user_id), username, admin, False, password_hash is not None, now)

    def get_user(self, username: str) -> UserInfo:
        """The user named `username`; UnknownUserError if there is none."""
        with self._read_engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise UnknownUserError(f"no user named {username!r}")
        return _user_info(row)

    def list_users(self) -> list[UserInfo]:
        with self._read_engine.begin() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [_user_info(row) for row in rows]

    def set_password(self, username: str, password: str | None) -> None:
        """Change (or, with None, remove) a user's password, and sign out their browser sessions."""
        password_hash = hash_password(names.check_password(password)) if password is not None else None
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))
        self._forget_user(user_id)

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or enable again) a user: a disabled user's tokens, sessions and password stop working."""
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
            if disabled:
                conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))
        self._forget_user(user_id)

    def verify_login(self, username: str, password: str) -> Principal | None:
        """The user, if `password` is theirs; None for a wrong password, unknown or disabled user.

        An unknown user costs one hash verification too, so timing does not tell which names exist.
        """
        with self._read_engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None or row.password_hash is None or row.disabled:
            verify_password(dummy_hash(), password)
            return None
        if not verify_password(row.password_hash, password):
            return None
        if needs_rehash(row.password_hash):  # hashing parameters were raised since this one was made
            new_hash = hash_password(password)
            with self._engine.begin() as conn:
                conn.execute(update(users).where(users.c.id == row.id).values(password_hash=new_hash))
        return Principal(user_id=row.id, username=row.username, is_admin=bool(row.is_admin), via="session")

    # -- API tokens --------------------------------------------------------------------------------

    def create_token(
        self, username: str, name: str, expires_in: timedelta | None = None
    ) -> tuple[str, TokenInfo]:
        """A new API token for `username`: (plaintext, info). The plaintext cannot be recovered later."""
        names.check_token_name(name)
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError(f"a token's lifetime must be positive, not {expires_in}")
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        prefix = plaintext[:_TOKEN_DISPLAY_LENGTH]
        now = self._clock()
        expires_at = now + expires_in.total_seconds() if expires_in is not None else None
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            token_id = conn.execute(
                insert(api_tokens).values(
                    user_id=user_id,
                    name=name,
                    token_hash=_sha256(plaintext),
                    prefix=prefix,
                    created_at=now,
                    expires_at=expires_at,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return plaintext, TokenInfo(int(token_id), username, name, prefix, now, expires_at, None, None)

    def list_tokens(self, username: str) -> list[TokenInfo]:
        """The user's tokens, revoked and expired ones included, oldest first."""
        with self._read_engine.begin() as conn:
            user_id = self._user_id(conn, username)
            rows = conn.execute(
                select(*_TOKEN_COLUMNS)
                .join(users, users.c.id == api_tokens.c.user_id)
                .where(api_tokens.c.user_id == user_id)
                .order_by(api_tokens.c.id)
            ).all()
        return [_token_info(row) for row in rows]

    def revoke_token(self, username: str, token_id: int) -> TokenInfo:
        """Revoke one of the user's tokens (again is a no-op); UnknownUserError if they have no such token."""
        now = self._clock()
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            mine = and_(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
            token_hash = conn.execute(select(api_tokens.c.token_hash).where(mine)).scalar()
            if token_hash is None:
                raise UnknownUserError(f"user {username!r} has no API token with id {token_id}")
            conn.execute(
                update(api_tokens).where(mine, api_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
            )
            row = conn.execute(
                select(*_TOKEN_COLUMNS).join(users, users.c.id == api_tokens.c.user_id).where(mine)
            ).one()
        self._tokens.drop(token_hash)
        return _token_info(row)

    def authenticate_token(self, plaintext: str) -> Principal:
        """The user an API token acts for; AccessDeniedError (status 401) saying why it is refused."""
        if not plaintext.startswith(TOKEN_PREFIX):
            raise AccessDeniedError(
                f"API token not recognised: Despina API tokens start with {TOKEN_PREFIX!r}; "
                "create one with `despina token create` or in the web UI",
                status=401,
            )
        now = self._clock()
        digest = _sha256(plaintext)
        cached = self._tokens.get(digest)
        if cached is not None and (cached.expires_at is None or now < cached.expires_at):
            self._touch(cached.token_id, now)
            return cached.principal
        with self._read_engine.begin() as conn:
            row = conn.execute(
                select(
                    api_tokens.c.id,
                    api_tokens.c.name,
                    api_tokens.c.prefix,
                    api_tokens.c.expires_at,
                    api_tokens.c.revoked_at,
                    users.c.id.label("user_id"),
                    users.c.username,
                    users.c.is_admin,
                    users.c.disabled,
                )
                .join(users, users.c.id == api_tokens.c.user_id)
                .where(api_tokens.c.token_hash == digest)
            ).first()
        if row is None:
            raise AccessDeniedError(
                "API token not recognised: it is mistyped or was deleted; "
                "create one with `despina token create` or in the web UI",
                status=401,
            )
        label = f"API token {row.name!r} ({row.prefix}...)"
        if row.revoked_at is not None:
            raise AccessDeniedError(f"{label} was revoked on {_when(row.revoked_at)}", status=401)
        if row.expires_at is not None and now >= row.expires_at:
            raise AccessDeniedError(f"{label} expired on {_when(row.expires_at)}", status=401)
        if row.disabled:
            raise AccessDeniedError(f"user {row.username!r} is disabled", status=401)
        principal = Principal(
            user_id=row.user_id, username=row.username, is_admin=bool(row.is_admin), via="token"
        )
        self._tokens.put(digest, _CachedToken(principal, row.id, row.expires_at))
        self._touch(row.id, now)
        return principal

    def _touch(self, token_id: int, now: float) -> None:
        """Record a token's use, at most once a minute per token; best effort, never fails a request."""
        with self._touched_lock:
            last = self._touched.get(token_id)
            if last is not None and now - last < LAST_USED_INTERVAL:
                return
            if len(self._touched) >= 10_000:
                self._touched.clear()
            self._touched[token_id] = now
        try:
            with self._engine.begin() as conn:
                conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))
        except SQLAlchemyError as exc:  # a busy database must not turn a valid token into an error
            logger.warning("could not record the use of API token %s: %s", token_id, exc)

    # -- browser sessions --------------------------------------------------------------------------

    def create_session(self, principal: Principal, ttl_seconds: float | None = None) -> tuple[str, str]:
        """A new browser session for a signed-in user: (session id for the cookie, its CSRF token).

        It lasts `ttl_seconds` (default: the service's `session_ttl_seconds`). Only the session id's
        sha256 is stored; expired sessions are swept out at the same time.
        """
        if principal.user_id is None:
            raise ValueError("only a user can have a browser session, not the local principal")
        session_id = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
            conn.execute(
                insert(web_sessions).values(
                    id_hash=_sha256(session_id),
                    user_id=principal.user_id,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=now + (self.session_ttl_seconds if ttl_seconds is None else ttl_seconds),
                )
            )
        return session_id, csrf_token

    def authenticate_session(self, session_id: str) -> tuple[Principal, str]:
        """(user, CSRF token) of a live session; AccessDeniedError (status 401) if it ended or expired."""
        now = self._clock()
        digest = _sha256(session_id)
        cached = self._sessions.get(digest)
        if cached is not None and now < cached.expires_at:
            return cached.principal, cached.csrf_token
        with self._read_engine.begin() as conn:
            row = conn.execute(
                select(
                    web_sessions.c.csrf_token,
                    web_sessions.c.expires_at,
                    users.c.id,
                    users.c.username,
                    users.c.is_admin,
                    users.c.disabled,
                )
                .join(users, users.c.id == web_sessions.c.user_id)
                .where(web_sessions.c.id_hash == digest)
            ).first()
        if row is None or row.disabled:
            raise AccessDeniedError("session not found: it was signed out; sign in again", status=401)
        if now >= row.expires_at:
            raise AccessDeniedError(f"session expired on {_when(row.expires_at)}; sign in again", status=401)
        principal = Principal(
            user_id=row.id, username=row.username, is_admin=bool(row.is_admin), via="session"
        )
        self._sessions.put(digest, _CachedSession(principal, row.csrf_token, row.expires_at))
        return principal, row.csrf_token

    def end_session(self, session_id: str) -> None:
        """Sign a browser session out (an unknown or ended one is fine)."""
        digest = _sha256(session_id)
        with self._engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == digest))
        self._sessions.drop(digest)

    # -- roles -------------------------------------------------------------------------------------

    def grant_role(self, project: str, username: str, role: Role | str) -> None:
        """Give `username` `role` on `project`, replacing any role they had; the project may not exist yet."""
        names.check_project(project)
        role = role if isinstance(role, Role) else Role.parse(role)
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            key = and_(project_roles.c.project == project, project_roles.c.user_id == user_id)
            if conn.execute(update(project_roles).where(key).values(role=role.label)).rowcount == 0:
                conn.execute(insert(project_roles).values(project=project, user_id=user_id, role=role.label))
        self._roles.drop((user_id, project))

    def revoke_role(self, project: str, username: str) -> bool:
        """Take away `username`'s role on `project`; False if they had none."""
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            key = and_(project_roles.c.project == project, project_roles.c.user_id == user_id)
            removed = conn.execute(delete(project_roles).where(key)).rowcount > 0
        self._roles.drop((user_id, project))
        return removed

    def members(self, project: str) -> list[Member]:
        """Who has a role on `project`: its workspace's admins (as owners), then project roles, by rank."""
        workspace = names.workspace_of(project)
        with self._read_engine.begin() as conn:
            admins = conn.execute(
                select(users.c.username)
                .join(workspace_admins, workspace_admins.c.user_id == users.c.id)
                .where(workspace_admins.c.workspace == workspace)
            ).all()
            rows = conn.execute(
                select(users.c.username, project_roles.c.role)
                .join(project_roles, project_roles.c.user_id == users.c.id)
                .where(project_roles.c.project == project)
            ).all()
        result = [Member(row.username, Role.OWNER, "workspace") for row in admins]
        result += [Member(row.username, Role.parse(row.role), "project") for row in rows]
        return sorted(result, key=lambda m: (m.source != "workspace", -m.role, m.username))

    def add_workspace_admin(self, workspace: str, username: str) -> None:
        """Make `username` an admin (owner of every project) of `workspace`; again is a no-op."""
        names.check_workspace(workspace)
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            key = and_(workspace_admins.c.workspace == workspace, workspace_admins.c.user_id == user_id)
            if conn.execute(select(workspace_admins.c.user_id).where(key)).first() is None:
                conn.execute(insert(workspace_admins).values(workspace=workspace, user_id=user_id))
        self._roles.drop_where(lambda cached, _: cached[0] == user_id)

    def remove_workspace_admin(self, workspace: str, username: str) -> bool:
        """Stop `username` being an admin of `workspace`; False if they were not one."""
        with self._engine.begin() as conn:
            user_id = self._user_id(conn, username)
            key = and_(workspace_admins.c.workspace == workspace, workspace_admins.c.user_id == user_id)
            removed = conn.execute(delete(workspace_admins).where(key)).rowcount > 0
        self._roles.drop_where(lambda cached, _: cached[0] == user_id)
        return removed

    def role_of(self, principal: Principal, project: str) -> Role | None:
        """The principal's role on `project`, None for no access at all.

        A server admin (and the local principal) and the admins of the project's workspace own it;
        anyone else has the role granted on the project, if any.
        """
        if principal.is_admin:
            return Role.OWNER
        if principal.user_id is None:
            return None
        key = (principal.user_id, project)
        cached = self._roles.get(key)
        if cached is not None:
            return cached[0]
        with self._read_engine.begin() as conn:
            is_workspace_admin = (
                conn.execute(
                    select(workspace_admins.c.user_id).where(
                        workspace_admins.c.workspace == names.workspace_of(project),
                        workspace_admins.c.user_id == principal.user_id,
                    )
                ).first()
                is not None
            )
            granted = conn.execute(
                select(project_roles.c.role).where(
                    project_roles.c.project == project, project_roles.c.user_id == principal.user_id
                )
            ).scalar()
        role: Role | None = None
        if is_workspace_admin:
            role = Role.OWNER
        elif granted is not None:
            role = Role.parse(granted)
        self._roles.put(key, (role,))
        return role

    def visible_projects(self, principal: Principal, all_project_names: Iterable[str]) -> list[str]:
        """The names among `all_project_names` the principal has any role on, in the order given."""
        if principal.is_admin:
            return list(all_project_names)
        if principal.user_id is None:
            return []
        with self._read_engine.begin() as conn:
            workspaces = set(
                conn.execute(
                    select(workspace_admins.c.workspace).where(
                        workspace_admins.c.user_id == principal.user_id
                    )
                ).scalars()
            )
            projects = set(
                conn.execute(
                    select(project_roles.c.project).where(project_roles.c.user_id == principal.user_id)
                ).scalars()
            )
        # workspace_of gives "" for a name without a workspace, and no workspace is named "".
        return [
            name for name in all_project_names if name in projects or names.workspace_of(name) in workspaces
        ]
