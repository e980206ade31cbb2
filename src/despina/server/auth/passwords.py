"""Password hashing with argon2id (argon2-cffi's defaults, which follow RFC 9106's recommendations)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id; its parameters are encoded in each hash, so they can change later


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, with its own random salt and parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`; False (never an exception) for a malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's: rehash it at the next login."""
    return _hasher.check_needs_rehash(password_hash)


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to check against for an unknown user, so that answer takes as long as a wrong password."""
    return _hasher.hash("despina-no-such-user")
