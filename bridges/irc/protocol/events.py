"""What an :class:`~bridges.irc.protocol.connection.IRCConnection` reports upward.

Every event is a small frozen dataclass: the consumer never sees an irctokens ``Line``.
Fields shared by everything that arrived on the wire (tags, server time, msgid, label,
batch) live on :class:`IRCEvent`; connection lifecycle events derive from it too so one
``match`` statement can handle the whole stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal


@dataclass(frozen=True, slots=True)
class Source:
    """Who sent a line: a user (``nick!user@host``) or a server (only ``nick`` is set).

    ``account`` comes from the account-tag (or extended-join) and is ``None`` when the
    sender is not logged in or the server does not say.
    """

    nick: str
    user: str | None = None
    host: str | None = None
    account: str | None = None
    is_server: bool = False

    @property
    def hostmask(self) -> str:
        """The source as ``nick!user@host``, omitting the parts that are unknown."""
        mask = self.nick
        if self.user is not None:
            mask += f"!{self.user}"
        if self.host is not None:
            mask += f"@{self.host}"
        return mask


@dataclass(frozen=True, slots=True, kw_only=True)
class IRCEvent:
    """Base of every event.

    ``time`` is the server-time tag when the server sent one, else the moment the line was
    read (always timezone-aware UTC). ``batch`` is the reference of the batch the line
    belongs to, ``label`` the labeled-response label of the command that caused it.
    """

    time: datetime
    tags: Mapping[str, str] = field(default_factory=dict)
    msgid: str | None = None
    label: str | None = None
    batch: str | None = None


MessageKind = Literal["privmsg", "notice", "action"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEvent(IRCEvent):
    """A PRIVMSG, NOTICE or CTCP ACTION.

    ``target`` is the raw target (a channel, possibly with a STATUSMSG prefix like ``@#c``,
    or our nick). ``conversation`` is where a reply belongs: the channel for channel
    messages, the other party's nick for private messages (also for our own echoed private
    messages). ``is_echo`` is true when we sent it (echo-message or chathistory).
    ``reply_to`` is the msgid of the ``+draft/reply`` tag.
    """

    source: Source
    target: str
    conversation: str
    text: str
    kind: MessageKind = "privmsg"
    is_channel: bool = False
    is_echo: bool = False
    reply_to: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CTCPEvent(IRCEvent):
    """A CTCP query or reply other than ACTION (``VERSION``, ``PING``, ...)."""

    source: Source
    target: str
    command: str
    argument: str
    is_reply: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TagMessageEvent(IRCEvent):
    """A TAGMSG (typing notifications, reactions): only ``tags`` carry the meaning."""

    source: Source
    target: str
    conversation: str
    is_channel: bool = False
    is_echo: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinEvent(IRCEvent):
    """Someone (``is_self``: we) joined ``channel``; ``realname`` is set with extended-join."""

    source: Source
    channel: str
    is_self: bool = False
    realname: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartEvent(IRCEvent):
    """Someone left ``channel``."""

    source: Source
    channel: str
    reason: str | None = None
    is_self: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class KickEvent(IRCEvent):
    """``source`` kicked ``nick`` from ``channel``; ``is_self`` means we were kicked."""

    source: Source
    channel: str
    nick: str
    reason: str | None = None
    is_self: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class QuitEvent(IRCEvent):
    """Someone quit; ``channels`` are the channels we shared with them."""

    source: Source
    reason: str | None = None
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NickEvent(IRCEvent):
    """``source.nick`` is now ``new_nick``; ``channels`` are the channels we share."""

    source: Source
    new_nick: str
    is_self: bool = False
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModeChange:
    """One mode letter being set or unset.

    ``kind`` tells how to read it: ``prefix`` (a member status such as op or voice;
    ``param`` is the nick and ``prefix`` the symbol such as ``@``), ``list`` (ban and
    friends; ``param`` is the mask), ``param`` (key, limit) or ``flag``.
    """

    adding: bool
    char: str
    param: str | None = None
    kind: Literal["prefix", "list", "param", "flag"] = "flag"
    prefix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeEvent(IRCEvent):
    """Modes changed on a channel or on a user (``is_channel`` false: our user modes)."""

    source: Source
    target: str
    changes: tuple[ModeChange, ...]
    is_channel: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicEvent(IRCEvent):
    """The topic of ``channel`` changed (empty string: unset) or was first learned.

    ``setter`` is who set it (a nick or hostmask, or ``None`` if unknown) and ``initial``
    is true when the topic was sent because we joined rather than because it changed.
    """

    channel: str
    topic: str
    setter: str | None = None
    initial: bool = False


@dataclass(frozen=True, slots=True)
class Member:
    """A channel member with the status prefix symbols it holds (``@``, ``+``, ...)."""

    nick: str
    prefixes: str = ""
    user: str | None = None
    host: str | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSyncedEvent(IRCEvent):
    """We joined ``channel`` and the server finished sending its member list.

    ``prefix_order`` lists the server's status symbols from highest to lowest (``~&@%+``).
    """

    channel: str
    members: tuple[Member, ...]
    topic: str | None = None
    topic_setter: str | None = None
    prefix_order: str = "@+"


@dataclass(frozen=True, slots=True, kw_only=True)
class AwayEvent(IRCEvent):
    """away-notify: ``message`` is the away reason, ``None`` when back."""

    source: Source
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChghostEvent(IRCEvent):
    """chghost: ``source`` now has the username ``new_user`` and host ``new_host``."""

    source: Source
    new_user: str
    new_host: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountEvent(IRCEvent):
    """account-notify: ``source`` logged in as ``account`` (``None``: logged out)."""

    source: Source
    account: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetnameEvent(IRCEvent):
    """setname: ``source`` changed its realname."""

    source: Source
    realname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InviteEvent(IRCEvent):
    """``source`` invited ``nick`` to ``channel`` (``is_self``: we were invited)."""

    source: Source
    nick: str
    channel: str
    is_self: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchStartEvent(IRCEvent):
    """A server batch opened (netsplit, netjoin, ...); lines inside carry ``batch``."""

    reference: str
    type: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchEndEvent(IRCEvent):
    """The batch ``reference`` (of ``type``) closed."""

    reference: str
    type: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyEvent(IRCEvent):
    """A numeric reply that no other event covers (WHOIS lines, errors such as 404).

    ``params`` excludes our own nick (the first parameter of every numeric);
    ``is_error`` is true for 4xx and 5xx numerics.
    """

    code: str
    params: tuple[str, ...]
    is_error: bool = False

    @property
    def message(self) -> str:
        """The human-readable last parameter (empty if there is none)."""
        return self.params[-1] if self.params else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatHistoryTargetEvent(IRCEvent):
    """One line of a ``CHATHISTORY TARGETS`` answer: ``target`` (a channel or a nick)
    had messages, the newest at ``latest`` (``None`` if the server's time was
    unreadable)."""

    target: str
    latest: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StandardReplyEvent(IRCEvent):
    """An IRCv3 standard reply: ``FAIL``, ``WARN`` or ``NOTE``."""

    severity: Literal["FAIL", "WARN", "NOTE"]
    command: str
    code: str
    context: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectedEvent(IRCEvent):
    """Registration finished (also after every reconnect).

    ``caps`` are the capabilities the server agreed to, ``network`` the ISUPPORT NETWORK
    name if sent, ``server`` the ``host:port`` we are connected to.
    """

    nick: str
    server: str
    caps: frozenset[str]
    network: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DisconnectedEvent(IRCEvent):
    """The connection dropped. ``retry_in`` is the delay before the next attempt, or
    ``None`` when we will not reconnect (``stop()`` was called)."""

    reason: str
    retry_in: float | None = None


class FatalReason(Enum):
    """Why the connection gave up for good."""

    BANNED = "banned"
    BAD_PASSWORD = "bad_password"
    SASL_FAILED = "sasl_failed"
    SASL_UNAVAILABLE = "sasl_unavailable"
    NICK_UNAVAILABLE = "nick_unavailable"
    TLS_ERROR = "tls_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class FatalErrorEvent(IRCEvent):
    """The connection stopped and will not retry: retrying cannot help until the user
    changes something (``reason``), ``message`` is the server's words or ours."""

    reason: FatalReason
    message: str
