"""Building Telethon clients the way the bridge needs them."""

from __future__ import annotations

import logging
from typing import Any

from telethon import TelegramClient

from .config import TelegramSettings
from .session import BridgeSession

log = logging.getLogger("bridgekit.telegram.connection")


class BridgeTelegramClient(TelegramClient):
    """Telethon's client, plus a catch-up after every automatic reconnect.

    Telethon reconnects by itself after a dropped connection but does not ask what
    it missed meanwhile until the next update reveals a gap — which may be many
    minutes later in a quiet chat. Asking at once costs one ``getDifference``.
    """

    async def _handle_auto_reconnect(self) -> None:
        await super()._handle_auto_reconnect()
        try:
            await self.catch_up()
        except Exception:
            log.exception("Could not catch up after reconnecting")


def make_client(
    settings: TelegramSettings, session: BridgeSession, *, receive_updates: bool = True
) -> BridgeTelegramClient:
    """A (not yet connected) client for ``session``.

    FLOOD_WAITs are raised, never slept through (see ``flood``); updates are handled
    one at a time in order (the core queues them per portal, and must get them in
    Telegram's order); missed updates are fetched at every connect.
    """
    kwargs: dict[str, Any] = {
        "device_model": settings.device_model,
        "app_version": "bridgekit",
        "system_version": "bridgekit",
        "flood_sleep_threshold": 0,
        "catch_up": True,
        "sequential_updates": True,
        "receive_updates": receive_updates,
        "connection_retries": 3,
        "retry_delay": 1,
        "request_retries": 3,
    }
    return BridgeTelegramClient(session, settings.api_id, settings.api_hash, **kwargs)
