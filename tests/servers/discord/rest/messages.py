"""REST: messages (create with JSON or multipart attachments, read, history, edit,
delete, bulk delete) and reactions, with Discord's permission and validation rules."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .. import wire
from ..entities import Account, Attachment, Channel, EmojiRef, Message
from ..events import content_visible, strip_message_content
from ..protocol import ErrorCode, Permissions
from ..snowflake import snowflake_time
from ..world import NotFound, Upload, World
from .channels import visible_channel
from .common import (
    ApiError,
    form_error,
    json_response,
    missing_permissions,
    no_content,
    query_int,
    read_json,
    read_message_body,
    require,
    server_of,
    snowflake,
)

routes = web.RouteTableDef()

MAX_CONTENT = 2000
MAX_EMBEDS = 10
NONCE_WINDOW = datetime.timedelta(minutes=2)


def message_for(world: World, account: Account, msg: Message) -> dict[str, Any]:
    """``msg`` as ``account`` may read it over REST (MESSAGE_CONTENT rule applied)."""
    data = wire.message(world, msg)
    if not content_visible(
        receiver_id=account.id,
        receiver_is_bot=account.bot,
        has_message_content=world.has_message_content(account),
        author_id=msg.author_id,
        mentions=frozenset(msg.mentions),
        in_guild=msg.guild_id is not None,
    ):
        data = strip_message_content(data)
    return data


def channel_message(request: web.Request, world: World, channel: Channel) -> Message:
    """The ``{message_id}`` message, which must belong to ``channel``."""
    message = world.message(snowflake(request, "message_id", "Message", ErrorCode.UNKNOWN_MESSAGE))
    if message.channel_id != channel.id:
        raise ApiError(404, ErrorCode.UNKNOWN_MESSAGE, "Unknown Message")
    return message


def parse_embeds(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "embeds" in body:
        embeds = body["embeds"] or []
    elif "embed" in body:
        embeds = [body["embed"]] if body["embed"] else []
    else:
        return None
    if not isinstance(embeds, list) or len(embeds) > MAX_EMBEDS:
        raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    return [dict(e) for e in embeds]


def parse_content(body: dict[str, Any]) -> str | None:
    content = body.get("content")
    if content is None:
        return None
    content = str(content)
    if len(content) > MAX_CONTENT:
        raise form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    return content


def apply_attachment_metadata(
    body: dict[str, Any], uploads: list[tuple[int, Upload]]
) -> list[Upload]:
    """Give uploads the filename/description of their ``attachments[]`` entry (by id)."""
    meta = {str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)}
    result = []
    for slot, upload in uploads:
        entry = meta.get(str(slot))
        if entry:
            upload.filename = entry.get("filename") or upload.filename
            upload.description = entry.get("description", upload.description)
        result.append(upload)
    return result


def kept_attachments(
    body: dict[str, Any], existing: list[Attachment], uploads: list[tuple[int, Upload]]
) -> list[Attachment | Upload]:
    """The attachment list of an edit: ``attachments[]`` names kept ones by ID and new
    ones by upload slot; without it, existing attachments stay and uploads are added."""
    new = apply_attachment_metadata(body, uploads)
    if "attachments" not in body:
        return [*existing, *new]
    by_id = {a.id: a for a in existing}
    slots = {str(slot) for slot, _ in uploads}
    kept: list[Attachment | Upload] = []
    for entry in body.get("attachments") or []:
        key = str(entry.get("id"))
        if key not in slots and key.isdigit() and int(key) in by_id:
            kept.append(by_id[int(key)])
    return [*kept, *new]


def _check_can_send(world: World, account: Account, channel: Channel, has_files: bool) -> int:
    perms = world.permissions_in(account, channel)
    send = Permissions.SEND_MESSAGES_IN_THREADS if channel.is_thread else Permissions.SEND_MESSAGES
    require(world, account, channel, send)
    if has_files and not perms & Permissions.ATTACH_FILES:
        raise missing_permissions()
    if channel.is_private and account.bot:
        others = [uid for uid in channel.recipients if uid != account.id]
        shared = {g.id for g in world.guilds_of(account)}
        if any(not shared & {g.id for g in world.guilds_of(uid)} for uid in others):
            raise ApiError(403, ErrorCode.CANNOT_MESSAGE_USER, "Cannot send messages to this user")
    return perms


@routes.post("/channels/{channel_id}/messages")
async def create_message(request: web.Request) -> web.Response:
    """Send a message (JSON, or multipart ``payload_json`` + ``files[n]``).

    Honours ``message_reference`` (replies), ``sticker_ids``, ``allowed_mentions``, and
    ``nonce`` with ``enforce_nonce`` (a retried send returns the first message).
    """
    world, account, channel = visible_channel(request)
    server = server_of(request)
    body, uploads = await read_message_body(request, server.max_upload_size)
    perms = _check_can_send(world, account, channel, bool(uploads))
    content = parse_content(body) or ""
    embeds = parse_embeds(body) or []
    stickers = [world.sticker(int(s)) for s in body.get("sticker_ids") or []]
    nonce = body.get("nonce")
    if nonce is not None and body.get("enforce_nonce"):
        cutoff = datetime.datetime.now(tz=datetime.UTC) - NONCE_WINDOW
        for earlier in reversed(world.messages_in(channel)):
            if earlier.timestamp < cutoff:
                break
            if earlier.nonce == nonce and earlier.author_id == account.id:
                return json_response(message_for(world, account, earlier))
    reference = None
    ref = body.get("message_reference")
    if ref:
        if int(ref.get("type", 0)) != 0:
            raise form_error("message_reference", "MESSAGE_REFERENCE_TYPE", "Forwards unsupported")
        try:
            reference = world.message(int(ref["message_id"]))
            if reference.channel_id != channel.id:
                raise NotFound("Message", ErrorCode.UNKNOWN_MESSAGE)
        except (NotFound, KeyError, ValueError):
            if ref.get("fail_if_not_exists", True):
                raise form_error(
                    "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
                ) from None
            reference = None
    if not content and not embeds and not uploads and not stickers:
        raise ApiError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    message = world.send_message(
        account,
        channel,
        content,
        attachments=apply_attachment_metadata(body, uploads),
        embeds=embeds,
        reference=reference,
        stickers=stickers,
        allowed_mentions=body.get("allowed_mentions"),
        nonce=nonce,
        tts=bool(body.get("tts", False)),
        flags=int(body.get("flags") or 0),
        components=body.get("components") or [],
        may_mention_everyone=bool(perms & Permissions.MENTION_EVERYONE),
    )
    return json_response(message_for(world, account, message))


@routes.get("/channels/{channel_id}/messages")
async def get_history(request: web.Request) -> web.Response:
    """History, newest first, by ``before`` / ``after`` / ``around`` and ``limit``."""
    world, account, channel = visible_channel(request)
    require(world, account, channel, Permissions.READ_MESSAGE_HISTORY)
    limit = query_int(request, "limit", 50) or 50
    if not 1 <= limit <= 100:
        raise form_error("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 100.")
    found = world.history(
        channel,
        before=query_int(request, "before"),
        after=query_int(request, "after"),
        around=query_int(request, "around"),
        limit=limit,
    )
    return json_response([message_for(world, account, m) for m in found])


@routes.get("/channels/{channel_id}/messages/{message_id}")
async def get_message(request: web.Request) -> web.Response:
    """One message."""
    world, account, channel = visible_channel(request)
    require(world, account, channel, Permissions.READ_MESSAGE_HISTORY)
    return json_response(message_for(world, account, channel_message(request, world, channel)))


@routes.patch("/channels/{channel_id}/messages/{message_id}")
async def edit_message(request: web.Request) -> web.Response:
    """Edit one's own message (content, embeds, attachments, flags); others' messages
    only their flags (suppress embeds), with MANAGE_MESSAGES."""
    world, account, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    body, uploads = await read_message_body(request, server_of(request).max_upload_size)
    changes: dict[str, Any] = {}
    if message.author_id != account.id or message.webhook is not None:
        if set(body) - {"flags"} or uploads:
            raise ApiError(
                403,
                ErrorCode.CANNOT_EDIT_OTHERS_MESSAGE,
                "Cannot edit a message authored by another user",
            )
        require(world, account, channel, Permissions.MANAGE_MESSAGES)
    if "content" in body:
        changes["content"] = parse_content(body) or ""
    embeds = parse_embeds(body)
    if embeds is not None:
        changes["embeds"] = embeds
    if "attachments" in body or uploads:
        changes["attachments"] = kept_attachments(body, message.attachments, uploads)
    if "flags" in body:
        changes["flags"] = int(body["flags"] or 0)
    if "allowed_mentions" in body:
        changes["allowed_mentions"] = body["allowed_mentions"]
    world.edit_message(message, **changes)
    return json_response(message_for(world, account, message))


@routes.delete("/channels/{channel_id}/messages/{message_id}")
async def delete_message(request: web.Request) -> web.Response:
    """Delete one's own message, or any with MANAGE_MESSAGES (guild channels)."""
    world, account, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    if message.author_id != account.id:
        if channel.is_private:
            raise ApiError(
                403,
                ErrorCode.CANNOT_EDIT_OTHERS_MESSAGE,
                "Cannot execute action on a DM channel",
            )
        require(world, account, channel, Permissions.MANAGE_MESSAGES)
    world.delete_message(message)
    return no_content()


