"""Matrix events as a network sees them (Matrix → network).

The core resolves everything it can before a network is called: reply and thread
targets, edited and reacted-to messages and redacted events arrive as the stored
``MessageRecord`` of the remote message (with its remote ID), never as bare Matrix
event IDs. Media arrives as a ``MatrixMedia`` that streams the file to disk (or
returns its bytes) and enforces the size limit.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

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
class MediaFile:
    """A downloaded (and decrypted) Matrix attachment on disk. ``path`` ends in the
    attachment's file name made safe for a file system; ``file`` is open for reading
    at its start."""

    path: Path
    file: BinaryIO
    size: int


#: Characters no file name gets: path separators, NUL and other control characters.
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_MAX_NAME_BYTES = 200


def safe_filename(name: str) -> str:
    """``name`` as a single file name that cannot leave its directory: separators and
    control characters replaced, no leading dots (so never ``.`` or ``..``), at most
    200 bytes of UTF-8 keeping the extension, and ``file`` when nothing is left."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip().lstrip(".")
    if len(cleaned.encode()) > _MAX_NAME_BYTES:
        stem, dot, ext = cleaned.rpartition(".")
        ext = ext if dot and len(ext.encode()) <= 16 else ""
        budget = _MAX_NAME_BYTES - len(ext.encode()) - (1 if ext else 0)
        stem = (stem if ext else cleaned).encode()[:budget].decode(errors="ignore")
        cleaned = f"{stem}.{ext}" if ext else stem
    return cleaned or "file"


@dataclass(slots=True)
class MatrixMedia:
    """An attachment of a Matrix message. ``url`` is the ``mxc://`` URI (for networks
    that send links instead of files, e.g. IRC); ``public_url`` is an HTTP link to it
    when the operator configured a public media URL.

    To send the file itself, use :meth:`open` (streams it to a temporary file: memory
    use stays flat whatever the size) or :meth:`download` (the bytes, for small
    files). Both decrypt encrypted attachments and raise ``MediaTooLarge`` beyond the
    bridge's size limit — before downloading when the size is announced, and as soon
    as the limit is passed otherwise."""

    mimetype: str
    filename: str
    size: int | None
    url: str
    #: Writes the (decrypted) file into the binary file given and returns its size.
    fetch: Callable[[BinaryIO], Awaitable[int]]
    public_url: str | None = None

    async def download(self) -> bytes:
        """The whole file in memory."""
        buffer = BytesIO()
        await self.fetch(buffer)
        return buffer.getvalue()

    @asynccontextmanager
    async def open(self) -> AsyncIterator[MediaFile]:
        """The file on disk for the duration of the ``async with`` block (deleted
        after). The path's last part is :func:`safe_filename` of ``filename``, so a
        library that names uploads after the path sends the right name."""
        directory = Path(tempfile.mkdtemp(prefix="bridgekit-media-"))
        try:
            path = directory / safe_filename(self.filename)
            with path.open("w+b") as file:
                size = await self.fetch(file)
                file.flush()
                file.seek(0)
                yield MediaFile(path, file, size)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


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

    ``replayed`` is set for an event that the bridge had accepted before a crash or
    stop without finishing it: it may already have reached the network. Networks
    whose sends are idempotent (a Telegram random_id, a Discord nonce) need not care;
    others can look for it on the network before sending it again.
    """

    portal: PortalKey
    event_id: str
    sender_mxid: str
    login_id: LoginID
    relay: RelayInfo | None = None
    replayed: bool = False


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
    ``EmojiID`` the network uses for it (or ``None`` to use ``key``).

    When ``key`` is the picture of a custom emoji that came from the network (see
    ``RemoteReaction.image``), ``emoji_id`` is that emoji's ID; other ``mxc://`` keys
    are custom emoji of Matrix users that the network may not know."""

    target: MessageRecord
    key: str
    emoji_id: EmojiID | None = None


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
    (the empty string clears). ``avatar`` is an ``mxc://`` URI, and ``avatar_media``
    the picture itself (to ``open`` or ``download``) when one was set."""

    name: str | None = None
    topic: str | None = None
    avatar: str | None = None
    avatar_media: MatrixMedia | None = None


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
