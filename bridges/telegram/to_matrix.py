"""Telegram messages → Matrix content.

``convert_message`` turns one Telethon message into a ``ConvertedMessage``. It runs
when the core is about to send the message (the ``convert`` step of a remote event),
so media is downloaded only for messages that are really bridged, and only when
its size is within the bridge's limit (``MediaUploader.max_size``).

A forwarded message starts with a "Forwarded from <name>:" line, and its text is
quoted (an HTML blockquote).
"""

from __future__ import annotations

import html as html_lib
import logging
from dataclasses import dataclass
from typing import Any

from telethon import errors, utils
from telethon.tl import types

from bridgekit.network import (
    ConvertedMessage,
    ConvertedPart,
    MediaTooLarge,
    MediaUploader,
    MessageID,
)
from bridgekit.network.animation import STICKER_SIZE, AnimationError, tgs_to_webp

from . import waveform
from .config import TelegramSettings
from .flood import with_flood_retry
from .formatting import MentionMapper, telegram_to_html
from .ids import message_id

log = logging.getLogger("bridgekit.telegram.to_matrix")


@dataclass(frozen=True, slots=True)
class ConvertContext:
    """What converting a message needs: the Telethon client, settings, mention mapping."""

    client: Any
    settings: TelegramSettings
    mentions: MentionMapper
    migrated: bool = False
    """The chat is a supergroup in an upgraded basic group's portal (see ``migration``)."""


async def convert_message(
    ctx: ConvertContext, message: Any, uploader: MediaUploader
) -> ConvertedMessage:
    """The Matrix parts of a Telethon message (one part: text, or media with caption)."""
    text: str = message.message or ""
    html = telegram_to_html(text, message.entities, ctx.mentions)
    origin = await forward_origin(ctx, message)
    if origin is not None:
        text, html = _forward_header(origin, text, html, ctx.mentions)
    media = message.media
    if media is None or isinstance(media, types.MessageMediaWebPage | types.MessageMediaEmpty):
        content = _text_content("m.text", text, html)
        part = ConvertedPart(content)
    elif isinstance(media, types.MessageMediaPhoto | types.MessageMediaDocument) and message.file:
        part = await _media_part(ctx, message, text, html, uploader)
    else:
        part = ConvertedPart(_special_media(media, text))
    return ConvertedMessage([part], reply_to=reply_target(message, migrated=ctx.migrated))


def reply_target(message: Any, *, migrated: bool = False) -> MessageID | None:
    """The message this one replies to, within the same chat."""
    header = message.reply_to
    if not isinstance(header, types.MessageReplyHeader) or header.reply_to_msg_id is None:
        return None
    if header.reply_to_peer_id is not None:
        return None  # a reply to another chat's message
    if header.forum_topic and header.reply_to_top_id is None:
        return None  # only says which forum topic the message is in
    return message_id(header.reply_to_msg_id, migrated=migrated)


@dataclass(frozen=True, slots=True)
class ForwardOrigin:
    """Who a forwarded message came from: a name, and the user when it is one."""

    name: str
    user_id: int | None = None


async def forward_origin(ctx: ConvertContext, message: Any) -> ForwardOrigin | None:
    """The origin of a forwarded message, or ``None`` if it is not a forward."""
    header = message.fwd_from
    if not isinstance(header, types.MessageFwdHeader):
        return None
    peer = header.from_id
    user = peer.user_id if isinstance(peer, types.PeerUser) else None
    if header.from_name:
        return ForwardOrigin(header.from_name, user)
    entity: Any = None
    if peer is not None:
        try:
            entity = await ctx.client.get_entity(peer)
        except (ValueError, errors.RPCError) as e:
            log.debug("Unknown origin of forwarded message %s: %s", message.id, e)
    name = utils.get_display_name(entity) if entity is not None else ""
    if header.post_author:
        name = f"{name} ({header.post_author})" if name else header.post_author
    return ForwardOrigin(name or "an unknown chat", user)


def _forward_header(
    origin: ForwardOrigin, text: str, html: str | None, mentions: MentionMapper
) -> tuple[str, str]:
    name = html_lib.escape(origin.name)
    mxid = mentions.to_mxid(origin.user_id) if origin.user_id is not None else None
    if mxid is not None:
        name = f'<a href="https://matrix.to/#/{html_lib.escape(mxid)}">{name}</a>'
    quoted = html if html is not None else html_lib.escape(text).replace("\n", "<br>")
    header_html = f"Forwarded from {name}:"
    if text:
        header_html += f"<blockquote>{quoted}</blockquote>"
    body = f"Forwarded from {origin.name}:"
    if text:
        body += "\n" + "\n".join(f"> {line}" for line in text.split("\n"))
    return body, header_html


def _text_content(msgtype: str, body: str, html: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"msgtype": msgtype, "body": body}
    if html is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = html
    return content


