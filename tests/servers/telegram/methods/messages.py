"""Writing messages: send (text and media), edit, delete, forward, react, read, type, pin.

Input is checked the way Telegram checks it where clients commonly get it wrong:
entity offsets are UTF-16 code units and must lie inside the text
(``ENTITY_BOUNDS_INVALID``), a ``random_id`` may not be reused
(``RANDOM_ID_DUPLICATE``), editing something unchanged is ``MESSAGE_NOT_MODIFIED``.
"""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from .. import render
from ..media import media_from_input
from ..rpc import RpcContext, RpcError, bad_request, method
from ..world import GENERAL_TOPIC_ID, Channel, Chat, Post, Topic, User, now

MAX_MESSAGE_LENGTH = 4096


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def convert_entities(ctx: RpcContext, text: str, entities: list[Any] | None) -> list[Any]:
    """Check entity bounds and resolve ``inputMessageEntityMentionName`` to user IDs."""
    out = []
    size = utf16_length(text)
    for entity in entities or []:
        if entity.offset < 0 or entity.length <= 0 or entity.offset + entity.length > size:
            raise bad_request("ENTITY_BOUNDS_INVALID")
        if isinstance(entity, types.InputMessageEntityMentionName):
            user = ctx.world.input_user(ctx.user, entity.user_id)
            entity = types.MessageEntityMentionName(
                offset=entity.offset, length=entity.length, user_id=user.id
            )
        out.append(entity)
    return out


def resolve_reply(
    ctx: RpcContext, chat: Chat, reply_to: Any, top_msg_id: int | None = None
) -> tuple[Post | None, Topic | None]:
    """The replied-to post and the forum topic of a new message."""
    viewer = ctx.user
    post = None
    if isinstance(reply_to, types.InputReplyToMessage):
        post = ctx.world.post_by_id(viewer, chat, reply_to.reply_to_msg_id)
        top_msg_id = reply_to.top_msg_id or top_msg_id
    topic = None
    if isinstance(chat, Channel) and chat.forum:
        if top_msg_id:
            topic = chat.topics.get(top_msg_id)
            if topic is None:
                raise bad_request("TOPIC_ID_INVALID")
        elif post is not None and post.id_for(viewer) in chat.topics:
            topic = chat.topics[post.id_for(viewer)]
        elif post is not None:
            topic = post.topic
        if post is not None and topic is not None and post.id_for(viewer) == topic.id:
            # "Reply" to the topic's root message is how a message is put in a topic.
            post = None
        if topic is not None and topic.id == GENERAL_TOPIC_ID:
            topic = None
    return post, topic


def _check_random_id(user: User, random_id: int | None) -> None:
    if random_id is None:
        return
    if random_id in user.random_ids:
        raise RpcError(500, "RANDOM_ID_DUPLICATE")
    user.random_ids.add(random_id)


def _post(ctx: RpcContext, chat: Chat, msg_id: int) -> Post:
    post = ctx.world.post_by_id(ctx.user, chat, msg_id)
    if post is None:
        raise bad_request("MESSAGE_ID_INVALID")
    return post


