"""Channels: categories, text channels, DMs and group DMs, and their webhooks.
(Threads are made in ``messaging.py``, as they may start from a message.)

Every change that a connected client would hear about emits the matching dispatch
(CHANNEL_CREATE/UPDATE/DELETE, THREAD_UPDATE/DELETE, WEBHOOKS_UPDATE).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from .. import wire
from ..entities import Account, Channel, Guild, Overwrite, Webhook
from ..events import Event
from ..protocol import ChannelType, Intents
from .accounts import image_hash
from .guilds import GuildOps
from .state import UNSET


class ChannelOps(GuildOps):
    """World operations on channels and webhooks."""

    # -- channels and threads ---------------------------------------------------------

    def _add_guild_channel(
        self,
        guild: Guild,
        kind: ChannelType,
        name: str,
        *,
        parent: Channel | None,
        topic: str | None,
        position: int | None,
        overwrites: Iterable[Overwrite],
    ) -> Channel:
        if position is None:
            position = len(self.guild_channels(guild))
        ch = Channel(
            id=self.ids.next(),
            type=kind,
            guild_id=guild.id,
            name=name,
            position=position,
            topic=topic,
            parent_id=parent.id if parent else None,
            overwrites=list(overwrites),
        )
        self.channels[ch.id] = ch
        self.channel_message_ids[ch.id] = []
        if guild.system_channel_id is None and kind == ChannelType.GUILD_TEXT:
            guild.system_channel_id = ch.id
        self.emit(
            Event("CHANNEL_CREATE", wire.channel(self, ch), intent=Intents.GUILDS, channel_id=ch.id)
        )
        return ch

    def create_category(
        self,
        guild: Guild,
        name: str,
        *,
        position: int | None = None,
        overwrites: Iterable[Overwrite] = (),
    ) -> Channel:
        """Create a category channel and dispatch CHANNEL_CREATE."""
        return self._add_guild_channel(
            guild,
            ChannelType.GUILD_CATEGORY,
            name,
            parent=None,
            topic=None,
            position=position,
            overwrites=overwrites,
        )

    def create_text_channel(
        self,
        guild: Guild,
        name: str,
        *,
        category: Channel | None = None,
        topic: str | None = None,
        position: int | None = None,
        overwrites: Iterable[Overwrite] = (),
    ) -> Channel:
        """Create a text channel (optionally in ``category``), dispatch CHANNEL_CREATE."""
        return self._add_guild_channel(
            guild,
            ChannelType.GUILD_TEXT,
            name,
            parent=category,
            topic=topic,
            position=position,
            overwrites=overwrites,
        )

    def update_channel(
        self,
        channel: Channel,
        *,
        name: Any = UNSET,
        topic: Any = UNSET,
        position: Any = UNSET,
        category: Any = UNSET,
        overwrites: Any = UNSET,
        archived: Any = UNSET,
        locked: Any = UNSET,
        nsfw: Any = UNSET,
    ) -> None:
        """Change a channel or thread; dispatch CHANNEL_UPDATE (THREAD_UPDATE for threads)."""
        viewers_before = self.viewers(channel)
        if name is not UNSET:
            channel.name = name
        if topic is not UNSET:
            channel.topic = topic
        if position is not UNSET:
            channel.position = position
        if category is not UNSET:
            channel.parent_id = category.id if category else None
        if overwrites is not UNSET:
            channel.overwrites = list(overwrites)
        if nsfw is not UNSET:
            channel.nsfw = nsfw
        if archived is not UNSET:
            channel.archived = archived
        if locked is not UNSET:
            channel.locked = locked
        name_ = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        audience = viewers_before | self.viewers(channel)
        self.emit(
            Event(
                name_,
                wire.channel(self, channel),
                intent=Intents.GUILDS,
                guild_id=channel.guild_id,
                audience=audience,
            )
        )

    def delete_channel(self, channel: Channel) -> None:
        """Delete a channel or thread; dispatch CHANNEL_DELETE / THREAD_DELETE."""
        audience = self.viewers(channel)
        channel.deleted = True
        if channel.is_thread:
            payload: dict[str, Any] = {
                "id": str(channel.id),
                "guild_id": str(channel.guild_id),
                "parent_id": str(channel.parent_id),
                "type": int(channel.type),
            }
            self.emit(
                Event(
                    "THREAD_DELETE",
                    payload,
                    intent=Intents.GUILDS,
                    guild_id=channel.guild_id,
                    audience=audience,
                )
            )
            return
        payload = wire.channel(self, channel)
        self.emit(
            Event(
                "CHANNEL_DELETE",
                payload,
                intent=Intents.GUILDS,
                guild_id=channel.guild_id,
                audience=audience,
            )
        )

    def create_dm(self, a: Account, b: Account) -> Channel:
        """Return the DM channel between ``a`` and ``b`` (created on first use).

        Like Discord, no CHANNEL_CREATE is dispatched for DMs; clients learn of the
        channel from its first MESSAGE_CREATE.
        """
        for ch in self.private_channels_of(a):
            if ch.type == ChannelType.DM and set(ch.recipients) == {a.id, b.id}:
                return ch
        ch = Channel(id=self.ids.next(), type=ChannelType.DM, recipients=[a.id, b.id])
        self.channels[ch.id] = ch
        self.channel_message_ids[ch.id] = []
        return ch

    def create_group_dm(
        self,
        owner: Account,
        recipients: Iterable[Account],
        *,
        name: str | None = None,
        icon: bytes | None = None,
    ) -> Channel:
        """Create a group DM of user accounts and dispatch CHANNEL_CREATE to them.

        Bots cannot be in group DMs (on Discord only through OAuth2 ``gdm.join``, which
        is not modelled): ``ValueError``."""
        people = [owner, *(r for r in recipients if r.id != owner.id)]
        if any(p.bot for p in people):
            raise ValueError("bots cannot be in group DMs")
        ch = Channel(
            id=self.ids.next(),
            type=ChannelType.GROUP_DM,
            recipients=[p.id for p in people],
            owner_id=owner.id,
            name=name,
            icon=image_hash(icon) if icon else None,
            icon_image=icon,
        )
        self.channels[ch.id] = ch
        self.channel_message_ids[ch.id] = []
        self.emit(Event("CHANNEL_CREATE", wire.channel(self, ch), channel_id=ch.id))
        return ch

    def create_webhook(
        self,
        channel: Channel,
        name: str,
        *,
        creator: Account,
        avatar: bytes | None = None,
    ) -> Webhook:
        """Create an incoming webhook in a guild text channel; dispatch WEBHOOKS_UPDATE."""
        hook = Webhook(
            id=self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id or 0,
            name=name,
            token=secrets.token_urlsafe(51),
            creator_id=creator.id,
            avatar=image_hash(avatar) if avatar else None,
            avatar_image=avatar,
            application_id=creator.application_id,
        )
        self.webhooks[hook.id] = hook
        self._emit_webhooks_update(hook)
        return hook

    def update_webhook(
        self, hook: Webhook, *, name: Any = UNSET, avatar: Any = UNSET, channel: Any = UNSET
    ) -> None:
        """Change a webhook's defaults or move it; dispatch WEBHOOKS_UPDATE."""
        if name is not UNSET:
            hook.name = name
        if avatar is not UNSET:
            hook.avatar_image = avatar
            hook.avatar = image_hash(avatar) if avatar else None
        if channel is not UNSET:
            hook.channel_id = channel.id
        self._emit_webhooks_update(hook)

    def delete_webhook(self, hook: Webhook) -> None:
        """Delete a webhook (its token stops working); dispatch WEBHOOKS_UPDATE."""
        self.webhooks.pop(hook.id, None)
        self._emit_webhooks_update(hook)

    def _emit_webhooks_update(self, hook: Webhook) -> None:
        payload = {"guild_id": str(hook.guild_id), "channel_id": str(hook.channel_id)}
        self.emit(
            Event(
                "WEBHOOKS_UPDATE",
                payload,
                intent=Intents.GUILD_WEBHOOKS,
                channel_id=hook.channel_id,
            )
        )
