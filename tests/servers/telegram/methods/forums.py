"""Forum topics: listing, looking up, creating and editing them."""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from .. import render
from ..rpc import RpcContext, bad_request, method
from ..world import GENERAL_TOPIC_ID, Channel, Topic, User
from .history import messages_result


def _forum(ctx: RpcContext, peer: Any) -> Channel:
    channel = ctx.world.input_peer(ctx.user, peer)
    if not isinstance(channel, Channel) or not channel.forum:
        raise bad_request("CHANNEL_FORUM_MISSING")
    return channel


def _topics_result(ctx: RpcContext, channel: Channel, topics: list[Topic]) -> Any:
    viewer: User = ctx.user
    posts = ctx.world.posts_in(viewer, channel)
    rendered = []
    top_posts = []
    for topic in topics:
        in_topic = [
            p
            for p in posts
            if p.topic is topic
            or p.id_for(viewer) == topic.id
            or (topic.id == GENERAL_TOPIC_ID and p.topic is None)
        ]
        top = in_topic[-1] if in_topic else None
        if top is not None:
            top_posts.append(top)
        rendered.append(
            types.ForumTopic(
                id=topic.id,
                date=render.ts(topic.date),
                peer=render.peer_of(channel),
                title=topic.title,
                icon_color=topic.icon_color,
                top_message=top.id_for(viewer) if top else topic.id,
                read_inbox_max_id=0,
                read_outbox_max_id=0,
                unread_count=0,
                unread_mentions_count=0,
                unread_reactions_count=0,
                unread_poll_votes_count=0,
                from_id=types.PeerUser(user_id=topic.creator_id),
                notify_settings=types.PeerNotifySettings(),
                my=topic.creator_id == viewer.id,
                closed=topic.closed,
            )
        )
    messages = messages_result(ctx, channel, top_posts)
    return types.messages.ForumTopics(
        count=len(channel.topics),
        topics=rendered,
        messages=messages.messages,
        chats=messages.chats,
        users=messages.users,
        pts=channel.box.pts,
    )


@method(functions.messages.GetForumTopicsRequest)
async def get_forum_topics(ctx: RpcContext, request: Any) -> Any:
    channel = _forum(ctx, request.peer)
    topics = [
        t
        for t in sorted(channel.topics.values(), key=lambda t: t.id, reverse=True)
        if (not request.q or request.q.lower() in t.title.lower())
        and (not request.offset_topic or t.id < request.offset_topic)
    ]
    return _topics_result(ctx, channel, topics[: max(1, request.limit)])


@method(functions.messages.GetForumTopicsByIDRequest)
async def get_forum_topics_by_id(ctx: RpcContext, request: Any) -> Any:
    channel = _forum(ctx, request.peer)
    return _topics_result(
        ctx, channel, [channel.topics[i] for i in request.topics if i in channel.topics]
    )


@method(functions.messages.CreateForumTopicRequest)
async def create_forum_topic(ctx: RpcContext, request: Any) -> Any:
    channel = ctx.world.input_peer(ctx.user, request.peer)
    if not isinstance(channel, Channel):
        raise bad_request("CHANNEL_INVALID")
    _, updates = ctx.server.chat_actions.create_topic(channel, ctx.user, request.title, origin=ctx)
    return updates


@method(functions.messages.EditForumTopicRequest)
async def edit_forum_topic(ctx: RpcContext, request: Any) -> Any:
    channel = _forum(ctx, request.peer)
    topic = channel.topics.get(request.topic_id)
    if topic is None:
        raise bad_request("TOPIC_ID_INVALID")
    return ctx.server.chat_actions.edit_topic(
        channel, topic, ctx.user, title=request.title, closed=request.closed, origin=ctx
    )