@method(functions.messages.SendMessageRequest)
async def send_message(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    chat = ctx.world.input_peer(user, request.peer)
    if not request.message.strip():
        raise bad_request("MESSAGE_EMPTY")
    if utf16_length(request.message) > MAX_MESSAGE_LENGTH:
        raise bad_request("MESSAGE_TOO_LONG")
    entities = convert_entities(ctx, request.message, request.entities)
    reply_to, topic = resolve_reply(ctx, chat, request.reply_to)
    _check_random_id(user, request.random_id)
    _, updates = ctx.server.actions.send(
        user,
        chat,
        text=request.message,
        entities=entities,
        reply_to=reply_to,
        topic=topic,
        silent=bool(request.silent),
        random_id=request.random_id,
        origin=ctx,
    )
    return updates


@method(functions.messages.SendMediaRequest)
async def send_media(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    chat = ctx.world.input_peer(user, request.peer)
    if utf16_length(request.message) > 1024:
        raise bad_request("MEDIA_CAPTION_TOO_LONG")
    entities = convert_entities(ctx, request.message, request.entities)
    reply_to, topic = resolve_reply(ctx, chat, request.reply_to)
    media = media_from_input(
        ctx.world, ctx.server.uploads, user, request.media, ctx.connection.dc_id
    )
    _check_random_id(user, request.random_id)
    _, updates = ctx.server.actions.send(
        user,
        chat,
        text=request.message,
        entities=entities,
        media=media,
        reply_to=reply_to,
        topic=topic,
        silent=bool(request.silent),
        random_id=request.random_id,
        origin=ctx,
    )
    return updates


@method(functions.messages.EditMessageRequest)
async def edit_message(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    chat = ctx.world.input_peer(user, request.peer)
    post = _post(ctx, chat, request.id)
    text = request.message
    entities = None
    if text is not None:
        if utf16_length(text) > MAX_MESSAGE_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        entities = convert_entities(ctx, text, request.entities)
    media = None
    if request.media is not None:
        media = media_from_input(
            ctx.world, ctx.server.uploads, user, request.media, ctx.connection.dc_id
        )
    return ctx.server.actions.edit(
        user, post, text=text, entities=entities, media=media, origin=ctx
    )


@method(functions.messages.DeleteMessagesRequest)
async def delete_messages(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    posts = [user.box.messages[i] for i in request.id if i in user.box.messages]
    if not posts:
        return types.messages.AffectedMessages(pts=user.box.pts, pts_count=0)
    return ctx.server.actions.delete(user, posts, revoke=bool(request.revoke), origin=ctx)


@method(functions.messages.ForwardMessagesRequest)
async def forward_messages(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    source = ctx.world.input_peer(user, request.from_peer)
    target = ctx.world.input_peer(user, request.to_peer)
    if len(request.random_id or []) != len(request.id):
        raise bad_request("RANDOM_ID_INVALID")
    _, topic = resolve_reply(ctx, target, request.reply_to, request.top_msg_id)
    merged: list[Any] = []
    users: dict[int, Any] = {}
    chats: dict[int, Any] = {}
    seqs: list[int] = []
    for msg_id, random_id in zip(request.id, request.random_id, strict=True):
        original = _post(ctx, source, msg_id)
        if original.action is not None:
            continue
        _check_random_id(user, random_id)
        fwd = original.fwd_from
        if fwd is None and not request.drop_author:
            fwd = _forward_header(original, user)
        _, updates = ctx.server.actions.send(
            user,
            target,
            text="" if request.drop_media_captions and original.media else original.text,
            entities=original.entities,
            media=original.media,
            fwd_from=None if request.drop_author else fwd,
            topic=topic,
            silent=bool(request.silent),
            random_id=random_id,
            origin=ctx,
        )
        merged.extend(updates.updates)
        users.update((u.id, u) for u in updates.users)
        chats.update((c.id, c) for c in updates.chats)
        if updates.seq:
            seqs.append(updates.seq)
    if not merged:
        raise bad_request("MESSAGE_ID_INVALID")
    return types.UpdatesCombined(
        updates=merged,
        users=list(users.values()),
        chats=list(chats.values()),
        date=render.ts(now()),
        seq_start=seqs[0] if seqs else 0,
        seq=seqs[-1] if seqs else 0,
    )


def _forward_header(original: Post, viewer: User) -> Any:
    if isinstance(original.chat, Channel) and original.chat.broadcast:
        return types.MessageFwdHeader(
            date=render.ts(original.date),
            from_id=types.PeerChannel(channel_id=original.chat.id),
            channel_post=original.id_for(viewer),
        )
    assert original.sender is not None
    return types.MessageFwdHeader(
        date=render.ts(original.date), from_id=types.PeerUser(user_id=original.sender.id)
    )


@method(functions.messages.SendReactionRequest)
async def send_reaction(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    chat = ctx.world.input_peer(user, request.peer)
    post = _post(ctx, chat, request.msg_id)
    emoji = None
    if request.reaction:
        reaction = request.reaction[0]
        if not isinstance(reaction, types.ReactionEmoji):
            raise bad_request("REACTION_INVALID")
        emoji = reaction.emoticon
    return ctx.server.actions.react(user, post, emoji, origin=ctx)


@method(functions.messages.ReadHistoryRequest)
async def read_history(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    chat = ctx.world.input_peer(user, request.peer)
    if isinstance(chat, Channel):
        raise bad_request("PEER_ID_INVALID")
    return ctx.server.actions.read(user, chat, request.max_id, origin=ctx)


@method(functions.messages.SetTypingRequest)
async def set_typing(ctx: RpcContext, request: Any) -> bool:
    user = ctx.user
    chat = ctx.world.input_peer(user, request.peer)
    ctx.server.actions.typing(user, chat, request.action, request.top_msg_id)
    return True


@method(functions.messages.UpdatePinnedMessageRequest)
async def update_pinned_message(ctx: RpcContext, request: Any) -> Any:
    user = ctx.user
    chat = ctx.world.input_peer(user, request.peer)
    post = _post(ctx, chat, request.id)
    return ctx.server.actions.pin(user, post, unpin=bool(request.unpin), origin=ctx)
