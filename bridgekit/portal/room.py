"""A portal's Matrix room: creating it (or adopting an existing room), keeping it in
sync with the remote chat, and letting it go again."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mautrix.errors import MatrixRequestError
from mautrix.types import EventType, RoomCreatePreset, RoomID, UserID

from .. import space
from ..network.ids import PortalKey
from ..network.info import Avatar, ChatInfo, ChatMemberList, Membership, RoomType

if TYPE_CHECKING:
    from ..user_login import UserLogin
    from .portal import Portal

log = logging.getLogger("bridgekit.portal.room")

BRIDGE_STATE = EventType.find("m.bridge", t_class=EventType.Class.STATE)
HALF_SHOT_BRIDGE_STATE = EventType.find("uk.half-shot.bridge", t_class=EventType.Class.STATE)


def bridge_info(portal: Portal) -> tuple[str, dict[str, Any]]:
    """The ``m.bridge`` state key and content that tell clients where the room goes."""
    bridge = portal.bridge
    name = bridge.connector.name
    content: dict[str, Any] = {
        "bridgebot": bridge.bot_mxid,
        "creator": bridge.bot_mxid,
        "protocol": {"id": name.network_id, "displayname": name.display_name},
        "channel": {"id": portal.key.id, "displayname": portal.record.name or portal.key.id},
    }
    if name.url:
        content["protocol"]["external_url"] = name.url
    return f"bridgekit://{name.network_id}/{portal.key.id}", content


async def ensure_room(portal: Portal, source: UserLogin, info: ChatInfo | None = None) -> RoomID:
    """The portal's room, created first if it does not exist yet."""
    async with portal._room_lock:
        if portal.mxid:
            await _ensure_user_invited(portal, source)
            return portal.mxid
        if info is None:
            info = await source.client.get_chat_info(portal.key)
        return await _create_room(portal, source, info)


#: Where a portal's place in its parent's space is kept (in the portal's metadata,
#: beside the network's own fields).
_ORDER = "bridgekit.space_order"


def _take_info(portal: Portal, info: ChatInfo) -> None:
    """Copy what ``info`` says into the portal's record (``None`` fields unchanged)."""
    record = portal.record
    record.name = info.name if info.name is not None else record.name
    record.topic = info.topic if info.topic is not None else record.topic
    record.room_type = info.type.value if info.type else (record.room_type or RoomType.GROUP)
    record.parent_id = info.parent or record.parent_id
    if info.metadata:
        record.metadata.update(info.metadata)
    if info.order is not None:
        record.metadata[_ORDER] = info.order


