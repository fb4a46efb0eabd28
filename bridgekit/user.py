"""Matrix users of the bridge: their permission level, management room and logins."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from mautrix.types import RoomID, TextMessageEventContent

from .db import UserRecord
from .network.login import LoginProcess, LoginStep

if TYPE_CHECKING:
    from .bridge import Bridge
    from .user_login import UserLogin

log = logging.getLogger("bridgekit.user")


class Permission(IntEnum):
    """What a Matrix user may do, from the ``bridge.permissions`` config."""

    BLOCK = 0
    RELAY = 5
    USER = 10
    ADMIN = 100

    @classmethod
    def parse(cls, name: str) -> Permission:
        return cls[name.upper()]


@dataclass(slots=True)
class PendingLogin:
    """A login in progress: the process, the step shown, and the answers so far."""

    process: LoginProcess
    step: LoginStep
    flow_id: str
    values: dict[str, str] = field(default_factory=dict)


class User:
    """A Matrix user who talks to the bridge."""

    def __init__(self, bridge: Bridge, record: UserRecord) -> None:
        self.bridge = bridge
        self.record = record
        self.pending_login: PendingLogin | None = None

    @property
    def mxid(self) -> str:
        return self.record.mxid

    @property
    def management_room(self) -> RoomID | None:
        return RoomID(self.record.management_room) if self.record.management_room else None

    @property
    def permission(self) -> Permission:
        return self.bridge.permission_of(self.mxid)

    @property
    def logins(self) -> list[UserLogin]:
        """This user's loaded logins, oldest first."""
        return [login for login in self.bridge.logins.values() if login.user is self]

    def default_login(self) -> UserLogin | None:
        logins = self.logins
        return logins[0] if logins else None

    async def set_management_room(self, room_id: RoomID) -> None:
        self.record.management_room = room_id
        await self.bridge.users_db.save(self.record)

    async def notify(self, text: str) -> None:
        """A notice from the bot in the user's management room (if they have one)."""
        room = self.management_room
        if room is None:
            log.info("No management room to tell %s: %s", self.mxid, text)
            return
        content = TextMessageEventContent(msgtype="m.notice", body=text)  # type: ignore[arg-type]
        await self.bridge.send_bot_message(room, content)
