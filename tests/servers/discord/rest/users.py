"""REST: the current user, other users, DM channels, the application, gateway URLs."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from .. import wire
from ..protocol import ErrorCode
from .common import (
    ApiError,
    caller,
    form_error,
    json_response,
    read_json,
    server_of,
    snowflake,
    world_of,
)

routes = web.RouteTableDef()


def decode_image_data(value: object, field: str) -> bytes | None:
    """Decode a ``data:image/...;base64,...`` URI (the API's image upload format)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("data:") or "," not in value:
        raise form_error(field, "IMAGE_INVALID", "Invalid image data")
    try:
        return base64.b64decode(value.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise form_error(field, "IMAGE_INVALID", "Invalid image data") from None


@routes.get("/users/@me")
async def get_me(request: web.Request) -> web.Response:
    """The authenticated account (discord.py's login check)."""
    return json_response(wire.current_user(caller(request)))


@routes.patch("/users/@me")
async def edit_me(request: web.Request) -> web.Response:
    """Change the caller's username or avatar."""
    world = world_of(request)
    account = caller(request)
    body = await read_json(request)
    changes: dict[str, object] = {}
    if "username" in body:
        changes["username"] = str(body["username"])
    if "avatar" in body:
        changes["avatar"] = decode_image_data(body["avatar"], "avatar")
    world.update_user(account, **changes)
    return json_response(wire.current_user(account))


@routes.get("/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    """Any user by ID."""
    world = world_of(request)
    caller(request)
    uid = snowflake(request, "user_id", "User", ErrorCode.UNKNOWN_USER)
    return json_response(wire.user(world.account(uid)))


@routes.get("/users/@me/guilds")
async def my_guilds(request: web.Request) -> web.Response:
    """Partial guild objects of the caller's guilds."""
    world = world_of(request)
    account = caller(request)
    result = []
    for guild in world.guilds_of(account):
        result.append(
            {
                "id": str(guild.id),
                "name": guild.name,
                "icon": guild.icon,
                "owner": guild.owner_id == account.id,
                "permissions": str(world.guild_permissions(account, guild)),
                "features": list(guild.features),
            }
        )
    return json_response(result)


@routes.delete("/users/@me/guilds/{guild_id}")
async def leave_guild(request: web.Request) -> web.Response:
    """Leave a guild."""
    world = world_of(request)
    account = caller(request)
    guild = world.guild(snowflake(request, "guild_id", "Guild", ErrorCode.UNKNOWN_GUILD))
    if account.id not in guild.members:
        raise ApiError(404, ErrorCode.UNKNOWN_GUILD, "Unknown Guild")
    world.remove_member(guild, account)
    return web.Response(status=204)


@routes.get("/users/@me/channels")
async def my_private_channels(request: web.Request) -> web.Response:
    """The caller's DMs and group DMs. Discord answers bots with an empty list: they
    cannot list their DMs (they learn of them from MESSAGE_CREATE)."""
    world = world_of(request)
    account = caller(request)
    if account.bot:
        return json_response([])
    return json_response([wire.channel(world, ch) for ch in world.private_channels_of(account)])


@routes.post("/users/@me/channels")
async def open_dm(request: web.Request) -> web.Response:
    """Open (or return) the DM channel with ``recipient_id``, or (user accounts only)
    create a group DM with ``recipients``."""
    world = world_of(request)
    account = caller(request)
    body = await read_json(request)
    if "recipients" in body:
        if account.bot:
            raise ApiError(403, ErrorCode.MISSING_ACCESS, "Bots cannot create group DMs")
        try:
            others = [world.account(int(uid)) for uid in body["recipients"]]
        except (ValueError, TypeError):
            raise form_error("recipients", "BASE_TYPE_REQUIRED", "Invalid recipients") from None
        if any(other.bot for other in others):
            raise ApiError(400, ErrorCode.CANNOT_MESSAGE_USER, "Cannot add bots to group DMs")
        return json_response(wire.channel(world, world.create_group_dm(account, others)))
    try:
        other = world.account(int(body["recipient_id"]))
    except (KeyError, ValueError, TypeError):
        raise form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required") from None
    return json_response(wire.channel(world, world.create_dm(account, other)))


@routes.get("/oauth2/applications/@me")
@routes.get("/applications/@me")
async def my_application(request: web.Request) -> web.Response:
    """The application of the calling bot (discord.py's ``application_info``)."""
    world = world_of(request)
    app = world.application_of(caller(request))
    if app is None:
        raise ApiError(401, ErrorCode.GENERAL, "401: Unauthorized")
    return json_response(wire.application(world, app))


@routes.get("/gateway")
async def gateway_url(request: web.Request) -> web.Response:
    """The gateway URL (no authentication needed)."""
    return json_response({"url": server_of(request).gateway_url})


@routes.get("/gateway/bot")
async def gateway_bot(request: web.Request) -> web.Response:
    """Gateway URL, recommended shards and the session start limit of the caller."""
    server = server_of(request)
    account = caller(request)
    used = len(server.gateway.identify_times.get(account.id, []))
    remaining = server.gateway.session_start_limit - used
    return json_response(
        {
            "url": server.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": server.gateway.session_start_limit,
                "remaining": max(remaining, 0),
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }
    )
