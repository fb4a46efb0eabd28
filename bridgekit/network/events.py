"""Remote events: what a network reports to the core (network → Matrix).

A network client hands these to ``LoginHandle.queue_remote_event``. The core puts
each event into its portal's ordered queue, so events of one chat are handled in the
order they were queued while different chats run in parallel.

Every event names its portal, its sender and (where the network has one) its
timestamp in milliseconds. Message-like events carry a ``convert`` step instead of
ready content, so that media is downloaded only when the core is about to send it
(and not at all for a message that turns out to be a duplicate).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .content import ConvertedMessage, MediaUploader
from .ids import EmojiID, MessageID, PortalKey, RemoteUserID
from .info import Avatar, ChatInfo, UserInfo

Converter = Callable[[MediaUploader], Awaitable[ConvertedMessage]]
"""Produces Matrix content for a remote message; called once, when the core sends it."""


@dataclass(slots=True, frozen=True)
class EventSender:
    """Who did something on the remote network.

    ``is_from_me`` is true when the logged-in account itself acted (a message sent from
    the user's phone): the core then sends it as the Matrix user (double puppeting)
    where it can, otherwise as the account's ghost. ``user_id`` is that remote user.

    ``room_name`` is the sender's name in this chat only, where the network has
    per-chat names (a Discord server nickname, with a role): the ghost's membership
    in the portal's room carries it (the display name template applies), its profile
    keeps ``user_info.name``.
    """

    user_id: RemoteUserID | None = None
    is_from_me: bool = False
    user_info: UserInfo | None = None
    room_name: str | None = None


@dataclass(slots=True, kw_only=True)
class RemoteEvent:
    """Base of all remote events. ``timestamp_ms`` ``None`` means "now".

    ``on_handled``, when set, is awaited once the core is done with the event —
    bridged, dropped as a duplicate, or failed for good (a homeserver outage is
    retried, not "done"). A network that must persist its own position (Telegram's
    update state, a gateway sequence number) advances it there, so nothing accepted
    from the network is forgotten by a crash. Its argument says whether handling
    succeeded."""

    portal: PortalKey
    sender: EventSender = field(default_factory=EventSender)
    timestamp_ms: int | None = None
    on_handled: Callable[[bool], Awaitable[None]] | None = None

    def describe(self) -> str:
        """A short description for log lines (never message contents)."""
        return f"{type(self).__name__} in {self.portal}"


@dataclass(slots=True, kw_only=True)
class RemoteMessage(RemoteEvent):
    """A new message. A message whose ``id`` is already bridged in this portal is
    dropped, so a network may safely report the same message twice (after a
    reconnect, from two logins in one shared chat)."""

    id: MessageID
    convert: Converter

    @classmethod
    def text(
        cls,
        portal: PortalKey,
        sender: EventSender,
        id: MessageID,
        body: str,
        html: str | None = None,
        *,
        msgtype: str = "m.text",
        reply_to: MessageID | None = None,
        thread_root: MessageID | None = None,
        timestamp_ms: int | None = None,
    ) -> RemoteMessage:
        """A plain or formatted text message, ready-made."""
        converted = ConvertedMessage.text(
            body, html, msgtype=msgtype, reply_to=reply_to, thread_root=thread_root
        )

        async def convert(_: MediaUploader) -> ConvertedMessage:
            return converted

        return cls(portal=portal, sender=sender, id=id, convert=convert, timestamp_ms=timestamp_ms)


@dataclass(slots=True, kw_only=True)
class RemoteEdit(RemoteEvent):
    """An edit of an earlier message. The converted parts replace the parts with the
    same ``part_id``; an edit of a message that was never bridged is ignored."""

    target: MessageID
    convert: Converter


@dataclass(slots=True, kw_only=True)
class RemoteReaction(RemoteEvent):
    """A reaction added. ``emoji`` is what Matrix shows (a unicode emoji or a
    shortcode); ``emoji_id`` identifies it for later removal (defaults to ``emoji``).

    A custom emoji also gives its ``image`` (whose ``id`` is the emoji's): the core
    uploads it once and reacts with the picture (the key is its ``mxc://``), with
    ``emoji`` as the shortcode for clients that show text. A Matrix user who reacts
    with that picture later arrives as a ``MatrixReaction`` with this ``emoji_id``."""

    target: MessageID
    emoji: str
    emoji_id: EmojiID | None = None
    image: Avatar | None = None


@dataclass(slots=True, kw_only=True)
class RemoteReactionRemove(RemoteEvent):
    """A reaction taken back by ``sender``."""

    target: MessageID
    emoji_id: EmojiID


@dataclass(slots=True, kw_only=True)
class RemoteMessageRemove(RemoteEvent):
    """A message deleted: every Matrix part of it is redacted."""

    target: MessageID


@dataclass(slots=True, kw_only=True)
class RemoteReadReceipt(RemoteEvent):
    """``sender`` has read the chat up to and including ``target``."""

    target: MessageID


@dataclass(slots=True, kw_only=True)
class RemoteTyping(RemoteEvent):
    """``sender`` is typing for ``timeout_s`` seconds; 0 means they stopped."""

    timeout_s: float = 5.0


@dataclass(slots=True, kw_only=True)
class RemoteChatInfoChange(RemoteEvent):
    """Part of the chat's info changed (fields left ``None`` are unchanged)."""

    info: ChatInfo


@dataclass(slots=True, kw_only=True)
class RemoteChatResync(RemoteEvent):
    """The chat should be re-read: the core calls ``get_chat_info`` (unless ``info`` is
    given) and brings the room up to date, creating it if ``create`` is set."""

    info: ChatInfo | None = None
    create: bool = True


@dataclass(slots=True, kw_only=True)
class RemoteChatDelete(RemoteEvent):
    """The chat is gone on the remote side: the portal room is cleaned up."""


@dataclass(slots=True, kw_only=True)
class RemoteBackfill(RemoteEvent):
    """Older messages found while catching up (after downtime). They are bridged in
    order, skipping any that are already bridged."""

    messages: list[RemoteMessage] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class RemotePinChange(RemoteEvent):
    """Messages pinned or unpinned in the chat; the room's pinned events
    (``m.room.pinned_events``) follow. Messages that were never bridged are skipped.
    With ``exact``, ``pinned`` is the chat's whole list (for networks that report pins
    as a list): bridged messages not in it are unpinned in the room."""

    pinned: list[MessageID] = field(default_factory=list)
    unpinned: list[MessageID] = field(default_factory=list)
    exact: bool = False


@dataclass(slots=True, kw_only=True)
class RemotePresence(RemoteEvent):
    """``sender``'s presence: ``online``, ``offline`` or ``unavailable``. Its portal is
    not used; any portal key of the login will do."""

    presence: str = "online"
    status_msg: str | None = None
