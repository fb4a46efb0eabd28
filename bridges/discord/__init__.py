"""The Discord bridge: Discord bots ⇄ Matrix, on discord.py, and (when the operator
allows it) users' DMs through their own accounts.

Start at ``connector.DiscordConnector``. Layout: ``login`` (bot and user tokens),
``client`` (one bot's connection), ``gateway`` (Discord events → remote events),
``to_matrix`` / ``from_matrix`` (conversion each way), ``formatting`` (markdown ⇄
HTML), ``webhooks`` (Matrix users' own names), ``guilds`` (what is bridged, the
``guilds`` command), ``backfill`` (catching up after downtime), ``settings``;
``dms`` (user logins: DMs and group DMs) on ``useraccount`` (a small Discord client
for user tokens, which discord.py does not support).
"""

from __future__ import annotations

from .connector import DiscordConnector

__all__ = ["DiscordConnector"]
