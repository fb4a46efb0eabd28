"""Gateway events of a user login → the core's remote events.

Only private channels (DMs, group DMs) are bridged: anything with a ``guild_id`` is
skipped, since guilds are bridged through bot logins. Echoes of the bridge's own
changes are skipped (see ``echoes``); the owner's doings from other Discord clients
arrive as ``is_from_me``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bridgekit.network import (
    Avatar,
    BridgeStateEvent,
    EmojiID,
    EventSender,
    MessageID,
    RemoteChatResync,
    RemoteEdit,
    RemoteMessage,
    RemoteMessageRemove,
    RemoteReaction,
    RemoteReactionRemove,
    RemoteTyping,
    RemoteUserID,
)

from ..useraccount import (
    ChannelChanged,
    ChannelDeleted,
    ConnectionLost,
    Emoji,
    GatewayEvent,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
    ReactionChanged,
    Ready,
    Resumed,
    TypingStarted,
)
from .to_matrix import dm_portal, edit_converter, message_converter, sender_of

if TYPE_CHECKING:
    from .client import UserLoginClient

log = logging.getLogger("bridgekit.discord.dms.events")


class DMEvents:
    """Turns one user login's gateway events into remote events, in order."""

    def __init__(self, client: UserLoginClient) -> None:
        self.client = client
        self._catch_up: asyncio.Task[None] | None = None

    async def handle(self, event: GatewayEvent) -> None:
        """Called by the gateway for every event (the gateway logs what raises)."""
        client = self.client
        if isinstance(event, Ready):
            await self._ready(event)
        elif isinstance(event, Resumed):
            log.info("User login %s resumed its gateway session", client.user_id)
            await client.login.set_state(BridgeStateEvent.CONNECTED)
        elif isinstance(event, ConnectionLost):
            if client.is_logged_in():
                await client.login.set_state(
                    BridgeStateEvent.TRANSIENT_DISCONNECT, "Reconnecting to Discord"
                )
        elif isinstance(event, MessageCreated | MessageUpdated):
            if event.message.guild_id is None:
                await self._message(event)
        elif isinstance(event, MessageDeleted):
            if event.guild_id is None:
                await self._deleted(event)
        elif isinstance(event, ReactionChanged):
            if event.guild_id is None:
                await self._reaction(event)
        elif isinstance(event, TypingStarted):
            if event.guild_id is None:
                await self._typing(event)
        elif isinstance(event, ChannelChanged):
            await self._channel(event)
        elif isinstance(event, ChannelDeleted):
            client.channels.pop(event.channel_id, None)

    async def _ready(self, ready: Ready) -> None:
        client = self.client
        client.remember_users([ready.user])
        for channel in ready.private_channels:
            client.remember_channel(channel)
        log.info(
            "User login %s connected, %d private channels",
            client.user_id,
            len(ready.private_channels),
        )
        await client.login.set_state(BridgeStateEvent.CONNECTED)
        if ready.user.username != client.login.remote_name:
            await client.login.set_remote_name(ready.user.username)
        await client.welcome()
        if self._catch_up is None or self._catch_up.done():
            # In the background: the gateway must go on reading (heartbeat ACKs).
            self._catch_up = asyncio.create_task(client.backfill.catch_up(ready.private_channels))

    async def _message(self, event: MessageCreated | MessageUpdated) -> None:
        client = self.client
        message = event.message
        if not message.is_chat:
            return
        channel = await client.private_channel(message.channel_id)
        if channel is None:
            return
        client.remember_users([message.author, *message.mentions])
        portal = dm_portal(client.login.id, channel.id)
        sender = sender_of(client, message.author)
        if isinstance(event, MessageCreated):
            created = RemoteMessage(
                portal=portal,
                sender=sender,
                id=MessageID(str(message.id)),
                convert=message_converter(client, message),
                timestamp_ms=message.timestamp_ms,
            )
            client.backfill.track(created)
            await client.login.queue_remote_event(created)
            client.backfill.seen(channel.id, message.id)
            return
        if message.edited_ms is None:
            return  # no edit: Discord only added a link preview
        if sender.is_from_me and client.echoes.take("edit", message.id):
            return
        await client.login.queue_remote_event(
            RemoteEdit(
                portal=portal,
                sender=sender,
                target=MessageID(str(message.id)),
                convert=edit_converter(client, message),
                timestamp_ms=message.edited_ms,
            )
        )

    async def _deleted(self, event: MessageDeleted) -> None:
        client = self.client
        if client.echoes.take("delete", event.message_id):
            return
        if await client.private_channel(event.channel_id) is None:
            return
        await client.login.queue_remote_event(
            RemoteMessageRemove(
                portal=dm_portal(client.login.id, event.channel_id),
                target=MessageID(str(event.message_id)),
            )
        )

    def _sender(self, user_id: int) -> EventSender:
        client = self.client
        user = client.users.get(user_id)
        if user is not None:
            return sender_of(client, user)
        return EventSender(user_id=RemoteUserID(str(user_id)), is_from_me=user_id == client.user_id)

    async def _reaction(self, event: ReactionChanged) -> None:
        client = self.client
        emoji = event.emoji
        if event.user_id == client.user_id and client.echoes.take(
            "react" if event.added else "unreact", event.message_id, emoji.key
        ):
            return
        if await client.private_channel(event.channel_id) is None:
            return
        portal = dm_portal(client.login.id, event.channel_id)
        target = MessageID(str(event.message_id))
        if not event.added:
            await client.login.queue_remote_event(
                RemoteReactionRemove(
                    portal=portal,
                    sender=self._sender(event.user_id),
                    target=target,
                    emoji_id=EmojiID(emoji.key),
                )
            )
            return
        await client.login.queue_remote_event(
            RemoteReaction(
                portal=portal,
                sender=self._sender(event.user_id),
                target=target,
                emoji=emoji.name if emoji.id is None else f":{emoji.name}:",
                emoji_id=EmojiID(emoji.key),
                image=None if emoji.id is None else self._emoji_image(emoji),
            )
        )

    def _emoji_image(self, emoji: Emoji) -> Avatar:
        ext = "gif" if emoji.animated else "png"
        url = f"{self.client.endpoints.cdn_url}/emojis/{emoji.id}.{ext}"
        client = self.client

        async def get() -> bytes:
            return await client.require_rest().download(url)

        return Avatar(str(emoji.id), get, f"image/{ext}")

    async def _typing(self, event: TypingStarted) -> None:
        client = self.client
        if event.user_id == client.user_id:
            return
        if await client.private_channel(event.channel_id) is None:
            return
        await client.login.queue_remote_event(
            RemoteTyping(
                portal=dm_portal(client.login.id, event.channel_id),
                sender=self._sender(event.user_id),
                timeout_s=10.0,
            )
        )

    async def _channel(self, event: ChannelChanged) -> None:
        """A new group DM gets its room now (someone added the owner on purpose); a
        new DM waits for its first message; a changed group DM is synced."""
        client = self.client
        channel = client.remember_channel(event.channel)
        client.remember_users(channel.recipients)
        if event.created and not channel.is_group:
            return
        await client.login.queue_remote_event(
            RemoteChatResync(portal=dm_portal(client.login.id, channel.id), create=event.created)
        )

    async def stop(self) -> None:
        """Stop a catch-up that is still running."""
        task = self._catch_up
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                log.debug("Catch-up of user login %s stopped", self.client.user_id)
