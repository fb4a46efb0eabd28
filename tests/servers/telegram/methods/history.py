"""Reading messages: history pages, messages by ID, the dialog list.

Paging follows Telegram's rules: results are newest first; ``offset_id`` (or
``offset_date``) starts below that message, ``add_offset`` shifts the window
(negative values reach newer messages), ``max_id``/``min_id`` bound it.
"""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from .. import render
from ..rpc import RpcContext, bad_request, method
from ..world import BasicGroup, Channel, Chat, Post, User


def _page(ctx: RpcContext, chat: Chat, request: Any) -> tuple[list[Post], int]:
    viewer = ctx.user
    newest_first = list(reversed(ctx.world.posts_in(viewer, chat)))
    total = len(newest_first)
    if request.max_id:
        newest_first = [p for p in newest_first if p.id_for(viewer) < request.max_id]
    if request.min_id:
        newest_first = [p for p in newest_first if p.id_for(viewer) > request.min_id]
    if request.offset_id:
        start = sum(1 for p in newest_first if p.id_for(viewer) >= request.offset_id)
    elif render.seconds(request.offset_date):
        offset = render.seconds(request.offset_date)
        start = sum(1 for p in newest_first if p.date >= offset)
    else:
        start = 0
    start += request.add_offset
    limit = max(0, min(request.limit or 100, 100))
    return newest_first[max(start, 0) : max(start + limit, 0)], total


def messages_result(
    ctx: RpcContext, chat: Chat | None, posts: list[Post], total: int | None = None
) -> Any:
    """``messages.messages`` / ``messagesSlice`` / ``channelMessages`` for ``posts``."""
    viewer = ctx.user
    rendered = [render.message(p, viewer) for p in posts]
    users, chats = render.entities_for(ctx.world, viewer, rendered, [chat] if chat else [])
    if isinstance(chat, Channel):
        return types.messages.ChannelMessages(
            pts=chat.box.pts,
            count=total if total is not None else len(rendered),
            messages=rendered,
            topics=[],
            chats=chats,
            users=users,
        )
    if total is not None and total > len(rendered):
        return types.messages.MessagesSlice(
            count=total, messages=rendered, topics=[], chats=chats, users=users
        )
    return types.messages.Messages(messages=rendered, topics=[], chats=chats, users=users)


@method(functions.messages.GetHistoryRequest)
async def get_history(ctx: RpcContext, request: Any) -> Any:
    chat = ctx.world.input_peer(ctx.user, request.peer)
    if isinstance(chat, Channel) and ctx.user.id not in chat.members and not chat.username:
        raise bad_request("CHANNEL_PRIVATE")
    posts, total = _page(ctx, chat, request)
    return messages_result(ctx, chat, posts, total)


def _input_messages(ctx: RpcContext, chat: Chat | None, ids: list[Any]) -> Any:
    viewer = ctx.user
    found: list[Any] = []
    posts: list[Post] = []
    for item in ids:
        post = None
        if isinstance(item, types.InputMessageID):
            post = ctx.world.post_by_id(viewer, chat, item.id)
        elif isinstance(item, types.InputMessageReplyTo):
            replying = ctx.world.post_by_id(viewer, chat, item.id)
            post = replying.reply_to if replying else None
        elif isinstance(item, types.InputMessagePinned) and chat is not None:
            post = next((p for p in reversed(ctx.world.posts_in(viewer, chat)) if p.pinned), None)
        if post is not None and post.box_for(viewer).messages.get(post.id_for(viewer)) is post:
            found.append(render.message(post, viewer))
            posts.append(post)
        else:
            found.append(types.MessageEmpty(id=getattr(item, "id", 0), peer_id=None))
    users, chats = render.entities_for(ctx.world, viewer, found, [chat] if chat else [])
    if isinstance(chat, Channel):
        return types.messages.ChannelMessages(
            pts=chat.box.pts, count=len(found), messages=found, topics=[], chats=chats, users=users
        )
    return types.messages.Messages(messages=found, topics=[], chats=chats, users=users)


@method(functions.messages.GetMessagesRequest)
async def get_messages(ctx: RpcContext, request: Any) -> Any:
    return _input_messages(ctx, None, request.id)


@method(functions.channels.GetMessagesRequest)
async def get_channel_messages(ctx: RpcContext, request: Any) -> Any:
    channel = ctx.world.input_channel(ctx.user, request.channel)
    return _input_messages(ctx, channel, request.id)


