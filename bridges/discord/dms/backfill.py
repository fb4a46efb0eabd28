"""Catching up on DMs after downtime.

Each DM's newest seen message is kept like a guild channel's (``ChannelPositions``).
A DM that was never bridged has no position; for those the login keeps the time of
its last READY (``dm_since``, as a snowflake), so a DM that someone opened while the
bridge was down is caught up from then on. At the very first READY of a login
nothing is fetched: old conversations are not imported.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import aiohttp

from bridgekit.network import MessageID, RemoteBackfill, RemoteMessage

from ..backfill import ChannelPositions
from ..useraccount import DiscordHTTPError, PrivateChannel, TokenRefused
from .to_matrix import dm_portal, message_converter, sender_of

if TYPE_CHECKING:
    from .client import UserLoginClient

log = logging.getLogger("bridgekit.discord.dms.backfill")

_DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake_at(unix_ms: int) -> int:
    """The smallest snowflake of a moment (messages after it have larger IDs)."""
    return (unix_ms - _DISCORD_EPOCH_MS) << 22


class DMBackfill(ChannelPositions):
    """Positions of a user login's DMs, and the catch-up after each READY."""

    def __init__(self, client: UserLoginClient) -> None:
        super().__init__(client.login)
        self.client = client

    async def catch_up(self, channels: tuple[PrivateChannel, ...]) -> None:
        """Bridge what each DM got since it was last seen (up to ``backfill_limit``)."""
        metadata = self.login.metadata
        previous = metadata.get("dm_since")
        metadata["dm_since"] = str(snowflake_at(int(time.time() * 1000)))
        await self.login.save()
        limit = self.client.settings.backfill_limit
        if limit <= 0:
            return
        for channel in channels:
            after = self.position(channel.id) or (int(previous) if previous else None)
            if after is None or (channel.last_message_id or 0) <= after:
                continue
            try:
                await self._channel(channel, after, limit)
            except (DiscordHTTPError, TokenRefused, aiohttp.ClientError, OSError) as e:
                log.warning("Could not catch up on DM %s: %s", channel.id, type(e).__name__)

    async def _channel(self, channel: PrivateChannel, after: int, limit: int) -> None:
        client = self.client
        found = await client.require_rest().messages(channel.id, limit=limit)
        missed = [m for m in found if m.id > after]
        if not missed:
            return
        client.remember_users([m.author for m in missed])
        messages = [
            RemoteMessage(
                portal=dm_portal(client.login.id, channel.id),
                sender=sender_of(client, m.author),
                id=MessageID(str(m.id)),
                convert=message_converter(client, m),
                timestamp_ms=m.timestamp_ms,
            )
            for m in missed
            if m.is_chat
        ]
        if messages:
            log.info("Catching up on %d messages in DM %s", len(messages), channel.id)
            event = RemoteBackfill(portal=dm_portal(client.login.id, channel.id), messages=messages)
            self.track(event)
            await client.login.queue_remote_event(event)
        self.seen(channel.id, missed[-1].id)
