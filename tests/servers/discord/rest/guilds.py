"""REST: guilds and what they hold (channels, members, roles, emoji, stickers, active
threads, webhooks). Reads require membership; listing members needs GUILD_MEMBERS."""

from __future__ import annotations

from aiohttp import web

from .. import wire
from ..entities import Account, Guild
from ..protocol import ErrorCode, Intents, Permissions
from ..snowflake import iso_timestamp
from ..world import World
from .common import (
    ApiError,
    caller,
    json_response,
    missing_access,
    missing_permissions,
    no_content,
    query_int,
    read_json,
    snowflake,
    world_of,
)

routes = web.RouteTableDef()


def member_guild(request: web.Request) -> tuple[World, Account, Guild]:
    """The world, the caller and the ``{guild_id}`` guild the caller is a member of."""
    world = world_of(request)
    account = caller(request)
    guild = world.guild(snowflake(request, "guild_id", "Guild", ErrorCode.UNKNOWN_GUILD))
    if account.id not in guild.members:
        raise missing_access()
    return world, account, guild


@routes.get("/guilds/{guild_id}")
async def get_guild(request: web.Request) -> web.Response:
    """A guild (``?with_counts=true`` adds approximate counts)."""
    world, _, guild = member_guild(request)
    data = wire.guild(world, guild)
    if request.query.get("with_counts", "").lower() == "true":
        online = sum(1 for uid in guild.members if world.accounts[uid].presence.status != "offline")
        data.update(
            {"approximate_member_count": len(guild.members), "approximate_presence_count": online}
        )
    return json_response(data)


@routes.get("/guilds/{guild_id}/channels")
async def guild_channels(request: web.Request) -> web.Response:
    """The guild channels the caller can see (no threads)."""
    world, account, guild = member_guild(request)
    return json_response(
        [
            wire.channel(world, ch)
            for ch in world.guild_channels(guild)
            if world.can_view(account, ch)
        ]
    )


@routes.get("/guilds/{guild_id}/threads/active")
async def active_threads(request: web.Request) -> web.Response:
    """Active (unarchived) threads the caller can see, with its thread memberships."""
    world, account, guild = member_guild(request)
    threads = [
        ch
        for ch in world.guild_channels(guild, threads=True)
        if not ch.archived and world.can_view(account, ch)
    ]
    members = [
        {
            "id": str(ch.id),
            "user_id": str(account.id),
            "join_timestamp": iso_timestamp(ch.archive_timestamp),
            "flags": 0,
        }
        for ch in threads
        if account.id in ch.thread_member_ids
    ]
    return json_response(
        {"threads": [wire.channel(world, ch) for ch in threads], "members": members}
    )


def _can_list_members(world: World, account: Account) -> bool:
    app = world.application_of(account)
    return app is None or bool(app.privileged_intents & Intents.GUILD_MEMBERS)


