"""AccessService against a real database (SQLite, and PostgreSQL where its binaries are installed)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from despina.exceptions import AccessDeniedError
from despina.server.auth.errors import UnknownUserError, UserExistsError
from despina.server.auth.passwords import hash_password, needs_rehash, verify_password
from despina.server.auth.principal import LOCAL_PRINCIPAL, Principal, Role
from despina.server.auth.service import AccessService
from despina.store.sql import schema
from despina.store.sql.store import SqlStore

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store(sql_store: SqlStore) -> SqlStore:
    """The store on SQLite and on PostgreSQL (conftest's `sql_store`)."""
    return sql_store


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_service(store: SqlStore, clock: Clock) -> AccessService:
    """A service as one server process has it: sessions last an hour, credentials are cached 5 s."""
    return AccessService(
        store.engine,
        read_engine=store.read_engine,
        session_ttl_seconds=3600.0,
        cache_seconds=5.0,
        clock=clock,
    )


@pytest.fixture
def access(store: SqlStore, clock: Clock) -> AccessService:
    return make_service(store, clock)


def every_stored_value(store: SqlStore) -> list[str]:
    """Every value of every row of every table, as text."""
    values: list[str] = []
    with store.read_engine.begin() as conn:
        for table in schema.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                values.extend(str(value) for value in row)
    return values


# -- passwords -----------------------------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_that_verify_only_the_right_password() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert hash_password(PASSWORD) != hashed  # salted
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    assert not needs_rehash(hashed)
    assert needs_rehash(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD))


# -- users ---------------------------------------------------------------------------------------------


def test_create_user_checks_names_and_passwords(access: AccessService) -> None:
    for bad in ["", "a b", "x" * 65, "élan", "a/b"]:
        with pytest.raises(ValueError, match="invalid username"):
            access.create_user(bad, None)
    with pytest.raises(ValueError, match="at least 8 characters"):
        access.create_user("alice", "short")
    info = access.create_user("alice.smith-2_x", None, admin=True)
    assert (info.username, info.is_admin, info.has_password, info.disabled) == (
        "alice.smith-2_x",
        True,
        False,
        False,
    )
    with pytest.raises(UserExistsError, match=r"'alice\.smith-2_x' already exists"):
        access.create_user("alice.smith-2_x", None)
    assert access.get_user("alice.smith-2_x") == info
    with pytest.raises(UnknownUserError, match="no user named 'bob'"):
        access.get_user("bob")
    access.create_user("bob", None)
    assert [u.username for u in access.list_users()] == ["alice.smith-2_x", "bob"]


def test_verify_login(access: AccessService) -> None:
    access.create_user("alice", PASSWORD, admin=True)
    access.create_user("tokens-only", None)
    principal = access.verify_login("alice", PASSWORD)
    assert principal is not None
    assert (principal.username, principal.is_admin, principal.via) == ("alice", True, "session")
    assert access.verify_login("alice", "wrong password") is None
    assert access.verify_login("nobody", PASSWORD) is None
    assert access.verify_login("tokens-only", "") is None
    access.set_disabled("alice", True)
    assert access.verify_login("alice", PASSWORD) is None
    access.set_disabled("alice", False)
    access.set_password("alice", "another password")
    assert access.verify_login("alice", PASSWORD) is None
    assert access.verify_login("alice", "another password") is not None


