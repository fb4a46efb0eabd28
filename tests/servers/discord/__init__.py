"""A local Discord API v10 server (REST, gateway, CDN) for testing discord.py clients.

Start a :class:`DiscordTestServer`, build its world (applications, users, guilds,
channels), point discord.py at it with :func:`use_test_server`, and act as Discord
through the server's methods. README.md in this folder explains the model, the
fidelity to the real API, and the fault API.

Module map: ``world/`` (state, accounts, guilds, channels, messaging) ·
``entities`` · ``wire`` (JSON shapes) · ``events`` · ``permissions`` · ``gateway`` +
``gateway_session`` · ``rest/`` (routes, middleware, CDN) · ``ratelimits`` · ``faults``
· ``snowflake`` · ``protocol`` (constants) · ``server`` · ``discordpy`` (client helpers).
"""

from __future__ import annotations

from .discordpy import running_client, use_test_server
from .entities import Account, Application, Channel, Guild, Message, Overwrite, Role, Webhook
from .protocol import ChannelType, CloseCode, Intents, Permissions, StickerFormat
from .ratelimits import BucketRule
from .server import DiscordTestServer
from .world import UNSET, NotFound, Upload, World

__all__ = [
    "UNSET",
    "Account",
    "Application",
    "BucketRule",
    "Channel",
    "ChannelType",
    "CloseCode",
    "DiscordTestServer",
    "Guild",
    "Intents",
    "Message",
    "NotFound",
    "Overwrite",
    "Permissions",
    "Role",
    "StickerFormat",
    "Upload",
    "Webhook",
    "World",
    "running_client",
    "use_test_server",
]
