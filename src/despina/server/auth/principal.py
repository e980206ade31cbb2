"""Who a request acts as (`Principal`) and what it may do in a project (`Role`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal


class Role(enum.IntEnum):
    """A role on a project; each includes the ones below it, so roles compare: `role >= Role.CONTRIBUTOR`.

    viewer reads runs; contributor also writes them (logging, tags, uploads); owner also manages
    members and deletes.
    """

    VIEWER = 1
    CONTRIBUTOR = 2
    OWNER = 3

    @property
    def label(self) -> str:
        """The name stored in the database and used over HTTP and on the command line."""
        return self.name.lower()

    def __str__(self) -> str:
        return self.label

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named `text` (case-insensitive); ValueError listing the roles otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(role.label for role in cls)
            raise ValueError(f"unknown role {text!r}: choose one of {choices}") from None


Via = Literal["token", "session", "local"]


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user authenticated by an API token or a browser session, or local."""

    user_id: int | None  # None only for LOCAL_PRINCIPAL
    username: str
    is_admin: bool  # a server admin: owner of every project
    via: Via


# `despina ui` on one's own folder: no login, the person at the keyboard owns everything.
LOCAL_PRINCIPAL = Principal(user_id=None, username="local", is_admin=True, via="local")
