"""What a username, password, token name, workspace and project name may be; ValueError names the problem."""

from __future__ import annotations

import re

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_USERNAME_LENGTH = 64
MIN_PASSWORD_LENGTH = 8
# argon2 hashes any length; the bound stops a request from making the server hash megabytes.
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_NAME_LENGTH = 128  # api_tokens.name
MAX_WORKSPACE_LENGTH = 128  # workspace_admins.workspace
MAX_PROJECT_LENGTH = 256  # project_roles.project

_username = re.compile(USERNAME_PATTERN)


def check_username(username: str) -> str:
    if not _username.match(username):
        raise ValueError(
            f"invalid username {username!r}: use 1 to {MAX_USERNAME_LENGTH} letters, digits, '_', '.' or '-'"
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password too long: use at most {MAX_PASSWORD_LENGTH} characters")
    return password


def check_token_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_TOKEN_NAME_LENGTH:
        raise ValueError(f"invalid token name {name!r}: use 1 to {MAX_TOKEN_NAME_LENGTH} characters")
    return name


def check_workspace(workspace: str) -> str:
    if (
        not workspace
        or "/" in workspace
        or len(workspace) > MAX_WORKSPACE_LENGTH
        or workspace != workspace.strip()
    ):
        raise ValueError(
            f"invalid workspace {workspace!r}: use 1 to {MAX_WORKSPACE_LENGTH} characters without '/'"
        )
    return workspace


def check_project(project: str) -> str:
    """A project name is `workspace/project`, both parts non-empty."""
    workspace, slash, name = project.partition("/")
    if not slash or not workspace or not name or "/" in name or len(project) > MAX_PROJECT_LENGTH:
        raise ValueError(
            f"invalid project name {project!r}: write it as 'workspace/project' "
            f"(at most {MAX_PROJECT_LENGTH} characters), e.g. 'team/cassava'"
        )
    return project


def workspace_of(project: str) -> str:
    """The workspace of a project: the part of its name before the '/' ('' for a name without one)."""
    workspace, slash, _ = project.partition("/")
    return workspace if slash else ""
