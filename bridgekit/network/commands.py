"""Bot commands that a network adds to the core's (``join`` for IRC, ``guilds`` for Discord).

A network lists them in ``NetworkConnector.get_commands``. The core shows them in
``help``, checks permissions and login, parses arguments, and calls the handler
with a ``CommandContext``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .handles import LoginHandle
from .ids import PortalKey


class CommandContext(Protocol):
    """One run of a network command."""

    @property
    def args(self) -> list[str]:
        """The arguments after the command name (shell-like quoting is honoured)."""
        ...

    @property
    def user_mxid(self) -> str:
        """Who ran it."""
        ...

    @property
    def login(self) -> LoginHandle | None:
        """The user's login to use: the one in this portal, else their first one.
        Never ``None`` for commands with ``needs_login`` set."""
        ...

    @property
    def portal(self) -> PortalKey | None:
        """The portal the command was sent in, if any."""
        ...

    @property
    def is_admin(self) -> bool:
        """Whether the user has the bridge's admin level."""
        ...

    async def reply(self, text: str) -> None:
        """Answer the user (a notice in the room the command came from)."""
        ...


@dataclass(frozen=True, slots=True)
class NetworkCommand:
    """A command: ``handler`` runs it; ``help_args``/``help_text`` are shown in
    ``help``; ``admin_only`` needs the admin level; ``needs_login`` refuses users
    without a login (with a message telling them to log in); ``portal_only`` needs a
    portal room."""

    name: str
    handler: Callable[[CommandContext], Awaitable[None]]
    help_text: str
    help_args: str = ""
    admin_only: bool = False
    needs_login: bool = True
    portal_only: bool = False
