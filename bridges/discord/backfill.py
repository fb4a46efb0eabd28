"""Catching up after downtime: messages a channel got while the bridge was away.

For every channel (and thread) that has a portal the login keeps the newest message
ID it saw (in its metadata, saved a few seconds after it changes and at disconnect),
but only once the core has handled every message before it (``Checkpoints``): a crash
never skips a message that was received and not yet bridged.
After the first READY of a process, each such channel's or thread's messages newer
than that are fetched (up to ``backfill_limit``) and handed to the core as a
``RemoteBackfill`` of the channel's portal (a thread's messages go into its Matrix
thread there), which skips any message that was bridged already. When more than the
limit was missed, the user is told.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord

from bridgekit.network import Checkpoints, LoginHandle, RemoteBackfill, RemoteEvent

from . import guilds
from .settings import GuildMode
from .to_matrix import portal_key

if TYPE_CHECKING:
    from .client import DiscordClient
    from .gateway import GatewayListener

log = logging.getLogger("bridgekit.discord.backfill")

SAVE_DELAY = 5.0
"""Seconds between a new message and saving the channel positions (one write for
a burst of messages, not one per message)."""


class ChannelPositions:
    """The newest message seen in each channel of one login (bot or user), kept in
    the login's metadata (``channels``)."""

    def __init__(self, login: LoginHandle) -> None:
        self.login = login
        self._save_task: asyncio.Task[None] | None = None
        self._checkpoints: Checkpoints[dict[str, str]] = Checkpoints()
        self._dirty = False
        self._pending: set[asyncio.Task[bool]] = set()
        #: The newest message seen per channel, handled by the core or not.
        self._reached: dict[str, str] = {k: str(v) for k, v in self.positions.items()}

    @property
    def positions(self) -> dict[str, Any]:
        """Channel ID → the newest message ID seen there."""
        positions: dict[str, Any] = self.login.metadata.setdefault("channels", {})
        return positions

    def position(self, channel_id: int) -> int | None:
        """The newest message ID seen in a channel, if any."""
        value = self.positions.get(str(channel_id))
        return int(value) if value else None

    def track(self, event: RemoteEvent) -> None:
        """A message event is about to be queued: positions wait for it."""
        self._checkpoints.track(event)

    def seen(self, channel_id: int, message_id: int) -> None:
        """Note a message of a bridged channel, after its event was queued (or when it
        has none: the bridge's own echoes)."""
        key = str(channel_id)
        if int(self._reached.get(key) or 0) >= message_id:
            return
        if key not in self.positions:
            # A channel new to the login: catch up from just before this message, and
            # say so at once (a crash before the next save would forget the channel).
            self.positions[key] = str(message_id - 1)
            self._dirty = True
            task = asyncio.create_task(self._save())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        self._reached[key] = str(message_id)
        self._checkpoints.offer(dict(self._reached))
        if self._save_task is None or self._save_task.done():
            self._save_task = asyncio.create_task(self._save_later())

    async def _save_later(self) -> None:
        while True:
            await asyncio.sleep(SAVE_DELAY)
            await self._save()
            if self.positions == self._reached:
                return

    async def _save(self) -> bool:
        """Store the newest positions the core's progress allows; whether any moved."""
        taken = self._checkpoints.take() or {}
        positions = self.positions
        moved = False
        for key, value in taken.items():
            if int(positions.get(key) or 0) < int(value):
                positions[key] = value
                moved = True
        if moved or self._dirty:
            self._dirty = False
            await self.login.save()
        return moved

    async def flush(self) -> None:
        """Save the positions now (at disconnect), as far as they are handled."""
        task, self._save_task = self._save_task, None
        if task is not None and not task.done():
            task.cancel()
        await self._save()


class Backfill(ChannelPositions):
    """The channel positions of a bot login, and its catch-up after a start."""

    def __init__(self, client: DiscordClient) -> None:
        super().__init__(client.login)
        self.client = client

    async def catch_up(self, listener: GatewayListener) -> None:
        """Bridge what each known channel got since its saved position."""
        limit = self.client.settings.backfill_limit
        if limit <= 0:
            return
        for channel_id, last in list(self.positions.items()):
            channel = await self._find(listener, int(channel_id))
            if channel is None:
                continue
            guild = channel.guild
            if guilds.mode_of(self.client, guild.id) == GuildMode.NOTHING:
                continue
            if channel.last_message_id is not None and channel.last_message_id <= int(last):
                continue
            try:
                await self._channel(listener, channel, int(last), limit)
            except discord.HTTPException as e:
                log.warning("Could not backfill channel %s: %s", channel.id, e)

    @staticmethod
    async def _find(
        listener: GatewayListener, channel_id: int
    ) -> discord.TextChannel | discord.Thread | None:
        """A channel or thread by ID; threads that are not active are not in the
        gateway's cache and are asked for."""
        channel: Any = listener.get_channel(channel_id)
        if channel is None:
            try:
                channel = await listener.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                return None
            except discord.HTTPException as e:
                log.warning("Could not look up channel %s to backfill: %s", channel_id, e)
                return None
        if isinstance(channel, discord.Thread) and channel.parent_id is not None:
            return channel
        return channel if isinstance(channel, discord.TextChannel) else None

    async def _channel(
        self,
        listener: GatewayListener,
        channel: discord.TextChannel | discord.Thread,
        last: int,
        limit: int,
    ) -> None:
        # One more than the limit tells whether even more was missed.
        missed = [m async for m in channel.history(limit=limit + 1) if m.id > last]
        if len(missed) > limit:
            missed = missed[:limit]
            await self.client.login.notify_user(
                f"More was said in #{channel.name} while the bridge was away than the {limit} "
                "newest messages it bridged there (network.backfill_limit)."
            )
        missed.reverse()
        messages = [
            listener.remote_message(m)
            for m in missed
            if m.type in (discord.MessageType.default, discord.MessageType.reply)
            and not listener.is_own_echo(m)
        ]
        if messages:
            log.info("Backfilling %d messages in channel %s", len(messages), channel.id)
            parent = channel.parent_id if isinstance(channel, discord.Thread) else channel.id
            event = RemoteBackfill(portal=portal_key(parent), messages=messages)
            self.track(event)
            await self.client.login.queue_remote_event(event)
        if missed:
            self.seen(channel.id, missed[-1].id)
