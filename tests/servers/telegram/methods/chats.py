"""Groups, channels and forum topics: info, members, creation, membership changes."""

from __future__ import annotations

import mimetypes
from typing import Any

from telethon.tl import functions, types

from .. import render
from ..media import store_photo
from ..rpc import RpcContext, RpcError, bad_request, method
from ..world import BasicGroup, Channel, Invite, StoredFile, User


def _group(ctx: RpcContext, chat_id: int) -> BasicGroup:
    group = ctx.world.groups.get(chat_id)
    if group is None:
        raise bad_request("CHAT_ID_INVALID")
    return group


def _member_channel(ctx: RpcContext, input_channel: Any) -> Channel:
    channel = ctx.world.input_channel(ctx.user, input_channel)
    if ctx.user.id not in channel.members and not channel.username:
        raise bad_request("CHANNEL_PRIVATE")
    return channel


def _reactions(allowed: list[str] | None) -> Any:
    if allowed is None:
        return types.ChatReactionsAll()
    if not allowed:
        return types.ChatReactionsNone()
    return types.ChatReactionsSome(reactions=[types.ReactionEmoji(emoticon=e) for e in allowed])


# -- basic groups -----------------------------------------------------------------------


@method(functions.messages.GetChatsRequest)
async def get_chats(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    return types.messages.Chats(
        chats=[
            render.group(ctx.world.groups[i], viewer) for i in request.id if i in ctx.world.groups
        ]
    )


@method(functions.messages.GetFullChatRequest)
async def get_full_chat(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    group = _group(ctx, request.chat_id)
    participants = []
    for uid, (inviter, date) in group.members.items():
        if uid == group.creator_id:
            participants.append(types.ChatParticipantCreator(user_id=uid))
        elif uid in group.admins:
            participants.append(
                types.ChatParticipantAdmin(user_id=uid, inviter_id=inviter, date=render.ts(date))
            )
        else:
            participants.append(
                types.ChatParticipant(user_id=uid, inviter_id=inviter, date=render.ts(date))
            )
    full = types.ChatFull(
        id=group.id,
        about=group.about,
        participants=types.ChatParticipants(
            chat_id=group.id, participants=participants, version=group.version
        ),
        notify_settings=types.PeerNotifySettings(),
        chat_photo=render.photo_of(group.photo) if group.photo else None,
        available_reactions=_reactions(group.available_reactions),
    )
    users, chats = render.entities_for(ctx.world, viewer, [full], [group])
    return types.messages.ChatFull(full_chat=full, chats=chats, users=users)


def _invited(updates: Any) -> Any:
    return types.messages.InvitedUsers(updates=updates, missing_invitees=[])


@method(functions.messages.CreateChatRequest)
async def create_chat(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    members = [ctx.world.input_user(user, u) for u in request.users]
    _, updates = ctx.server.chat_actions.create_group(user, request.title, members, origin=ctx)
    return _invited(updates)


@method(functions.messages.AddChatUserRequest)
async def add_chat_user(ctx: RpcContext, request: Any) -> Any:
    group = _group(ctx, request.chat_id)
    target = ctx.world.input_user(ctx.user, request.user_id)
    return _invited(ctx.server.chat_actions.add_to_group(group, [target], ctx.user, origin=ctx))


@method(functions.messages.DeleteChatUserRequest)
async def delete_chat_user(ctx: RpcContext, request: Any) -> Any:
    group = _group(ctx, request.chat_id)
    target = ctx.world.input_user(ctx.user, request.user_id)
    if (
        target is not ctx.user
        and ctx.user.id != group.creator_id
        and ctx.user.id not in group.admins
    ):
        raise RpcError(403, "CHAT_ADMIN_REQUIRED")
    return ctx.server.chat_actions.remove_from_group(group, target, ctx.user, origin=ctx)


@method(functions.messages.EditChatTitleRequest)
async def edit_chat_title(ctx: RpcContext, request: Any) -> Any:
    group = _group(ctx, request.chat_id)
    return ctx.server.chat_actions.edit_title(group, request.title, ctx.user, origin=ctx)


def _chat_photo(ctx: RpcContext, photo: Any) -> StoredFile | None:
    """The stored photo of an ``InputChatPhoto``: a new upload, or none (removal)."""
    if isinstance(photo, types.InputChatPhotoEmpty):
        return None
    if isinstance(photo, types.InputChatUploadedPhoto) and photo.file is not None:
        data = ctx.server.uploads.assemble(ctx.user, photo.file)
        mime = mimetypes.guess_type(photo.file.name)[0] or "image/jpeg"
        return store_photo(ctx.world, data, mime, ctx.connection.dc_id)
    raise bad_request("PHOTO_INVALID")


@method(functions.messages.EditChatPhotoRequest)
async def edit_chat_photo(ctx: RpcContext, request: Any) -> Any:
    group = _group(ctx, request.chat_id)
    photo = _chat_photo(ctx, request.photo)
    return ctx.server.chat_actions.edit_photo(group, photo, ctx.user, origin=ctx)


@method(functions.messages.EditChatAboutRequest)
async def edit_chat_about(ctx: RpcContext, request: Any) -> Any:
    chat = ctx.world.input_peer(ctx.user, request.peer)
    if not isinstance(chat, BasicGroup | Channel):
        raise bad_request("PEER_ID_INVALID")
    ctx.server.chat_actions.edit_about(chat, request.about, ctx.user)
    return True


# -- channels ---------------------------------------------------------------------------


@method(functions.channels.GetChannelsRequest)
async def get_channels(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    return types.messages.Chats(
        chats=[render.channel(ctx.world.input_channel(viewer, c), viewer) for c in request.id]
    )


@method(functions.channels.GetFullChannelRequest)
async def get_full_channel(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    channel = _member_channel(ctx, request.channel)
    old = channel.migrated_from
    # Both migrated_from fields share one flag: the old group and its last message.
    old_ids = [p.id_for(viewer) for p in ctx.world.posts_in(viewer, old)] if old else []
    full = types.ChannelFull(
        id=channel.id,
        about=channel.about,
        participants_count=len(channel.members),
        admins_count=sum(1 for m in channel.members.values() if m.admin),
        read_inbox_max_id=viewer.read_inbox.get(("channel", channel.id), 0),
        read_outbox_max_id=0,
        unread_count=0,
        chat_photo=render.photo_of(channel.photo) if channel.photo else types.PhotoEmpty(id=0),
        notify_settings=types.PeerNotifySettings(),
        bot_info=[],
        pts=channel.box.pts,
        can_view_participants=True,
        available_reactions=_reactions(channel.available_reactions),
        migrated_from_chat_id=old.id if old else None,
        migrated_from_max_id=max(old_ids, default=1) if old else None,
    )
    users, chats = render.entities_for(ctx.world, viewer, [], [channel])
    return types.messages.ChatFull(full_chat=full, chats=chats, users=users)


def _participant(channel: Channel, uid: int, viewer: User) -> Any:
    member = channel.members[uid]
    date = render.ts(member.date)
    if uid == channel.creator_id:
        return types.ChannelParticipantCreator(
            user_id=uid, admin_rights=render.admin_rights(channel, uid), rank=member.rank
        )
    if member.admin:
        return types.ChannelParticipantAdmin(
            user_id=uid,
            promoted_by=member.inviter_id,
            date=date,
            admin_rights=render.admin_rights(channel, uid),
            # is_self and inviter_id share one flag: both set, or neither.
            is_self=True if uid == viewer.id else None,
            inviter_id=member.inviter_id if uid == viewer.id else None,
            rank=member.rank,
        )
    if uid == viewer.id:
        return types.ChannelParticipantSelf(user_id=uid, inviter_id=member.inviter_id, date=date)
    return types.ChannelParticipant(user_id=uid, date=date)


@method(functions.channels.GetParticipantsRequest)
async def get_participants(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    channel = _member_channel(ctx, request.channel)
    if channel.broadcast and not (
        viewer.id in channel.members and channel.members[viewer.id].admin
    ):
        raise RpcError(403, "CHAT_ADMIN_REQUIRED")
    uids = list(channel.members)
    flt = request.filter
    if isinstance(flt, types.ChannelParticipantsAdmins):
        uids = [u for u in uids if channel.members[u].admin]
    elif isinstance(flt, types.ChannelParticipantsBots):
        uids = [u for u in uids if ctx.world.users[u].bot]
    elif isinstance(flt, types.ChannelParticipantsKicked | types.ChannelParticipantsBanned):
        uids = []
    elif isinstance(flt, types.ChannelParticipantsSearch) and flt.q:
        query = flt.q.lower()
        uids = [
            u
            for u in uids
            if query in ctx.world.users[u].display_name.lower()
            or query in (ctx.world.users[u].username or "").lower()
        ]
    page = uids[request.offset : request.offset + max(0, min(request.limit, 200))]
    participants = [_participant(channel, u, viewer) for u in page]
    users = [render.user(ctx.world.users[u], viewer) for u in page]
    return types.channels.ChannelParticipants(
        count=len(uids), participants=participants, chats=[], users=users
    )


@method(functions.channels.GetParticipantRequest)
async def get_participant(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    channel = _member_channel(ctx, request.channel)
    target = ctx.world.input_user(viewer, request.participant)
    if target.id not in channel.members:
        raise bad_request("USER_NOT_PARTICIPANT")
    return types.channels.ChannelParticipant(
        participant=_participant(channel, target.id, viewer),
        chats=[],
        users=[render.user(target, viewer)],
    )


@method(functions.channels.CreateChannelRequest)
async def create_channel(ctx: RpcContext, request: Any) -> Any:
    megagroup = bool(request.megagroup or request.forum)
    _, updates = ctx.server.chat_actions.create_channel(
        ctx.user,
        request.title,
        origin=ctx,
        about=request.about,
        megagroup=megagroup,
        broadcast=not megagroup,
        forum=bool(request.forum),
    )
    return updates


@method(functions.channels.InviteToChannelRequest)
async def invite_to_channel(ctx: RpcContext, request: Any) -> Any:
    channel = _member_channel(ctx, request.channel)
    users = [ctx.world.input_user(ctx.user, u) for u in request.users]
    return _invited(ctx.server.chat_actions.add_to_channel(channel, users, ctx.user, origin=ctx))


@method(functions.channels.JoinChannelRequest)
async def join_channel(ctx: RpcContext, request: Any) -> Any:
    channel = ctx.world.input_channel(ctx.user, request.channel)
    if not channel.username and ctx.user.id not in channel.members:
        raise bad_request("CHANNEL_PRIVATE")
    return ctx.server.chat_actions.add_to_channel(channel, [ctx.user], ctx.user, origin=ctx)


@method(functions.channels.LeaveChannelRequest)
async def leave_channel(ctx: RpcContext, request: Any) -> Any:
    channel = ctx.world.input_channel(ctx.user, request.channel)
    return ctx.server.chat_actions.remove_from_channel(channel, ctx.user, ctx.user, origin=ctx)


@method(functions.channels.EditTitleRequest)
async def edit_channel_title(ctx: RpcContext, request: Any) -> Any:
    channel = _member_channel(ctx, request.channel)
    if not channel.members.get(ctx.user.id) or not channel.members[ctx.user.id].admin:
        raise RpcError(403, "CHAT_ADMIN_REQUIRED")
    return ctx.server.chat_actions.edit_title(channel, request.title, ctx.user, origin=ctx)


@method(functions.channels.EditPhotoRequest)
async def edit_channel_photo(ctx: RpcContext, request: Any) -> Any:
    channel = _member_channel(ctx, request.channel)
    if not channel.members.get(ctx.user.id) or not channel.members[ctx.user.id].admin:
        raise RpcError(403, "CHAT_ADMIN_REQUIRED")
    photo = _chat_photo(ctx, request.photo)
    return ctx.server.chat_actions.edit_photo(channel, photo, ctx.user, origin=ctx)


@method(functions.channels.DeleteMessagesRequest)
async def delete_channel_messages(ctx: RpcContext, request: Any) -> Any:
    channel = _member_channel(ctx, request.channel)
    posts = [channel.box.messages[i] for i in request.id if i in channel.box.messages]
    if not posts:
        return types.messages.AffectedMessages(pts=channel.box.pts, pts_count=0)
    return ctx.server.actions.delete(ctx.user, posts, origin=ctx)


@method(functions.channels.ReadHistoryRequest)
async def read_channel_history(ctx: RpcContext, request: Any) -> Any:
    channel = _member_channel(ctx, request.channel)
    return ctx.server.actions.read(ctx.user, channel, request.max_id, origin=ctx)


@method(functions.messages.MigrateChatRequest)
async def migrate_chat(ctx: RpcContext, request: Any) -> Any:
    group = _group(ctx, request.chat_id)
    return ctx.server.chat_actions.upgrade_group(group, ctx.user, origin=ctx)[1]


@method(functions.messages.GetAvailableReactionsRequest)
async def get_available_reactions(ctx: RpcContext, request: Any) -> Any:
    return types.messages.AvailableReactionsNotModified()


# -- invite links ---------------------------------------------------------------------


def _invite(ctx: RpcContext, invite_hash: str) -> Invite:
    invite = ctx.world.invites.get(invite_hash.rsplit("+", 1)[-1])
    if invite is None:
        raise bad_request("INVITE_HASH_INVALID")
    if invite.revoked:
        raise bad_request("INVITE_HASH_EXPIRED")
    return invite


@method(functions.messages.ExportChatInviteRequest)
async def export_chat_invite(ctx: RpcContext, request: Any) -> Any:
    chat = ctx.world.input_peer(ctx.user, request.peer)
    if isinstance(chat, User):
        raise bad_request("PEER_ID_INVALID")
    invite = ctx.server.chat_actions.create_invite(chat, ctx.user)
    return types.ChatInviteExported(
        link=invite.link, admin_id=ctx.user.id, date=render.ts(invite.date), permanent=True
    )


@method(functions.messages.CheckChatInviteRequest)
async def check_chat_invite(ctx: RpcContext, request: Any) -> Any:
    invite = _invite(ctx, request.hash)
    chat = invite.chat
    if ctx.user.id in chat.members:
        return types.ChatInviteAlready(chat=render.chat(chat, ctx.user))
    is_channel = isinstance(chat, Channel)
    broadcast = isinstance(chat, Channel) and chat.broadcast
    return types.ChatInvite(
        title=chat.title,
        photo=render.photo_of(chat.photo) if chat.photo else types.PhotoEmpty(id=0),
        participants_count=len(chat.members),
        color=0,
        channel=is_channel,
        broadcast=broadcast,
        megagroup=is_channel and not broadcast,
        about=chat.about or None,
    )


@method(functions.messages.ImportChatInviteRequest)
async def import_chat_invite(ctx: RpcContext, request: Any) -> Any:
    invite = _invite(ctx, request.hash)
    return ctx.server.chat_actions.join_by_invite(ctx.user, invite.hash, origin=ctx)
