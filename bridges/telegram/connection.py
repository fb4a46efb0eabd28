"""Building Telethon clients the way the bridge needs them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from telethon import TelegramClient
from telethon.tl import functions, types

from .config import TelegramSettings
from .session import BridgeSession
from .store import UpdateState

log = logging.getLogger("bridgekit.telegram.connection")


#: The ``random_id`` the next message sent in this task gets (see ``sending_event``).
_random_id: ContextVar[int | None] = ContextVar("bridgekit_telegram_random_id", default=None)
_SENDS = (functions.messages.SendMessageRequest, functions.messages.SendMediaRequest)


def random_id_for(event_id: str) -> int:
    """The ``random_id`` of the Telegram message sent for a Matrix event: the same for
    every attempt, so Telegram refuses a second copy (``RANDOM_ID_DUPLICATE``)."""
    return int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "little", signed=True)


@contextmanager
def sending_event(event_id: str) -> Iterator[None]:
    """Messages sent inside this block carry the ``random_id`` of ``event_id``.

    Telegram keeps one message per ``random_id``: when the bridge crashed after
    Telegram took a message but before the bridge wrote down that it had, the
    homeserver sends the event again and the retry is refused instead of doubled.
    (Telethon's send methods draw a random ``random_id``; this sets it on the request
    they build, which Telethon then also uses to find the sent message.)
    """
    token = _random_id.set(random_id_for(event_id))
    try:
        yield
    finally:
        _random_id.reset(token)


class BridgeTelegramClient(TelegramClient):
    """Telethon's client, plus a catch-up after every automatic reconnect, and
    idempotent sends (``sending_event``).

    Telethon reconnects by itself after a dropped connection but does not ask what
    it missed meanwhile until the next update reveals a gap — which may be many
    minutes later in a quiet chat. Asking at once costs one ``getDifference``.
    """

    #: Updates being handed to the handlers right now (see ``update_position``).
    dispatching = 0
    #: Called when Telegram answers a catch-up with "too long": it will not send what
    #: was missed (all of it, or of one channel, given by its ID), and Telethon moves on
    #: without it. The argument is ``None`` for the account, or the channel's ID.
    on_gap: Callable[[int | None], Awaitable[None]] | None = None

    async def _dispatch_update(self, update: Any) -> None:
        self.dispatching += 1
        try:
            await super()._dispatch_update(update)
        finally:
            self.dispatching -= 1

    def update_position(self) -> list[UpdateState] | None:
        """Telethon's current update position, if every update it has taken in so far
        was handed to the handlers; ``None`` while one is being handed over (Telethon
        advances the position for a whole batch first) or before it has a position.
        (Telethon keeps the position in its private message box and copies it to the
        session only when it disconnects.)"""
        box = self._message_box
        if self.dispatching or box.is_empty():
            return None
        account, channels = box.session_state()
        date = int(account["date"].timestamp()) if account.get("date") else 0
        rows = [UpdateState(0, account["pts"], account["qts"], date, account["seq"])]
        rows += [UpdateState(channel, pts, 0, 0, 0) for channel, pts in channels.items()]
        return rows

    async def __call__(
        self, request: Any, ordered: bool = False, flood_sleep_threshold: int | None = None
    ) -> Any:
        wanted = _random_id.get()
        if wanted is not None and isinstance(request, _SENDS):
            request.random_id = wanted
        result = await super().__call__(request, ordered, flood_sleep_threshold)
        if self.on_gap is not None:
            if isinstance(result, types.updates.DifferenceTooLong):
                await self.on_gap(None)
            elif isinstance(result, types.updates.ChannelDifferenceTooLong):
                await self.on_gap(getattr(request.channel, "channel_id", None))
        return result

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
        # After the retries, raise Telegram's error rather than a bare ValueError (a
        # RANDOM_ID_DUPLICATE must stay recognisable, see ``sending_event``).
        "raise_last_call_error": True,
    }
    return BridgeTelegramClient(session, settings.api_id, settings.api_hash, **kwargs)
