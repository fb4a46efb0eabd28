"""A portal: one remote chat and its Matrix room, with its own ordered event queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mautrix.types import RoomID

from ..db import PortalRecord
from ..network.ids import PortalKey
from ..retry import retry_while_unavailable
from ..serial import SerialQueue

if TYPE_CHECKING:
    from mautrix.types import Event

    from ..bridge import Bridge
    from ..network.events import RemoteEvent
    from ..user_login import UserLogin

log = logging.getLogger("bridgekit.portal")


class Portal:
    """One remote chat ⇄ one Matrix room.

    Every event for the portal, from either side, goes through ``queue`` and is
    handled one at a time, so a chat's events keep their order while other portals
    run in parallel.
    """

    def __init__(self, bridge: Bridge, record: PortalRecord) -> None:
        self.bridge = bridge
        self.record = record
        self.queue = SerialQueue(f"portal {record.key}", bridge.background_tasks)
        self._room_lock = asyncio.Lock()

    @property
    def key(self) -> PortalKey:
        return self.record.key

    @property
    def mxid(self) -> RoomID | None:
        return RoomID(self.record.mxid) if self.record.mxid else None

    def __repr__(self) -> str:
        return f"Portal({self.key}, {self.record.mxid})"

    async def save(self) -> None:
        await self.bridge.portals_db.save(self.record)

    # The queue -----------------------------------------------------------------

    def queue_remote_event(self, event: RemoteEvent, source: UserLogin) -> None:
        """Queue a network event; handled by ``remote.handle_remote_event``."""
        from .remote import handle_remote_event

        async def job() -> None:
            ok = False
            try:
                await handle_remote_event(self, event, source)
                ok = True
            finally:
                if event.on_handled is not None:
                    await event.on_handled(ok)

        self.queue.submit(event.describe(), job)

    def queue_matrix_event(self, event: Event, done: Callable[[], Awaitable[None]]) -> None:
        """Queue a Matrix event; ``done`` runs after it was handled (or failed)."""
        from .matrix import handle_matrix_event

        what = f"{event.type} {event.event_id}"

        async def job() -> None:
            try:
                await retry_while_unavailable(
                    what, lambda: handle_matrix_event(self, event), lambda: self.bridge.stopping
                )
            finally:
                await retry_while_unavailable(
                    f"finishing {what}", done, lambda: self.bridge.stopping
                )

        self.queue.submit(what, job)

    def queue_typing(self, user_mxid: str, typing: bool) -> None:
        """Queue a Matrix user's typing change."""
        from .matrix import handle_typing

        self.queue.submit("typing", lambda: handle_typing(self, user_mxid, typing))

    def queue_read_receipt(self, user_mxid: str, event_id: str) -> None:
        """Queue a Matrix user's read receipt."""
        from .matrix import handle_read_receipt

        self.queue.submit("receipt", lambda: handle_read_receipt(self, user_mxid, event_id))

    # Helpers used by both directions -------------------------------------------

    async def relay_login(self) -> UserLogin | None:
        """The login that relays messages of users without one: the one set with
        ``set-relay`` if relaying is on, else the bridge's own login in a public chat
        (its network decided that the bridge speaks for everyone there)."""
        bridge = self.bridge
        login_id = self.record.relay_login_id
        if login_id and bridge.config.get("bridge.relay.enabled"):
            return bridge.logins.get(login_id)
        if self.key.receiver is None:
            for in_chat in await bridge.portals_db.logins_in(self.key):
                login = bridge.logins.get(in_chat)
                if login is not None and bridge.is_bridge_owned(login):
                    return login
        return None

    def metadata(self) -> dict[str, Any]:
        return self.record.metadata
