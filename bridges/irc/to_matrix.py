"""IRC → Matrix: what happens on IRC, reported to the core as remote events.

:func:`dispatch` takes every event of a connection, in order. Messages become
``RemoteMessage`` (mIRC formatting as HTML, nicks of room members as pills), a
finished channel join a ``RemoteChatResync`` that creates or refreshes the portal,
and joins, parts, quits, kicks, nick and mode changes partial member lists, so the
room's ghosts and power levels follow the channel.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from bridgekit.network import (
    BridgeStateEvent,
    ChatInfo,
    ChatMember,
    ChatMemberList,
    ConvertedMessage,
    ConvertedPart,
    EventSender,
    MediaUploader,
    Membership,
    MessageID,
    PortalKey,
    RemoteChatDelete,
    RemoteChatInfoChange,
    RemoteChatResync,
    RemoteMessage,
    RemotePresence,
    RemoteReaction,
    RemoteTyping,
    RoomType,
    UserInfo,
)

from . import ids
from .formatting import irc_to_matrix
from .protocol import (
    AwayEvent,
    ChannelSyncedEvent,
    ConnectedEvent,
    DisconnectedEvent,
    FatalErrorEvent,
    InviteEvent,
    IRCConnection,
    IRCEvent,
    JoinEvent,
    KickEvent,
    Member,
    MessageEvent,
    ModeEvent,
    NickEvent,
    PartEvent,
    QuitEvent,
    ReplyEvent,
    TagMessageEvent,
    TopicEvent,
)

if TYPE_CHECKING:
    from .client import IRCClient

log = logging.getLogger("bridgekit.irc.to_matrix")

_MSGTYPES = {"privmsg": "m.text", "notice": "m.notice", "action": "m.emote"}
# Numerics that refuse a JOIN: no such channel, too many channels, full, invite-only,
# banned, bad key, needs a registered nick, bad name, TLS only.
JOIN_REFUSED = frozenset({"403", "405", "471", "473", "474", "475", "477", "479", "489"})
# Numerics that refuse a nick: none given, erroneous, in use, collision, unavailable.
NICK_REFUSED = frozenset({"431", "432", "433", "436", "437"})
_NICK_WORD_RE = re.compile(r"[A-Za-z\[\]\\`^{}|_][A-Za-z0-9\[\]\\`^{}|_-]*")
_HTML_TOKEN_RE = re.compile(r"(<[^>]*>|&[#0-9A-Za-z]+;)")
# Shorter nicks are too often ordinary words ("me", "so") to turn into pills.
_MIN_PILL_NICK = 3

Handler = Callable[["IRCClient", IRCConnection, Any], Awaitable[None]]


async def dispatch(client: IRCClient, conn: IRCConnection, event: IRCEvent) -> None:
    """Handle one event of ``client``'s connection ``conn``."""
    if client.outbox.offer(event, conn.nick):
        return
    if not client.connector.shared.bridges(client, conn, event):
        return
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        await handler(client, conn, event)


# People and chats


def user_info(nick: str) -> UserInfo:
    """The ghost profile of an IRC user."""
    return UserInfo(name=nick, identifiers=[f"irc:{nick}"])


def member(
    client: IRCClient,
    conn: IRCConnection,
    nick: str,
    prefixes: str = "",
    membership: Membership = Membership.JOIN,
) -> ChatMember:
    """A channel member, with the power level of its status ``prefixes``."""
    level = client.settings.level_of(prefixes) if membership == Membership.JOIN else None
    if conn.casefold(nick) == conn.casefold(conn.nick):
        return ChatMember(is_from_me=True, membership=membership, power_level=level)
    return ChatMember(
        user_id=client.user_id(nick),
        membership=membership,
        power_level=level,
        user_info=user_info(nick),
    )


