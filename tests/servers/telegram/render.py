"""Rendering the world model into Telethon TL objects, always from one viewer's side.

Telegram answers differ per viewer (``out``, ``is_self``, message IDs in private
chats, whether a phone number is visible), so every function takes the viewer.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from telethon.tl import types
from telethon.tl.tlobject import TLObject

from .world import BasicGroup, Channel, Chat, Post, StoredFile, User, World, now


def ts(value: int | None) -> datetime.datetime | None:
    """A Telegram date (seconds) as the timezone-aware datetime Telethon objects hold."""
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)


def seconds(value: datetime.datetime | None) -> int:
    """A request's date as seconds; ``None`` and the epoch (how TL sends "no date") are 0."""
    return int(value.timestamp()) if value is not None else 0


def peer_of(chat: Chat) -> Any:
    """The ``Peer`` naming a chat."""
    if isinstance(chat, User):
        return types.PeerUser(user_id=chat.id)
    if isinstance(chat, BasicGroup):
        return types.PeerChat(chat_id=chat.id)
    return types.PeerChannel(channel_id=chat.id)


def post_peer(post: Post, viewer: User) -> Any:
    """The ``peer_id`` of a message as ``viewer`` sees it."""
    if isinstance(post.chat, User):
        return peer_of(post.private_peer_for(viewer))
    return peer_of(post.chat)


def photo_of(stored: StoredFile) -> Any:
    """A ``Photo`` for stored image bytes (one size, type ``x``)."""
    return types.Photo(
        id=stored.id,
        access_hash=stored.access_hash,
        file_reference=stored.file_reference,
        date=ts(stored.date),
        sizes=[
            types.PhotoSize(
                type="x", w=stored.width or 512, h=stored.height or 512, size=len(stored.data)
            )
        ],
        dc_id=stored.dc_id,
    )


def document_of(stored: StoredFile) -> Any:
    """A ``Document`` for stored file bytes."""
    return types.Document(
        id=stored.id,
        access_hash=stored.access_hash,
        file_reference=stored.file_reference,
        date=ts(stored.date),
        mime_type=stored.mime_type,
        size=len(stored.data),
        dc_id=stored.dc_id,
        attributes=list(stored.attributes),
    )


def user(target: User, viewer: User) -> Any:
    """A ``User`` as ``viewer`` sees it (phone only for self and contacts)."""
    is_self = target is viewer
    contact = target.id in viewer.contacts
    if target.bot:
        status = None
    elif target.online_until > now():
        status = types.UserStatusOnline(expires=ts(target.online_until))
    else:
        status = types.UserStatusOffline(was_online=ts(target.last_seen))
    photo = (
        types.UserProfilePhoto(photo_id=target.photo.id, dc_id=target.photo.dc_id)
        if target.photo
        else types.UserProfilePhotoEmpty()
    )
    return types.User(
        id=target.id,
        is_self=is_self,
        contact=contact,
        mutual_contact=contact and viewer.id in target.contacts,
        bot=target.bot,
        bot_info_version=1 if target.bot else None,
        access_hash=target.access_hash,
        first_name=target.first_name,
        last_name=target.last_name,
        username=target.username,
        phone=target.phone.lstrip("+") if target.phone and (is_self or contact) else None,
        photo=photo,
        status=status,
    )


def _chat_photo(stored: StoredFile | None) -> Any:
    if stored is None:
        return types.ChatPhotoEmpty()
    return types.ChatPhoto(photo_id=stored.id, dc_id=stored.dc_id)


_ADMIN_RIGHTS = dict(
    change_info=True,
    delete_messages=True,
    ban_users=True,
    invite_users=True,
    pin_messages=True,
    add_admins=True,
    manage_call=True,
    other=True,
    manage_topics=True,
    post_messages=True,
    edit_messages=True,
)


def admin_rights(channel_or_group: BasicGroup | Channel, user_id: int) -> Any:
    """Full admin rights for admins and the creator; ``None`` for everybody else."""
    if isinstance(channel_or_group, Channel):
        member = channel_or_group.members.get(user_id)
        is_admin = member is not None and member.admin
    else:
        is_admin = user_id in channel_or_group.admins or user_id == channel_or_group.creator_id
    return types.ChatAdminRights(**_ADMIN_RIGHTS) if is_admin else None


def group(target: BasicGroup, viewer: User) -> Any:
    """A basic group ``Chat``."""
    left = viewer.id not in target.members
    return types.Chat(
        id=target.id,
        title=target.title,
        photo=_chat_photo(target.photo),
        participants_count=len(target.members),
        date=ts(target.date),
        version=target.version,
        creator=target.creator_id == viewer.id,
        left=left,
        deactivated=target.migrated_to is not None,
        migrated_to=(
            types.InputChannel(target.migrated_to.id, target.migrated_to.access_hash)
            if target.migrated_to
            else None
        ),
        admin_rights=None if left else admin_rights(target, viewer.id),
    )


def channel(target: Channel, viewer: User) -> Any:
    """A ``Channel`` (broadcast channel or supergroup)."""
    member = target.members.get(viewer.id)
    return types.Channel(
        id=target.id,
        title=target.title,
        photo=_chat_photo(target.photo),
        date=ts(target.date),
        creator=target.creator_id == viewer.id,
        left=member is None,
        broadcast=target.broadcast,
        megagroup=target.megagroup,
        forum=target.forum,
        access_hash=target.access_hash,
        username=target.username,
        participants_count=len(target.members),
        admin_rights=admin_rights(target, viewer.id),
    )


