"""Basic groups upgraded to supergroups keep their portal.

Telegram replaces an upgraded basic group with a new supergroup (another ID, messages
numbered from 1 again). The plugin interface cannot re-key a portal, so the basic
group's portal (and its room) goes on serving the supergroup: events of the
supergroup are routed to it, Matrix events in it go to the supergroup, and the
supergroup's message IDs get an ``s`` prefix there, so they do not collide with the
basic group's older messages in the same portal. The first login that sees the
upgrade decides which portal that is; other logins' owners are invited to it.
"""

from __future__ import annotations

import logging

from bridgekit.network import LoginID, MessageID, PortalKey

from .ids import ChatRef, message_id
from .store import TelegramStore

log = logging.getLogger("bridgekit.telegram.migration")


class Migrations:
    """Which supergroups are served by an upgraded basic group's portal."""

    def __init__(self, store: TelegramStore) -> None:
        self.store = store
        self._by_channel: dict[int, PortalKey] = {}
        self._by_portal: dict[PortalKey, int] = {}

    async def load(self) -> None:
        """Read the upgrades recorded earlier."""
        for channel_id, portal in (await self.store.migrations()).items():
            self._by_channel[channel_id] = portal
            self._by_portal[portal] = channel_id

    async def add(self, channel_id: int, portal: PortalKey) -> None:
        """The basic group of ``portal`` became the supergroup ``channel_id``."""
        if channel_id in self._by_channel or portal in self._by_portal:
            return
        self._by_channel[channel_id] = portal
        self._by_portal[portal] = channel_id
        await self.store.remember_migration(channel_id, portal)
        log.info("Supergroup %s goes on in portal %s", channel_id, portal)

    def is_migrated(self, chat: ChatRef) -> bool:
        """Whether ``chat`` is a supergroup served by a basic group's portal."""
        return chat.kind == "channel" and chat.topic is None and chat.id in self._by_channel

    def portal_key(self, chat: ChatRef, login_id: LoginID) -> PortalKey:
        """The portal of ``chat`` as seen by ``login_id``, following upgrades."""
        if self.is_migrated(chat):
            return self._by_channel[chat.id]
        return chat.portal_key(login_id)

    def message_id(self, chat: ChatRef, telegram_id: int) -> MessageID:
        """The bridged ID of a message of ``chat``."""
        return message_id(telegram_id, migrated=self.is_migrated(chat))

    def chat_of(self, portal: PortalKey) -> ChatRef:
        """The Telegram chat a portal bridges now (a supergroup after an upgrade)."""
        channel_id = self._by_portal.get(portal)
        if channel_id is not None:
            return ChatRef("channel", channel_id)
        return ChatRef.from_portal_id(portal.id)