def channel_info(
    client: IRCClient,
    conn: IRCConnection,
    channel: str,
    members: Iterable[Member],
    topic: str | None,
) -> ChatInfo:
    """A channel as a portal: its name, topic and members (a full list only when we
    know the members, i.e. we are in the channel). In operator mode the bridge's own
    connections are left out (their users are in the room themselves) and the room is
    public under the channel's alias."""
    shared = client.connector.shared
    # In operator mode only the relay sees the channel for everyone; another
    # connection tells only its own status, if it has one.
    whole = not client.is_shared or shared.is_relay(client)
    listed = [
        member(client, conn, m.nick, m.prefixes)
        for m in members
        if shared.reports(client, conn, m.nick) and (whole or m.prefixes)
    ]
    return ChatInfo(
        name=channel,
        topic=topic,
        members=ChatMemberList(listed, is_full=bool(listed) and whole),
        type=RoomType.GROUP,
        alias=f"{client.network_id}_{conn.casefold(channel)}" if client.is_shared else None,
    )


def query_info(client: IRCClient, nick: str) -> ChatInfo:
    """A private chat with ``nick`` as a portal: a DM with its ghost."""
    members = [
        ChatMember(user_id=client.user_id(nick), user_info=user_info(nick)),
        ChatMember(is_from_me=True),
    ]
    return ChatInfo(members=ChatMemberList(members, is_full=True), type=RoomType.DM)


def prefixes_of(conn: IRCConnection, channel: str, nick: str) -> str:
    """The status symbols ``nick`` holds in ``channel`` (``""`` for none)."""
    folded = conn.casefold(nick)
    for each in conn.members(channel):
        if conn.casefold(each.nick) == folded:
            return each.prefixes
    return ""


async def _members(
    client: IRCClient, conn: IRCConnection, channel: str, members: list[ChatMember]
) -> None:
    members = [m for m in members if m.user_id is None or not _own(client, conn, m.user_id)]
    if not members:
        return
    info = ChatInfo(members=ChatMemberList(members, is_full=False))
    await client.login.queue_remote_event(
        RemoteChatInfoChange(portal=client.portal_key(channel), info=info)
    )


def _own(client: IRCClient, conn: IRCConnection, user_id: str) -> bool:
    """Whether a remote user is one of the bridge's own connections (operator mode)."""
    folded = ids.nick_of(client.network_id, user_id)
    return folded is not None and client.connector.shared.is_own_nick(client, conn, folded)


# Messages


def mention_targets(
    client: IRCClient, conn: IRCConnection, portal: PortalKey
) -> dict[str, tuple[str, str]]:
    """Who can be mentioned in ``portal``: folded nick → (nick, Matrix ID). The user's
    own nick maps to their Matrix account; other members to their ghosts."""
    targets = {conn.casefold(conn.nick): (conn.nick, client.login.user_mxid)}
    ghost_mxid = client.connector.bridge.ghost_mxid
    folded = ids.target_of(client.network_id, portal)
    if folded is None:
        return targets
    if conn.is_channel(folded):
        nicks = [m.nick for m in conn.members(folded)]
    else:
        nicks = [client.nick_for(folded)]
    shared = client.connector.shared
    for nick in nicks:
        key = conn.casefold(nick)
        if key not in targets:
            # A nick of the bridge's own (operator mode) is a Matrix user's.
            owner = shared.owner_of(client.network_id, conn, nick) if client.is_shared else None
            targets[key] = (nick, owner or ghost_mxid(client.user_id(nick)))
    return targets


def add_pills(
    body: str,
    formatted: str | None,
    targets: dict[str, tuple[str, str]],
    casefold: Callable[[str], str],
) -> tuple[str | None, list[str]]:
    """HTML with the nicks of ``targets`` as Matrix pills, and the Matrix IDs
    mentioned; ``(formatted, [])`` when nobody is mentioned."""
    mentioned: dict[str, None] = {}

    def pill(match: re.Match[str]) -> str:
        word = match.group(0)
        found = targets.get(casefold(word)) if len(word) >= _MIN_PILL_NICK else None
        if found is None:
            return word
        mentioned[found[1]] = None
        href = html.escape(f"https://matrix.to/#/{found[1]}", quote=True)
        return f'<a href="{href}">{word}</a>'

    source = formatted if formatted is not None else html.escape(body, quote=False)
    pieces = _HTML_TOKEN_RE.split(source)
    for index in range(0, len(pieces), 2):
        pieces[index] = _NICK_WORD_RE.sub(pill, pieces[index])
    if not mentioned:
        return formatted, []
    return "".join(pieces), list(mentioned)