def chat(target: Chat, viewer: User) -> Any:
    """``User``, ``Chat`` or ``Channel`` for any chat."""
    if isinstance(target, User):
        return user(target, viewer)
    if isinstance(target, BasicGroup):
        return group(target, viewer)
    return channel(target, viewer)


def reactions(post: Post, viewer: User) -> Any:
    """``MessageReactions`` with counts, the viewer's choice and who reacted."""
    if not post.reactions:
        return None
    counts: dict[str, int] = {}
    for emoji, _date in post.reactions.values():
        counts[emoji] = counts.get(emoji, 0) + 1
    mine = post.reactions.get(viewer.id)
    results = [
        types.ReactionCount(
            reaction=types.ReactionEmoji(emoticon=emoji),
            count=count,
            chosen_order=0 if mine and mine[0] == emoji else None,
        )
        for emoji, count in counts.items()
    ]
    recent = [
        types.MessagePeerReaction(
            peer_id=types.PeerUser(user_id=uid),
            date=ts(date),
            reaction=types.ReactionEmoji(emoticon=emoji),
            my=uid == viewer.id,
        )
        for uid, (emoji, date) in post.reactions.items()
    ]
    return types.MessageReactions(
        results=results, can_see_list=not isinstance(post.chat, User), recent_reactions=recent
    )


def _reply_header(post: Post, viewer: User) -> Any:
    topic_id = post.topic.id if post.topic else None
    if post.reply_to is not None:
        reply_id = post.reply_to.ids.get(post.reply_to.box_for(viewer))
        if reply_id is None:
            return None
        return types.MessageReplyHeader(
            forum_topic=topic_id is not None,
            reply_to_msg_id=reply_id,
            reply_to_top_id=topic_id if topic_id not in (None, reply_id) else None,
        )
    if topic_id is not None:
        return types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=topic_id)
    return None


def message(post: Post, viewer: User) -> Any:
    """A ``Message`` or ``MessageService`` with the viewer's ID, ``out`` flag and peer."""
    msg_id = post.id_for(viewer)
    broadcast = isinstance(post.chat, Channel) and post.chat.broadcast
    out = post.author is viewer
    if broadcast or post.sender is None:
        from_id = None
    elif isinstance(post.chat, User) and not out:
        # Layer 119+: incoming private messages carry no from_id.
        from_id = None
    else:
        from_id = types.PeerUser(user_id=post.sender.id)
    common: dict[str, Any] = dict(
        id=msg_id,
        peer_id=post_peer(post, viewer),
        date=ts(post.date),
        out=out,
        from_id=from_id,
        reply_to=_reply_header(post, viewer),
        silent=post.silent or None,
        post=broadcast or None,
    )
    if post.action is not None:
        return types.MessageService(action=post.action, **common)
    mentioned = any(
        isinstance(e, types.MessageEntityMentionName) and e.user_id == viewer.id
        for e in post.entities
    )
    return types.Message(
        message=post.text,
        media=post.media,
        entities=list(post.entities) or None,
        edit_date=ts(post.edit_date),
        reactions=reactions(post, viewer),
        fwd_from=post.fwd_from,
        pinned=post.pinned or None,
        mentioned=mentioned or None,
        views=1 if broadcast else None,
        forwards=0 if broadcast else None,
        **common,
    )


_USER_FIELDS = ("user_id", "inviter_id", "promoted_by", "kicked_by")


def _walk(obj: Any, users: set[int], groups: set[int], channels: set[int]) -> None:
    if isinstance(obj, list | tuple):
        for item in obj:
            _walk(item, users, groups, channels)
        return
    if not isinstance(obj, TLObject):
        return
    if isinstance(obj, types.PeerUser):
        users.add(obj.user_id)
    elif isinstance(obj, types.PeerChat):
        groups.add(obj.chat_id)
    elif isinstance(obj, types.PeerChannel):
        channels.add(obj.channel_id)
    for name, value in vars(obj).items():
        if name in _USER_FIELDS and isinstance(value, int):
            users.add(value)
        elif name == "users" and isinstance(value, list) and all(isinstance(v, int) for v in value):
            users.update(value)
        elif name == "channel_id" and isinstance(value, int):
            channels.add(value)
        elif name == "chat_id" and isinstance(value, int):
            groups.add(value)
        elif isinstance(value, TLObject | list):
            _walk(value, users, groups, channels)


def entities_for(
    world: World, viewer: User, objects: Iterable[Any], extra: Iterable[Chat] = ()
) -> tuple[list[Any], list[Any]]:
    """The ``users`` and ``chats`` lists that must accompany ``objects`` for ``viewer``."""
    users: set[int] = {viewer.id}
    groups: set[int] = set()
    channels: set[int] = set()
    _walk(list(objects), users, groups, channels)
    for item in extra:
        if isinstance(item, User):
            users.add(item.id)
        elif isinstance(item, BasicGroup):
            groups.add(item.id)
        else:
            channels.add(item.id)
    rendered_users = [user(world.users[uid], viewer) for uid in sorted(users) if uid in world.users]
    rendered_chats = [
        group(world.groups[gid], viewer) for gid in sorted(groups) if gid in world.groups
    ]
    rendered_chats += [
        channel(world.channels[cid], viewer) for cid in sorted(channels) if cid in world.channels
    ]
    return rendered_users, rendered_chats
