"""Edits made from Matrix in shared chats, so other logins do not bridge them back.

Telethon never hands a client the updates caused by its own requests, but a
supergroup or channel is shared by every login in it: when Alice edits a message
from Matrix, Bob's client sees the edit arrive from Telegram, and the portal would
get it twice. New messages, reactions and deletions need nothing of the kind: the
core drops a message ID or a reaction it already has, and finds nothing left to
delete. Private chats and basic groups have a portal per login, where the other
login's copy of the edit must be bridged.
"""

from __future__ import annotations

import time

from .ids import ChatRef

_TTL = 120.0


class EditEchoes:
    """Edits sent from Matrix that Telegram will echo to other logins."""

    def __init__(self) -> None:
        self._expected: dict[tuple[ChatRef, int, str], float] = {}

    def expect(self, chat: ChatRef, message: int, text: str) -> None:
        """Remember an edit sent to a shared chat (other chats are ignored)."""
        if not chat.is_shared:
            return
        now = time.monotonic()
        self._expected = {k: t for k, t in self._expected.items() if now - t < _TTL}
        self._expected[(chat, message, text)] = now

    def is_echo(self, chat: ChatRef, message: int, text: str) -> bool:
        """Whether an incoming edit is one sent from Matrix (each is matched once)."""
        return self._expected.pop((chat, message, text), None) is not None