def message(client: IRCClient, conn: IRCConnection, event: MessageEvent) -> RemoteMessage:
    """An IRC message as a remote message of its channel's or private chat's portal."""
    portal = client.portal_key(event.conversation)
    text = irc_to_matrix(event.text)
    targets = mention_targets(client, conn, portal)
    formatted, mentioned = add_pills(text.body, text.html, targets, conn.casefold)
    content: dict[str, Any] = {"msgtype": _MSGTYPES[event.kind], "body": text.body}
    if formatted is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted
    if mentioned:
        content["m.mentions"] = {"user_ids": mentioned}
    nick = event.source.nick
    converted = ConvertedMessage(
        [ConvertedPart(content, metadata={"nick": nick})],
        reply_to=MessageID(event.reply_to) if event.reply_to else None,
    )

    async def convert(_: MediaUploader) -> ConvertedMessage:
        return converted

    return RemoteMessage(
        portal=portal,
        sender=EventSender(
            client.user_id(nick), is_from_me=event.is_echo, user_info=user_info(nick)
        ),
        id=MessageID(event.msgid) if event.msgid else ids.local_message_id(),
        convert=convert,
        timestamp_ms=int(event.time.timestamp() * 1000),
    )


# Event handlers


async def _connected(client: IRCClient, conn: IRCConnection, event: ConnectedEvent) -> None:
    await client.backfill.registered(conn, event.time)
    await client.login.set_state(BridgeStateEvent.CONNECTED)


async def _disconnected(client: IRCClient, conn: IRCConnection, event: DisconnectedEvent) -> None:
    client.backfill.lost(event.time)
    client.outbox.release_waiters()
    client.settle_all()
    if event.retry_in is not None:
        await client.login.set_state(
            BridgeStateEvent.TRANSIENT_DISCONNECT,
            f"{event.reason}; reconnecting in {event.retry_in:.0f} s",
        )


async def _fatal(client: IRCClient, conn: IRCConnection, event: FatalErrorEvent) -> None:
    await client.on_fatal(event)


async def _message(client: IRCClient, conn: IRCConnection, event: MessageEvent) -> None:
    if event.source.is_server or not event.conversation or event.conversation == "*":
        return
    client.nicks[conn.casefold(event.source.nick)] = event.source.nick
    if not event.is_channel and not event.is_echo:
        client.nicks[conn.casefold(event.conversation)] = event.conversation
    remote = message(client, conn, event)
    client.backfill.track(remote)
    await client.login.queue_remote_event(remote)
    client.backfill.saw(event.time)
    await client.backfill.save()


#: How long a ``+typing=active`` lasts without a refresh (the spec's 6 s, with slack).
TYPING_TIMEOUT_S = 7.0
#: Reactions longer than this are not emoji: they are dropped, not bridged as text.
MAX_REACTION_LENGTH = 64


async def _tag_message(client: IRCClient, conn: IRCConnection, event: TagMessageEvent) -> None:
    """Client-tag-only messages: ``+typing`` and ``+draft/react`` (on ``+draft/reply``)."""
    if event.is_echo or event.source.is_server or not event.conversation:
        return
    nick = event.source.nick
    portal = client.portal_key(event.conversation)
    sender = EventSender(client.user_id(nick), user_info=user_info(nick))
    typing = event.tags.get("+typing")
    if typing is not None:
        timeout = TYPING_TIMEOUT_S if typing == "active" else 0.0
        await client.login.queue_remote_event(
            RemoteTyping(portal=portal, sender=sender, timeout_s=timeout)
        )
    reaction = event.tags.get("+draft/react")
    target = event.tags.get("+draft/reply") or event.tags.get("+reply")
    if reaction and target and len(reaction) <= MAX_REACTION_LENGTH:
        await client.login.queue_remote_event(
            RemoteReaction(
                portal=portal,
                sender=sender,
                target=MessageID(target),
                emoji=reaction,
                timestamp_ms=int(event.time.timestamp() * 1000),
            )
        )


