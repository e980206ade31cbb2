"""`despina user ...` and `despina token ...` on a real SQLite database, checked through AccessService."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from despina.cli.main import cli
from despina.exceptions import AccessDeniedError
from despina.server.auth.principal import Principal, Role
from despina.server.auth.service import AccessService
from despina.store.sql.migrate import prepare_schema
from despina.store.sql.store import create_store_engine

PASSWORD = "correct horse battery"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture
def access(db_url: str) -> Iterator[AccessService]:
    """The database as a server sees it; it has the schema already (the last test starts from nothing)."""
    engine = create_store_engine(db_url)
    prepare_schema(engine, "check")
    yield AccessService(engine, cache_seconds=0)
    engine.dispose()


def run(db_url: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--db", db_url], input=input)


def test_user_create_with_a_password_from_stdin_or_the_prompt(db_url: str, access: AccessService) -> None:
    result = run(db_url, "user", "create", "alice", "--admin", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Created server admin 'alice'" in result.output
    result = run(db_url, "user", "create", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    result = run(db_url, "user", "create", "bot", "--no-password")
    assert result.exit_code == 0, result.output

    alice = access.verify_login("alice", PASSWORD)
    assert alice is not None and alice.is_admin
    bob = access.verify_login("bob", PASSWORD)
    assert bob is not None and not bob.is_admin
    assert not access.get_user("bot").has_password

    listed = run(db_url, "user", "list")
    assert listed.exit_code == 0
    assert all(name in listed.output for name in ["alice", "bob", "bot", "tokens only"])


def test_user_create_errors_are_one_line_messages(db_url: str) -> None:
    run(db_url, "user", "create", "alice", "--no-password")
    result = run(db_url, "user", "create", "alice", "--no-password")
    assert result.exit_code == 1 and "Error: a user named 'alice' already exists" in result.output
    result = run(db_url, "user", "create", "carol", "--password-stdin", input="short\n")
    assert result.exit_code == 1 and "at least 8 characters" in result.output
    result = run(db_url, "user", "create", "no spaces", "--no-password")
    assert result.exit_code == 1 and "invalid username 'no spaces'" in result.output
    assert "Traceback" not in result.output


def test_tokens_are_printed_once_listed_by_prefix_and_revoked(db_url: str, access: AccessService) -> None:
    run(db_url, "user", "create", "alice", "--no-password")
    result = CliRunner().invoke(
        cli, ["token", "create", "--user", "alice", "--name", "ci", "--expires-days", "7", "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("dsp_") and "\n" not in token
    assert "cannot be shown again" in result.stderr
    assert access.authenticate_token(token) == Principal(access.get_user("alice").id, "alice", False, "token")

    listed = run(db_url, "token", "list", "--user", "alice")
    assert listed.exit_code == 0 and "ci" in listed.output and "active" in listed.output
    assert token[:12] in listed.output and token not in listed.output

    token_id = access.list_tokens("alice")[0].id
    result = run(db_url, "token", "revoke", str(token_id), "--user", "alice")
    assert result.exit_code == 0, result.output
    with pytest.raises(AccessDeniedError, match="revoked"):
        access.authenticate_token(token)
    result = run(db_url, "token", "revoke", "999", "--user", "alice")
    assert result.exit_code == 1 and "no API token with id 999" in result.output
    result = run(db_url, "token", "create", "--user", "nobody", "--name", "x")
    assert result.exit_code == 1 and "no user named 'nobody'" in result.output


def test_roles_and_workspace_admins(db_url: str, access: AccessService) -> None:
    for name in ["ann", "lead"]:
        run(db_url, "user", "create", name, "--no-password")
    assert run(db_url, "user", "grant", "ann", "team/cassava", "contributor").exit_code == 0
    assert run(db_url, "user", "workspace-admin", "lead", "team").exit_code == 0
    ann = Principal(access.get_user("ann").id, "ann", False, "token")
    lead = Principal(access.get_user("lead").id, "lead", False, "token")
    assert access.role_of(ann, "team/cassava") is Role.CONTRIBUTOR
    assert access.role_of(lead, "team/anything") is Role.OWNER

    result = run(db_url, "user", "grant", "ann", "team/cassava", "boss")
    assert result.exit_code == 2 and "'boss' is not one of" in result.output
    result = run(db_url, "user", "grant", "ann", "cassava", "viewer")
    assert result.exit_code == 1 and "'workspace/project'" in result.output

    assert run(db_url, "user", "revoke-role", "ann", "team/cassava").exit_code == 0
    assert access.role_of(ann, "team/cassava") is None
    result = run(db_url, "user", "revoke-role", "ann", "team/cassava")
    assert result.exit_code == 1 and "has no role" in result.output
    assert run(db_url, "user", "workspace-admin", "lead", "team", "--remove").exit_code == 0
    assert access.role_of(lead, "team/anything") is None


def test_disable_and_set_password(db_url: str, access: AccessService) -> None:
    run(db_url, "user", "create", "ann", "--password-stdin", input=PASSWORD + "\n")
    assert run(db_url, "user", "disable", "ann").exit_code == 0
    assert access.verify_login("ann", PASSWORD) is None
    assert run(db_url, "user", "enable", "ann").exit_code == 0
    assert (
        run(db_url, "user", "set-password", "ann", "--password-stdin", input="brand new pw\n").exit_code == 0
    )
    assert access.verify_login("ann", "brand new pw") is not None


def test_the_default_database_is_the_one_of_despina_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DESPINA_HOME", str(home))
    result = CliRunner().invoke(cli, ["user", "create", "ann", "--no-password"])
    assert result.exit_code == 0, result.output
    engine = create_store_engine(f"sqlite:///{home / 'despina.db'}")
    try:
        assert AccessService(engine).get_user("ann").username == "ann"
    finally:
        engine.dispose()
