"""Identifiers of things on the remote network.

Every ID is an opaque string chosen by the network plugin: the core stores and
compares them but never parses them. Use the network's own stable IDs (a Telegram
peer ID, an IRC channel name folded with the server's casemapping, a Discord
snowflake) so that the same remote thing always gets the same ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

PortalID = NewType("PortalID", str)
"""A remote chat: a DM, group, channel, thread or topic."""

RemoteUserID = NewType("RemoteUserID", str)
"""A remote user. The core turns it into a ghost (``@<network>_<id>:server``)."""

MessageID = NewType("MessageID", str)
"""A remote message, unique within its portal."""

PartID = NewType("PartID", str)
"""One Matrix event of a remote message that became several (text + each attachment).
The empty string is the first (or only) part."""

EmojiID = NewType("EmojiID", str)
"""A reaction emoji as the network identifies it (a unicode string, a custom emoji ID)."""

LoginID = NewType("LoginID", str)
"""One logged-in remote account (a Telegram user ID, an IRC network+nick, a Discord user ID)."""


@dataclass(frozen=True, slots=True)
class PortalKey:
    """Which portal room a remote chat maps to.

    ``receiver`` is ``None`` for chats that are shared by everybody on the bridge
    (a Telegram channel, a Discord guild channel): one room, however many bridge
    users are in it. It is set to a login ID where the same remote chat must get a
    separate room per logged-in account: DMs, and IRC channels in bouncer mode.
    """

    id: PortalID
    receiver: LoginID | None = None

    def __str__(self) -> str:
        return self.id if self.receiver is None else f"{self.id} (for {self.receiver})"