async def _away(client: IRCClient, conn: IRCConnection, event: AwayEvent) -> None:
    """away-notify: a nick going away (with its reason) or coming back is its ghost's
    presence, ``unavailable`` with the reason as status or ``online``."""
    nick = event.source.nick
    folded = conn.casefold(nick)
    if event.source.is_server or folded == conn.casefold(conn.nick):
        return
    # Any portal of the login will do; a shared channel's exists already.
    shared = next(
        (
            name
            for name, _ in conn.channels
            if any(conn.casefold(m.nick) == folded for m in conn.members(name))
        ),
        None,
    )
    if shared is None:
        return
    await client.login.queue_remote_event(
        RemotePresence(
            portal=client.portal_key(shared),
            sender=EventSender(client.user_id(nick), user_info=user_info(nick)),
            presence="unavailable" if event.message else "online",
            status_msg=event.message or None,
        )
    )


async def _synced(client: IRCClient, conn: IRCConnection, event: ChannelSyncedEvent) -> None:
    topic = event.topic or ""
    client.topics[conn.casefold(event.channel)] = topic
    client.settle(client.join_key(event.channel), event)
    info = channel_info(client, conn, event.channel, event.members, topic)
    shared = client.connector.shared
    # A shared channel's room is opened by its alias, a user's join or `bridge`: the
    # relay joining (say, to ask for consent) creates none.
    create = not (client.is_shared and shared.is_relay(client))
    await client.login.queue_remote_event(
        RemoteChatResync(portal=client.portal_key(event.channel), info=info, create=create)
    )
    if client.is_shared and not shared.is_relay(client):
        # The relay bridges (and catches up) the channel for everyone.
        await shared.joined_by_user(client, event.channel)
        return
    await client.backfill.channel_joined(conn, event.channel)


async def _join(client: IRCClient, conn: IRCConnection, event: JoinEvent) -> None:
    if event.is_self:
        log.info("Login %s joined %s", client.login.id, event.channel)
        await client.remember_channels(conn)
        return
    nick = event.source.nick
    client.nicks[conn.casefold(nick)] = nick
    prefixes = prefixes_of(conn, event.channel, nick)
    await _members(client, conn, event.channel, [member(client, conn, nick, prefixes)])


async def _part(client: IRCClient, conn: IRCConnection, event: PartEvent) -> None:
    if event.is_self:
        log.info("Login %s left %s", client.login.id, event.channel)
        await client.remember_channels(conn)
        portal = client.portal_key(event.channel)
        if portal.receiver is not None:  # a shared channel's room stays for the others
            await client.login.queue_remote_event(RemoteChatDelete(portal=portal))
        return
    left = member(client, conn, event.source.nick, membership=Membership.LEAVE)
    await _members(client, conn, event.channel, [left])


async def _kick(client: IRCClient, conn: IRCConnection, event: KickEvent) -> None:
    if not event.is_self:
        left = member(client, conn, event.nick, membership=Membership.LEAVE)
        await _members(client, conn, event.channel, [left])
        return
    log.info("Login %s was kicked from %s by %s", client.login.id, event.channel, event.source.nick)
    await client.remember_channels(conn)
    reason = f": {event.reason}" if event.reason else ""
    text = (
        f"{event.source.nick} kicked you from {event.channel}{reason}. "
        f"Send `join {event.channel}` to the bridge bot to join again."
    )
    portal = client.portal_key(event.channel)
    if portal.receiver is None:  # a shared channel: tell only the one kicked
        if client.connector.shared.is_relay(client):
            await client.connector.bridge.send_notice(
                portal,
                f"{event.source.nick} kicked the bridge from {event.channel}{reason}: "
                "nothing is bridged until an operator lets it join again.",
            )
        else:
            await client.login.notify_user(text)
        return
    await client.login.queue_remote_event(
        RemoteMessage.text(
            client.portal_key(event.channel),
            EventSender(client.user_id(event.source.nick), user_info=user_info(event.source.nick)),
            ids.local_message_id(),
            text,
            msgtype="m.notice",
        )
    )


