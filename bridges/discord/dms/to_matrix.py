"""Discord → Matrix for a user login: DM and group DM portals, their people, and their
messages. Text goes through the bridge's markdown renderer and attachments through
the same converter as guild messages; only the objects differ (the user-account
client's models instead of discord.py's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridgekit.network import (
    Avatar,
    ChatInfo,
    ChatMember,
    ChatMemberList,
    ConvertedMessage,
    ConvertedPart,
    Converter,
    EventSender,
    LoginID,
    MediaUploader,
    MessageID,
    PortalID,
    PortalKey,
    RemoteUserID,
    RoomType,
    UserInfo,
)

from ..formatting import Mention, render
from ..to_matrix import attachment_part, number_parts
from ..useraccount import Attachment, Message, PrivateChannel, User

if TYPE_CHECKING:
    from .client import UserLoginClient

#: Discord's default avatars, chosen by the user ID when there is no picture.
_DEFAULT_AVATARS = 6


def dm_portal(login_id: LoginID, channel_id: int) -> PortalKey:
    """A private chat is the login's own: one room per Matrix user."""
    return PortalKey(PortalID(str(channel_id)), receiver=login_id)


def user_avatar(client: UserLoginClient, user: User) -> Avatar:
    """A user's picture, with the same ID discord.py gives it (its hash, or the default
    avatar's number), so the bot login and a user login agree on a ghost's avatar."""
    cdn = client.endpoints.cdn_url
    if user.avatar:
        ext = "gif" if user.avatar.startswith("a_") else "png"
        url = f"{cdn}/avatars/{user.id}/{user.avatar}.{ext}?size=1024"
        key, mimetype = user.avatar, f"image/{ext}"
    else:
        index = (user.id >> 22) % _DEFAULT_AVATARS
        url, key, mimetype = f"{cdn}/embed/avatars/{index}.png", str(index), "image/png"

    async def get() -> bytes:
        return await client.require_rest().download(url)

    return Avatar(key, get, mimetype)


def user_info(client: UserLoginClient, user: User) -> UserInfo:
    """A Discord user's ghost profile, as the bot login makes it."""
    return UserInfo(
        name=user.display_name,
        avatar=user_avatar(client, user),
        identifiers=[f"discord:{user.username}"],
        is_bot=user.bot,
    )


def sender_of(client: UserLoginClient, user: User) -> EventSender:
    """Who did something; the account itself is the login's owner."""
    return EventSender(
        user_id=RemoteUserID(str(user.id)),
        is_from_me=user.id == client.user_id,
        user_info=user_info(client, user),
    )


def group_name(channel: PrivateChannel) -> str:
    """A group DM's name, or its people's names as Discord shows an unnamed one."""
    if channel.name:
        return channel.name
    names = sorted(u.display_name for u in channel.recipients)
    return ", ".join(names) or "Group DM"


def chat_info(client: UserLoginClient, channel: PrivateChannel) -> ChatInfo:
    """A DM's room (the other person and the owner) or a group DM's (name, icon,
    everyone in it)."""
    members = [
        ChatMember(user_id=RemoteUserID(str(u.id)), user_info=user_info(client, u))
        for u in channel.recipients
        if u.id != client.user_id
    ]
    members.append(ChatMember(user_id=RemoteUserID(str(client.user_id)), is_from_me=True))
    if not channel.is_group:
        return ChatInfo(members=ChatMemberList(members, is_full=True), type=RoomType.DM)
    avatar = Avatar.removed()
    if channel.icon:
        url = f"{client.endpoints.cdn_url}/channel-icons/{channel.id}/{channel.icon}.png"

        async def get() -> bytes:
            return await client.require_rest().download(url)

        avatar = Avatar(channel.icon, get, "image/png")
    return ChatInfo(
        name=group_name(channel),
        avatar=avatar,
        members=ChatMemberList(members, is_full=True),
        type=RoomType.GROUP,
    )


class _Resolver:
    """Answers the renderer: mentioned users from the message and the known people."""

    def __init__(self, client: UserLoginClient, message: Message) -> None:
        self.client = client
        self.mentioned = {u.id: u for u in message.mentions}

    def user(self, user_id: str) -> Mention | None:
        found = self.mentioned.get(int(user_id)) or self.client.users.get(int(user_id))
        if found is None:
            return None
        if found.id == self.client.user_id:
            return Mention(self.client.login.user_mxid, found.display_name)
        return Mention(self.client.ghost_mxid(RemoteUserID(user_id)), found.display_name)

    def role(self, role_id: str) -> str | None:
        return None

    def channel(self, channel_id: str) -> tuple[str, str | None] | None:
        return None

    def emoji(self, name: str, emoji_id: str, animated: bool) -> str | None:
        return None


def _text_part(client: UserLoginClient, message: Message) -> dict[str, Any] | None:
    if not message.content:
        return None
    rendered = render(message.content, _Resolver(client, message))
    part: dict[str, Any] = {"msgtype": "m.text", "body": rendered.body}
    if rendered.html is not None:
        part["format"] = "org.matrix.custom.html"
        part["formatted_body"] = rendered.html
    return part


class _Download:
    """An attachment with the ``read`` the shared attachment converter calls."""

    def __init__(self, client: UserLoginClient, attachment: Attachment) -> None:
        self.client = client
        self.attachment = attachment
        self.filename = attachment.filename
        self.size = attachment.size
        self.content_type = attachment.content_type
        self.width = attachment.width
        self.height = attachment.height

    async def read(self) -> bytes:
        return await self.client.require_rest().download(self.attachment.url)


def message_converter(client: UserLoginClient, message: Message) -> Converter:
    """The converter of a new message: its text, then one part per attachment."""

    async def convert(uploader: MediaUploader) -> ConvertedMessage:
        parts: list[ConvertedPart] = []
        text = _text_part(client, message)
        if text is not None:
            parts.append(ConvertedPart(text))
        for att in message.attachments:
            parts.append(ConvertedPart(await attachment_part(_Download(client, att), uploader)))
        if not parts:
            parts.append(ConvertedPart({"msgtype": "m.notice", "body": "(empty message)"}))
        number_parts(parts, [f"att:{a.id}" for a in message.attachments])
        reply_to = MessageID(str(message.reply_to)) if message.reply_to is not None else None
        return ConvertedMessage(parts, reply_to=reply_to)

    return convert


def edit_converter(client: UserLoginClient, message: Message) -> Converter:
    """The converter of an edit: the new text replaces the text part."""

    async def convert(uploader: MediaUploader) -> ConvertedMessage:
        text = _text_part(client, message) or {"msgtype": "m.text", "body": ""}
        return ConvertedMessage([ConvertedPart(text)])

    return convert
