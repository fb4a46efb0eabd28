"""Discord → Matrix: what a Discord message, user or channel becomes on Matrix.

A message converts into parts: its text (markdown → HTML, mentions → pills, custom
emoji → inline images), then one part per attachment and sticker. Media is fetched
only inside the converter, which the core calls when it is about to send.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bridgekit.network import (
    Avatar,
    ChatInfo,
    ChatMember,
    ChatMemberList,
    ConvertedMessage,
    ConvertedPart,
    Converter,
    EventSender,
    MediaTooLarge,
    MediaUploader,
    MessageID,
    PartID,
    PortalID,
    PortalKey,
    RemoteUserID,
    RoomType,
    UserInfo,
)
from bridgekit.network.animation import STICKER_SIZE, AnimationError, lottie_to_webp

from .formatting import Mention, render
from .formatting.discord_to_html import CUSTOM_EMOJI
from .members import room_name

_CHANNEL_MENTION = re.compile(r"<#(\d+)>")

if TYPE_CHECKING:
    from .client import DiscordClient

log = logging.getLogger("bridgekit.discord.to_matrix")

_MSGTYPES = {"image": "m.image", "video": "m.video", "audio": "m.audio"}


def portal_key(channel_id: int) -> PortalKey:
    """Guild channels are shared: one room, whichever bot login sees them."""
    return PortalKey(PortalID(str(channel_id)))


def portal_channel(channel: object) -> discord.TextChannel | None:
    """The text channel whose portal carries events of ``channel``: itself, or the
    parent of a thread (threads are Matrix threads in their channel's room)."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    return channel if isinstance(channel, discord.TextChannel) else None


def thread_id_of(message: discord.Message) -> str | None:
    """The ID of the thread a message was sent in (also its starter message's ID)."""
    return str(message.channel.id) if isinstance(message.channel, discord.Thread) else None


def avatar_of(asset: discord.Asset | None) -> Avatar | None:
    """A Discord image as a Matrix avatar (``None``: unknown, ``removed``: none)."""
    if asset is None:
        return Avatar.removed()
    mimetype = "image/gif" if asset.is_animated() else "image/png"
    return Avatar(id=asset.key, get=asset.read, mimetype=mimetype)


def user_info(user: discord.abc.User) -> UserInfo:
    """A Discord user's profile for their ghost: their global name, or their username."""
    return UserInfo(
        name=user.global_name or user.name,
        avatar=avatar_of(user.display_avatar),
        identifiers=[f"discord:{user.name}"],
        is_bot=user.bot,
    )


def sender_of(client: DiscordClient, user: discord.abc.User) -> EventSender:
    """Who did something: the bot itself maps to its owner on Matrix."""
    return EventSender(
        user_id=RemoteUserID(str(user.id)),
        is_from_me=user.id == client.bot_id,
        user_info=user_info(user),
        room_name=room_name(client.settings.member_name_template, user),
    )


def chat_info(client: DiscordClient, channel: discord.TextChannel) -> ChatInfo:
    """A guild text channel's room: name from the template, topic, the guild's icon,
    and the first members who can read it (the rest join when they write)."""
    guild = channel.guild
    settings = client.settings
    members = [
        ChatMember(
            user_id=RemoteUserID(str(member.id)),
            is_from_me=member.id == client.bot_id,
            user_info=user_info(member),
            room_name=room_name(settings.member_name_template, member),
        )
        for member in channel.members[: settings.initial_members]
    ]
    return ChatInfo(
        name=settings.channel_name_template.replace("{name}", channel.name).replace(
            "{guild}", guild.name
        ),
        topic=channel.topic or "",
        avatar=avatar_of(guild.icon),
        members=ChatMemberList(members, is_full=False),
        type=RoomType.CHANNEL,
        parent=PortalID(str(guild.id)),
        metadata={"guild_id": str(guild.id)},
        order=channel_order(channel),
    )


def channel_order(channel: discord.TextChannel) -> str:
    """The channel's place in its guild's space, as Discord lists it: channels without
    a category first, then each category in turn, by position within."""
    category = channel.category
    rank = category.position + 1 if category is not None else 0
    return f"{rank:04d}-{channel.position:05d}"


def guild_info(guild: discord.Guild) -> ChatInfo:
    """A guild as the Matrix space that holds its channels' rooms."""
    return ChatInfo(
        name=guild.name,
        topic=guild.description or "",
        avatar=avatar_of(guild.icon),
        members=ChatMemberList([], is_full=False),
        type=RoomType.SPACE,
    )


class _Resolver:
    """Answers the renderer's questions from discord.py's cache."""

    def __init__(
        self,
        client: DiscordClient,
        message: discord.Message,
        emoji: dict[str, str],
        rooms: dict[str, str],
    ) -> None:
        self.client = client
        self.message = message
        self.emoji_mxcs = emoji
        self.rooms = rooms
        self.mentioned = {str(u.id): u for u in message.mentions}

    def user(self, user_id: str) -> Mention | None:
        listener = self.client.discord
        found = self.mentioned.get(user_id)
        if found is None and listener is not None:
            guild = self.message.guild
            found = (guild.get_member(int(user_id)) if guild else None) or listener.get_user(
                int(user_id)
            )
        if found is None:
            return None
        name = found.global_name or found.name
        if found.id == self.client.bot_id:
            return Mention(self.client.login.user_mxid, name)
        return Mention(self.client.ghost_mxid(RemoteUserID(user_id)), name)

    def role(self, role_id: str) -> str | None:
        guild = self.message.guild
        role = guild.get_role(int(role_id)) if guild else None
        return role.name if role else None

    def channel(self, channel_id: str) -> tuple[str, str | None] | None:
        listener = self.client.discord
        found = listener.get_channel(int(channel_id)) if listener else None
        if not isinstance(found, discord.abc.GuildChannel | discord.Thread):
            return None
        room = self.rooms.get(channel_id)
        return found.name, f"https://matrix.to/#/{room}" if room else found.jump_url

    def emoji(self, name: str, emoji_id: str, animated: bool) -> str | None:
        return self.emoji_mxcs.get(emoji_id)


async def _portal_rooms(client: DiscordClient, content: str) -> dict[str, str]:
    """The Matrix rooms of the channels ``content`` mentions (``<#id>``), where they
    have one: such mentions become links to the room instead of to Discord."""
    rooms: dict[str, str] = {}
    for channel_id in set(_CHANNEL_MENTION.findall(content)):
        room = await client.connector.bridge.find_portal_room(portal_key(int(channel_id)))
        if room is not None:
            rooms[channel_id] = room
    return rooms


async def _emoji_images(
    client: DiscordClient, content: str, uploader: MediaUploader
) -> dict[str, str]:
    """Upload the custom emoji of ``content`` (once per emoji and process) and return
    their mxc URIs. Encrypted rooms cannot show inline images: those get text."""
    found: dict[str, str] = {}
    for animated, name, emoji_id in CUSTOM_EMOJI.findall(content):
        cached = client.emoji_mxcs.get(emoji_id)
        if cached is not None:
            found[emoji_id] = cached
            continue
        listener = client.discord
        if listener is None:
            continue
        ext = "gif" if animated else "png"
        url = f"{discord.asset.Asset.BASE}/emojis/{emoji_id}.{ext}"
        try:
            data = await listener.http.get_from_cdn(url)
            ref = await uploader.upload(data, f"image/{ext}", f"{name}.{ext}")
        except (discord.HTTPException, MediaTooLarge) as e:
            log.debug("Custom emoji %s not fetched: %s", emoji_id, e)
            continue
        if "url" in ref:
            client.emoji_mxcs[emoji_id] = found[emoji_id] = str(ref["url"])
    return found


async def _text_part(
    client: DiscordClient, message: discord.Message, uploader: MediaUploader
) -> Any:
    content = message.content
    emoji = await _emoji_images(client, content, uploader)
    rooms = await _portal_rooms(client, content)
    if message.embeds and not content:
        content = "\n\n".join(filter(None, (_embed_text(e) for e in message.embeds)))
    if not content:
        return None
    rendered = render(content, _Resolver(client, message, emoji, rooms))
    part: dict[str, Any] = {"msgtype": "m.text", "body": rendered.body}
    if rendered.html is not None:
        part["format"] = "org.matrix.custom.html"
        part["formatted_body"] = rendered.html
    return part


def _embed_text(embed: discord.Embed) -> str:
    """A rich embed (bots' cards) as markdown; link previews are left out."""
    if embed.type != "rich":
        return ""
    lines = []
    if embed.title:
        lines.append(f"**[{embed.title}]({embed.url})**" if embed.url else f"**{embed.title}**")
    if embed.description:
        lines.append(embed.description)
    lines.extend(f"**{field.name}**\n{field.value}" for field in embed.fields)
    return "\n".join(lines)


class AttachmentLike(Protocol):
    """A Discord attachment, as discord.py or the user-account client describe one."""

    @property
    def filename(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...

    async def read(self) -> bytes:
        """The file's bytes."""
        ...


async def attachment_part(att: AttachmentLike, uploader: MediaUploader) -> dict[str, Any]:
    """An attachment as a Matrix media message (a notice when it is too large)."""
    mimetype = (att.content_type or "application/octet-stream").split(";")[0]
    if att.size > uploader.max_size:
        return {
            "msgtype": "m.notice",
            "body": str(MediaTooLarge(att.size, uploader.max_size, att.filename)),
        }
    try:
        data = await att.read()
        ref = await uploader.upload(data, mimetype, att.filename)
    except MediaTooLarge as e:
        return {"msgtype": "m.notice", "body": str(e)}
    info: dict[str, Any] = {"mimetype": mimetype, "size": att.size}
    if att.width and att.height:
        info["w"], info["h"] = att.width, att.height
    msgtype = _MSGTYPES.get(mimetype.split("/")[0], "m.file")
    return {"msgtype": msgtype, "body": att.filename, "filename": att.filename, "info": info, **ref}


async def _sticker_part(
    client: DiscordClient, sticker: discord.StickerItem, uploader: MediaUploader
) -> tuple[str, dict[str, Any]]:
    """A sticker as an ``m.sticker`` image; Lottie stickers are rendered to an
    animated WebP. A sticker that cannot be fetched or rendered becomes a notice."""
    lottie = sticker.format == discord.StickerFormatType.lottie
    mimetype = "image/gif" if sticker.format == discord.StickerFormatType.gif else "image/png"
    info: dict[str, Any] = {}
    try:
        if lottie:
            # discord.py reads only image stickers; the Lottie JSON is on the CDN too.
            http = client.require_discord().http
            data = await lottie_to_webp(await http.get_from_cdn(sticker.url), STICKER_SIZE)
            mimetype = "image/webp"
            info = {"w": STICKER_SIZE, "h": STICKER_SIZE}
        else:
            data = await sticker.read()
        ref = await uploader.upload(data, mimetype, f"{sticker.name}.{mimetype[6:]}")
    except (discord.HTTPException, MediaTooLarge, AnimationError) as e:
        log.debug("Sticker %s not bridged: %s", sticker.id, e)
        return "m.room.message", {"msgtype": "m.notice", "body": f"[sticker: {sticker.name}]"}
    info.update({"mimetype": mimetype, "size": len(data)})
    return "m.sticker", {"body": sticker.name, "info": info, **ref}


def reply_target(message: discord.Message) -> MessageID | None:
    """The message this one replies to, when it is in the same channel."""
    ref = message.reference
    if (
        message.type == discord.MessageType.reply
        and ref is not None
        and ref.message_id is not None
        and ref.channel_id == message.channel.id
    ):
        return MessageID(str(ref.message_id))
    return None


def message_converter(client: DiscordClient, message: discord.Message) -> Converter:
    """The converter of a new message: text, then attachments, then stickers."""

    async def convert(uploader: MediaUploader) -> ConvertedMessage:
        parts: list[ConvertedPart] = []
        text = await _text_part(client, message, uploader)
        if text is not None:
            parts.append(ConvertedPart(text))
        for att in message.attachments:
            parts.append(ConvertedPart(await attachment_part(att, uploader)))
        for sticker in message.stickers:
            event_type, content = await _sticker_part(client, sticker, uploader)
            parts.append(ConvertedPart(content, event_type=event_type))
        if not parts:
            parts.append(ConvertedPart({"msgtype": "m.notice", "body": "(empty message)"}))
        number_parts(
            parts,
            [f"att:{a.id}" for a in message.attachments]
            + [f"sticker:{s.id}" for s in message.stickers],
        )
        thread_id = thread_id_of(message)
        if thread_id is not None:
            for part in parts:
                part.metadata["thread_id"] = thread_id
        return ConvertedMessage(
            parts,
            reply_to=reply_target(message),
            thread_root=MessageID(thread_id) if thread_id is not None else None,
        )

    return convert


def number_parts(parts: list[ConvertedPart], names: list[str]) -> None:
    """The text is part ``""``; each attachment is part ``att:<id>``, each sticker
    ``sticker:<id>`` (``names``, in order; the first part is always ``""``, so a
    message is found by its first part)."""
    has_text = len(parts) > len(names)
    ids = ([""] if has_text else []) + names
    for index, (part, part_id) in enumerate(zip(parts, ids, strict=False)):
        part.part_id = PartID("" if index == 0 else part_id)


def edit_converter(client: DiscordClient, message: discord.Message) -> Converter:
    """The converter of an edit: the new text replaces the text part."""

    async def convert(uploader: MediaUploader) -> ConvertedMessage:
        text = await _text_part(client, message, uploader)
        if text is None:
            text = {"msgtype": "m.text", "body": ""}
        return ConvertedMessage([ConvertedPart(text)])

    return convert


def timestamp_ms(message: discord.Message) -> int:
    """When the message was sent, in milliseconds."""
    return int(message.created_at.timestamp() * 1000)
