"""What the user-account client reads from Discord, as small typed objects.

Only the fields the bridge uses are kept; payloads are parsed once, here, so that no
raw JSON travels further than this package. IDs are ints.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

#: Message types that carry something a person wrote (default and reply).
CHAT_MESSAGE_TYPES = frozenset({0, 19})


class ChannelType(IntEnum):
    """The channel types a user account's private chats have."""

    DM = 1
    GROUP_DM = 3


def _id(value: Any) -> int | None:
    return int(value) if value is not None and str(value).isdigit() else None


def timestamp_ms(value: Any) -> int | None:
    """An ISO 8601 timestamp of the API in milliseconds (``None`` stays ``None``)."""
    if not isinstance(value, str) or not value:
        return None
    return int(datetime.datetime.fromisoformat(value).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class User:
    """A Discord user as others see them."""

    id: int
    username: str
    global_name: str | None = None
    avatar: str | None = None
    bot: bool = False

    @property
    def display_name(self) -> str:
        """The global name, or the username."""
        return self.global_name or self.username

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> User:
        return cls(
            id=int(data["id"]),
            username=str(data.get("username") or data["id"]),
            global_name=data.get("global_name"),
            avatar=data.get("avatar"),
            bot=bool(data.get("bot", False)),
        )


@dataclass(frozen=True, slots=True)
class PrivateChannel:
    """A DM (two people) or a group DM (a name, an icon, up to ten people).
    ``recipients`` are the others: Discord does not list the account itself."""

    id: int
    type: ChannelType
    recipients: tuple[User, ...] = ()
    name: str | None = None
    icon: str | None = None
    owner_id: int | None = None
    last_message_id: int | None = None

    @property
    def is_group(self) -> bool:
        return self.type == ChannelType.GROUP_DM

    def without(self, user_id: int) -> PrivateChannel:
        """The same channel with ``user_id`` left out of the recipients (some
        payloads list the account itself)."""
        others = tuple(u for u in self.recipients if u.id != user_id)
        return PrivateChannel(
            self.id, self.type, others, self.name, self.icon, self.owner_id, self.last_message_id
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PrivateChannel | None:
        """The channel, or ``None`` for a guild channel or an unknown type."""
        try:
            kind = ChannelType(int(data.get("type", -1)))
        except ValueError:
            return None
        return cls(
            id=int(data["id"]),
            type=kind,
            recipients=tuple(User.from_json(u) for u in data.get("recipients") or []),
            name=data.get("name"),
            icon=data.get("icon"),
            owner_id=_id(data.get("owner_id")),
            last_message_id=_id(data.get("last_message_id")),
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file of a message; ``url`` is its (signed) CDN link."""

    id: int
    filename: str
    size: int
    url: str
    content_type: str | None = None
    width: int | None = None
    height: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(
            id=int(data["id"]),
            filename=str(data.get("filename") or "file"),
            size=int(data.get("size") or 0),
            url=str(data["url"]),
            content_type=data.get("content_type"),
            width=data.get("width"),
            height=data.get("height"),
        )


@dataclass(frozen=True, slots=True)
class Message:
    """A message. ``reply_to`` is the message it answers in the same channel;
    ``edited_ms`` is set on edits (a MESSAGE_UPDATE without it only added a link
    preview). ``guild_id`` is set for guild messages, which a user login skips."""

    id: int
    channel_id: int
    author: User
    content: str = ""
    type: int = 0
    guild_id: int | None = None
    timestamp_ms: int | None = None
    edited_ms: int | None = None
    attachments: tuple[Attachment, ...] = ()
    mentions: tuple[User, ...] = ()
    reply_to: int | None = None
    nonce: str | None = None
    webhook_id: int | None = None

    @property
    def is_chat(self) -> bool:
        """Whether it is a message someone wrote (not a call or a system notice)."""
        return self.type in CHAT_MESSAGE_TYPES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message | None:
        """The message, or ``None`` for a partial update without an author."""
        author = data.get("author")
        if not isinstance(author, dict):
            return None
        reference = data.get("message_reference") or {}
        reply_to = None
        if int(data.get("type", 0)) == 19 and _id(reference.get("channel_id")) == int(
            data["channel_id"]
        ):
            reply_to = _id(reference.get("message_id"))
        nonce = data.get("nonce")
        return cls(
            id=int(data["id"]),
            channel_id=int(data["channel_id"]),
            author=User.from_json(author),
            content=str(data.get("content") or ""),
            type=int(data.get("type", 0)),
            guild_id=_id(data.get("guild_id")),
            timestamp_ms=timestamp_ms(data.get("timestamp")),
            edited_ms=timestamp_ms(data.get("edited_timestamp")),
            attachments=tuple(Attachment.from_json(a) for a in data.get("attachments") or []),
            mentions=tuple(User.from_json(u) for u in data.get("mentions") or []),
            reply_to=reply_to,
            nonce=str(nonce) if nonce is not None else None,
            webhook_id=_id(data.get("webhook_id")),
        )


@dataclass(frozen=True, slots=True)
class Emoji:
    """A reaction's emoji: unicode (``id`` is ``None``) or a custom one."""

    name: str
    id: int | None = None
    animated: bool = False

    @property
    def key(self) -> str:
        """How the REST API names it in URLs: the emoji itself, or ``name:id``."""
        return self.name if self.id is None else f"{self.name}:{self.id}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Emoji:
        return cls(str(data.get("name") or "_"), _id(data.get("id")), bool(data.get("animated")))


# Gateway events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """The session started: the account and its private chats."""

    user: User
    private_channels: tuple[PrivateChannel, ...] = ()


@dataclass(frozen=True, slots=True)
class Resumed:
    """The session was resumed after a drop; missed events were replayed before this."""


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The socket closed; the client reconnects by itself (``reason`` for logs)."""

    reason: str


@dataclass(frozen=True, slots=True)
class MessageCreated:
    message: Message


@dataclass(frozen=True, slots=True)
class MessageUpdated:
    message: Message


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    channel_id: int
    message_id: int
    guild_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReactionChanged:
    """``user_id`` added (``added``) or took back ``emoji`` on a message."""

    channel_id: int
    message_id: int
    user_id: int
    emoji: Emoji
    added: bool
    guild_id: int | None = None


@dataclass(frozen=True, slots=True)
class TypingStarted:
    channel_id: int
    user_id: int
    guild_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelChanged:
    """A private channel was created (a new DM or group DM) or changed (renamed)."""

    channel: PrivateChannel
    created: bool


@dataclass(frozen=True, slots=True)
class ChannelDeleted:
    """The account left a group DM, or a DM was closed."""

    channel_id: int


GatewayEvent = (
    Ready
    | Resumed
    | ConnectionLost
    | MessageCreated
    | MessageUpdated
    | MessageDeleted
    | ReactionChanged
    | TypingStarted
    | ChannelChanged
    | ChannelDeleted
)


def parse_dispatch(name: str, data: Any) -> GatewayEvent | None:
    """The typed event of a dispatch the bridge uses, or ``None`` for the rest."""
    if not isinstance(data, dict):
        return None
    if name == "READY":
        channels = (PrivateChannel.from_json(c) for c in data.get("private_channels") or [])
        return Ready(User.from_json(data["user"]), tuple(c for c in channels if c is not None))
    if name == "RESUMED":
        return Resumed()
    if name in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
        message = Message.from_json(data)
        if message is None:
            return None
        return MessageCreated(message) if name == "MESSAGE_CREATE" else MessageUpdated(message)
    if name == "MESSAGE_DELETE":
        return MessageDeleted(int(data["channel_id"]), int(data["id"]), _id(data.get("guild_id")))
    if name in ("MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"):
        return ReactionChanged(
            channel_id=int(data["channel_id"]),
            message_id=int(data["message_id"]),
            user_id=int(data["user_id"]),
            emoji=Emoji.from_json(data.get("emoji") or {}),
            added=name == "MESSAGE_REACTION_ADD",
            guild_id=_id(data.get("guild_id")),
        )
    if name == "TYPING_START":
        return TypingStarted(
            int(data["channel_id"]), int(data["user_id"]), _id(data.get("guild_id"))
        )
    if name in ("CHANNEL_CREATE", "CHANNEL_UPDATE"):
        channel = PrivateChannel.from_json(data)
        return ChannelChanged(channel, name == "CHANNEL_CREATE") if channel is not None else None
    if name == "CHANNEL_DELETE" and PrivateChannel.from_json(data) is not None:
        return ChannelDeleted(int(data["id"]))
    return None
