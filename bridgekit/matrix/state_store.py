"""The Matrix room state the bridge remembers, with the hot reads served from memory.

mautrix's intents consult the state store before every send: is the ghost joined
(``ensure_joined``), are the room's power levels and create event known, is the
sender's level high enough (``_ensure_has_power_level_for``). ``PgASStateStore``
answers each with a database query and parses the power levels' JSON every time:
six round trips through the database for one message. This store keeps what it has
read or written in memory and answers those from there.

Every write goes through this object (one bridge per process, one store per
bridge), so the memory is updated with the database: the entry is set before the
write and dropped if the write fails. A read that raced with a write of the same
room does not fill the cache with what it read, which may be older than the write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.types import (
    JSON,
    EventType,
    Member,
    Membership,
    MemberStateEventContent,
    PowerLevelStateEventContent,
    RoomID,
    Serializable,
    StateEvent,
    UserID,
)
from mautrix.util.async_db import Database


class CachedStateStore(PgASStateStore):
    """``PgASStateStore`` with memberships, power levels and create events cached.

    Objects returned by :meth:`get_member` and :meth:`get_create` are shared with
    the cache: read them, don't change them. :meth:`get_power_levels` returns a copy,
    since callers change power levels before sending them.
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._members: dict[RoomID, dict[UserID, Member | None]] = {}
        self._levels: dict[RoomID, PowerLevelStateEventContent | None] = {}
        self._creates: dict[RoomID, StateEvent | None] = {}
        #: Bumped by every write of a room; a read that saw it change keeps its result
        #: out of the cache.
        self._versions: dict[RoomID, int] = {}

    def _version(self, room_id: RoomID) -> int:
        return self._versions.get(room_id, 0)

    def _written(self, room_id: RoomID) -> None:
        self._versions[room_id] = self._version(room_id) + 1

    # Members -----------------------------------------------------------------------

    async def get_member(self, room_id: RoomID, user_id: UserID) -> Member | None:
        room = self._members.get(room_id)
        if room is not None and user_id in room:
            return room[user_id]
        version = self._version(room_id)
        member = await super().get_member(room_id, user_id)
        if self._version(room_id) == version:
            self._members.setdefault(room_id, {})[user_id] = member
        return member

    async def set_member(
        self, room_id: RoomID, user_id: UserID, member: Member | MemberStateEventContent
    ) -> None:
        cached = Member(
            membership=member.membership,
            displayname=member.displayname,
            avatar_url=member.avatar_url,
        )
        with self._writing(room_id):
            await super().set_member(room_id, user_id, member)
        self._members.setdefault(room_id, {})[user_id] = cached

    async def set_membership(
        self, room_id: RoomID, user_id: UserID, membership: Membership
    ) -> None:
        room = self._members.get(room_id, {})
        # The database keeps the name and avatar of a known row; only a cached row (or
        # a cached absence, which the write turns into a bare row) tells us what it is.
        known = user_id in room
        before = room.get(user_id)
        with self._writing(room_id):
            await super().set_membership(room_id, user_id, membership)
        room = self._members.setdefault(room_id, {})
        if known:
            member = Member(membership=membership)
            if before is not None:
                member.displayname, member.avatar_url = before.displayname, before.avatar_url
            room[user_id] = member
        else:
            room.pop(user_id, None)

    async def set_members(
        self,
        room_id: RoomID,
        members: dict[UserID, Member | MemberStateEventContent],
        only_membership: Membership | None = None,
    ) -> None:
        with self._writing(room_id):
            await super().set_members(room_id, members, only_membership)
        self._members.pop(room_id, None)

    # Power levels and the create event ---------------------------------------------

    async def _cached_levels(self, room_id: RoomID) -> PowerLevelStateEventContent | None:
        if room_id in self._levels:
            return self._levels[room_id]
        version = self._version(room_id)
        levels = await super().get_power_levels(room_id)
        if self._version(room_id) == version:
            self._levels[room_id] = levels
        return levels

    async def has_power_levels_cached(self, room_id: RoomID) -> bool:
        return await self._cached_levels(room_id) is not None

    async def get_power_levels(self, room_id: RoomID) -> PowerLevelStateEventContent | None:
        levels = await self._cached_levels(room_id)
        return (
            None if levels is None else PowerLevelStateEventContent.deserialize(levels.serialize())
        )

    async def set_power_levels(
        self, room_id: RoomID, content: PowerLevelStateEventContent | dict[str, Any]
    ) -> None:
        raw = content.serialize() if isinstance(content, Serializable) else content
        with self._writing(room_id):
            await super().set_power_levels(room_id, content)
        self._levels[room_id] = PowerLevelStateEventContent.deserialize(cast(JSON, raw))

    async def get_create(self, room_id: RoomID) -> StateEvent | None:
        if room_id in self._creates:
            return self._creates[room_id]
        version = self._version(room_id)
        create = await super().get_create(room_id)
        if self._version(room_id) == version:
            self._creates[room_id] = create
        return create

    async def has_create_cached(self, room_id: RoomID) -> bool:
        return await self.get_create(room_id) is not None

    async def set_create(self, event: StateEvent) -> None:
        room_id = event.room_id
        with self._writing(room_id):
            await super().set_create(event)
        self._creates[room_id] = event

    async def has_power_level(
        self, room_id: RoomID, user_id: UserID, event_type: EventType
    ) -> bool | None:
        levels = await self._cached_levels(room_id)
        if not levels:
            return None
        create = await self.get_create(room_id)
        return levels.get_user_level(user_id, create) >= levels.get_event_level(event_type)

    # Writes ------------------------------------------------------------------------

    @contextmanager
    def _writing(self, room_id: RoomID) -> Iterator[None]:
        """Around a database write of ``room_id``'s state: reads that overlap it keep
        their results out of the cache, and if it fails the room's entries are dropped."""
        self._written(room_id)
        try:
            yield
        except BaseException:
            self.forget_room(room_id)
            raise
        finally:
            self._written(room_id)

    def forget_room(self, room_id: RoomID) -> None:
        """Drop everything cached about a room (read again from the database)."""
        self._members.pop(room_id, None)
        self._levels.pop(room_id, None)
        self._creates.pop(room_id, None)