@routes.post("/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(request: web.Request) -> web.Response:
    """Delete 2-100 messages younger than two weeks (MANAGE_MESSAGES)."""
    world, account, channel = visible_channel(request)
    require(world, account, channel, Permissions.MANAGE_MESSAGES)
    ids = (await read_json(request)).get("messages")
    if not isinstance(ids, list) or not 2 <= len(ids) <= 100 or len(set(ids)) != len(ids):
        raise form_error("messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
    oldest = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(days=14)
    targets: list[Message] = []
    for raw in ids:
        mid = int(raw)
        if snowflake_time(mid) < oldest:
            raise ApiError(
                400,
                ErrorCode.BULK_DELETE_TOO_OLD,
                "You can only bulk delete messages that are under 14 days old.",
            )
        found = world.messages.get(mid)
        if found is not None and not found.deleted and found.channel_id == channel.id:
            targets.append(found)
    world.bulk_delete(targets)
    return no_content()


# -- reactions ------------------------------------------------------------------------


def _emoji(world: World, request: web.Request) -> EmojiRef:
    raw = unquote(request.match_info["emoji"])
    try:
        return world.emoji_ref(raw)
    except NotFound:
        raise ApiError(400, ErrorCode.UNKNOWN_EMOJI, "Unknown Emoji") from None


@routes.put("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def add_reaction(request: web.Request) -> web.Response:
    """React as the caller (ADD_REACTIONS for a new emoji, READ_MESSAGE_HISTORY)."""
    world, account, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    ref = _emoji(world, request)
    require(world, account, channel, Permissions.READ_MESSAGE_HISTORY)
    if not any(r.emoji == ref for r in message.reactions):
        require(world, account, channel, Permissions.ADD_REACTIONS)
    world.add_reaction(account, message, ref)
    return no_content()


@routes.delete("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def remove_own_reaction(request: web.Request) -> web.Response:
    """Withdraw the caller's reaction."""
    world, account, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    world.remove_reaction(account, message, _emoji(world, request))
    return no_content()


@routes.delete("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}")
async def remove_user_reaction(request: web.Request) -> web.Response:
    """Remove someone's reaction (MANAGE_MESSAGES)."""
    world, account, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    require(world, account, channel, Permissions.MANAGE_MESSAGES)
    target = world.account(snowflake(request, "user_id", "User", ErrorCode.UNKNOWN_USER))
    world.remove_reaction(target, message, _emoji(world, request))
    return no_content()


@routes.delete("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}")
async def clear_emoji_reactions(request: web.Request) -> web.Response:
    """Remove all reactions of one emoji (MANAGE_MESSAGES)."""
    world, account, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    require(world, account, channel, Permissions.MANAGE_MESSAGES)
    world.clear_reactions(message, _emoji(world, request))
    return no_content()


@routes.delete("/channels/{channel_id}/messages/{message_id}/reactions")
async def clear_reactions(request: web.Request) -> web.Response:
    """Remove all reactions (MANAGE_MESSAGES)."""
    world, account, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    require(world, account, channel, Permissions.MANAGE_MESSAGES)
    world.clear_reactions(message)
    return no_content()


@routes.get("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}")
async def reaction_users(request: web.Request) -> web.Response:
    """Users who reacted with an emoji, by ID, paged by ``after`` and ``limit``."""
    world, _, channel = visible_channel(request)
    message = channel_message(request, world, channel)
    ref = _emoji(world, request)
    limit = max(1, min(query_int(request, "limit", 25) or 25, 100))
    after = query_int(request, "after", 0) or 0
    reaction = next((r for r in message.reactions if r.emoji == ref), None)
    users = sorted(uid for uid in (reaction.user_ids if reaction else []) if uid > after)
    return json_response([wire.user(world.account(uid)) for uid in users[:limit]])
