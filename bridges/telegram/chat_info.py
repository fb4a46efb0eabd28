"""Telegram chats and users → the core's ``ChatInfo`` and ``UserInfo``.

Admin rights become power levels: the creator gets 95 and admins 50 (the bridge bot
keeps 100, so it can follow later changes); everyone else 0.

A forum is a space; a topic's portal is named after the topic, has the forum's
members, and has the forum's portal as its parent (so it is in the forum's space).
"""

from __future__ import annotations

import logging
from typing import Any

from telethon import errors, utils
from telethon.tl import functions, types

from bridgekit.network import (
    Avatar,
    ChatInfo,
    ChatMember,
    ChatMemberList,
    RemoteUserID,
    RoomType,
    UserInfo,
)

from .ids import GENERAL_TOPIC, ChatRef, user_id

log = logging.getLogger("bridgekit.telegram.chat_info")

CREATOR_LEVEL = 95
ADMIN_LEVEL = 50


def user_info(entity: Any, client: Any | None = None) -> UserInfo:
    """A Telegram user's (or a channel's) profile for their ghost. With ``client`` the
    avatar is included (downloaded only when the core sees a new one)."""
    if isinstance(entity, types.User):
        identifiers = []
        if entity.username:
            identifiers.append(f"telegram:@{entity.username}")
        if entity.phone:
            identifiers.append(f"tel:+{entity.phone}")
        name = utils.get_display_name(entity) or ("Deleted account" if entity.deleted else "")
        return UserInfo(
            name=name or str(entity.id),
            identifiers=identifiers,
            is_bot=bool(entity.bot),
            avatar=_avatar(client, entity) if client is not None else None,
        )
    return UserInfo(name=utils.get_display_name(entity) or None, is_bot=False)


def _avatar(client: Any, entity: Any) -> Avatar:
    photo = getattr(entity, "photo", None)
    if isinstance(photo, types.UserProfilePhoto | types.ChatPhoto):

        async def download() -> bytes:
            data = await client.download_profile_photo(entity, file=bytes)
            return bytes(data or b"")

        return Avatar(str(photo.photo_id), download, "image/jpeg")
    return Avatar.removed()


async def get_chat_info(client: Any, chat: ChatRef, me: int) -> ChatInfo:
    """Name, topic, avatar, members and their power levels of a chat."""
    if chat.kind == "user":
        return await _private_chat(client, chat, me)
    if chat.kind == "chat":
        return await _basic_group(client, chat, me)
    if chat.topic is not None:
        return await _topic(client, chat, me)
    return await _channel(client, chat, me)


async def _topic(client: Any, chat: ChatRef, me: int) -> ChatInfo:
    forum = chat.forum
    info = await _channel(client, forum, me)
    entity = await client.get_entity(forum.peer)
    found = await client(
        functions.messages.GetForumTopicsByIDRequest(peer=entity, topics=[chat.topic])
    )
    titles = [t.title for t in found.topics if isinstance(t, types.ForumTopic)]
    fallback = "General" if chat.topic == GENERAL_TOPIC else f"Topic {chat.topic}"
    info.name = titles[0] if titles else fallback
    info.topic = ""
    info.type = RoomType.GROUP
    info.parent = forum.portal_id()
    return info


async def _private_chat(client: Any, chat: ChatRef, me: int) -> ChatInfo:
    entity = await client.get_entity(chat.peer)
    members = [ChatMember(user_id(entity.id), entity.id == me, user_info=user_info(entity, client))]
    if entity.id != me:
        members.append(ChatMember(user_id(me), is_from_me=True))
    return ChatInfo(members=ChatMemberList(members, is_full=True), type=RoomType.DM)


async def _basic_group(client: Any, chat: ChatRef, me: int) -> ChatInfo:
    full = await client(functions.messages.GetFullChatRequest(chat.id))
    entity = next(c for c in full.chats if c.id == chat.id)
    users = {u.id: u for u in full.users}
    members: list[ChatMember] = []
    participants = getattr(full.full_chat.participants, "participants", None)
    for p in participants or []:
        level = 0
        if isinstance(p, types.ChatParticipantCreator):
            level = CREATOR_LEVEL
        elif isinstance(p, types.ChatParticipantAdmin):
            level = ADMIN_LEVEL
        members.append(_member(p.user_id, me, level, users.get(p.user_id), client))
    return ChatInfo(
        name=entity.title,
        topic=full.full_chat.about or "",
        avatar=_avatar(client, entity),
        members=ChatMemberList(members, is_full=participants is not None),
        type=RoomType.GROUP,
    )


async def _channel(client: Any, chat: ChatRef, me: int) -> ChatInfo:
    entity = await client.get_entity(chat.peer)
    full = await client(functions.channels.GetFullChannelRequest(entity))
    members: list[ChatMember] = []
    is_full = True
    try:
        participants = await client.get_participants(entity)
    except (errors.ChatAdminRequiredError, errors.ChannelPrivateError) as e:
        # Broadcast channels show their members to admins only.
        log.debug("Members of channel %s are hidden: %s", chat.id, e)
        participants, is_full = [], False
    for user in participants:
        participant = getattr(user, "participant", None)
        level = 0
        if isinstance(participant, types.ChannelParticipantCreator):
            level = CREATOR_LEVEL
        elif isinstance(participant, types.ChannelParticipantAdmin):
            level = ADMIN_LEVEL
        members.append(_member(user.id, me, level, user, client))
    if not any(m.is_from_me for m in members):
        members.append(ChatMember(user_id(me), is_from_me=True))
    return ChatInfo(
        name=entity.title,
        topic=full.full_chat.about or "",
        avatar=_avatar(client, entity),
        members=ChatMemberList(members, is_full=is_full),
        type=_channel_type(entity),
    )


def _channel_type(entity: Any) -> RoomType:
    if entity.forum:
        return RoomType.SPACE
    return RoomType.GROUP if entity.megagroup else RoomType.CHANNEL


def _member(telegram_id: int, me: int, level: int, user: Any, client: Any) -> ChatMember:
    return ChatMember(
        user_id(telegram_id),
        is_from_me=telegram_id == me,
        power_level=level,
        user_info=user_info(user, client) if user is not None else None,
    )


async def get_user_info(client: Any, remote_id: RemoteUserID) -> UserInfo | None:
    """The profile of a user (or of a channel that posts as itself), if this account
    knows them."""
    try:
        number = int(remote_id)
    except ValueError:
        return None
    try:
        entity = await client.get_entity(number if number < 0 else types.PeerUser(number))
    except (ValueError, errors.RPCError) as e:
        log.debug("Unknown Telegram user %s: %s", remote_id, e)
        return None
    return user_info(entity, client)