def test_login_rehashes_a_hash_made_with_weaker_parameters(access: AccessService, store: SqlStore) -> None:
    access.create_user("alice", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with store.engine.begin() as conn:
        conn.execute(update(schema.users).values(password_hash=weak))
    assert access.verify_login("alice", PASSWORD) is not None
    with store.read_engine.begin() as conn:
        stored = conn.execute(select(schema.users.c.password_hash)).scalar_one()
    assert stored != weak and not needs_rehash(stored) and verify_password(stored, PASSWORD)


# -- API tokens ----------------------------------------------------------------------------------------


def test_token_is_shown_once_and_stored_only_as_its_hash(access: AccessService, store: SqlStore) -> None:
    alice = access.create_user("alice", None)
    plaintext, info = access.create_token("alice", "laptop")
    assert plaintext.startswith("dsp_") and len(plaintext) > 40
    assert plaintext.startswith(info.prefix) and len(info.prefix) < len(plaintext) // 2
    stored = every_stored_value(store)
    assert not any(plaintext in value for value in stored)
    assert hashlib.sha256(plaintext.encode()).hexdigest() in stored
    listed = access.list_tokens("alice")
    assert [(t.id, t.name, t.prefix, t.status()) for t in listed] == [
        (info.id, "laptop", info.prefix, "active")
    ]
    assert access.authenticate_token(plaintext) == Principal(alice.id, "alice", False, "token")


def test_unknown_tokens_are_refused_with_a_hint(access: AccessService) -> None:
    with pytest.raises(AccessDeniedError, match="not recognised") as caught:
        access.authenticate_token("dsp_" + "x" * 43)
    assert caught.value.status == 401
    with pytest.raises(AccessDeniedError, match="start with 'dsp_'"):
        access.authenticate_token("ghp_something")


def test_expired_token_is_refused_even_while_cached(access: AccessService, clock: Clock) -> None:
    access.create_user("alice", None)
    plaintext, _ = access.create_token("alice", "short-lived", timedelta(seconds=3))
    assert access.authenticate_token(plaintext).username == "alice"  # now cached for 5 s
    clock.advance(3)
    with pytest.raises(AccessDeniedError, match=r"API token 'short-lived' \(dsp_.*\) expired on"):
        access.authenticate_token(plaintext)
    assert access.list_tokens("alice")[0].status(clock.now) == "expired"
    with pytest.raises(ValueError, match="must be positive"):
        access.create_token("alice", "bad", timedelta(0))


def test_revocation_by_this_process_takes_effect_at_once(access: AccessService, clock: Clock) -> None:
    access.create_user("alice", None)
    plaintext, info = access.create_token("alice", "ci")
    access.authenticate_token(plaintext)  # cached
    revoked = access.revoke_token("alice", info.id)
    assert revoked.revoked_at == clock.now and revoked.status() == "revoked"
    with pytest.raises(AccessDeniedError, match=r"API token 'ci' .* was revoked on"):
        access.authenticate_token(plaintext)
    assert access.revoke_token("alice", info.id).revoked_at == revoked.revoked_at  # again: no change


def test_revocation_by_another_process_takes_effect_within_the_cache_time(
    store: SqlStore, clock: Clock
) -> None:
    server = make_service(store, clock)
    other = make_service(store, clock)  # e.g. `despina token revoke`, or a second worker
    server.create_user("alice", None)
    plaintext, info = server.create_token("alice", "ci")
    server.authenticate_token(plaintext)
    other.revoke_token("alice", info.id)
    clock.advance(4.9)
    assert server.authenticate_token(plaintext).username == "alice"  # still cached: the documented delay
    clock.advance(0.1)
    with pytest.raises(AccessDeniedError, match="revoked"):
        server.authenticate_token(plaintext)


def test_a_user_can_revoke_only_their_own_tokens(access: AccessService) -> None:
    access.create_user("alice", None)
    access.create_user("bob", None)
    plaintext, info = access.create_token("alice", "ci")
    with pytest.raises(UnknownUserError, match=f"'bob' has no API token with id {info.id}"):
        access.revoke_token("bob", info.id)
    assert access.authenticate_token(plaintext).username == "alice"


def test_last_used_is_written_at_most_once_a_minute(access: AccessService, clock: Clock) -> None:
    access.create_user("alice", None)
    plaintext, _ = access.create_token("alice", "ci")
    assert access.list_tokens("alice")[0].last_used_at is None
    first = clock.now
    access.authenticate_token(plaintext)
    assert access.list_tokens("alice")[0].last_used_at == first
    clock.advance(30)  # past the cache: the token is read again, but not written
    access.authenticate_token(plaintext)
    assert access.list_tokens("alice")[0].last_used_at == first
    clock.advance(31)
    access.authenticate_token(plaintext)
    assert access.list_tokens("alice")[0].last_used_at == clock.now


def test_disabling_a_user_stops_their_tokens_at_once(access: AccessService) -> None:
    access.create_user("alice", None)
    plaintext, _ = access.create_token("alice", "ci")
    access.authenticate_token(plaintext)
    access.set_disabled("alice", True)
    with pytest.raises(AccessDeniedError, match="'alice' is disabled"):
        access.authenticate_token(plaintext)


# -- browser sessions ----------------------------------------------------------------------------------


def test_sessions_expire_and_end(access: AccessService, clock: Clock, store: SqlStore) -> None:
    access.create_user("alice", PASSWORD)
    principal = access.verify_login("alice", PASSWORD)
    assert principal is not None
    session_id, csrf = access.create_session(principal)
    assert session_id not in every_stored_value(store)
    assert access.authenticate_session(session_id) == (principal, csrf)
    clock.advance(3600)  # the ttl, though the entry is cached
    with pytest.raises(AccessDeniedError, match="session expired on"):
        access.authenticate_session(session_id)

    session_id, csrf2 = access.create_session(principal)
    assert csrf2 != csrf
    access.authenticate_session(session_id)
    access.end_session(session_id)
    with pytest.raises(AccessDeniedError, match="signed out"):
        access.authenticate_session(session_id)
    with pytest.raises(ValueError, match="local principal"):
        access.create_session(LOCAL_PRINCIPAL)


def test_changing_a_password_signs_out_sessions(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    principal = access.verify_login("alice", PASSWORD)
    assert principal is not None
    session_id, _ = access.create_session(principal)
    access.authenticate_session(session_id)
    access.set_password("alice", "a new password")
    with pytest.raises(AccessDeniedError):
        access.authenticate_session(session_id)


# -- roles ---------------------------------------------------------------------------------------------


def test_roles_compare_and_parse() -> None:
    assert Role.VIEWER < Role.CONTRIBUTOR < Role.OWNER
    assert Role.parse("Contributor") is Role.CONTRIBUTOR and str(Role.OWNER) == "owner"
    with pytest.raises(ValueError, match="choose one of viewer, contributor, owner"):
        Role.parse("admin")


def user(access: AccessService, name: str, admin: bool = False) -> Principal:
    info = access.create_user(name, None, admin=admin)
    return Principal(info.id, name, admin, "token")


def test_role_resolution(access: AccessService) -> None:
    root = user(access, "root", admin=True)
    lead = user(access, "lead")
    ann = user(access, "ann")
    outsider = user(access, "outsider")
    access.add_workspace_admin("team", "lead")
    access.add_workspace_admin("team", "lead")  # twice is fine
    access.grant_role("team/cassava", "ann", "viewer")

    assert access.role_of(root, "anything/at-all") is Role.OWNER
    assert access.role_of(LOCAL_PRINCIPAL, "team/cassava") is Role.OWNER
    assert access.role_of(lead, "team/cassava") is Role.OWNER
    assert access.role_of(lead, "team/not-created-yet") is Role.OWNER
    assert access.role_of(lead, "other/cassava") is None
    assert access.role_of(lead, "team") is None  # a name without a workspace is in none
    assert access.role_of(ann, "team/cassava") is Role.VIEWER
    assert access.role_of(ann, "team/other") is None
    assert access.role_of(outsider, "team/cassava") is None

    # Changes made by this service are seen at once, cache or not.
    access.grant_role("team/cassava", "ann", Role.CONTRIBUTOR)
    assert access.role_of(ann, "team/cassava") is Role.CONTRIBUTOR
    assert access.revoke_role("team/cassava", "ann") is True
    assert access.revoke_role("team/cassava", "ann") is False
    assert access.role_of(ann, "team/cassava") is None
    assert access.remove_workspace_admin("team", "lead") is True
    assert access.role_of(lead, "team/cassava") is None

    names = ["team/cassava", "team/wheat", "other/x", "solo"]
    access.add_workspace_admin("other", "lead")
    access.grant_role("team/wheat", "ann", "owner")
    assert access.visible_projects(root, names) == names
    assert access.visible_projects(lead, names) == ["other/x"]
    assert access.visible_projects(ann, names) == ["team/wheat"]
    assert access.visible_projects(outsider, names) == []


def test_role_changes_by_another_process_show_within_the_cache_time(store: SqlStore, clock: Clock) -> None:
    server = make_service(store, clock)
    cli = make_service(store, clock)
    ann = user(server, "ann")
    assert server.role_of(ann, "team/cassava") is None  # "no role" is cached too
    cli.grant_role("team/cassava", "ann", "owner")
    assert server.role_of(ann, "team/cassava") is None
    clock.advance(5)
    assert server.role_of(ann, "team/cassava") is Role.OWNER


def test_members_and_role_errors(access: AccessService) -> None:
    for name in ["lead", "ann", "bob", "cy"]:
        user(access, name)
    access.add_workspace_admin("team", "lead")
    access.grant_role("team/cassava", "bob", "viewer")
    access.grant_role("team/cassava", "ann", "owner")
    access.grant_role("team/cassava", "cy", "contributor")
    access.grant_role("team/other", "cy", "owner")
    assert [(m.username, m.role, m.source) for m in access.members("team/cassava")] == [
        ("lead", Role.OWNER, "workspace"),
        ("ann", Role.OWNER, "project"),
        ("cy", Role.CONTRIBUTOR, "project"),
        ("bob", Role.VIEWER, "project"),
    ]
    with pytest.raises(UnknownUserError, match="no user named 'nobody'"):
        access.grant_role("team/cassava", "nobody", "viewer")
    with pytest.raises(ValueError, match="'workspace/project'"):
        access.grant_role("cassava", "ann", "viewer")
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        access.grant_role("team/cassava", "ann", "boss")
    with pytest.raises(ValueError, match="invalid workspace"):
        access.add_workspace_admin("team/cassava", "ann")
