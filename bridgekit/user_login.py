"""Logins: one remote account of a Matrix user, and the network client that runs it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .db import UserLoginRecord
from .network.connector import NetworkClient
from .network.events import RemoteEvent
from .network.handles import BridgeStateEvent
from .network.ids import LoginID
from .retry import retry_while_unavailable

if TYPE_CHECKING:
    from .bridge import Bridge
    from .user import User

log = logging.getLogger("bridgekit.login")

_TELL_USER = {BridgeStateEvent.BAD_CREDENTIALS, BridgeStateEvent.LOGGED_OUT}


class UserLogin:
    """The core's side of a login; it is the ``LoginHandle`` the network client holds."""

    client: NetworkClient

    def __init__(self, bridge: Bridge, user: User, record: UserLoginRecord) -> None:
        self.bridge = bridge
        self.user = user
        self.record = record
        self.state = BridgeStateEvent.CONNECTING
        self.state_message: str | None = None

    @property
    def id(self) -> LoginID:
        return self.record.id

    @property
    def user_mxid(self) -> str:
        return self.user.mxid

    @property
    def remote_name(self) -> str:
        return self.record.remote_name

    @property
    def metadata(self) -> dict[str, Any]:
        return self.record.metadata

    async def save(self) -> None:
        await self.bridge.logins_db.save(self.record)

    async def set_remote_name(self, name: str) -> None:
        self.record.remote_name = name
        await self.save()

    async def queue_remote_event(self, event: RemoteEvent) -> None:
        try:
            portal = await retry_while_unavailable(
                f"finding the portal of {event.describe()}",
                lambda: self.bridge.get_portal(event.portal),
                lambda: self.bridge.stopping,
            )
            portal.queue_remote_event(event, self)
        except Exception:
            log.exception("Dropped %s from login %s", event.describe(), self.id)

    async def set_state(self, state: BridgeStateEvent, message: str | None = None) -> None:
        if state == self.state and message == self.state_message:
            return
        log.info("Login %s is now %s", self.id, state.value)
        self.state, self.state_message = state, message
        await self.bridge.push_state(self)
        if state in _TELL_USER:
            await self.user.notify(
                f"Your login {self.remote_name} stopped working: {message or state.value}"
            )

    async def notify_user(self, text: str) -> None:
        await self.user.notify(text)
