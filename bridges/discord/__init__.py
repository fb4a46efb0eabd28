"""The Discord bridge: Discord bots ⇄ Matrix, on discord.py.

Start at ``connector.DiscordConnector``. Layout: ``login`` (bot token), ``client``
(one bot's connection), ``gateway`` (Discord events → remote events),
``to_matrix`` / ``from_matrix`` (conversion each way), ``formatting`` (markdown ⇄
HTML), ``webhooks`` (Matrix users' own names), ``guilds`` (what is bridged, the
``guilds`` command), ``backfill`` (catching up after downtime), ``settings``.
"""

from __future__ import annotations

from .connector import DiscordConnector

__all__ = ["DiscordConnector"]
