"""Exceptions of the IRC protocol client."""

from __future__ import annotations

from .events import FatalReason


class IRCError(Exception):
    """Base of the protocol client's exceptions."""


class FatalConnectionError(IRCError):
    """The connection gave up for good: retrying cannot help until the user changes
    something (a password, a ban, a nick). ``reason`` says which."""

    def __init__(self, reason: FatalReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class NotConnectedError(IRCError):
    """The operation needs a registered connection and there is none right now."""


class ChatHistoryError(IRCError):
    """The server refused a CHATHISTORY request (``FAIL CHATHISTORY``), does not offer
    chathistory, or the connection dropped before the request was answered."""
