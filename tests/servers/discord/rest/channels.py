"""REST: channels (read, edit, delete), typing, threads, pins and channel webhooks."""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web

from .. import wire
from ..entities import Account, Channel, Overwrite
from ..protocol import ChannelType, ErrorCode, Permissions
from ..snowflake import iso_timestamp
from ..world import World
from .common import (
    ApiError,
    caller,
    form_error,
    json_response,
    missing_access,
    no_content,
    read_json,
    require,
    snowflake,
    world_of,
)
from .users import decode_image_data

routes = web.RouteTableDef()

#: Substrings Discord refuses in webhook names (and in webhook message usernames).
FORBIDDEN_WEBHOOK_NAMES = ("clyde", "discord")


def visible_channel(request: web.Request) -> tuple[World, Account, Channel]:
    """The world, the caller and the ``{channel_id}`` channel, which it must see."""
    world = world_of(request)
    account = caller(request)
    channel = world.channel(snowflake(request, "channel_id", "Channel", ErrorCode.UNKNOWN_CHANNEL))
    if not world.can_view(account, channel):
        raise missing_access()
    return world, account, channel


def check_webhook_name(name: object, field: str = "name") -> str:
    """Validate a webhook (user)name the way Discord does (1-80 chars, no "discord")."""
    if not isinstance(name, str) or not 1 <= len(name) <= 80:
        raise form_error(field, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
    lowered = name.lower()
    for word in FORBIDDEN_WEBHOOK_NAMES:
        if word in lowered:
            raise form_error(
                field, "USERNAME_INVALID_CONTAINS", f'Username cannot contain "{word}"'
            )
    return name


@routes.get("/channels/{channel_id}")
async def get_channel(request: web.Request) -> web.Response:
    """A channel, thread or DM."""
    world, _, channel = visible_channel(request)
    return json_response(wire.channel(world, channel))


@routes.patch("/channels/{channel_id}")
async def edit_channel(request: web.Request) -> web.Response:
    """Edit name, topic, position, category, overwrites (MANAGE_CHANNELS), or a
    thread's name/archived/locked (MANAGE_THREADS, or its owner)."""
    world, account, channel = visible_channel(request)
    body = await read_json(request)
    changes: dict[str, Any] = {}
    if channel.is_thread:
        perms = world.permissions_in(account, channel)
        if channel.owner_id != account.id and not perms & Permissions.MANAGE_THREADS:
            raise ApiError(403, ErrorCode.MISSING_PERMISSIONS, "Missing Permissions")
        for key in ("name", "archived", "locked"):
            if key in body:
                changes[key] = body[key]
    elif channel.is_private:
        if "name" in body and channel.type == ChannelType.GROUP_DM:
            changes["name"] = body["name"]
    else:
        require(world, account, channel, Permissions.MANAGE_CHANNELS)
        for key in ("name", "topic", "position", "nsfw"):
            if key in body:
                changes[key] = body[key]
        if "parent_id" in body:
            parent = body["parent_id"]
            changes["category"] = world.channel(int(parent)) if parent else None
        if "permission_overwrites" in body:
            changes["overwrites"] = [
                Overwrite(
                    int(o["id"]), int(o["type"]), int(o.get("allow", 0)), int(o.get("deny", 0))
                )
                for o in body["permission_overwrites"]
            ]
    if changes:
        world.update_channel(channel, **changes)
    return json_response(wire.channel(world, channel))


@routes.delete("/channels/{channel_id}")
async def delete_channel(request: web.Request) -> web.Response:
    """Delete a guild channel or thread (MANAGE_CHANNELS / MANAGE_THREADS); returns it."""
    world, account, channel = visible_channel(request)
    if channel.is_private:
        return json_response(wire.channel(world, channel))
    needed = Permissions.MANAGE_THREADS if channel.is_thread else Permissions.MANAGE_CHANNELS
    require(world, account, channel, needed)
    data = wire.channel(world, channel)
    world.delete_channel(channel)
    return json_response(data)


@routes.post("/channels/{channel_id}/typing")
async def typing(request: web.Request) -> web.Response:
    """Show the caller typing (TYPING_START to who can see the channel)."""
    world, account, channel = visible_channel(request)
    require(world, account, channel, Permissions.SEND_MESSAGES)
    world.start_typing(account, channel)
    return no_content()


# -- threads --------------------------------------------------------------------------


def _thread_options(body: dict[str, Any]) -> tuple[str, int]:
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    return name, int(body.get("auto_archive_duration") or 1440)


@routes.post("/channels/{channel_id}/messages/{message_id}/threads")
async def thread_from_message(request: web.Request) -> web.Response:
    """Start a public thread from a message (the thread gets the message's ID)."""
    world, account, channel = visible_channel(request)
    require(world, account, channel, Permissions.CREATE_PUBLIC_THREADS)
    message = world.message(snowflake(request, "message_id", "Message", ErrorCode.UNKNOWN_MESSAGE))
    if message.channel_id != channel.id:
        raise ApiError(404, ErrorCode.UNKNOWN_MESSAGE, "Unknown Message")
    if message.thread_id is not None:
        raise ApiError(
            400,
            ErrorCode.THREAD_ALREADY_CREATED,
            "A thread has already been created for this message",
        )
    name, archive = _thread_options(await read_json(request))
    thread = world.create_thread(
        channel, name, owner=account, starter=message, auto_archive_duration=archive
    )
    return json_response(wire.channel(world, thread), 201)


@routes.post("/channels/{channel_id}/threads")
async def thread_without_message(request: web.Request) -> web.Response:
    """Start a thread without a starter message (``type`` 11 public, 12 private)."""
    world, account, channel = visible_channel(request)
    body = await read_json(request)
    private = int(body.get("type", ChannelType.PRIVATE_THREAD)) == ChannelType.PRIVATE_THREAD
    needed = Permissions.CREATE_PRIVATE_THREADS if private else Permissions.CREATE_PUBLIC_THREADS
    require(world, account, channel, needed)
    name, archive = _thread_options(body)
    thread = world.create_thread(
        channel, name, owner=account, private=private, auto_archive_duration=archive
    )
    return json_response(wire.channel(world, thread), 201)


@routes.put("/channels/{channel_id}/thread-members/@me")
async def join_thread(request: web.Request) -> web.Response:
    """Join a thread."""
    world, account, channel = visible_channel(request)
    if not channel.is_thread:
        raise ApiError(400, ErrorCode.GENERAL, "400: Bad Request")
    world.join_thread(channel, account)
    return no_content()


@routes.delete("/channels/{channel_id}/thread-members/@me")
async def leave_thread(request: web.Request) -> web.Response:
    """Leave a thread."""
    _, account, channel = visible_channel(request)
    if account.id in channel.thread_member_ids:
        channel.thread_member_ids.remove(account.id)
    return no_content()


@routes.get("/channels/{channel_id}/thread-members")
async def thread_members(request: web.Request) -> web.Response:
    """Members of a thread."""
    _, _, channel = visible_channel(request)
    return json_response(
        [
            {
                "id": str(channel.id),
                "user_id": str(uid),
                "join_timestamp": iso_timestamp(channel.archive_timestamp),
                "flags": 0,
            }
            for uid in channel.thread_member_ids
        ]
    )


# -- pins -----------------------------------------------------------------------------


@routes.get("/channels/{channel_id}/pins")
async def list_pins(request: web.Request) -> web.Response:
    """Pinned messages, newest first."""
    world, _, channel = visible_channel(request)
    pinned = [m for m in reversed(world.messages_in(channel)) if m.pinned]
    return json_response([wire.message(world, m) for m in pinned])


@routes.get("/channels/{channel_id}/messages/pins")
async def list_message_pins(request: web.Request) -> web.Response:
    """Pinned messages with the time of their pin, newest pin first, in pages of up to
    50 (``before`` an ISO time); the list that replaced ``GET .../pins``."""
    world, _, channel = visible_channel(request)
    pinned = [m for m in world.messages_in(channel) if m.pinned and m.pinned_at is not None]
    pinned.sort(key=lambda m: m.pinned_at, reverse=True)  # type: ignore[arg-type,return-value]
    before = request.query.get("before")
    if before:
        cutoff = datetime.datetime.fromisoformat(before)
        pinned = [m for m in pinned if m.pinned_at is not None and m.pinned_at < cutoff]
    limit = max(1, min(int(request.query.get("limit") or 50), 50))
    items = [
        {"pinned_at": iso_timestamp(m.pinned_at), "message": wire.message(world, m)}
        for m in pinned[:limit]
    ]
    return json_response({"items": items, "has_more": len(pinned) > limit})


@routes.put("/channels/{channel_id}/pins/{message_id}")
@routes.delete("/channels/{channel_id}/pins/{message_id}")
@routes.put("/channels/{channel_id}/messages/pins/{message_id}")
@routes.delete("/channels/{channel_id}/messages/pins/{message_id}")
async def set_pin(request: web.Request) -> web.Response:
    """Pin (PUT) or unpin (DELETE) a message (MANAGE_MESSAGES)."""
    world, account, channel = visible_channel(request)
    if not channel.is_private:
        require(world, account, channel, Permissions.MANAGE_MESSAGES)
    message = world.message(snowflake(request, "message_id", "Message", ErrorCode.UNKNOWN_MESSAGE))
    world.pin_message(message, request.method == "PUT")
    return no_content()


# -- webhooks of a channel ------------------------------------------------------------


@routes.post("/channels/{channel_id}/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    """Create an incoming webhook (MANAGE_WEBHOOKS); the response includes its token."""
    world, account, channel = visible_channel(request)
    if channel.is_private or channel.is_thread:
        raise ApiError(400, ErrorCode.GENERAL, "400: Bad Request")
    require(world, account, channel, Permissions.MANAGE_WEBHOOKS)
    body = await read_json(request)
    name = check_webhook_name(body.get("name"))
    avatar = decode_image_data(body.get("avatar"), "avatar")
    hook = world.create_webhook(channel, name, creator=account, avatar=avatar)
    return json_response(wire.webhook(world, hook))


@routes.get("/channels/{channel_id}/webhooks")
async def channel_webhooks(request: web.Request) -> web.Response:
    """Webhooks of the channel (MANAGE_WEBHOOKS)."""
    world, account, channel = visible_channel(request)
    require(world, account, channel, Permissions.MANAGE_WEBHOOKS)
    hooks = [w for w in world.webhooks.values() if w.channel_id == channel.id]
    return json_response([wire.webhook(world, w) for w in hooks])
