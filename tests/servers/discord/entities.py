"""The objects of the simulated Discord: plain dataclasses, no behaviour, no wire format.

The world (``world/``) owns and mutates them; ``wire.py`` turns them into API JSON.
Tests read them to check what a client did (``server.messages_in(channel)[-1].content``).
IDs are ints here and become strings on the wire.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .protocol import ChannelType, MessageType, StickerFormat


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


@dataclass
class Presence:
    """A user's status as others see it (``offline`` until set)."""

    status: str = "offline"
    activities: list[dict[str, Any]] = field(default_factory=list)
    client_status: dict[str, str] = field(default_factory=dict)


@dataclass
class Account:
    """A Discord user: a human account or the bot user of an application.

    ``token`` authenticates REST (``Bot <token>`` for bots, the bare token for users) and
    the gateway. Resetting it (``World.reset_token``) invalidates the old one everywhere.
    """

    id: int
    username: str
    token: str
    bot: bool = False
    global_name: str | None = None
    avatar: str | None = None
    avatar_image: bytes | None = None
    application_id: int | None = None
    presence: Presence = field(default_factory=Presence)

    @property
    def display_name(self) -> str:
        """The name other users see when no guild nickname applies."""
        return self.global_name or self.username


@dataclass
class Application:
    """A developer application with a bot user.

    ``privileged_intents`` is the set of privileged intents switched on in the developer
    portal; identifying with any other privileged intent closes the gateway with 4014.
    """

    id: int
    name: str
    owner_id: int
    bot_id: int
    privileged_intents: int = 0
    description: str = ""
    bot_public: bool = True
    interactions_endpoint_url: str | None = None
    verify_key: str = ""


@dataclass
class Role:
    """A guild role; the role whose ID equals the guild ID is @everyone."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    color: int = 0
    position: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (``type`` 0) or a member (``type`` 1)."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class Member:
    """An account's membership in a guild."""

    user_id: int
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: datetime.datetime = field(default_factory=_now)
    avatar: str | None = None
    pending: bool = False
    communication_disabled_until: datetime.datetime | None = None


@dataclass
class Emoji:
    """A custom guild emoji (``<:name:id>`` in message text)."""

    id: int
    guild_id: int
    name: str
    animated: bool = False
    image: bytes = b""
    creator_id: int | None = None
    roles: list[int] = field(default_factory=list)
    available: bool = True


@dataclass
class Sticker:
    """A sticker; ``guild_id`` is ``None`` for a standard (Nitro pack) sticker."""

    id: int
    name: str
    format_type: StickerFormat = StickerFormat.PNG
    data: bytes = b""
    guild_id: int | None = None
    description: str = ""
    tags: str = ""
    creator_id: int | None = None


@dataclass
class Guild:
    """A guild (server). Channels, roles and members are looked up through the world."""

    id: int
    name: str
    owner_id: int
    icon: str | None = None
    icon_image: bytes | None = None
    description: str | None = None
    system_channel_id: int | None = None
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    emojis: dict[int, Emoji] = field(default_factory=dict)
    stickers: dict[int, Sticker] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    preferred_locale: str = "en-US"
    created_at: datetime.datetime = field(default_factory=_now)


@dataclass
class Channel:
    """Any channel: guild text/category/forum channel, thread, DM or group DM.

    Fields that do not apply to a type keep their defaults (a DM has no ``guild_id``, a
    text channel no ``recipients``). A thread's ``parent_id`` is its text channel; a
    text channel's ``parent_id`` is its category.
    """

    id: int
    type: ChannelType
    guild_id: int | None = None
    name: str | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)
    owner_id: int | None = None
    icon: str | None = None
    icon_image: bytes | None = None
    last_message_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    archive_timestamp: datetime.datetime = field(default_factory=_now)
    thread_member_ids: list[int] = field(default_factory=list)
    message_count: int = 0
    total_message_sent: int = 0
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        """Whether this channel is a thread."""
        return self.type in (
            ChannelType.PUBLIC_THREAD,
            ChannelType.PRIVATE_THREAD,
            ChannelType.ANNOUNCEMENT_THREAD,
        )

    @property
    def is_private(self) -> bool:
        """Whether this is a DM or group DM (no guild)."""
        return self.type in (ChannelType.DM, ChannelType.GROUP_DM)


@dataclass
class Attachment:
    """An uploaded file; its bytes are served by the CDN routes of the server."""

    id: int
    channel_id: int
    filename: str
    content_type: str
    data: bytes
    description: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def spoiler(self) -> bool:
        """Discord marks spoiler attachments by the ``SPOILER_`` file-name prefix."""
        return self.filename.startswith("SPOILER_")


@dataclass(frozen=True)
class EmojiRef:
    """The emoji of a reaction: a unicode emoji (``id`` None) or a custom emoji."""

    name: str
    id: int | None = None
    animated: bool = False

    @property
    def key(self) -> str:
        """The form used in REST URLs: the unicode emoji itself or ``name:id``."""
        return self.name if self.id is None else f"{self.name}:{self.id}"


@dataclass
class Reaction:
    """All reactions with one emoji on one message, in the order they were added."""

    emoji: EmojiRef
    user_ids: list[int] = field(default_factory=list)


@dataclass
class WebhookAuthor:
    """How a webhook message presents its author (per-message username and avatar)."""

    webhook_id: int
    username: str
    avatar_url: str | None = None
    avatar: str | None = None


@dataclass
class Message:
    """A message. ``author_id`` is the webhook ID for webhook messages."""

    id: int
    channel_id: int
    author_id: int
    content: str = ""
    guild_id: int | None = None
    type: MessageType = MessageType.DEFAULT
    timestamp: datetime.datetime = field(default_factory=_now)
    edited_timestamp: datetime.datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[int] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    reference: dict[str, Any] | None = None
    sticker_ids: list[int] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)
    webhook: WebhookAuthor | None = None
    application_id: int | None = None
    nonce: str | int | None = None
    tts: bool = False
    pinned: bool = False
    pinned_at: datetime.datetime | None = None
    flags: int = 0
    thread_id: int | None = None
    components: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    deleted: bool = False

    @property
    def webhook_id(self) -> int | None:
        """The webhook that sent this message, if any."""
        return self.webhook.webhook_id if self.webhook else None


@dataclass
class Webhook:
    """An incoming webhook of a guild channel."""

    id: int
    channel_id: int
    guild_id: int
    name: str
    token: str
    creator_id: int
    avatar: str | None = None
    avatar_image: bytes | None = None
    application_id: int | None = None
    type: int = 1