async def _create_room(portal: Portal, source: UserLogin, info: ChatInfo) -> RoomID:
    bridge = portal.bridge
    record = portal.record
    _take_info(portal, info)
    state_key, content = bridge_info(portal)
    initial_state: list[dict[str, Any]] = [
        {"type": str(BRIDGE_STATE), "state_key": state_key, "content": content},
        {"type": str(HALF_SHOT_BRIDGE_STATE), "state_key": state_key, "content": content},
    ]
    if info.avatar and not info.avatar.remove:
        mxc = await _upload_avatar(portal, info.avatar)
        if mxc:
            initial_state.append({"type": "m.room.avatar", "content": {"url": mxc}})
    if bridge.encryption_default:
        initial_state.append(
            {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        )
        record.encrypted = True
    is_dm = record.room_type == RoomType.DM
    is_space = record.room_type == RoomType.SPACE
    # The bridge's own login (a relay connection) has nobody to invite.
    own = bridge.is_bridge_owned(source)
    alias_prefix = str(bridge.config.get("appservice.alias_prefix") or "")
    room_id = await bridge.bot_intent.create_room(
        alias_localpart=alias_prefix + info.alias if info.alias and alias_prefix else None,
        preset=RoomCreatePreset.PUBLIC if info.alias else RoomCreatePreset.PRIVATE,
        name=None if is_dm and not record.name else record.name,
        topic=record.topic,
        is_direct=is_dm,
        invitees=[] if own else [UserID(source.user_mxid)],
        initial_state=initial_state,
        creation_content={"type": "m.space"} if is_space else None,
        # In a space only the bot writes: its children are the bridge's to manage.
        power_level_override=({} if own else {"users": {source.user_mxid: 50}})
        | ({"events_default": 100} if is_space else {}),
    )
    record.mxid = room_id
    if record.encrypted:
        await bridge.appservice.state_store.set_encryption_info(
            room_id, {"algorithm": "m.megolm.v1.aes-sha2"}
        )
    await portal.save()
    await bridge.portals_db.add_user_portal(source.id, portal.key)
    bridge.register_portal_room(portal)
    log.info("Created room %s for %s", room_id, portal.key)
    if info.members is not None:
        await sync_members(portal, source, info.members)
    await _add_to_space(portal, source)
    return room_id


async def _ensure_user_invited(portal: Portal, source: UserLogin) -> None:
    """A login that newly shows up in a shared chat gets its owner invited."""
    if source.id in await portal.bridge.portals_db.logins_in(portal.key):
        return
    await portal.bridge.portals_db.add_user_portal(source.id, portal.key)
    assert portal.mxid is not None
    if portal.bridge.is_bridge_owned(source):
        return
    try:
        await portal.bridge.bot_intent.invite_user(portal.mxid, UserID(source.user_mxid))
    except Exception as e:
        log.debug("Could not invite %s to %s: %s", source.user_mxid, portal.mxid, e)
    await _add_to_space(portal, source)


async def _add_to_space(portal: Portal, login: UserLogin) -> None:
    """A portal with a parent (a channel of a Discord server, a topic of a Telegram
    forum) goes into the parent's space, which goes into the login's space; any other
    portal goes into the login's space directly."""
    if portal.bridge.is_bridge_owned(login):
        return  # the bridge's own login has no space of its own
    # Spaces only group rooms: a failure there must not fail the portal.
    try:
        parent = await _parent_space(portal, login)
        if parent is None:
            await space.add_portal(login, portal)
        else:
            order = portal.record.metadata.get(_ORDER)
            await space.add_child(portal.bridge, parent, portal, order)
    except Exception:
        log.exception("Could not add %s to the space of login %s", portal.key, login.id)


async def _parent_space(portal: Portal, login: UserLogin) -> RoomID | None:
    """The room of the portal's parent, created as a space if the network says the
    parent is one; ``None`` when the portal has no such parent."""
    parent_id = portal.record.parent_id
    if not parent_id or portal.record.room_type == RoomType.SPACE:
        return None
    parent = await portal.bridge.get_portal(PortalKey(parent_id, portal.key.receiver))
    if parent.mxid is None:
        info = await login.client.get_chat_info(parent.key)
        if info.type != RoomType.SPACE:
            return None
        return await ensure_room(parent, login, info)
    if parent.record.room_type != RoomType.SPACE:
        return None
    return await ensure_room(parent, login)


async def adopt_room(
    portal: Portal, source: UserLogin, room_id: RoomID, info: ChatInfo, *, encrypted: bool
) -> None:
    """Make an existing Matrix room the portal's room (the ``bridge`` command).

    The caller has checked that the portal has no room yet and that the bot may
    manage ``room_id``. The room gets the bridge state, the remote chat's name,
    topic and avatar, and its ghosts; the room's Matrix users and their power
    levels stay as they are.
    """
    bridge = portal.bridge
    intent = bridge.bot_intent
    async with portal._room_lock:
        if portal.mxid is not None:
            raise ValueError(f"{portal.key} already has the room {portal.mxid}")
        _take_info(portal, info)
        record = portal.record
        record.mxid = room_id
        record.encrypted = encrypted
        state_key, content = bridge_info(portal)
        for event_type in (BRIDGE_STATE, HALF_SHOT_BRIDGE_STATE):
            await intent.send_state_event(room_id, event_type, content, state_key=state_key)
        if info.name:
            await intent.set_room_name(room_id, info.name)
        if info.topic:
            await intent.set_room_topic(room_id, info.topic)
        if info.avatar and not info.avatar.remove:
            mxc = await _upload_avatar(portal, info.avatar)
            if mxc:
                avatar: Any = {"url": mxc}
                await intent.send_state_event(room_id, EventType.ROOM_AVATAR, avatar)
        await portal.save()
        await bridge.portals_db.add_user_portal(source.id, portal.key)
        bridge.register_portal_room(portal)
        log.info("Bridged existing room %s to %s", room_id, portal.key)
        if info.members is not None:
            # The network's level for the account would overwrite the level its owner
            # has in their own room.
            members = [
                replace(m, power_level=None) if m.is_from_me else m for m in info.members.members
            ]
            await sync_members(portal, source, ChatMemberList(members, info.members.is_full))
    await _add_to_space(portal, source)


async def release_room(portal: Portal, reason: str) -> None:
    """Forget the portal but leave its room to its Matrix users (the ``unbridge``
    command): the room leaves the spaces, loses its bridge state, and the ghosts
    and the bot leave it. Later remote events of the chat make a new portal."""
    bridge = portal.bridge
    room_id = portal.mxid
    if room_id is not None:
        await space.remove_portal(portal)
        state_key, _ = bridge_info(portal)
        try:
            for event_type in (BRIDGE_STATE, HALF_SHOT_BRIDGE_STATE):
                await bridge.bot_intent.send_state_event(
                    room_id, event_type, {}, state_key=state_key
                )
            for member in await bridge.bot_intent.get_room_members(room_id):
                if bridge.is_ghost(member) and member != bridge.bot_mxid:
                    await bridge.appservice.intent.user(member).leave_room(room_id, reason=reason)
            await bridge.bot_intent.leave_room(room_id, reason=reason)
        except MatrixRequestError as e:
            log.warning("Could not fully leave %s: %s", room_id, e)
    await bridge.forget_portal(portal)
    log.info("Unbridged %s from %s (%s)", portal.key, room_id, reason)


async def _upload_avatar(portal: Portal, avatar: Avatar) -> str | None:
    if avatar.get is None:
        return None
    data = await avatar.get()
    mxc = await portal.bridge.bot_intent.upload_media(
        data, mime_type=avatar.mimetype or "image/png", filename="avatar"
    )
    portal.record.avatar_id = avatar.id
    portal.record.avatar_mxc = mxc
    return str(mxc)


async def sync_info(portal: Portal, source: UserLogin, info: ChatInfo) -> None:
    """Apply a chat-info change to an existing room (``None`` fields unchanged)."""
    room_id = portal.mxid
    if room_id is None:
        return
    intent = portal.bridge.bot_intent
    record = portal.record
    if info.name is not None and info.name != record.name:
        record.name = info.name
        await intent.set_room_name(room_id, info.name)
    if info.topic is not None and info.topic != record.topic:
        record.topic = info.topic
        await intent.set_room_topic(room_id, info.topic)
    if info.avatar is not None and info.avatar.id != (record.avatar_id or ""):
        mxc = None if info.avatar.remove else await _upload_avatar(portal, info.avatar)
        record.avatar_id = info.avatar.id
        record.avatar_mxc = mxc
        avatar_content: Any = {"url": mxc} if mxc else {}
        await intent.send_state_event(room_id, EventType.ROOM_AVATAR, avatar_content)
    if info.metadata:
        record.metadata.update(info.metadata)
    if info.order is not None and info.order != record.metadata.get(_ORDER):
        record.metadata[_ORDER] = info.order
        await _reorder(portal, source, info.order)
    await portal.save()
    if info.members is not None:
        await sync_members(portal, source, info.members)


async def _reorder(portal: Portal, login: UserLogin, order: str) -> None:
    try:
        parent = await _parent_space(portal, login)
        if parent is not None:
            await space.set_order(portal.bridge, parent, portal, order)
    except Exception:
        log.exception("Could not reorder %s in its space", portal.key)


async def sync_members(portal: Portal, source: UserLogin, members: ChatMemberList) -> None:
    """Join, invite, remove and ban ghosts to match the remote member list, and set
    power levels where the network gave them."""
    bridge = portal.bridge
    room_id = portal.mxid
    assert room_id is not None
    levels: dict[str, int] = {}
    present: set[str] = set()
    for member in members.members:
        if member.is_from_me:
            mxid = source.user_mxid
        elif member.user_id is not None:
            ghost = await bridge.get_ghost(member.user_id, source)
            await ghost.update_info(member.user_info)
            mxid = ghost.mxid
            if member.membership == Membership.JOIN:
                await ghost.intent.ensure_joined(room_id)
                await ghost.set_room_name(room_id, member.room_name)
            elif member.membership in (Membership.LEAVE, Membership.BAN):
                await _remove(portal, ghost.mxid, ban=member.membership == Membership.BAN)
        else:
            continue
        present.add(mxid)
        if member.power_level is not None:
            levels[mxid] = member.power_level
    if members.is_full:
        for mxid in await bridge.bot_intent.get_room_members(room_id):
            if bridge.is_ghost(mxid) and mxid not in present and mxid != bridge.bot_mxid:
                await _remove(portal, mxid, ban=False)
    if levels:
        await set_power_levels(portal, levels)


async def _remove(portal: Portal, mxid: str, *, ban: bool) -> None:
    intent = portal.bridge.bot_intent
    assert portal.mxid is not None
    try:
        if ban:
            await intent.ban_user(portal.mxid, UserID(mxid))
        else:
            await intent.kick_user(portal.mxid, UserID(mxid), reason="Left the chat")
    except Exception as e:
        log.debug("Could not remove %s from %s: %s", mxid, portal.mxid, e)


async def set_power_levels(portal: Portal, levels: dict[str, int]) -> None:
    """Merge ``levels`` into the room's power levels (the bot stays at 100)."""
    intent = portal.bridge.bot_intent
    assert portal.mxid is not None
    current = await intent.get_power_levels(portal.mxid, ignore_cache=True)
    changed = False
    for mxid, level in levels.items():
        if mxid == portal.bridge.bot_mxid:
            continue
        if current.get_user_level(UserID(mxid)) != level:
            current.set_user_level(UserID(mxid), level)
            changed = True
    if changed:
        await intent.set_power_levels(portal.mxid, current)
