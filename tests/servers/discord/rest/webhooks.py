"""REST: webhooks by ID (bot-authenticated) or by ID + token (no authentication):
read, edit, delete, execute (``?wait=true``, ``?thread_id=``), and the webhook's own
messages (read, edit, delete)."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from .. import wire
from ..entities import Channel, Message, Webhook
from ..protocol import ErrorCode, Permissions
from ..world import World
from .channels import check_webhook_name
from .common import (
    ApiError,
    caller,
    json_response,
    missing_permissions,
    no_content,
    query_bool,
    query_int,
    read_json,
    read_message_body,
    server_of,
    snowflake,
    world_of,
)
from .messages import apply_attachment_metadata, kept_attachments, parse_content, parse_embeds
from .users import decode_image_data

routes = web.RouteTableDef()

INVALID_WEBHOOK_TOKEN = 50027


def _hook(request: web.Request) -> tuple[World, Webhook]:
    world = world_of(request)
    hook = world.webhook(snowflake(request, "webhook_id", "Webhook", ErrorCode.UNKNOWN_WEBHOOK))
    token = request.match_info.get("token")
    if token is not None:
        if not hmac.compare_digest(token.encode(), hook.token.encode()):
            raise ApiError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
    else:
        account = caller(request)
        if not world.can_view(account, hook.channel_id):
            raise ApiError(403, ErrorCode.MISSING_ACCESS, "Missing Access")
        if not world.permissions_in(account, hook.channel_id) & Permissions.MANAGE_WEBHOOKS:
            raise missing_permissions()
    return world, hook


def _target_channel(request: web.Request, world: World, hook: Webhook) -> Channel | None:
    thread_id = query_int(request, "thread_id")
    if thread_id is None:
        return None
    thread = world.channel(thread_id)
    if not thread.is_thread or thread.parent_id != hook.channel_id:
        raise ApiError(400, ErrorCode.UNKNOWN_CHANNEL, "Unknown Channel")
    return thread


def _hook_message(request: web.Request, world: World, hook: Webhook) -> Message:
    message = world.message(snowflake(request, "message_id", "Message", ErrorCode.UNKNOWN_MESSAGE))
    if message.webhook_id != hook.id:
        raise ApiError(404, ErrorCode.UNKNOWN_MESSAGE, "Unknown Message")
    return message


@routes.get("/webhooks/{webhook_id}")
@routes.get("/webhooks/{webhook_id}/{token}")
async def get_webhook(request: web.Request) -> web.Response:
    """A webhook (the token variant omits the ``user``, as on Discord)."""
    world, hook = _hook(request)
    data = wire.webhook(world, hook)
    if "token" in request.match_info:
        data.pop("user", None)
    return json_response(data)


@routes.patch("/webhooks/{webhook_id}")
@routes.patch("/webhooks/{webhook_id}/{token}")
async def edit_webhook(request: web.Request) -> web.Response:
    """Change name or avatar (and, authenticated, the channel)."""
    world, hook = _hook(request)
    body = await read_json(request)
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = check_webhook_name(body["name"])
    if "avatar" in body:
        changes["avatar"] = decode_image_data(body["avatar"], "avatar")
    if "channel_id" in body and "token" not in request.match_info:
        changes["channel"] = world.channel(int(body["channel_id"]))
    world.update_webhook(hook, **changes)
    return json_response(wire.webhook(world, hook))


@routes.delete("/webhooks/{webhook_id}")
@routes.delete("/webhooks/{webhook_id}/{token}")
async def delete_webhook(request: web.Request) -> web.Response:
    """Delete the webhook."""
    world, hook = _hook(request)
    world.delete_webhook(hook)
    return no_content()


@routes.post("/webhooks/{webhook_id}/{token}")
async def execute_webhook(request: web.Request) -> web.Response:
    """Post as the webhook with an optional per-message ``username`` / ``avatar_url``.

    Returns the message with ``?wait=true``, else 204.
    """
    world, hook = _hook(request)
    body, uploads = await read_message_body(request, server_of(request).max_upload_size)
    thread = _target_channel(request, world, hook)
    content = parse_content(body) or ""
    embeds = parse_embeds(body) or []
    if not content and not embeds and not uploads:
        raise ApiError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    username = body.get("username")
    if username is not None:
        username = check_webhook_name(username, "username")
    message = world.execute_webhook(
        hook,
        content,
        username=username,
        avatar_url=body.get("avatar_url"),
        attachments=apply_attachment_metadata(body, uploads),
        embeds=embeds,
        thread=thread,
        allowed_mentions=body.get("allowed_mentions"),
        flags=int(body.get("flags") or 0),
        tts=bool(body.get("tts", False)),
    )
    if query_bool(request, "wait"):
        return json_response(wire.message(world, message))
    return no_content()


@routes.get("/webhooks/{webhook_id}/{token}/messages/{message_id}")
async def get_webhook_message(request: web.Request) -> web.Response:
    """A message the webhook sent."""
    world, hook = _hook(request)
    return json_response(wire.message(world, _hook_message(request, world, hook)))


@routes.patch("/webhooks/{webhook_id}/{token}/messages/{message_id}")
async def edit_webhook_message(request: web.Request) -> web.Response:
    """Edit a message the webhook sent (content, embeds, attachments)."""
    world, hook = _hook(request)
    message = _hook_message(request, world, hook)
    body, uploads = await read_message_body(request, server_of(request).max_upload_size)
    changes: dict[str, Any] = {}
    if "content" in body:
        changes["content"] = parse_content(body) or ""
    embeds = parse_embeds(body)
    if embeds is not None:
        changes["embeds"] = embeds
    if "attachments" in body or uploads:
        changes["attachments"] = kept_attachments(body, message.attachments, uploads)
    if "allowed_mentions" in body:
        changes["allowed_mentions"] = body["allowed_mentions"]
    world.edit_message(message, **changes)
    return json_response(wire.message(world, message))


@routes.delete("/webhooks/{webhook_id}/{token}/messages/{message_id}")
async def delete_webhook_message(request: web.Request) -> web.Response:
    """Delete a message the webhook sent."""
    world, hook = _hook(request)
    world.delete_message(_hook_message(request, world, hook))
    return no_content()