async def _media_part(
    ctx: ConvertContext, message: Any, caption: str, caption_html: str | None, up: MediaUploader
) -> ConvertedPart:
    file = message.file
    limit = up.max_size
    mimetype = str(file.mime_type or "application/octet-stream")
    name = file.name or _default_name(message, mimetype)
    if file.size is not None and file.size > limit:
        raise MediaTooLarge(file.size, limit, name)

    async def download() -> bytes:
        data: bytes = await ctx.client.download_media(message, file=bytes)
        return data

    data = await with_flood_retry(ctx.client, ctx.settings.flood_wait, download, what="download")
    if len(data) > limit:
        raise MediaTooLarge(len(data), limit, name)
    if message.photo is not None:
        mimetype = _sniff_image(data) or mimetype
        name = _default_name(message, mimetype)
    width, height = file.width, file.height
    animated_sticker = message.sticker is not None and mimetype == "application/x-tgsticker"
    if animated_sticker:
        try:
            data = await tgs_to_webp(data, STICKER_SIZE)
            mimetype, name = "image/webp", "sticker.webp"
            width = height = STICKER_SIZE
        except AnimationError as e:
            log.warning("Animated sticker of message %s not converted: %s", message.id, e)
            animated_sticker = False  # sent as the .tgs file it is
    info: dict[str, Any] = {"mimetype": mimetype, "size": len(data)}
    if width and height:
        info["w"], info["h"] = width, height
    if file.duration:
        info["duration"] = int(file.duration * 1000)
    content: dict[str, Any] = {"body": caption or name, "filename": name, "info": info}
    if caption_html is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = caption_html
    content.update(await up.upload(data, mimetype, name))
    if message.sticker is not None and (animated_sticker or mimetype.startswith("image/")):
        content["body"] = file.emoji or name
        return ConvertedPart(content, event_type="m.sticker")
    content["msgtype"] = _msgtype(message, mimetype)
    if message.voice is not None:
        content["msgtype"] = "m.audio"
        content["org.matrix.msc3245.voice"] = {}
        content["org.matrix.msc1767.audio"] = _voice(message, info)
    elif content["msgtype"] == "m.video" and (message.gif or message.sticker) is not None:
        # Telegram's GIFs are silent looping videos, and so are video stickers (m.sticker
        # is for images only); these flags ask clients that know them to play it like a
        # GIF.
        info.update({"fi.mau.autoplay": True, "fi.mau.loop": True, "fi.mau.no_audio": True})
        info["fi.mau.hide_controls"] = True
        content["fi.mau.gif"] = True
    return ConvertedPart(content)


def _voice(message: Any, info: dict[str, Any]) -> dict[str, Any]:
    """A voice note's length and waveform, as Matrix voice messages carry them."""
    audio = next(
        (a for a in message.document.attributes if isinstance(a, types.DocumentAttributeAudio)),
        None,
    )
    return {
        "duration": info.get("duration", 0),
        "waveform": waveform.to_matrix(audio.waveform if audio else None),
    }


def _msgtype(message: Any, mimetype: str) -> str:
    if message.photo is not None or mimetype.startswith("image/"):
        return "m.image"
    if mimetype.startswith("video/"):
        return "m.video"
    if mimetype.startswith("audio/"):
        return "m.audio"
    return "m.file"


_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


def _default_name(message: Any, mimetype: str) -> str:
    kind = "photo" if message.photo is not None else "file"
    extension = _EXTENSIONS.get(mimetype) or (message.file.ext or "").lstrip(".") or "bin"
    return f"{kind}.{extension}"


def _sniff_image(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def _special_media(media: Any, caption: str) -> dict[str, Any]:
    """Media Matrix has no file for: shown as readable text (or a location)."""
    if isinstance(
        media, types.MessageMediaGeo | types.MessageMediaGeoLive | types.MessageMediaVenue
    ):
        geo = media.geo
        if isinstance(geo, types.GeoPoint):
            title = getattr(media, "title", None) or "Location"
            return {
                "msgtype": "m.location",
                "body": f"{title}: {geo.lat}, {geo.long}",
                "geo_uri": f"geo:{geo.lat},{geo.long}",
            }
    if isinstance(media, types.MessageMediaContact):
        name = " ".join(x for x in (media.first_name, media.last_name) if x)
        return {"msgtype": "m.text", "body": f"Contact: {name} (+{media.phone_number})".strip()}
    if isinstance(media, types.MessageMediaPoll):
        question = _plain(media.poll.question)
        answers = [f"{i}. {_plain(a.text)}" for i, a in enumerate(media.poll.answers, start=1)]
        return {"msgtype": "m.text", "body": "\n".join([f"Poll: {question}", *answers])}
    if isinstance(media, types.MessageMediaDice):
        return {"msgtype": "m.text", "body": f"{media.emoticon} {media.value}"}
    body = "This Telegram message type is not bridged yet; open Telegram to see it."
    if caption:
        body = f"{caption}\n\n({body})"
    return {"msgtype": "m.notice", "body": body}


def _plain(value: Any) -> str:
    return str(getattr(value, "text", value))
