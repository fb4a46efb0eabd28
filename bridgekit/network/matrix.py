"""Matrix events as a network sees them (Matrix → network).

The core resolves everything it can before a network is called: reply and thread
targets, edited and reacted-to messages and redacted events arrive as the stored
``MessageRecord`` of the remote message (with its remote ID), never as bare Matrix
event IDs. Media arrives with a ``download`` coroutine that enforces the size limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .ids import EmojiID, LoginID, MessageID, PartID, PortalKey, RemoteUserID


@dataclass(slots=True)
class MessageRecord:
    """A bridged message part as stored in the mapping table."""

    id: MessageID
    part_id: PartID
    mxid: str
    room_id: str
    portal: PortalKey
    sender_id: RemoteUserID | None
    timestamp_ms: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ReactionRecord:
    """A bridged reaction as stored in the mapping table."""

    message_id: MessageID
    sender_id: RemoteUserID | None
    emoji_id: EmojiID
    emoji: str
    mxid: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class MatrixMedia:
    """An attachment of a Matrix message. ``download`` returns the decrypted bytes and
    raises ``MediaTooLarge`` beyond the bridge's limit (checked before downloading
    when the size is known). ``url`` is the ``mxc://`` URI (for networks that send
    links instead of files, e.g. IRC); ``public_url`` is an HTTP link to it when the
    operator configured a public media URL."""

    mimetype: str
    filename: str
    size: int | None
    url: str
    download: Callable[[], Awaitable[bytes]]
    public_url: str | None = None


@dataclass(slots=True)
class RelayInfo:
    """Set when the sender has no login of their own and the message goes out through
    the portal's relay login. ``formatted`` is the message text with the sender's name
    already applied per the configured relay format; ``display_name`` and
    ``avatar_url`` are for networks that can show per-message identity (Discord
    webhooks, IRC relaymsg) and prefer to use them instead."""

    sender_mxid: str
    display_name: str
    avatar_url: str | None
    formatted: str
    avatar_public_url: str | None = None


@dataclass(slots=True, kw_only=True)
class MatrixEvent:
    """Base of Matrix events handed to a network client.

    ``portal`` is the portal's key; ``sender_mxid`` the Matrix user who acted;
    ``login_id`` the login that acts for them on the network (their own, or the
    relay login when ``relay`` is set).
    """

    portal: PortalKey
    event_id: str
    sender_mxid: str
    login_id: LoginID
    relay: RelayInfo | None = None


@dataclass(slots=True, kw_only=True)
class MatrixMessage(MatrixEvent):
    """A message: text, notice, emote, media, location.

    ``msgtype`` is the Matrix msgtype; ``body``/``html`` the text (for media: the
    caption, which may be empty); ``reply_to`` and ``thread_root`` are the resolved
    targets, or ``None`` if the message has none or the target was never bridged.
    ``content`` is the raw Matrix content for anything not lifted into fields.
    ``may_notify_room`` is true only when the message asks to notify everyone
    (``@room``, ``@everyone``, ``@here``, or ``m.mentions.room``) and its sender has
    the room's power to do so: a network's everyone-mention may go out only then.
    """

    msgtype: str
    body: str
    html: str | None = None
    media: MatrixMedia | None = None
    reply_to: MessageRecord | None = None
    thread_root: MessageRecord | None = None
    content: dict[str, Any] = field(default_factory=dict)
    may_notify_room: bool = False


@dataclass(slots=True)
class MatrixMessageResponse:
    """What a network returns after sending a Matrix message: the remote message's ID
    (stored so later edits, reactions and replies resolve), its timestamp if the
    network reports one, and metadata for the mapping row."""

    id: MessageID
    timestamp_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class MatrixEdit(MatrixEvent):
    """An edit (``m.replace``) of a bridged message: the new text replaces ``target``."""

    target: MessageRecord
    body: str
    html: str | None = None
    msgtype: str = "m.text"
    content: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class MatrixReaction(MatrixEvent):
    """A reaction to a bridged message. ``key`` is the Matrix reaction key. Return the
    ``EmojiID`` the network uses for it (or ``None`` to use ``key``)."""

    target: MessageRecord
    key: str


@dataclass(slots=True, kw_only=True)
class MatrixReactionRemove(MatrixEvent):
    """A reaction of this user, redacted on Matrix."""

    target: ReactionRecord


@dataclass(slots=True, kw_only=True)
class MatrixMessageRemove(MatrixEvent):
    """A bridged message, redacted on Matrix."""

    target: MessageRecord
    reason: str | None = None


@dataclass(slots=True, kw_only=True)
class MatrixReadReceipt(MatrixEvent):
    """The user read up to ``target`` (the newest bridged message at or before the
    receipt, or ``None`` when the receipt is on an event that was never bridged)."""

    target: MessageRecord | None


@dataclass(slots=True, kw_only=True)
class MatrixTyping(MatrixEvent):
    """The user started (``typing``) or stopped typing."""

    typing: bool


@dataclass(slots=True, kw_only=True)
class MatrixRoomMeta(MatrixEvent):
    """The room's name, topic or avatar changed; exactly one of the fields is set
    (the empty string clears). ``avatar`` is an ``mxc://`` URI."""

    name: str | None = None
    topic: str | None = None
    avatar: str | None = None


@dataclass(slots=True, kw_only=True)
class MatrixPinChange(MatrixEvent):
    """The room's pinned messages changed: ``pinned`` were pinned, ``unpinned`` were
    unpinned (only bridged messages are listed)."""

    pinned: list[MessageRecord] = field(default_factory=list)
    unpinned: list[MessageRecord] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class MatrixMembership(MatrixEvent):
    """A membership change of ``target`` in a portal. ``target_user`` is the remote
    user when the target is a ghost; ``target_mxid`` is always set."""

    target_mxid: str
    target_user: RemoteUserID | None
    membership: str
    prev_membership: str | None
    reason: str | None = None


@dataclass(slots=True, kw_only=True)
class MatrixPowerLevels(MatrixEvent):
    """Power levels changed: ``users`` maps remote users to their new level."""

    users: dict[RemoteUserID, int]
