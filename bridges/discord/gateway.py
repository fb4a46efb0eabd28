"""The gateway side: a discord.py client whose events become remote events.

``GatewayListener`` is a stock ``discord.Client``; discord.py runs the gateway
(heartbeats, RESUME after a drop, its own backoff, the identify limit) and calls the
``on_*`` methods below, which turn Discord's events into the core's ``Remote*``
events. It skips what the bridge itself caused: messages of its own webhooks, edits,
reactions and typing of its own bot user.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bridgekit.network import (
    Avatar,
    BridgeStateEvent,
    ChatInfo,
    ChatMember,
    ChatMemberList,
    EmojiID,
    EventSender,
    Membership,
    MessageID,
    PortalKey,
    RemoteChatDelete,
    RemoteChatInfoChange,
    RemoteChatResync,
    RemoteEdit,
    RemoteMessage,
    RemoteMessageRemove,
    RemotePinChange,
    RemotePresence,
    RemoteReaction,
    RemoteReactionRemove,
    RemoteTyping,
    RemoteUserID,
)

from . import guilds
from .settings import GuildMode, gateway_intents
from .to_matrix import (
    channel_order,
    edit_converter,
    guild_info,
    message_converter,
    portal_channel,
    portal_key,
    sender_of,
    timestamp_ms,
)

if TYPE_CHECKING:
    from .client import DiscordClient

log = logging.getLogger("bridgekit.discord.gateway")

_BRIDGED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_PRESENCE = {
    discord.Status.online: "online",
    discord.Status.idle: "unavailable",
    discord.Status.dnd: "unavailable",
    discord.Status.offline: "offline",
    discord.Status.invisible: "offline",
}


class GatewayListener(discord.Client):
    """One gateway connection of a bot login."""

    def __init__(self, client: DiscordClient) -> None:
        super().__init__(
            intents=gateway_intents(),
            # Members come with GUILD_CREATE; asking for every member of every guild
            # at start-up is slow and not needed (ghosts appear when people write).
            chunk_guilds_at_startup=False,
            guild_ready_timeout=1.0,
            max_messages=1000,
        )
        self.bridge = client

    # Connection state ---------------------------------------------------------------

    async def setup_hook(self) -> None:
        # Presences are a privileged intent the bridge can live without: ask for them
        # only when the application has them enabled (asking otherwise is close 4014).
        # discord.py knows the application's flags only now, after login.
        flags = self.application_flags
        if flags.gateway_presence or flags.gateway_presence_limited:
            self._connection._intents.presences = True

    async def on_ready(self) -> None:
        log.info("Bot %s connected, in %d guilds", self.bridge.bot_id, len(self.guilds))
        await self.bridge.login.set_state(BridgeStateEvent.CONNECTED)
        if self.user is not None and self.user.name != self.bridge.login.remote_name:
            await self.bridge.login.set_remote_name(self.user.name)
        await self.bridge.after_ready(self)

    async def on_resumed(self) -> None:
        log.info("Bot %s resumed its gateway session", self.bridge.bot_id)
        await self.bridge.login.set_state(BridgeStateEvent.CONNECTED)

    async def on_disconnect(self) -> None:
        if not self.bridge.stopping and self.bridge.is_logged_in():
            await self.bridge.login.set_state(
                BridgeStateEvent.TRANSIENT_DISCONNECT, "Reconnecting to Discord"
            )

    async def on_guild_join(self, guild: discord.Guild) -> None:
        mode = guilds.mode_of(self.bridge, guild.id)
        if mode == GuildMode.EVERYTHING:
            await guilds.create_portals(self.bridge, guild)
            return
        await self.bridge.login.notify_user(
            f"The bot joined the Discord server {guild.name} ({guild.id}). Its channels "
            f"get a room at their first message; send `guilds bridge {guild.id}` to "
            "bridge every channel now."
        )

    # Messages -----------------------------------------------------------------------

    def bridges(self, channel: object) -> bool:
        """Whether events of ``channel`` are bridged: guild text channels (and their
        threads) of guilds whose mode is not ``nothing``."""
        parent = portal_channel(channel)
        return parent is not None and (
            guilds.mode_of(self.bridge, parent.guild.id) != GuildMode.NOTHING
        )

    def portal_of(self, channel_id: int) -> PortalKey | None:
        """The portal of a channel or thread ID whose events are bridged."""
        channel = self.get_channel(channel_id)
        parent = portal_channel(channel)
        if parent is None or not self.bridges(parent):
            return None
        return portal_key(parent.id)

    def is_own_echo(self, message: discord.Message) -> bool:
        """A message the bridge posted through one of its webhooks."""
        if message.webhook_id is None:
            return False
        own_app = self.bridge.application_id
        return self.bridge.webhooks.owns(message.webhook_id) or (
            own_app is not None and message.application_id == own_app
        )

    def remote_message(self, message: discord.Message) -> RemoteMessage:
        """The remote event of a new message."""
        parent = portal_channel(message.channel)
        return RemoteMessage(
            portal=portal_key(parent.id if parent is not None else message.channel.id),
            sender=sender_of(self.bridge, message.author),
            id=MessageID(str(message.id)),
            convert=message_converter(self.bridge, message),
            timestamp_ms=timestamp_ms(message),
        )

    async def on_message(self, message: discord.Message) -> None:
        if not self.bridges(message.channel) or message.type not in _BRIDGED_TYPES:
            return
        backfill = self.bridge.backfill
        if not self.is_own_echo(message):
            event = self.remote_message(message)
            backfill.track(event)
            await self.bridge.login.queue_remote_event(event)
        backfill.seen(message.channel.id, message.id)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        message = payload.message
        if not self.bridges(message.channel) or message.edited_at is None:
            return  # no edited_at: Discord only added a link preview
        if message.author.id == self.bridge.bot_id or self.is_own_echo(message):
            return  # the bridge made this edit itself
        parent = portal_channel(message.channel)
        if parent is None:
            return
        await self.bridge.login.queue_remote_event(
            RemoteEdit(
                portal=portal_key(parent.id),
                sender=sender_of(self.bridge, message.author),
                target=MessageID(str(message.id)),
                convert=edit_converter(self.bridge, message),
                timestamp_ms=int(message.edited_at.timestamp() * 1000),
            )
        )

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        portal = self.portal_of(payload.channel_id)
        if portal is not None:
            await self.bridge.login.queue_remote_event(
                RemoteMessageRemove(portal=portal, target=MessageID(str(payload.message_id)))
            )

    async def on_guild_channel_pins_update(
        self, channel: discord.abc.GuildChannel | discord.Thread, last_pin: Any
    ) -> None:
        """Discord says only that a channel's pins changed: the list is read again and
        the room's pinned messages made to match it."""
        parent = portal_channel(channel)
        if parent is None or not self.bridges(channel):
            return
        try:
            pins = [m async for m in channel.pins(limit=None, oldest_first=True)]  # type: ignore[union-attr]
        except discord.HTTPException as e:
            log.warning("Could not read the pins of channel %s: %s", channel.id, e)
            return
        await self.bridge.login.queue_remote_event(
            RemotePinChange(
                portal=portal_key(parent.id),
                pinned=[MessageID(str(m.id)) for m in pins],
                exact=True,
            )
        )

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        portal = self.portal_of(payload.channel_id)
        if portal is None:
            return
        for message_id in sorted(payload.message_ids):
            await self.bridge.login.queue_remote_event(
                RemoteMessageRemove(portal=portal, target=MessageID(str(message_id)))
            )

    # Reactions and typing -----------------------------------------------------------

    def _reactor(self, user_id: int, member: discord.Member | None) -> EventSender | None:
        if user_id == self.bridge.bot_id:
            return None  # the bridge reacted itself, for a Matrix user
        user = member or self.get_user(user_id)
        if user is not None:
            return sender_of(self.bridge, user)
        return EventSender(user_id=RemoteUserID(str(user_id)))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        sender = self._reactor(payload.user_id, payload.member)
        portal = self.portal_of(payload.channel_id)
        if sender is None or portal is None:
            return
        emoji = payload.emoji
        await self.bridge.login.queue_remote_event(
            RemoteReaction(
                portal=portal,
                sender=sender,
                target=MessageID(str(payload.message_id)),
                emoji=emoji.name if emoji.is_unicode_emoji() else f":{emoji.name}:",
                emoji_id=_emoji_id(emoji),
                image=None if emoji.is_unicode_emoji() else _emoji_image(emoji),
            )
        )

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        sender = self._reactor(payload.user_id, None)
        portal = self.portal_of(payload.channel_id)
        if sender is None or portal is None:
            return
        await self.bridge.login.queue_remote_event(
            RemoteReactionRemove(
                portal=portal,
                sender=sender,
                target=MessageID(str(payload.message_id)),
                emoji_id=_emoji_id(payload.emoji),
            )
        )

    async def on_raw_typing(self, payload: discord.RawTypingEvent) -> None:
        portal = self.portal_of(payload.channel_id)
        if payload.user_id == self.bridge.bot_id or portal is None:
            return
        user = payload.user if isinstance(payload.user, discord.abc.User) else None
        sender = (
            sender_of(self.bridge, user)
            if user is not None
            else EventSender(user_id=RemoteUserID(str(payload.user_id)))
        )
        await self.bridge.login.queue_remote_event(
            RemoteTyping(portal=portal, sender=sender, timeout_s=10.0)
        )

    async def on_presence_update(self, before: discord.Member, after: discord.Member) -> None:
        log.debug("Presence of %s: %s → %s", after.id, before.status, after.status)
        if after.id == self.bridge.bot_id or before.status == after.status:
            return
        channel = next(iter(guilds.bridgeable_channels(self.bridge, after.guild)), None)
        if channel is None:
            return
        activity = after.activity
        await self.bridge.login.queue_remote_event(
            RemotePresence(
                portal=portal_key(channel.id),
                sender=EventSender(user_id=RemoteUserID(str(after.id))),
                presence=_PRESENCE.get(after.status, "online"),
                status_msg=activity.name if isinstance(activity, discord.CustomActivity) else None,
            )
        )

    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        """A renamed guild (or a new icon) renames its space."""
        if (before.name, before.icon, before.description) == (
            after.name,
            after.icon,
            after.description,
        ) or guilds.mode_of(self.bridge, after.id) == GuildMode.NOTHING:
            return
        await self.bridge.login.queue_remote_event(
            RemoteChatInfoChange(portal=portal_key(after.id), info=guild_info(after))
        )

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member left or was kicked: their ghost leaves the guild's rooms."""
        guild = self.get_guild(payload.guild_id)
        if guild is None or payload.user.id == self.bridge.bot_id:
            return
        if guilds.mode_of(self.bridge, guild.id) == GuildMode.NOTHING:
            return
        gone = ChatMember(user_id=RemoteUserID(str(payload.user.id)), membership=Membership.LEAVE)
        for channel in guild.text_channels:
            await self.bridge.login.queue_remote_event(
                RemoteChatInfoChange(
                    portal=portal_key(channel.id),
                    info=ChatInfo(members=ChatMemberList([gone], is_full=False)),
                )
            )

    # Channels -----------------------------------------------------------------------

    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        if isinstance(channel, discord.TextChannel) and (
            guilds.mode_of(self.bridge, channel.guild.id) == GuildMode.EVERYTHING
        ):
            await self.bridge.login.queue_remote_event(
                RemoteChatResync(portal=portal_key(channel.id), create=True)
            )

    async def on_guild_channel_update(
        self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel
    ) -> None:
        if not self.bridges(after) or not isinstance(after, discord.TextChannel):
            return
        before_order = channel_order(before) if isinstance(before, discord.TextChannel) else None
        if (getattr(before, "name", None), getattr(before, "topic", None), before_order) == (
            after.name,
            after.topic,
            channel_order(after),
        ):
            return
        template = self.bridge.settings.channel_name_template
        info = ChatInfo(
            name=template.replace("{name}", after.name).replace("{guild}", after.guild.name),
            topic=after.topic or "",
            order=channel_order(after),
        )
        await self.bridge.login.queue_remote_event(
            RemoteChatInfoChange(portal=portal_key(after.id), info=info)
        )

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        if self.bridges(channel):
            await self.bridge.login.queue_remote_event(
                RemoteChatDelete(portal=portal_key(channel.id))
            )


def _emoji_image(emoji: discord.PartialEmoji) -> Avatar:
    """A custom emoji's picture, fetched from Discord's CDN when first needed."""

    async def get() -> bytes:
        return await emoji.read()

    return Avatar(str(emoji.id), get, "image/gif" if emoji.animated else "image/png")


def _emoji_id(emoji: discord.PartialEmoji) -> EmojiID:
    """Unicode emoji are their own ID; custom ones are ``name:id``."""
    if emoji.is_unicode_emoji():
        return EmojiID(emoji.name)
    return EmojiID(f"{emoji.name}:{emoji.id}")