def read_outbox_max_id(ctx: RpcContext, viewer: User, chat: Chat, posts: list[Post]) -> int:
    """The newest of ``viewer``'s own messages in ``chat`` that someone else has read."""
    world = ctx.world
    best = 0
    for post in posts:
        if post.author is not viewer:
            continue
        for other in (
            world.audience(post) if not isinstance(chat, Channel) else world.members_of(chat)
        ):
            if other is viewer:
                continue
            key = world.dialog_key(other, world.chat_of_post_for(other, post))
            other_id = post.ids.get(post.box_for(other))
            if other_id is not None and other.read_inbox.get(key, 0) >= other_id:
                best = max(best, post.id_for(viewer))
                break
    return best


def dialog_of(ctx: RpcContext, viewer: User, chat: Chat) -> tuple[Any, Post | None]:
    """The ``Dialog`` of ``chat`` for ``viewer`` and its top message."""
    posts = ctx.world.posts_in(viewer, chat)
    top = posts[-1] if posts else None
    read_inbox = viewer.read_inbox.get(ctx.world.dialog_key(viewer, chat), 0)
    unread = sum(1 for p in posts if p.id_for(viewer) > read_inbox and p.author is not viewer)
    dialog = types.Dialog(
        peer=render.peer_of(chat),
        top_message=top.id_for(viewer) if top else 0,
        read_inbox_max_id=read_inbox,
        read_outbox_max_id=read_outbox_max_id(ctx, viewer, chat, posts),
        unread_count=unread,
        unread_mentions_count=0,
        unread_reactions_count=0,
        unread_poll_votes_count=0,
        notify_settings=types.PeerNotifySettings(),
        pts=chat.box.pts if isinstance(chat, Channel) else None,
    )
    return dialog, top


def dialog_chats(ctx: RpcContext, viewer: User) -> list[Chat]:
    """Every chat in ``viewer``'s dialog list, newest activity first."""
    world = ctx.world
    chats: dict[tuple[str, int], Chat] = {}
    for post in viewer.box.messages.values():
        chat = world.chat_of_post_for(viewer, post)
        chats[world.dialog_key(viewer, chat)] = chat
    for group in world.groups_of(viewer):
        chats[world.dialog_key(viewer, group)] = group
    for channel in world.channels_of(viewer):
        chats[world.dialog_key(viewer, channel)] = channel

    def activity(chat: Chat) -> tuple[int, int]:
        posts = world.posts_in(viewer, chat)
        if not posts:
            return (chat.date if isinstance(chat, BasicGroup | Channel) else 0, 0)
        return (posts[-1].date, posts[-1].id_for(viewer))

    return sorted(chats.values(), key=activity, reverse=True)


@method(functions.messages.GetDialogsRequest)
async def get_dialogs(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    if request.folder_id:
        return types.messages.Dialogs(dialogs=[], messages=[], chats=[], users=[])
    all_chats = dialog_chats(ctx, viewer)
    entries = [(chat, *dialog_of(ctx, viewer, chat)) for chat in all_chats]
    if render.seconds(request.offset_date) or request.offset_id:
        offset_date = render.seconds(request.offset_date) or 2**62

        def older(top: Post | None) -> bool:
            if top is None:
                return True
            return (top.date, top.id_for(viewer)) < (offset_date, request.offset_id or 2**31)

        entries = [e for e in entries if older(e[2])]
    total = len(all_chats)
    entries = entries[: max(0, request.limit or 100)]
    dialogs = [d for _, d, _ in entries]
    messages = [render.message(top, viewer) for _, _, top in entries if top is not None]
    users, chats = render.entities_for(
        ctx.world, viewer, messages, [chat for chat, _, _ in entries]
    )
    if total > len(entries):
        return types.messages.DialogsSlice(
            count=total, dialogs=dialogs, messages=messages, chats=chats, users=users
        )
    return types.messages.Dialogs(dialogs=dialogs, messages=messages, chats=chats, users=users)


@method(functions.messages.GetPeerDialogsRequest)
async def get_peer_dialogs(ctx: RpcContext, request: Any) -> Any:
    viewer = ctx.user
    dialogs = []
    messages = []
    targets: list[Chat] = []
    for item in request.peers:
        if not isinstance(item, types.InputDialogPeer):
            continue
        chat = ctx.world.input_peer(viewer, item.peer)
        dialog, top = dialog_of(ctx, viewer, chat)
        dialogs.append(dialog)
        targets.append(chat)
        if top is not None:
            messages.append(render.message(top, viewer))
    users, chats = render.entities_for(ctx.world, viewer, messages, targets)
    return types.messages.PeerDialogs(
        dialogs=dialogs,
        messages=messages,
        chats=chats,
        users=users,
        state=ctx.server.hub.state(viewer),
    )
