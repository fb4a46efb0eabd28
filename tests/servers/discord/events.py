"""What the world tells the gateway: dispatches with their audience, and forced disconnects.

The world describes *who may see* an event (a channel, a guild, or explicit accounts) and
*which intent* gates it; the gateway decides per session, because intents and
MESSAGE_CONTENT stripping are properties of a session, not of an account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .entities import Account

#: Renders a payload for one receiving account and its session's intents.
PayloadRenderer = Callable[["Account", int], dict[str, Any]]


@dataclass(frozen=True)
class Event:
    """One gateway dispatch (``op`` 0) before it is fanned out to sessions.

    Audience, checked in this order: ``audience`` (explicit account IDs) if set, else
    accounts that can view ``channel_id`` if set, else members of ``guild_id``.
    ``intent`` (0 = none needed) must be among the session's intents. Message payloads
    set ``content_author_id`` so sessions of bots without MESSAGE_CONTENT get the
    content fields emptied, except in DMs, for the author and for mentioned accounts.
    """

    name: str
    payload: dict[str, Any] | PayloadRenderer
    intent: int = 0
    guild_id: int | None = None
    channel_id: int | None = None
    audience: frozenset[int] | None = None
    content_author_id: int | None = None
    content_mentions: frozenset[int] = frozenset()

    def render(self, account: Account, intents: int) -> dict[str, Any]:
        """Return the ``d`` of the dispatch as ``account`` with ``intents`` receives it."""
        if callable(self.payload):
            return self.payload(account, intents)
        return self.payload


@dataclass(frozen=True)
class Disconnect:
    """Close every gateway session of ``account_id`` with close ``code`` (token reset...)."""

    account_id: int
    code: int
    reason: str = ""


WorldSignal = Event | Disconnect

#: Fields that carry message content and are emptied without the MESSAGE_CONTENT intent.
CONTENT_FIELDS: dict[str, Any] = {"content": "", "embeds": [], "attachments": [], "components": []}


def strip_message_content(payload: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a message payload with its content fields emptied (also nested)."""
    stripped = dict(payload)
    for key, empty in CONTENT_FIELDS.items():
        if key in stripped:
            stripped[key] = type(empty)()
    stripped.pop("poll", None)
    referenced = stripped.get("referenced_message")
    if isinstance(referenced, dict):
        stripped["referenced_message"] = strip_message_content(referenced)
    return stripped


def content_visible(
    *,
    receiver_id: int,
    receiver_is_bot: bool,
    has_message_content: bool,
    author_id: int,
    mentions: frozenset[int],
    in_guild: bool,
) -> bool:
    """Discord's MESSAGE_CONTENT rule: may this receiver see the message's content?"""
    if not receiver_is_bot or has_message_content or not in_guild:
        return True
    return receiver_id == author_id or receiver_id in mentions
