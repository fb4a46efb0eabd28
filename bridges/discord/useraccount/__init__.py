"""A small Discord client for user accounts, for what discord.py 2 cannot do: it
sends every request as a bot (``Authorization: Bot …``) and identifies like one.

- ``rest.UserREST``: the REST calls a user login needs (the raw token as
  ``Authorization``, 429s waited out);
- ``gateway.UserGateway``: the gateway connection (IDENTIFY as a user, heartbeats,
  RESUME after drops, backoff with jitter, 4004 → ``TokenRefused``);
- ``models``: the typed objects and events both hand out (no raw JSON leaves here).

Discord's terms forbid automating user accounts ("self-bots"); the bridge uses this
only when the operator switched ``user_login`` on.
"""

from __future__ import annotations

from .gateway import GatewayRefused, UserGateway
from .models import (
    Attachment,
    ChannelChanged,
    ChannelDeleted,
    ChannelType,
    ConnectionLost,
    Emoji,
    GatewayEvent,
    Message,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
    PrivateChannel,
    ReactionChanged,
    Ready,
    Resumed,
    TypingStarted,
    User,
)
from .rest import DiscordHTTPError, TokenRefused, UserREST

__all__ = [
    "Attachment",
    "ChannelChanged",
    "ChannelDeleted",
    "ChannelType",
    "ConnectionLost",
    "DiscordHTTPError",
    "Emoji",
    "GatewayEvent",
    "GatewayRefused",
    "Message",
    "MessageCreated",
    "MessageDeleted",
    "MessageUpdated",
    "PrivateChannel",
    "ReactionChanged",
    "Ready",
    "Resumed",
    "TokenRefused",
    "TypingStarted",
    "User",
    "UserGateway",
    "UserREST",
]
