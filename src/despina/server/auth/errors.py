"""Errors of user and role management (authentication failures are `despina.exceptions.AccessDeniedError`).

They live beside the server rather than in `despina.exceptions`: training code never meets them.
"""

from __future__ import annotations

from despina.exceptions import DespinaError


class UserExistsError(DespinaError, ValueError):
    """A user with this name already exists."""


class UnknownUserError(DespinaError, LookupError):
    """No user has this name, or the user has no such token or membership."""
