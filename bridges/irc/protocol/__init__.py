"""An asyncio IRC client for the IRC bridge, independent of Matrix and bridgekit's core.

irctokens does the line format (tokenizing, tag escaping) and ircstates the session state
(channels, users, ISUPPORT, casemapping); this package adds what they leave out: the
connection lifecycle, IRCv3 capability negotiation, SASL, flood control, line splitting,
chathistory and the guarantee that no CR, LF or NUL is ever written raw.

Typical use::

    conn = IRCConnection(ConnectionConfig(servers=(ServerAddress("irc.libera.chat"),),
                                          nick="alice"))
    conn.start()
    async for event in conn.events():
        ...
"""

from __future__ import annotations

from .chathistory import by_msgid, by_time
from .config import (
    WANTED_CAPS,
    ClientCertificate,
    ConnectionConfig,
    ReconnectPolicy,
    SaslCredentials,
    ServerAddress,
)
from .connection import IRCConnection
from .errors import ChatHistoryError, FatalConnectionError, IRCError, NotConnectedError
from .events import (
    AccountEvent,
    AwayEvent,
    BatchEndEvent,
    BatchStartEvent,
    ChannelSyncedEvent,
    ChatHistoryTargetEvent,
    ChghostEvent,
    ConnectedEvent,
    CTCPEvent,
    DisconnectedEvent,
    FatalErrorEvent,
    FatalReason,
    InviteEvent,
    IRCEvent,
    JoinEvent,
    KickEvent,
    Member,
    MessageEvent,
    MessageKind,
    ModeChange,
    ModeEvent,
    NickEvent,
    PartEvent,
    QuitEvent,
    ReplyEvent,
    SetnameEvent,
    Source,
    StandardReplyEvent,
    TagMessageEvent,
    TopicEvent,
)
from .messaging import SentMessage
from .safety import UnsafeLineError, encode_line
from .sendqueue import FloodControl, SendQueue
from .split import relay_prefix_length, split_text, text_budget

__all__ = [
    "WANTED_CAPS",
    "AccountEvent",
    "AwayEvent",
    "BatchEndEvent",
    "BatchStartEvent",
    "CTCPEvent",
    "ChannelSyncedEvent",
    "ChatHistoryError",
    "ChatHistoryTargetEvent",
    "ChghostEvent",
    "ClientCertificate",
    "ConnectedEvent",
    "ConnectionConfig",
    "DisconnectedEvent",
    "FatalConnectionError",
    "FatalErrorEvent",
    "FatalReason",
    "FloodControl",
    "IRCConnection",
    "IRCError",
    "IRCEvent",
    "InviteEvent",
    "JoinEvent",
    "KickEvent",
    "Member",
    "MessageEvent",
    "MessageKind",
    "ModeChange",
    "ModeEvent",
    "NickEvent",
    "NotConnectedError",
    "PartEvent",
    "QuitEvent",
    "ReconnectPolicy",
    "ReplyEvent",
    "SaslCredentials",
    "SendQueue",
    "SentMessage",
    "ServerAddress",
    "SetnameEvent",
    "Source",
    "StandardReplyEvent",
    "TagMessageEvent",
    "TopicEvent",
    "UnsafeLineError",
    "by_msgid",
    "by_time",
    "encode_line",
    "relay_prefix_length",
    "split_text",
    "text_budget",
]
