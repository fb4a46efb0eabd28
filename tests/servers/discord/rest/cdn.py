"""CDN routes (the ``cdn.discordapp.com`` of this server): attachments, avatars, guild
icons, group DM icons, emoji, stickers and default avatars.

Attachment URLs are signed like real ones (``?ex=&is=&hm=``); a URL whose query was
stripped or tampered with gets 404, as Discord's CDN answers expired links.
"""

from __future__ import annotations

import struct
import zlib

from aiohttp import web

from ..protocol import STICKER_EXTENSIONS
from .common import server_of

routes = web.RouteTableDef()


def tiny_png(rgb: tuple[int, int, int] = (88, 101, 242)) -> bytes:
    """A valid 1x1 PNG of one colour (Discord's blurple by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes(rgb))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def sniff_type(data: bytes) -> str:
    """The MIME type of image bytes by their magic number."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.lstrip().startswith(b"{"):
        return "application/json"
    return "application/octet-stream"


def _asset(data: bytes | None) -> web.Response:
    if not data:
        raise web.HTTPNotFound(text="404: Not Found")
    return web.Response(body=data, headers={"Content-Type": sniff_type(data)})


def _stem(filename: str) -> str:
    return filename.split(".", 1)[0]


@routes.get("/attachments/{channel_id}/{attachment_id}/{filename}")
async def attachment(request: web.Request) -> web.Response:
    """An uploaded file, if the URL's signature is valid."""
    server = server_of(request)
    try:
        att = server.attachments[int(request.match_info["attachment_id"])]
    except (KeyError, ValueError):
        raise web.HTTPNotFound(text="404: Not Found") from None
    signed = f"{att.channel_id}/{att.id}"
    if server.cdn_require_signature and not server.check_cdn_signature(signed, dict(request.query)):
        raise web.HTTPNotFound(text="This content is no longer available.")
    return web.Response(body=att.data, headers={"Content-Type": att.content_type})


@routes.get("/avatars/{user_id}/{filename}")
async def avatar(request: web.Request) -> web.Response:
    """A user's or webhook's avatar by hash."""
    server = server_of(request)
    owner = int(request.match_info["user_id"])
    wanted = _stem(request.match_info["filename"])
    account = server.accounts.get(owner)
    if account is not None and account.avatar == wanted:
        return _asset(account.avatar_image)
    hook = server.webhooks.get(owner)
    if hook is not None and hook.avatar == wanted:
        return _asset(hook.avatar_image)
    raise web.HTTPNotFound(text="404: Not Found")


@routes.get("/icons/{guild_id}/{filename}")
async def guild_icon(request: web.Request) -> web.Response:
    """A guild icon by hash."""
    guild = server_of(request).guilds.get(int(request.match_info["guild_id"]))
    if guild is None or guild.icon != _stem(request.match_info["filename"]):
        raise web.HTTPNotFound(text="404: Not Found")
    return _asset(guild.icon_image)


@routes.get("/channel-icons/{channel_id}/{filename}")
async def channel_icon(request: web.Request) -> web.Response:
    """A group DM's icon by hash."""
    channel = server_of(request).channels.get(int(request.match_info["channel_id"]))
    if channel is None or channel.icon != _stem(request.match_info["filename"]):
        raise web.HTTPNotFound(text="404: Not Found")
    return _asset(channel.icon_image)


@routes.get("/emojis/{filename}")
async def emoji(request: web.Request) -> web.Response:
    """A custom emoji image."""
    server = server_of(request)
    emoji_id = int(_stem(request.match_info["filename"]))
    for guild in server.guilds.values():
        if emoji_id in guild.emojis:
            return _asset(guild.emojis[emoji_id].image)
    raise web.HTTPNotFound(text="404: Not Found")


@routes.get("/stickers/{filename}")
async def sticker(request: web.Request) -> web.Response:
    """A sticker file (``.json`` for Lottie stickers)."""
    server = server_of(request)
    stem, _, ext = request.match_info["filename"].partition(".")
    try:
        found = server.sticker(int(stem))
    except (LookupError, ValueError):
        raise web.HTTPNotFound(text="404: Not Found") from None
    if ext and ext != STICKER_EXTENSIONS[found.format_type]:
        raise web.HTTPNotFound(text="404: Not Found")
    return _asset(found.data)


@routes.get("/embed/avatars/{filename}")
async def default_avatar(request: web.Request) -> web.Response:
    """One of the default avatars (a generated 1x1 PNG)."""
    return web.Response(body=tiny_png(), headers={"Content-Type": "image/png"})
