"""FLOOD_WAIT: Telegram asking the bridge to slow down, handled per call.

The client runs with Telethon's ``flood_sleep_threshold`` at 0, so every FLOOD_WAIT
surfaces here instead of being slept through silently. A call that gets one waits
the time Telegram asked for and tries again. The wait happens in the caller's task —
for sends that is the portal's queue — so other chats go on meanwhile.

Telethon also remembers the wait per request *type* and refuses further requests
of that type, from any chat, until it is over. Telegram's limits are usually per
chat, and when one is not, Telegram says so itself; so the bridge forgets Telethon's
note at once, and other chats are not held back by one chat's wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telethon import errors

from bridgekit.network import BridgeError

from .config import FloodWaitSettings

log = logging.getLogger("bridgekit.telegram.flood")

T = TypeVar("T")

Notify = Callable[[float], Awaitable[None]]
"""Tells the user that a send waits ``seconds``."""


async def with_flood_retry(
    client: Any,
    settings: FloodWaitSettings,
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    notify: Notify | None = None,
) -> T:
    """Run ``call``, waiting out FLOOD_WAITs up to ``settings.max_wait`` in total.

    ``notify`` is awaited once, before the first wait longer than
    ``settings.notify_after``. Raises ``BridgeError`` when Telegram asks for a wait
    beyond the limit."""
    waited = 0.0
    notified = False
    while True:
        try:
            return await call()
        except (errors.FloodWaitError, errors.SlowModeWaitError) as e:
            seconds = float(e.seconds)
            if waited + seconds > settings.max_wait:
                raise BridgeError(
                    f"Telegram asked the bridge to wait {describe_wait(seconds)} before {what}; "
                    "it was not sent. Try again later."
                ) from e
            log.info("FLOOD_WAIT of %ss on %s; retrying after it", e.seconds, what)
            _forget_telethon_wait(client, e)
            if notify is not None and not notified and seconds > settings.notify_after:
                notified = True
                await notify(seconds)
            await asyncio.sleep(seconds)
            waited += seconds


def _forget_telethon_wait(client: Any, error: Exception) -> None:
    request = getattr(error, "request", None)
    waits = getattr(client, "_flood_waited_requests", None)
    if request is not None and isinstance(waits, dict):
        waits.pop(getattr(request, "CONSTRUCTOR_ID", None), None)


def describe_wait(seconds: float) -> str:
    """A human duration ("45 seconds", "12 minutes")."""
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
