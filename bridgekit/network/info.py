"""What a network tells the core about chats and users.

Throughout these types ``None`` means "unchanged / unknown": the core keeps what it
already has. To clear a value, use an empty string (names, topics) or
``Avatar.removed()``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .ids import PortalID, RemoteUserID


@dataclass(slots=True)
class Avatar:
    """A remote picture (a user's or a chat's avatar).

    ``id`` must change whenever the picture changes (a file ID, a hash, a URL): the
    core downloads and re-uploads the picture only when ``id`` differs from the one it
    stored. ``get`` downloads the bytes; it is called at most once per new ``id``.
    """

    id: str
    get: Callable[[], Awaitable[bytes]] | None = None
    mimetype: str | None = None
    remove: bool = False

    @classmethod
    def removed(cls) -> Avatar:
        """An avatar that clears the current one."""
        return cls(id="", remove=True)


class Membership(StrEnum):
    """A member's state in a chat, named as in Matrix."""

    JOIN = "join"
    LEAVE = "leave"
    INVITE = "invite"
    BAN = "ban"


@dataclass(slots=True)
class ChatMember:
    """One member of a remote chat.

    ``user_id`` is the remote user (a ghost). ``is_from_me`` marks the logged-in
    account itself, which the core maps to the Matrix user who owns the login.
    ``power_level`` uses Matrix numbers (0 member, 50 moderator, 100 admin); ``None``
    leaves the level alone. ``room_name`` is the member's name in this chat only (see
    ``EventSender.room_name``).
    """

    user_id: RemoteUserID | None = None
    is_from_me: bool = False
    membership: Membership = Membership.JOIN
    power_level: int | None = None
    user_info: UserInfo | None = None
    room_name: str | None = None


@dataclass(slots=True)
class ChatMemberList:
    """Members of a chat. ``is_full`` says the list is complete (members missing from a
    full list are removed from the room); a partial list only adds and updates."""

    members: list[ChatMember] = field(default_factory=list)
    is_full: bool = True


class RoomType(StrEnum):
    """What kind of chat a portal is."""

    DM = "dm"
    GROUP = "group"
    CHANNEL = "channel"
    SPACE = "space"


@dataclass(slots=True)
class ChatInfo:
    """A remote chat's metadata, used to create a portal room and keep it in sync.

    ``parent`` is a portal that groups this one (a Discord guild, a Telegram forum);
    the core puts this portal's room into the parent's space. ``order`` places it
    among the parent's other rooms: clients sort a space's rooms by it as plain
    strings (printable ASCII, at most 50 characters), for example a Discord channel's
    category and position.

    ``alias`` marks a public chat (an IRC channel in operator mode): its room is
    created joinable by anyone on the homeserver and, when the operator set
    ``appservice.alias_prefix``, with the alias ``#<alias_prefix><alias>:server``
    (see ``AliasResolving``). Only read when the room is created.
    """

    name: str | None = None
    topic: str | None = None
    avatar: Avatar | None = None
    members: ChatMemberList | None = None
    type: RoomType | None = None
    parent: PortalID | None = None
    metadata: dict[str, Any] | None = None
    order: str | None = None
    alias: str | None = None


@dataclass(slots=True)
class UserInfo:
    """A remote user's profile, used for their ghost. ``identifiers`` are
    human-readable handles (``tel:+123``, ``irc:nick``) shown in search results."""

    name: str | None = None
    avatar: Avatar | None = None
    identifiers: list[str] | None = None
    is_bot: bool | None = None
