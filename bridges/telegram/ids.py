"""How Telegram things are named in bridgekit's IDs.

- A user is their numeric ID (``"7000000001"``); their ghost is ``@telegram_<id>``.
  A broadcast channel that posts as itself is its marked ID (``"-1001900000001"``).
- A login is its account's user ID, so a message sent from Matrix is stored with the
  same sender ID the account's messages have when they come from Telegram.
- Portals are ``user:<id>`` (a private chat), ``chat:<id>`` (a basic group) and
  ``channel:<id>`` (a supergroup or broadcast channel). Telegram numbers the messages
  of private chats and basic groups per account, so those portals belong to one
  login (``receiver``); channels number their messages themselves and are shared by
  every login in them. A forum is a space (``channel:<id>``), and each of its topics
  is a portal in it, ``channel:<id>:<topic id>`` (the ID of the message that opened
  the topic; the "General" topic is 1, and its messages carry no topic).
- A message is its Telegram ID, unique within its portal for that reason (``s<id>``
  for a supergroup that took over an upgraded basic group's portal, see ``migration``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from telethon.tl import types

from bridgekit.network import LoginID, MessageID, PortalID, PortalKey, RemoteUserID

ChatKind = Literal["user", "chat", "channel"]

GENERAL_TOPIC = 1
"""The ID of a forum's "General" topic, whose messages say no topic."""


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A Telegram chat: its kind and its (unmarked) ID, and for a forum topic the
    topic's ID."""

    kind: ChatKind
    id: int
    topic: int | None = None

    @classmethod
    def from_peer(cls, peer: Any) -> ChatRef:
        """The chat of a Telethon ``Peer*`` / ``InputPeer*``."""
        if isinstance(peer, types.PeerUser | types.InputPeerUser):
            return cls("user", peer.user_id)
        if isinstance(peer, types.PeerChat | types.InputPeerChat):
            return cls("chat", peer.chat_id)
        if isinstance(peer, types.PeerChannel | types.InputPeerChannel):
            return cls("channel", peer.channel_id)
        raise ValueError(f"not a chat peer: {type(peer).__name__}")

    @classmethod
    def from_portal_id(cls, portal_id: str) -> ChatRef:
        """Parse a portal ID made by ``portal_id``; ``ValueError`` if it is not one."""
        kind, _, rest = portal_id.partition(":")
        number, _, topic = rest.partition(":")
        valid_topic = not topic or (kind == "channel" and topic.isdigit())
        if kind not in ("user", "chat", "channel") or not number.isdigit() or not valid_topic:
            raise ValueError(f"not a Telegram portal ID: {portal_id!r}")
        return cls(kind, int(number), int(topic) if topic else None)  # type: ignore[arg-type]

    @classmethod
    def of_message(cls, message: Any) -> ChatRef:
        """The chat of a Telethon message, with the forum topic it was posted in."""
        chat = cls.from_peer(message.peer_id)
        header = message.reply_to
        if chat.kind == "channel" and isinstance(header, types.MessageReplyHeader):
            if header.forum_topic:
                topic = header.reply_to_top_id or header.reply_to_msg_id
                return cls("channel", chat.id, topic)
        return chat

    @property
    def reply_to_topic(self) -> int | None:
        """The message to reply to for a new message to land in this topic (``None`` in
        the "General" topic and outside forums)."""
        return self.topic if self.topic != GENERAL_TOPIC else None

    def in_topic(self, topic: int | None) -> ChatRef:
        """This chat's forum topic ``topic`` (``None``: the chat itself)."""
        return ChatRef(self.kind, self.id, topic)

    @property
    def forum(self) -> ChatRef:
        """The chat without its topic (the forum of a topic)."""
        return ChatRef(self.kind, self.id)

    @property
    def peer(self) -> Any:
        """The Telethon ``Peer*`` of this chat (for ``get_input_entity``)."""
        if self.kind == "user":
            return types.PeerUser(self.id)
        if self.kind == "chat":
            return types.PeerChat(self.id)
        return types.PeerChannel(self.id)

    @property
    def is_shared(self) -> bool:
        """Whether the chat numbers its own messages (one portal for all logins)."""
        return self.kind == "channel"

    def portal_id(self) -> PortalID:
        """``user:<id>``, ``chat:<id>``, ``channel:<id>`` or ``channel:<id>:<topic>``."""
        if self.topic is not None:
            return PortalID(f"{self.kind}:{self.id}:{self.topic}")
        return PortalID(f"{self.kind}:{self.id}")

    def portal_key(self, login_id: LoginID) -> PortalKey:
        """The portal of this chat as seen by ``login_id``."""
        return PortalKey(self.portal_id(), None if self.is_shared else login_id)


def user_id(telegram_id: int) -> RemoteUserID:
    """The remote user ID of a Telegram user (or of a channel posting as itself, whose
    marked ID is negative)."""
    return RemoteUserID(str(telegram_id))


def login_id(telegram_id: int) -> LoginID:
    """The login ID of a Telegram account (its user ID)."""
    return LoginID(str(telegram_id))


def message_id(telegram_id: int, *, migrated: bool = False) -> MessageID:
    """The bridged message ID of a Telegram message (``s<id>`` for a message of an
    upgraded group's supergroup, which lives in the group's portal)."""
    return MessageID(f"s{telegram_id}" if migrated else str(telegram_id))


def telegram_message_id(message: MessageID | str) -> int:
    """The Telegram ID of a bridged message."""
    return int(str(message).removeprefix("s"))
