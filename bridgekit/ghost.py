"""Ghosts: the Matrix users that stand for remote users (``@telegram_123:example.org``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mautrix.appservice import IntentAPI
from mautrix.types import (
    ContentURI,
    EventType,
    Membership,
    MemberStateEventContent,
    RoomID,
    UserID,
)

from .db import GhostRecord
from .network.info import UserInfo

if TYPE_CHECKING:
    from .bridge import Bridge

log = logging.getLogger("bridgekit.ghost")


class Ghost:
    """One remote user's ghost. Registered on the homeserver the first time it acts;
    its display name and avatar follow the remote profile."""

    def __init__(self, bridge: Bridge, record: GhostRecord) -> None:
        self.bridge = bridge
        self.record = record
        self.mxid = UserID(bridge.ghost_mxid(record.id))
        self.intent: IntentAPI = bridge.appservice.intent.user(self.mxid)

    async def update_info(self, info: UserInfo | None) -> None:
        """Bring the ghost's profile up to date with ``info`` (``None`` fields unchanged)."""
        if info is None:
            return
        changed = False
        if info.name is not None:
            displayname = self.bridge.ghost_displayname(info.name)
            if displayname != self.record.name:
                await self.intent.set_displayname(displayname)
                self.record.name = displayname
                changed = True
        avatar = info.avatar
        if avatar is not None and avatar.id != (self.record.avatar_id or ""):
            mxc = ""
            if not avatar.remove and avatar.get is not None:
                data = await avatar.get()
                mxc = await self.intent.upload_media(
                    data, mime_type=avatar.mimetype or "image/png", filename="avatar"
                )
            await self.intent.set_avatar_url(ContentURI(mxc))
            self.record.avatar_id = avatar.id
            self.record.avatar_mxc = mxc
            changed = True
        if info.identifiers is not None and info.identifiers != self.record.identifiers:
            self.record.identifiers = info.identifiers
            changed = True
        if info.is_bot is not None and info.is_bot != self.record.is_bot:
            self.record.is_bot = info.is_bot
            changed = True
        if changed:
            await self.bridge.ghosts_db.save(self.record)
            log.debug("Updated profile of ghost %s", self.mxid)

    async def set_room_name(self, room_id: RoomID, name: str | None) -> None:
        """Give the ghost's (joined) membership in ``room_id`` the display name ``name``
        (the chat's own name for the remote user); nothing when it has it already."""
        if not name:
            return
        displayname = self.bridge.ghost_displayname(name)
        member = await self.bridge.appservice.state_store.get_member(room_id, self.mxid)
        if member is not None and member.displayname == displayname:
            return
        content = MemberStateEventContent(membership=Membership.JOIN, displayname=displayname)
        if self.record.avatar_mxc:
            content.avatar_url = ContentURI(self.record.avatar_mxc)
        await self.intent.send_state_event(
            room_id, EventType.ROOM_MEMBER, content, state_key=self.mxid
        )
