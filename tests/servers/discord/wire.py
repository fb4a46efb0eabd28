"""Entities → Discord API v10 JSON objects (IDs as strings, ISO timestamps).

One function per object type, shared by REST responses and gateway dispatches, so a
client sees the same shape whichever way an object reaches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .entities import (
    Account,
    Application,
    Attachment,
    Channel,
    Emoji,
    Guild,
    Member,
    Message,
    Role,
    Sticker,
    Webhook,
)
from .protocol import PRIVATE_TYPES, THREAD_TYPES, ChannelType, Intents, application_flags_for
from .snowflake import iso_timestamp

if TYPE_CHECKING:
    from .world.state import WorldState

JSON = dict[str, Any]


def _sid(value: int | None) -> str | None:
    return None if value is None else str(value)


def user(account: Account) -> JSON:
    """A user object."""
    data: JSON = {
        "id": str(account.id),
        "username": account.username,
        "discriminator": "0",
        "global_name": account.global_name,
        "avatar": account.avatar,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }
    if account.bot:
        data["bot"] = True
    return data


def current_user(account: Account) -> JSON:
    """The ``/users/@me`` user object (adds the fields only the owner sees)."""
    data = user(account)
    data.update({"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})
    return data


def role(r: Role) -> JSON:
    """A role object."""
    data: JSON = {
        "id": str(r.id),
        "name": r.name,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def member(world: WorldState, m: Member, *, with_user: bool = True) -> JSON:
    """A guild member object (``with_user`` False for the partial in message payloads)."""
    data: JSON = {
        "nick": m.nick,
        "avatar": m.avatar,
        "banner": None,
        "roles": [str(r) for r in m.roles],
        "joined_at": iso_timestamp(m.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": m.pending,
        "communication_disabled_until": (
            iso_timestamp(m.communication_disabled_until)
            if m.communication_disabled_until
            else None
        ),
    }
    if with_user:
        data["user"] = user(world.account(m.user_id))
    return data


def overwrites(ch: Channel) -> list[JSON]:
    """A channel's permission overwrites."""
    return [
        {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
        for o in ch.overwrites
    ]


def channel(world: WorldState, ch: Channel) -> JSON:
    """A channel object of any type (thread, DM, group DM, guild channel)."""
    data: JSON = {"id": str(ch.id), "type": int(ch.type), "flags": 0}
    if ch.type in PRIVATE_TYPES:
        data["last_message_id"] = _sid(ch.last_message_id)
        data["recipients"] = [user(world.accounts[uid]) for uid in ch.recipients]
        if ch.type == ChannelType.GROUP_DM:
            data.update({"name": ch.name, "icon": ch.icon, "owner_id": _sid(ch.owner_id)})
        return data
    data.update({"guild_id": str(ch.guild_id), "name": ch.name, "parent_id": _sid(ch.parent_id)})
    if ch.type in THREAD_TYPES:
        data.update(
            {
                "owner_id": _sid(ch.owner_id),
                "last_message_id": _sid(ch.last_message_id),
                "rate_limit_per_user": ch.rate_limit_per_user,
                "message_count": ch.message_count,
                "member_count": min(len(ch.thread_member_ids), 50),
                "total_message_sent": ch.total_message_sent,
                "thread_metadata": {
                    "archived": ch.archived,
                    "auto_archive_duration": ch.auto_archive_duration,
                    "archive_timestamp": iso_timestamp(ch.archive_timestamp),
                    "locked": ch.locked,
                    "invitable": True,
                    "create_timestamp": iso_timestamp(ch.archive_timestamp),
                },
            }
        )
        return data
    data.update({"position": ch.position, "permission_overwrites": overwrites(ch)})
    if ch.type != ChannelType.GUILD_CATEGORY:
        data.update(
            {
                "topic": ch.topic,
                "nsfw": ch.nsfw,
                "last_message_id": _sid(ch.last_message_id),
                "rate_limit_per_user": ch.rate_limit_per_user,
            }
        )
    return data


def emoji(e: Emoji, creator: Account | None = None) -> JSON:
    """A custom emoji object."""
    data: JSON = {
        "id": str(e.id),
        "name": e.name,
        "roles": [str(r) for r in e.roles],
        "require_colons": True,
        "managed": False,
        "animated": e.animated,
        "available": e.available,
    }
    if creator is not None:
        data["user"] = user(creator)
    return data


def sticker(s: Sticker) -> JSON:
    """A full sticker object."""
    data: JSON = {
        "id": str(s.id),
        "name": s.name,
        "description": s.description,
        "tags": s.tags or s.name,
        "type": 2 if s.guild_id is not None else 1,
        "format_type": int(s.format_type),
        "available": True,
    }
    if s.guild_id is not None:
        data["guild_id"] = str(s.guild_id)
    else:
        data.update({"pack_id": "1", "sort_value": 0})
    return data


def sticker_item(s: Sticker) -> JSON:
    """The ``sticker_items`` entry of a message."""
    return {"id": str(s.id), "name": s.name, "format_type": int(s.format_type)}


def guild(world: WorldState, g: Guild) -> JSON:
    """A guild object without the GUILD_CREATE extras (channels, members...)."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": g.icon,
        "icon_hash": g.icon,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": g.description,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role(r) for r in sorted(g.roles.values(), key=lambda r: r.position)],
        "emojis": [emoji(e) for e in g.emojis.values()],
        "stickers": [sticker(s) for s in g.stickers.values()],
        "features": list(g.features),
        "mfa_level": 0,
        "system_channel_id": _sid(g.system_channel_id),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": g.preferred_locale,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "max_members": 500000,
        "max_video_channel_users": 25,
    }


def presence(account: Account, guild_id: int | None) -> JSON:
    """A presence update object for ``account`` as seen in ``guild_id``."""
    data: JSON = {
        "user": {"id": str(account.id)},
        "status": account.presence.status,
        "activities": list(account.presence.activities),
        "client_status": dict(account.presence.client_status),
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return data


def guild_create(
    world: WorldState, g: Guild, receiver: Account, intents: int, *, joined: bool = False
) -> JSON:
    """The GUILD_CREATE payload for ``receiver``: channels it can see, threads, members.

    Without GUILD_MEMBERS only the receiver's own member object is included; presences
    only with GUILD_PRESENCES (Discord's behaviour for bots). ``unavailable: false``
    marks a guild becoming available (after READY); a guild the receiver ``joined``
    just now has no ``unavailable`` key, which is how clients tell the two apart.
    """
    data = guild(world, g)
    visible = [ch for ch in world.guild_channels(g) if world.can_view(receiver, ch)]
    threads = [
        ch
        for ch in world.guild_channels(g, threads=True)
        if not ch.archived and world.can_view(receiver, ch)
    ]
    if intents & Intents.GUILD_MEMBERS:
        members = list(g.members.values())
    else:
        members = [m for m in g.members.values() if m.user_id == receiver.id]
    presences = []
    if intents & Intents.GUILD_PRESENCES:
        presences = [
            presence(world.accounts[m.user_id], None)
            for m in g.members.values()
            if world.accounts[m.user_id].presence.status != "offline"
        ]
    own = g.members.get(receiver.id)
    data.update(
        {
            "large": len(g.members) >= 250,
            "member_count": len(g.members),
            "joined_at": iso_timestamp(own.joined_at) if own else None,
            "channels": [channel(world, ch) for ch in visible],
            "threads": [channel(world, ch) for ch in threads],
            "members": [member(world, m) for m in members],
            "presences": presences,
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
        }
    )
    if not joined:
        data["unavailable"] = False
    return data


def attachment(world: WorldState, a: Attachment) -> JSON:
    """An attachment object; ``url`` and ``proxy_url`` point at this server's CDN route."""
    path = f"/attachments/{a.channel_id}/{a.id}/{quote(a.filename)}"
    url = f"{world.cdn_base}{path}?{world.sign_cdn(f'{a.channel_id}/{a.id}')}&"
    data: JSON = {
        "id": str(a.id),
        "filename": a.filename,
        "size": a.size,
        "url": url,
        "proxy_url": url,
        "content_type": a.content_type,
        "description": a.description,
        "spoiler": a.spoiler,
        "flags": 0,
    }
    if a.width is not None and a.height is not None:
        data.update({"width": a.width, "height": a.height})
    return data


def message(world: WorldState, msg: Message, *, nested: bool = False) -> JSON:
    """A message object (with ``guild_id`` and the author's ``member`` in guilds).

    ``referenced_message`` is included one level deep, as Discord does.
    """
    if msg.webhook is not None:
        author: JSON = {
            "id": str(msg.webhook.webhook_id),
            "username": msg.webhook.username,
            "discriminator": "0000",
            "global_name": None,
            "avatar": msg.webhook.avatar,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
        }
    else:
        author = user(world.accounts[msg.author_id])
    guild_obj = world.guilds.get(msg.guild_id or 0)
    mentions = []
    for uid in msg.mentions:
        mentioned = user(world.accounts[uid])
        if guild_obj is not None and uid in guild_obj.members:
            mentioned["member"] = member(world, guild_obj.members[uid], with_user=False)
        mentions.append(mentioned)
    data: JSON = {
        "id": str(msg.id),
        "type": int(msg.type),
        "channel_id": str(msg.channel_id),
        "author": author,
        "content": msg.content,
        "timestamp": iso_timestamp(msg.timestamp),
        "edited_timestamp": iso_timestamp(msg.edited_timestamp) if msg.edited_timestamp else None,
        "tts": msg.tts,
        "mention_everyone": msg.mention_everyone,
        "mentions": mentions,
        "mention_roles": [str(r) for r in msg.mention_roles],
        "attachments": [attachment(world, a) for a in msg.attachments],
        "embeds": [dict(e) for e in msg.embeds],
        "reactions": [
            {
                "count": len(r.user_ids),
                "count_details": {"burst": 0, "normal": len(r.user_ids)},
                "me": False,
                "me_burst": False,
                "burst_colors": [],
                "emoji": {
                    "id": _sid(r.emoji.id),
                    "name": r.emoji.name,
                    "animated": r.emoji.animated,
                },
            }
            for r in msg.reactions
            if r.user_ids
        ],
        "pinned": msg.pinned,
        "flags": msg.flags,
        "components": list(msg.components),
        "sticker_items": [sticker_item(world.sticker(s)) for s in msg.sticker_ids],
    }
    if msg.guild_id is not None:
        data["guild_id"] = str(msg.guild_id)
        if msg.webhook is None and guild_obj is not None and msg.author_id in guild_obj.members:
            data["member"] = member(world, guild_obj.members[msg.author_id], with_user=False)
    if msg.webhook is not None:
        data["webhook_id"] = str(msg.webhook.webhook_id)
    if msg.application_id is not None:
        data["application_id"] = str(msg.application_id)
    if msg.nonce is not None:
        data["nonce"] = msg.nonce
    if msg.reference is not None:
        data["message_reference"] = dict(msg.reference)
        if not nested and "message_id" in msg.reference:
            ref = world.messages.get(int(msg.reference["message_id"]))
            data["referenced_message"] = (
                message(world, ref, nested=True) if ref and not ref.deleted else None
            )
    if msg.thread_id is not None and not nested and msg.thread_id in world.channels:
        data["thread"] = channel(world, world.channels[msg.thread_id])
    return data


def webhook(world: WorldState, w: Webhook, *, with_token: bool = True) -> JSON:
    """A webhook object (the token only for those allowed to see it)."""
    data: JSON = {
        "id": str(w.id),
        "type": w.type,
        "guild_id": str(w.guild_id),
        "channel_id": str(w.channel_id),
        "name": w.name,
        "avatar": w.avatar,
        "application_id": _sid(w.application_id),
        "user": user(world.accounts[w.creator_id]),
    }
    if with_token:
        data["token"] = w.token
        data["url"] = f"{world.cdn_base}/api/webhooks/{w.id}/{w.token}"
    return data


def application(world: WorldState, app: Application) -> JSON:
    """The ``/oauth2/applications/@me`` application object."""
    bot = world.accounts[app.bot_id]
    return {
        "id": str(app.id),
        "name": app.name,
        "icon": None,
        "description": app.description,
        "rpc_origins": [],
        "bot_public": app.bot_public,
        "bot_require_code_grant": False,
        "bot": user(bot),
        "owner": user(world.accounts[app.owner_id]),
        "summary": "",
        "verify_key": app.verify_key,
        "team": None,
        "flags": application_flags_for(app.privileged_intents),
        "interactions_endpoint_url": app.interactions_endpoint_url,
        "approximate_guild_count": len(world.guilds_of(bot)),
        "redirect_uris": [],
        "tags": [],
    }
