"""Chat-level actions: creating groups and channels, membership, titles, photos, topics.

Like :mod:`.actions`, used by RPC handlers and by the server's test API alike;
every change is announced with the service message Telegram posts for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from . import render
from .actions import Actions
from .rpc import RpcError, bad_request
from .world import (
    GENERAL_TOPIC_ID,
    BasicGroup,
    Channel,
    ChannelMember,
    Invite,
    StoredFile,
    Topic,
    User,
    now,
)

if TYPE_CHECKING:
    from .rpc import RpcContext


class ChatActions:
    """Group, channel and forum topic changes; see the module docstring."""

    def __init__(self, messages: Actions) -> None:
        self.messages = messages
        self.world = messages.world
        self.hub = messages.hub

    # -- chats --------------------------------------------------------------------

    def create_group(
        self,
        creator: User,
        title: str,
        members: Iterable[User],
        *,
        origin: RpcContext | None = None,
    ) -> tuple[BasicGroup, Any]:
        """Create a basic group with ``members`` and post ``messageActionChatCreate``."""
        group = self.world.add_group(title, creator)
        for member in members:
            group.members.setdefault(member.id, (creator.id, now()))
        action = types.MessageActionChatCreate(title=title, users=list(group.members))
        _, updates = self.messages.send(creator, group, action=action, origin=origin)
        return group, updates

    def add_to_group(
        self,
        group: BasicGroup,
        users: Iterable[User],
        inviter: User,
        *,
        origin: RpcContext | None = None,
    ) -> Any:
        """Add members to a basic group (``messageActionChatAddUser``)."""
        added = [u for u in users if u.id not in group.members]
        if not added:
            raise bad_request("USER_ALREADY_PARTICIPANT")
        for user in added:
            group.members[user.id] = (inviter.id, now())
        group.version += 1
        action = types.MessageActionChatAddUser(users=[u.id for u in added])
        return self.messages.send(inviter, group, action=action, origin=origin)[1]

    def remove_from_group(
        self, group: BasicGroup, user: User, by: User, *, origin: RpcContext | None = None
    ) -> Any:
        """Remove a member (``messageActionChatDeleteUser``); they still get that message."""
        if user.id not in group.members:
            raise bad_request("USER_NOT_PARTICIPANT")
        action = types.MessageActionChatDeleteUser(user_id=user.id)
        _, updates = self.messages.send(by, group, action=action, origin=origin)
        del group.members[user.id]
        group.admins.discard(user.id)
        group.version += 1
        return updates

    def create_channel(
        self,
        creator: User,
        title: str,
        members: Iterable[User] = (),
        *,
        origin: RpcContext | None = None,
        **fields: Any,
    ) -> tuple[Channel, Any]:
        """Create a channel/supergroup, post ``messageActionChannelCreate``, add ``members``."""
        channel = self.world.add_channel(title, creator, **fields)
        post, updates = self.messages.send(
            creator, channel, action=types.MessageActionChannelCreate(title=title), origin=origin
        )
        if channel.forum:
            general = Topic(GENERAL_TOPIC_ID, "General", creator.id, post.date)
            channel.topics[general.id] = general
        members = [m for m in members if m.id not in channel.members]
        if members:
            self.add_to_channel(channel, members, creator)
        return channel, updates

    def add_to_channel(
        self,
        channel: Channel,
        users: Iterable[User],
        inviter: User,
        *,
        origin: RpcContext | None = None,
    ) -> Any:
        """Add members to a channel; supergroups get ``messageActionChatAddUser``."""
        added = [u for u in users if u.id not in channel.members]
        if not added:
            raise bad_request("USER_ALREADY_PARTICIPANT")
        for user in added:
            channel.members[user.id] = ChannelMember(user.id, inviter.id, now())
        if channel.broadcast:
            batch = self.hub.batch()
            for user in added:
                batch.plain(user, types.UpdateChannel(channel_id=channel.id))
            return batch.commit(origin)
        action = types.MessageActionChatAddUser(users=[u.id for u in added])
        return self.messages.send(inviter, channel, action=action, origin=origin)[1]

    def remove_from_channel(
        self, channel: Channel, user: User, by: User, *, origin: RpcContext | None = None
    ) -> Any:
        """Remove a member (leave or kick); supergroups get ``messageActionChatDeleteUser``."""
        if user.id not in channel.members:
            raise bad_request("USER_NOT_PARTICIPANT")
        updates = None
        if not channel.broadcast:
            action = types.MessageActionChatDeleteUser(user_id=user.id)
            _, updates = self.messages.send(by, channel, action=action, origin=origin)
        del channel.members[user.id]
        batch = self.hub.batch()
        batch.plain(user, types.UpdateChannel(channel_id=channel.id))
        pushed = batch.commit(origin)
        return updates or pushed

    def edit_title(
        self, chat: BasicGroup | Channel, title: str, by: User, *, origin: RpcContext | None = None
    ) -> Any:
        """Rename a group or channel (``messageActionChatEditTitle``)."""
        if chat.title == title:
            raise bad_request("CHAT_NOT_MODIFIED")
        chat.title = title
        if isinstance(chat, BasicGroup):
            chat.version += 1
        return self.messages.send(
            by, chat, action=types.MessageActionChatEditTitle(title=title), origin=origin
        )[1]

    def edit_about(self, chat: BasicGroup | Channel, about: str, by: User) -> None:
        """Change a group's or channel's description (Telegram posts no service message).
        Any member of a basic group may; in a channel only admins."""
        if isinstance(chat, Channel):
            member = chat.members.get(by.id)
            if member is None or not member.admin:
                raise RpcError(403, "CHAT_ADMIN_REQUIRED")
        elif by.id not in chat.members:
            raise bad_request("CHAT_ID_INVALID")
        if chat.about == about:
            raise bad_request("CHAT_ABOUT_NOT_MODIFIED")
        chat.about = about
        if isinstance(chat, BasicGroup):
            chat.version += 1

    def create_topic(
        self, channel: Channel, creator: User, title: str, *, origin: RpcContext | None = None
    ) -> tuple[Topic, Any]:
        """Open a forum topic; its ID is the ID of its ``messageActionTopicCreate``."""
        if not channel.forum:
            raise bad_request("CHANNEL_FORUM_MISSING")
        action = types.MessageActionTopicCreate(title=title, icon_color=0x6FB9F0)
        post, updates = self.messages.send(creator, channel, action=action, origin=origin)
        topic = Topic(id=post.id_for(creator), title=title, creator_id=creator.id, date=post.date)
        channel.topics[topic.id] = topic
        return topic, updates

    def edit_photo(
        self,
        chat: BasicGroup | Channel,
        photo: StoredFile | None,
        by: User,
        *,
        origin: RpcContext | None = None,
    ) -> Any:
        """Set or remove a group/channel photo (``messageActionChatEditPhoto``/``DeletePhoto``)."""
        chat.photo = photo
        action: Any = (
            types.MessageActionChatEditPhoto(photo=render.photo_of(photo))
            if photo is not None
            else types.MessageActionChatDeletePhoto()
        )
        return self.messages.send(by, chat, action=action, origin=origin)[1]

    def edit_topic(
        self,
        channel: Channel,
        topic: Topic,
        by: User,
        *,
        title: str | None = None,
        closed: bool | None = None,
        origin: RpcContext | None = None,
    ) -> Any:
        """Rename, close or reopen a forum topic (``messageActionTopicEdit`` in the topic)."""
        member = channel.members.get(by.id)
        if member is None or (not member.admin and topic.creator_id != by.id):
            raise RpcError(403, "CHAT_ADMIN_REQUIRED")
        if title is not None:
            topic.title = title
        if closed is not None:
            topic.closed = closed
        action = types.MessageActionTopicEdit(title=title, closed=closed)
        return self.messages.send(by, channel, action=action, topic=topic, origin=origin)[1]

    def upgrade_group(
        self, group: BasicGroup, by: User, *, origin: RpcContext | None = None
    ) -> tuple[Channel, Any]:
        """Turn a basic group into a supergroup, as ``messages.migrateChat`` does.

        The group gets ``messageActionChatMigrateTo`` and is deactivated; the new
        supergroup (same members, ``by`` as creator) starts with
        ``messageActionChannelMigrateFrom``.
        """
        if group.migrated_to is not None:
            raise bad_request("CHAT_ID_INVALID")
        if by.id != group.creator_id:
            raise bad_request("CHAT_ADMIN_REQUIRED")
        channel = self.world.add_channel(group.title, by, megagroup=True, about=group.about)
        channel.migrated_from = group
        channel.photo = group.photo
        for uid, (inviter, date) in group.members.items():
            channel.members.setdefault(uid, ChannelMember(uid, inviter, date))
        self.messages.send(
            by, group, action=types.MessageActionChatMigrateTo(channel_id=channel.id)
        )
        group.migrated_to = channel
        _, updates = self.messages.send(
            by,
            channel,
            action=types.MessageActionChannelMigrateFrom(title=group.title, chat_id=group.id),
            origin=origin,
        )
        return channel, updates

    def create_invite(self, chat: BasicGroup | Channel, by: User) -> Invite:
        """A new invite link into ``chat``, made by a member."""
        if by.id not in chat.members:
            raise bad_request("CHAT_ADMIN_REQUIRED")
        invite = Invite(hash=secrets.token_urlsafe(12), chat=chat, creator_id=by.id)
        self.world.invites[invite.hash] = invite
        return invite

    def join_by_invite(
        self, user: User, invite_hash: str, *, origin: RpcContext | None = None
    ) -> Any:
        """Join through an invite link (``messageActionChatJoinedByLink``)."""
        invite = self.world.invites.get(invite_hash)
        if invite is None or invite.revoked:
            raise bad_request("INVITE_HASH_EXPIRED")
        chat = invite.chat
        if user.id in chat.members:
            raise bad_request("USER_ALREADY_PARTICIPANT")
        if isinstance(chat, Channel):
            chat.members[user.id] = ChannelMember(user.id, invite.creator_id, now())
            if chat.broadcast:
                batch = self.hub.batch()
                batch.plain(user, types.UpdateChannel(channel_id=chat.id))
                return batch.commit(origin)
        else:
            chat.members[user.id] = (invite.creator_id, now())
            chat.version += 1
        action = types.MessageActionChatJoinedByLink(inviter_id=invite.creator_id)
        return self.messages.send(user, chat, action=action, origin=origin)[1]