async def _quit(client: IRCClient, conn: IRCConnection, event: QuitEvent) -> None:
    for channel in event.channels:
        left = member(client, conn, event.source.nick, membership=Membership.LEAVE)
        await _members(client, conn, channel, [left])


async def _nick(client: IRCClient, conn: IRCConnection, event: NickEvent) -> None:
    if event.is_self:
        log.info("Login %s is now known as %s", client.login.id, event.new_nick)
        await client.remember_nick(event.new_nick)
        client.settle(client.NICK_OUTCOME, event)
        return
    client.nicks[conn.casefold(event.new_nick)] = event.new_nick
    # A ghost stands for a nick: the old one leaves, the new one joins with its status.
    for channel in event.channels:
        old = member(client, conn, event.source.nick, membership=Membership.LEAVE)
        new = member(client, conn, event.new_nick, prefixes_of(conn, channel, event.new_nick))
        await _members(client, conn, channel, [old, new])


async def _mode(client: IRCClient, conn: IRCConnection, event: ModeEvent) -> None:
    if not event.is_channel:
        return
    shared = client.connector.shared
    nicks = {
        c.param: None
        for c in event.changes
        if c.kind == "prefix" and c.param and shared.reports(client, conn, c.param)
    }
    if nicks:
        changed = [
            member(client, conn, nick, prefixes_of(conn, event.target, nick)) for nick in nicks
        ]
        await _members(client, conn, event.target, changed)


async def _topic(client: IRCClient, conn: IRCConnection, event: TopicEvent) -> None:
    if event.initial:
        return
    client.topics[conn.casefold(event.channel)] = event.topic
    setter = event.setter.split("!", 1)[0] if event.setter else None
    if setter and client.connector.shared.is_own_nick(client, conn, setter):
        setter = None  # set from Matrix: the room has it already
    sender = EventSender(client.user_id(setter)) if setter else EventSender()
    await client.login.queue_remote_event(
        RemoteChatInfoChange(
            portal=client.portal_key(event.channel), sender=sender, info=ChatInfo(topic=event.topic)
        )
    )


async def _invite(client: IRCClient, conn: IRCConnection, event: InviteEvent) -> None:
    if event.is_self:
        await client.login.notify_user(
            f"{event.source.nick} invited you to {event.channel} on {client.network_name}. "
            f"Send `join {event.channel}` to join it."
        )


async def _reply(client: IRCClient, conn: IRCConnection, event: ReplyEvent) -> None:
    if event.code in JOIN_REFUSED and event.params:
        if client.settle(client.join_key(event.params[0]), event):
            return
    if event.code in NICK_REFUSED and client.settle(client.NICK_OUTCOME, event):
        return
    if event.is_error:
        context = " ".join(event.params[:-1])
        about = f" ({context})" if context else ""
        await client.login.notify_user(f"{client.network_name}{about}: {event.message}")


_HANDLERS: dict[type[IRCEvent], Handler] = {
    ConnectedEvent: _connected,
    DisconnectedEvent: _disconnected,
    FatalErrorEvent: _fatal,
    MessageEvent: _message,
    TagMessageEvent: _tag_message,
    AwayEvent: _away,
    ChannelSyncedEvent: _synced,
    JoinEvent: _join,
    PartEvent: _part,
    KickEvent: _kick,
    QuitEvent: _quit,
    NickEvent: _nick,
    ModeEvent: _mode,
    TopicEvent: _topic,
    InviteEvent: _invite,
    ReplyEvent: _reply,
}