@routes.get("/guilds/{guild_id}/members")
async def list_members(request: web.Request) -> web.Response:
    """Members ordered by user ID, paged by ``after`` and ``limit`` (1-1000).

    Bots need the GUILD_MEMBERS privileged intent enabled for their application.
    """
    world, account, guild = member_guild(request)
    if not _can_list_members(world, account):
        raise missing_access()
    limit = max(1, min(query_int(request, "limit", 1) or 1, 1000))
    after = query_int(request, "after", 0) or 0
    members = sorted(
        (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
    )
    return json_response([wire.member(world, m) for m in members[:limit]])


@routes.get("/guilds/{guild_id}/members/search")
async def search_members(request: web.Request) -> web.Response:
    """Members whose username or nickname starts with ``query``."""
    world, _, guild = member_guild(request)
    query = request.query.get("query", "").lower()
    limit = max(1, min(query_int(request, "limit", 1) or 1, 1000))
    found = [
        m
        for m in guild.members.values()
        if world.accounts[m.user_id].username.lower().startswith(query)
        or (m.nick or "").lower().startswith(query)
    ]
    return json_response([wire.member(world, m) for m in found[:limit]])


@routes.get("/guilds/{guild_id}/members/{user_id}")
async def get_member(request: web.Request) -> web.Response:
    """One member."""
    world, _, guild = member_guild(request)
    uid = snowflake(request, "user_id", "Member", ErrorCode.UNKNOWN_MEMBER)
    member = guild.members.get(uid)
    if member is None:
        raise ApiError(404, ErrorCode.UNKNOWN_MEMBER, "Unknown Member")
    return json_response(wire.member(world, member))


@routes.delete("/guilds/{guild_id}/members/{user_id}")
async def kick_member(request: web.Request) -> web.Response:
    """Kick a member (KICK_MEMBERS; never the owner, and only members whose highest
    role is below the caller's, as on Discord)."""
    world, account, guild = member_guild(request)
    uid = snowflake(request, "user_id", "Member", ErrorCode.UNKNOWN_MEMBER)
    member = guild.members.get(uid)
    if member is None:
        raise ApiError(404, ErrorCode.UNKNOWN_MEMBER, "Unknown Member")
    if not world.guild_permissions(account, guild) & Permissions.KICK_MEMBERS:
        raise missing_permissions()
    if uid == guild.owner_id or (
        account.id != guild.owner_id
        and _top_position(guild, uid) >= _top_position(guild, account.id)
    ):
        raise missing_permissions()
    world.remove_member(guild, world.account(uid))
    return no_content()


def _top_position(guild: Guild, user_id: int) -> int:
    roles = [guild.roles[r] for r in guild.members[user_id].roles if r in guild.roles]
    return max((r.position for r in roles), default=0)


@routes.patch("/guilds/{guild_id}/members/@me")
async def edit_own_member(request: web.Request) -> web.Response:
    """Change the caller's own nickname."""
    world, account, guild = member_guild(request)
    body = await read_json(request)
    if "nick" in body:
        world.update_member(guild, account, nick=body["nick"] or None)
    return json_response(wire.member(world, guild.members[account.id]))


@routes.get("/guilds/{guild_id}/roles")
async def list_roles(request: web.Request) -> web.Response:
    """All roles, by position."""
    _, _, guild = member_guild(request)
    return json_response(
        [wire.role(r) for r in sorted(guild.roles.values(), key=lambda r: r.position)]
    )


@routes.get("/guilds/{guild_id}/emojis")
async def list_emojis(request: web.Request) -> web.Response:
    """Custom emoji of the guild."""
    world, _, guild = member_guild(request)
    return json_response(
        [wire.emoji(e, world.accounts.get(e.creator_id or 0)) for e in guild.emojis.values()]
    )


@routes.get("/guilds/{guild_id}/emojis/{emoji_id}")
async def get_emoji(request: web.Request) -> web.Response:
    """One custom emoji."""
    world, _, guild = member_guild(request)
    eid = snowflake(request, "emoji_id", "Emoji", ErrorCode.UNKNOWN_EMOJI)
    emoji = guild.emojis.get(eid)
    if emoji is None:
        raise ApiError(404, ErrorCode.UNKNOWN_EMOJI, "Unknown Emoji")
    return json_response(wire.emoji(emoji, world.accounts.get(emoji.creator_id or 0)))


@routes.get("/guilds/{guild_id}/stickers")
async def list_stickers(request: web.Request) -> web.Response:
    """Stickers of the guild."""
    _, _, guild = member_guild(request)
    return json_response([wire.sticker(s) for s in guild.stickers.values()])


@routes.get("/stickers/{sticker_id}")
async def get_sticker(request: web.Request) -> web.Response:
    """Any sticker (standard or guild)."""
    world = world_of(request)
    caller(request)
    sid = snowflake(request, "sticker_id", "Sticker", ErrorCode.UNKNOWN_STICKER)
    return json_response(wire.sticker(world.sticker(sid)))


@routes.get("/guilds/{guild_id}/webhooks")
async def guild_webhooks(request: web.Request) -> web.Response:
    """All webhooks of the guild (MANAGE_WEBHOOKS)."""
    world, account, guild = member_guild(request)
    if not world.guild_permissions(account, guild) & Permissions.MANAGE_WEBHOOKS:
        raise missing_permissions()
    hooks = [w for w in world.webhooks.values() if w.guild_id == guild.id]
    return json_response([wire.webhook(world, w) for w in hooks])
