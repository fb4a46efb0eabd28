"""The cached Matrix state store: reads served from memory agree with the database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mautrix.types import (
    EventType,
    Member,
    Membership,
    PowerLevelStateEventContent,
    RoomID,
    UserID,
)
from mautrix.util.async_db import Database

from bridgekit.matrix.state_store import CachedStateStore

ROOM = RoomID("!room:bridgekit.test")
GHOST = UserID("@ghost:bridgekit.test")
BOT = UserID("@bot:bridgekit.test")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.create(database_url, upgrade_table=CachedStateStore.upgrade_table)
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


async def test_memberships_are_written_through(db: Database) -> None:
    store = CachedStateStore(db)
    assert not await store.is_joined(ROOM, GHOST)  # a cached absence
    await store.set_member(ROOM, GHOST, Member(membership=Membership.JOIN, displayname="Bob"))
    assert await store.is_joined(ROOM, GHOST)
    await store.left(ROOM, GHOST)
    member = await store.get_member(ROOM, GHOST)
    assert member is not None
    assert (member.membership, member.displayname) == (Membership.LEAVE, "Bob")

    fresh = CachedStateStore(db)  # nothing cached: what the database holds
    stored = await fresh.get_member(ROOM, GHOST)
    assert stored is not None
    assert (stored.membership, stored.displayname) == (Membership.LEAVE, "Bob")


async def test_membership_of_an_unread_row_is_read_back(db: Database) -> None:
    await CachedStateStore(db).set_member(
        ROOM, GHOST, Member(membership=Membership.INVITE, displayname="Bob")
    )
    store = CachedStateStore(db)
    await store.joined(ROOM, GHOST)  # the row's name is not known to this store
    member = await store.get_member(ROOM, GHOST)
    assert member is not None
    assert (member.membership, member.displayname) == (Membership.JOIN, "Bob")


async def test_set_members_replaces_the_room(db: Database) -> None:
    store = CachedStateStore(db)
    await store.joined(ROOM, GHOST)
    await store.set_members(ROOM, {BOT: Member(membership=Membership.JOIN)})
    assert not await store.is_joined(ROOM, GHOST)
    assert await store.is_joined(ROOM, BOT)


async def test_power_levels_are_cached_and_handed_out_as_copies(db: Database) -> None:
    store = CachedStateStore(db)
    assert not await store.has_power_levels_cached(ROOM)
    assert await store.has_power_level(ROOM, GHOST, EventType.ROOM_MESSAGE) is None
    levels = PowerLevelStateEventContent(users={BOT: 100}, events_default=50)
    await store.set_power_levels(ROOM, levels)
    assert await store.has_power_levels_cached(ROOM)
    assert not await store.has_power_level(ROOM, GHOST, EventType.ROOM_MESSAGE)
    assert await store.has_power_level(ROOM, BOT, EventType.ROOM_MESSAGE)

    copy = await store.get_power_levels(ROOM)
    assert copy is not None
    copy.users[GHOST] = 100  # a caller changing its copy changes nothing stored
    assert not await store.has_power_level(ROOM, GHOST, EventType.ROOM_MESSAGE)
    levels.users[GHOST] = 100  # nor does changing the object that was stored
    assert not await store.has_power_level(ROOM, GHOST, EventType.ROOM_MESSAGE)
    stored = await CachedStateStore(db).get_power_levels(ROOM)
    assert stored is not None and GHOST not in stored.users
