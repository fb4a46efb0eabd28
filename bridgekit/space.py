"""Personal spaces: one Matrix space per login that holds the login's portal rooms.

A login's space is created, owned by the bot, when its first portal room appears;
the login's owner is invited to it. Every portal the login is in becomes an
``m.space.child`` of the space, and the portal room names the space as its
``m.space.parent``, so clients group a network account's chats together.

A space is a convenience: failing to update one never stops a portal from working,
so callers log errors from here rather than let them through.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from mautrix.errors import MatrixRequestError
from mautrix.types import EventType, RoomID, UserID

from .network.ids import LoginID

if TYPE_CHECKING:
    from .bridge import Bridge
    from .portal import Portal
    from .user_login import UserLogin

log = logging.getLogger("bridgekit.space")

# Two portals of one login may be created at once (portals run in parallel); the
# lock makes the second wait for the first's space instead of creating another.
_space_locks: WeakKeyDictionary[UserLogin, asyncio.Lock] = WeakKeyDictionary()


def space_name(login: UserLogin) -> str:
    """The name of the login's space: the network, then the account."""
    network = login.bridge.connector.name.display_name
    return f"{network} ({login.remote_name})" if login.remote_name else network


async def ensure_space(login: UserLogin) -> RoomID:
    """The login's space, created (and its owner invited) if it does not exist yet."""
    lock = _space_locks.setdefault(login, asyncio.Lock())
    async with lock:
        if login.record.space_room:
            return RoomID(login.record.space_room)
        bridge = login.bridge
        name = bridge.connector.name
        initial_state: list[dict[str, Any]] = []
        if name.icon_mxc:
            initial_state.append({"type": "m.room.avatar", "content": {"url": name.icon_mxc}})
        room_id = await bridge.bot_intent.create_room(
            name=space_name(login),
            topic=f"Your {name.display_name} chats",
            invitees=[UserID(login.user_mxid)],
            creation_content={"type": "m.space"},
            initial_state=initial_state,
            # Only the bot writes in a space: its children are the bridge's to manage.
            power_level_override={"events_default": 100},
        )
        login.record.space_room = room_id
        await login.save()
        log.info("Created space %s for login %s", room_id, login.id)
        await _accept_for_user(bridge, login.user_mxid, room_id)
        return room_id


async def _accept_for_user(bridge: Bridge, user_mxid: str, room_id: RoomID) -> None:
    """With double puppeting the user joins their space at once instead of seeing an
    invite."""
    puppet = await bridge.double_puppet_intent(user_mxid)
    if puppet is None:
        return
    try:
        await puppet.join_room_by_id(room_id)
    except MatrixRequestError as e:
        log.warning("Could not join %s to their space %s: %s", user_mxid, room_id, e)


async def add_portal(login: UserLogin, portal: Portal) -> None:
    """Put the portal's room into the login's space (once; later calls do nothing).

    The login must already be recorded as being in the portal
    (``PortalStore.add_user_portal``)."""
    room_id = portal.mxid
    if room_id is None:
        return
    bridge = login.bridge
    if await bridge.portals_db.in_space(login.id, portal.key):
        return
    space = await ensure_space(login)
    via: Any = {"via": [bridge.domain]}
    await bridge.bot_intent.send_state_event(space, EventType.SPACE_CHILD, via, state_key=room_id)
    await bridge.bot_intent.send_state_event(room_id, EventType.SPACE_PARENT, via, state_key=space)
    await bridge.portals_db.set_in_space(login.id, portal.key, True)
    log.debug("Added %s to the space of login %s", portal.key, login.id)


async def add_child(
    bridge: Bridge, space_room: RoomID, portal: Portal, order: str | None = None
) -> None:
    """Make the portal's room a child of a (parent portal's) space, placed by
    ``order`` among its siblings when given."""
    room_id = portal.mxid
    if room_id is None:
        return
    via: Any = {"via": [bridge.domain]}
    child = {**via, "order": order} if order else via
    await bridge.bot_intent.send_state_event(
        space_room, EventType.SPACE_CHILD, child, state_key=room_id
    )
    await bridge.bot_intent.send_state_event(
        room_id, EventType.SPACE_PARENT, via, state_key=space_room
    )
    log.debug("Added %s to the space %s", portal.key, space_room)


async def set_order(bridge: Bridge, space_room: RoomID, portal: Portal, order: str) -> None:
    """Move the portal's room within the space (when its ``order`` changed)."""
    room_id = portal.mxid
    if room_id is None:
        return
    try:
        current = await bridge.bot_intent.get_state_event(
            space_room, EventType.SPACE_CHILD, state_key=room_id
        )
    except MatrixRequestError:
        return  # not a child of that space (any more)
    if current.serialize().get("order") != order:
        content = {**current.serialize(), "order": order}
        await bridge.bot_intent.send_state_event(
            space_room, EventType.SPACE_CHILD, content, state_key=room_id
        )


async def remove_portal(portal: Portal) -> None:
    """Take the portal's room out of every space that holds it (before the portal is
    deleted or unbridged). Errors are logged, not raised."""
    room_id = portal.mxid
    if room_id is None:
        return
    bridge = portal.bridge
    for login_id in await bridge.portals_db.logins_in(portal.key):
        if not await bridge.portals_db.in_space(login_id, portal.key):
            continue
        space = await _space_of(bridge, login_id)
        try:
            if space is not None:
                await bridge.bot_intent.send_state_event(
                    space, EventType.SPACE_CHILD, {}, state_key=room_id
                )
                await bridge.bot_intent.send_state_event(
                    room_id, EventType.SPACE_PARENT, {}, state_key=space
                )
        except MatrixRequestError as e:
            log.warning("Could not take %s out of space %s: %s", room_id, space, e)
        await bridge.portals_db.set_in_space(login_id, portal.key, False)


async def _space_of(bridge: Bridge, login_id: LoginID) -> RoomID | None:
    login = bridge.logins.get(login_id)
    record = login.record if login is not None else await bridge.logins_db.get(login_id)
    if record is None or not record.space_room:
        return None
    return RoomID(record.space_room)
