"""One Matrix user's connection to one IRC network (bouncer mode).

The client owns an :class:`~bridges.irc.protocol.IRCConnection`, feeds its events to
:mod:`to_matrix` in a background task, and carries Matrix events to IRC (rendered by
:mod:`from_matrix`). Every channel and every private chat of the connection is a
portal received by this login, so each user gets rooms of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bridgekit.network import (
    BackfillingNetwork,
    BridgeError,
    BridgeStateEvent,
    ChatInfo,
    EditHandling,
    EmojiID,
    FetchResult,
    IdentifierResolving,
    LoginHandle,
    MatrixEdit,
    MatrixMembership,
    MatrixMessage,
    MatrixMessageResponse,
    MatrixPowerLevels,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixRoomMeta,
    MatrixTyping,
    MediaTooLarge,
    MembershipHandling,
    MessageID,
    MessageRecord,
    NetworkClient,
    PortalKey,
    ReactionHandling,
    RelayInfo,
    RemoteChatResync,
    RemoteUserID,
    ResolvedIdentifier,
    RoomCapabilities,
    RoomMetaHandling,
    TypingHandling,
    UserInfo,
)

from . import from_matrix, ids, room_changes, to_matrix
from .backfill import Backfill
from .protocol import (
    FatalErrorEvent,
    FatalReason,
    IRCConnection,
    IRCEvent,
    MessageEvent,
    MessageKind,
    ReplyEvent,
)
from .requests import Requests
from .settings import NetworkSettings
from .tracking import Outbox, wait_answer

if TYPE_CHECKING:
    from .connector import IRCConnector

log = logging.getLogger("bridgekit.irc.client")

# How long a Matrix message waits for its echo (and msgid) before it is recorded
# under a local ID. Long enough for flood control to let a few queued lines out.
_ECHO_TIMEOUT = 30.0
_STOP_GRACE = 2.0
_ACTION_OVERHEAD = len("\x01ACTION \x01")

#: The login metadata key set while the user wants no connection (``disconnect``).
PARKED_KEY = "disconnected"
_PARKED_TEXT = "Disconnected on request: send `reconnect` to connect again."

_CREDENTIAL_FAILURES = {
    FatalReason.BAD_PASSWORD,
    FatalReason.SASL_FAILED,
    FatalReason.SASL_UNAVAILABLE,
}


def fatal_message(event: FatalErrorEvent, network: str) -> str:
    """What to tell a user whose connection gave up, and what they can do."""
    reason = event.reason
    if reason in (FatalReason.BAD_PASSWORD, FatalReason.SASL_FAILED):
        return (
            f"{network} refused your login ({event.message}). Check your account and "
            "password: send `logout`, then `login` with the right ones."
        )
    if reason == FatalReason.SASL_UNAVAILABLE:
        return (
            f"{network} cannot log you in with SASL ({event.message}). Send `logout`, then "
            "`login` without a password."
        )
    if reason == FatalReason.BANNED:
        return (
            f"{network} refused the connection ({event.message}); you may be banned. "
            "Send `reconnect` to try again."
        )
    if reason == FatalReason.NICK_UNAVAILABLE:
        return (
            f"{network} accepted none of the nicks tried ({event.message}). Send `logout`, "
            "then `login` with another nick."
        )
    return f"The connection to {network} failed for good ({event.message}). Send `reconnect`."


class IRCClient(
    NetworkClient,
    EditHandling,
    RoomMetaHandling,
    MembershipHandling,
    IdentifierResolving,
    BackfillingNetwork,
    TypingHandling,
    ReactionHandling,
    Requests,
):
    """The network client of one IRC login.

    ``conn`` is the live connection (``None`` until :meth:`connect`, or when the login's
    network is no longer configured); a connection handed over by the login process
    is used as it is, so the user is not connected twice.
    """

    def __init__(
        self,
        login: LoginHandle,
        connector: IRCConnector,
        network: NetworkSettings | None,
        conn: IRCConnection | None = None,
    ) -> None:
        super().__init__(login)
        self.connector = connector
        self.settings = connector.settings
        self.network = network
        self.network_id = str(login.metadata.get("network", ""))
        self.conn = conn
        self.outbox = Outbox(self.casefold)
        #: Channel topics (by folded name), as last seen.
        self.topics: dict[str, str] = {}
        #: Nicks as last seen, by folded nick: IDs are folded, people are not.
        self.nicks: dict[str, str] = {}
        self.backfill = Backfill(self)
        self._outcomes: dict[str, asyncio.Future[IRCEvent | None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._logged_in = True
        #: When the user last sent something through this connection (monotonic clock),
        #: and how many messages are on their way through it right now.
        self.last_active = time.monotonic()
        self.speaking = 0

    @property
    def network_name(self) -> str:
        """The network's name for people."""
        return self.network.name if self.network is not None else self.network_id

    @property
    def parked(self) -> bool:
        """Whether the user asked for no connection (``disconnect``) until ``reconnect``."""
        return bool(self.login.metadata.get(PARKED_KEY))

    # Lifecycle

    async def connect(self) -> None:
        if self.network is None:
            await self.login.set_state(
                BridgeStateEvent.UNKNOWN_ERROR,
                f"The IRC network `{self.network_id}` is no longer in this bridge's config. "
                "Ask the bridge's operator, or send `logout`.",
            )
            return
        if self.parked:
            await self.login.set_state(BridgeStateEvent.TRANSIENT_DISCONNECT, _PARKED_TEXT)
            return
        if self.conn is None:
            meta = self.login.metadata
            channels = tuple((str(name), key) for name, key in meta.get("channels") or [])
            self.conn = IRCConnection(
                self.network.connection_config(
                    str(meta["nick"]),
                    self.login.user_mxid,
                    meta.get("sasl"),
                    channels,
                    meta.get("client_cert"),
                )
            )
            self.conn.start()
            await self.login.set_state(BridgeStateEvent.CONNECTING)
        elif self.conn.connected:
            # The login consumed this registration's event: start the catch-up clock.
            await self.backfill.registered(self.conn, datetime.now(UTC))
            await self.login.set_state(BridgeStateEvent.CONNECTED)
        self._task = asyncio.create_task(
            self._consume(self.conn), name=f"irc-events {self.login.id}"
        )

    async def _consume(self, conn: IRCConnection) -> None:
        async for event in conn.events():
            try:
                await to_matrix.dispatch(self, conn, event)
            except Exception:
                log.exception(
                    "Could not handle %s of login %s", type(event).__name__, self.login.id
                )

    async def disconnect(self) -> None:
        self.connector.forget(self)
        await self._close()

    async def _close(self) -> None:
        conn, self.conn = self.conn, None
        task, self._task = self._task, None
        if conn is not None:
            try:
                await conn.stop(grace=_STOP_GRACE)
            except Exception:
                log.exception("Could not stop the connection of login %s", self.login.id)
        if task is not None:
            # The last events (a message just before the QUIT) still reach Matrix.
            try:
                await asyncio.wait_for(asyncio.shield(task), _STOP_GRACE)
            except TimeoutError:
                task.cancel()
        self.outbox.release_waiters()
        self.settle_all()
        try:
            await self.backfill.save(force=True)
            await self.backfill.closed(datetime.now(UTC))
        except Exception:
            log.exception("Could not save the state of login %s", self.login.id)

    async def reconnect(self) -> None:
        """Drop the connection and connect again (rejoining the channels), also after
        ``park``."""
        await self._close()
        self._logged_in = True
        if self.parked:
            del self.login.metadata[PARKED_KEY]
            await self.login.save()
        await self.connect()

    async def park(self, why: str = _PARKED_TEXT) -> None:
        """Quit and stay disconnected, also across bridge restarts, until
        :meth:`reconnect` (the login and its portals are kept)."""
        self.login.metadata[PARKED_KEY] = True
        await self.login.save()
        await self._close()
        await self.login.set_state(BridgeStateEvent.TRANSIENT_DISCONNECT, why)

    def is_logged_in(self) -> bool:
        return self._logged_in

    async def on_fatal(self, event: FatalErrorEvent) -> None:
        """The connection gave up for good: tell the user what to do."""
        message = fatal_message(event, self.network_name)
        if event.reason in _CREDENTIAL_FAILURES:
            self._logged_in = False
            await self.login.set_state(BridgeStateEvent.BAD_CREDENTIALS, message)
        else:
            await self.login.set_state(BridgeStateEvent.UNKNOWN_ERROR, message)
            await self.login.notify_user(message)

    # Names and IDs

    def casefold(self, name: str) -> str:
        """``name`` folded the server's way (lowercase before the server said how)."""
        return self.conn.casefold(name) if self.conn is not None else name.lower()

    @property
    def is_shared(self) -> bool:
        """Whether the login's network is in operator mode (shared channels)."""
        return self.network is not None and self.network.shared is not None

    def is_channel(self, target: str) -> bool:
        """Whether ``target`` names a channel (by the server's CHANTYPES once known)."""
        return self.conn.is_channel(target) if self.conn is not None else target[:1] in "#&"

    def portal_key(self, target: str) -> PortalKey:
        """The portal of a channel or of a private chat with a nick: in operator mode a
        channel's portal is shared by everyone (no receiver)."""
        receiver = None if self.is_shared and self.is_channel(target) else self.login.id
        return ids.portal_key(self.network_id, self.casefold(target), receiver)

    def user_id(self, nick: str) -> RemoteUserID:
        """The remote user ID (ghost) of a nick."""
        return ids.user_id(self.network_id, self.casefold(nick))

    def nick_for(self, folded: str) -> str:
        """A folded nick as people write it, when we have seen it."""
        return self.nicks.get(folded, folded)

    def require_connection(self) -> IRCConnection:
        """The registered connection; raises ``BridgeError`` while there is none."""
        conn = self.conn
        if self.parked:
            raise BridgeError(f"You disconnected from {self.network_name}: send `reconnect`.")
        if conn is None or not conn.connected:
            raise BridgeError(
                f"Not connected to {self.network_name} right now. Send `ping` to the bridge "
                "bot to see why; it reconnects by itself unless the server refused it."
            )
        return conn

    def target_of(self, conn: IRCConnection, portal: PortalKey) -> str:
        """The channel or nick a portal of this login stands for, as IRC writes it."""
        folded = ids.target_of(self.network_id, portal)
        if folded is None:
            raise BridgeError("This room does not belong to this IRC connection.")
        if conn.is_channel(folded):
            return self.in_channel(folded) or folded
        return self.nick_for(folded)

    # Chats and users

    def is_this_user(self, user_id: RemoteUserID) -> bool:
        return self.conn is not None and user_id == self.user_id(self.conn.nick)

    async def get_chat_info(self, portal: PortalKey) -> ChatInfo:
        folded = ids.target_of(self.network_id, portal)
        if folded is None:
            raise BridgeError(f"{portal} is not a chat of {self.network_name}.")
        conn = self.conn
        if conn is None:
            raise BridgeError(f"Not connected to {self.network_name}.")
        if conn.is_channel(folded):
            relay = self.connector.shared.relay_of(self.network_id) if self.is_shared else None
            if relay is not None and relay is not self and relay.in_channel(folded):
                return await relay.get_chat_info(portal)  # it sees the channel for everyone
            name = self.in_channel(folded) or folded
            return to_matrix.channel_info(
                self, conn, name, conn.members(name), self.topics.get(folded)
            )
        return to_matrix.query_info(self, self.nick_for(folded))

    async def get_user_info(self, user_id: RemoteUserID) -> UserInfo | None:
        folded = ids.nick_of(self.network_id, user_id)
        if folded is None:
            return None
        return to_matrix.user_info(self.nick_for(folded))

    def get_capabilities(self, portal: PortalKey) -> RoomCapabilities:
        # Media goes to IRC as links; edits as corrections.
        return RoomCapabilities(
            formatting=True, edits=True, reactions=True, replies=True, media=True
        )

    async def resolve_chat(self, identifier: str) -> PortalKey | None:
        """``ChatResolving`` for the ``bridge`` command: in operator mode a channel is
        bridged to an existing room only with a channel operator's consent (and the
        bridge's own connection joins it); in bouncer mode the channels joined."""
        name = identifier.strip()
        if not self.is_shared:
            return None
        if not self.is_channel(name):
            raise BridgeError(f"`{name}` is not a channel: IRC channels start with #.")
        shared = self.connector.shared
        channel = await shared.consent(self, name)
        shared.follow_bridging(self.network_id, channel)
        return self.portal_key(channel)

    async def list_chats(self) -> list[PortalKey]:
        """The channels the connection is in (``ChatListing``, for the ``sync`` command)."""
        conn = self.require_connection()
        return [self.portal_key(name) for name, _ in conn.channels]

    async def resolve_identifier(
        self, identifier: str, create_chat: bool
    ) -> ResolvedIdentifier | None:
        """Find a nick on the network (``IdentifierResolving``); with ``create_chat``
        its private chat's portal key."""
        conn = self.require_connection()
        nick = identifier.strip()
        if not nick or " " in nick or conn.is_channel(nick):
            raise BridgeError(f"`{nick}` is not a nick. To join a channel, send `join {nick}`.")
        answer = await self.whois(nick)
        if answer is not None and not any(line.code == "311" for line in answer):
            return None
        # Without an answer in time the nick is taken as it is.
        found = next((line.params[0] for line in answer or () if line.code == "311"), nick)
        self.nicks[self.casefold(found)] = found
        result = ResolvedIdentifier(self.user_id(found), to_matrix.user_info(found))
        if create_chat:
            result.portal = self.portal_key(found)
            result.chat_info = to_matrix.query_info(self, found)
        return result

    async def fetch_messages(
        self, portal: PortalKey, after: MessageID | None, limit: int
    ) -> FetchResult:
        """``BackfillingNetwork``: history from the server's chathistory (an empty page
        when it offers none)."""
        conn = self.require_connection()
        return await self.backfill.fetch(self.target_of(conn, portal), after, limit)

    # Commands

    def in_channel(self, channel: str) -> str | None:
        """The channel's name as joined, if the connection is in ``channel``."""
        conn = self.conn
        if conn is None:
            return None
        folded = conn.casefold(channel)
        return next((name for name, _ in conn.channels if conn.casefold(name) == folded), None)

    async def resync(self, channel: str, *, create: bool = True) -> None:
        """Bring the portal of a joined channel up to date (creating its room unless
        ``create`` is off)."""
        conn = self.require_connection()
        name = self.in_channel(channel) or channel
        info = to_matrix.channel_info(
            self, conn, name, conn.members(name), self.topics.get(conn.casefold(name))
        )
        await self.login.queue_remote_event(
            RemoteChatResync(portal=self.portal_key(name), info=info, create=create)
        )

    async def remember_channels(self, conn: IRCConnection) -> None:
        """Store the channels to rejoin after a restart, if they changed."""
        channels = [[name, key] for name, key in conn.channels]
        if self.login.metadata.get("channels") != channels:
            self.login.metadata["channels"] = channels
            await self.login.save()

    async def remember_nick(self, nick: str) -> None:
        """Store our new nick so that a reconnect asks for it, and show it as the
        login's name."""
        if self.login.metadata.get("nick") != nick:
            self.login.metadata["nick"] = nick
            await self.login.set_remote_name(f"{nick}@{self.network_id}")

    # Matrix → IRC

    async def handle_matrix_message(self, msg: MatrixMessage) -> MatrixMessageResponse:
        self.speaking += 1  # not idle while (re)connecting, joining and sending
        try:
            return await self._message(msg)
        finally:
            self.speaking -= 1
            self.last_active = time.monotonic()

    async def _message(self, msg: MatrixMessage) -> MatrixMessageResponse:
        if self.is_shared:
            shared = self.connector.shared
            if msg.relay is None:
                await shared.ensure_in_channel(self, msg.portal)
            else:
                sent = await shared.send_as_user(self, msg)
                if sent is not None:
                    return sent
        conn = self.require_connection()
        target = self.target_of(conn, msg.portal)
        reply_nick = self._reply_nick(msg.reply_to)
        kind = from_matrix.kind_of(msg.msgtype)
        as_nick = self._relay_nick(conn, target, kind, msg.relay)
        if as_nick is not None:
            # The server shows the relayed user's own name: the text goes without the
            # "Name: " the relay format put before it.
            body, html = from_matrix.own_text(msg.content)
            msg = replace(msg, body=body, html=html)
        text = from_matrix.render_message(msg, self._pills(conn, msg.portal), reply_nick)
        tags: dict[str, str] = {}
        reply = msg.reply_to
        if reply is not None and not ids.is_local(reply.id):
            tags["+draft/reply"] = reply.id
        return await self._send(
            conn, target, kind, text, tags, as_nick=as_nick, replayed=msg.replayed
        )

    def _relay_nick(
        self, conn: IRCConnection, target: str, kind: MessageKind, relay: RelayInfo | None
    ) -> str | None:
        """The nick to relay a Matrix user's message under (``draft/relaymsg``), when the
        server offers it for this message: a plain message in a channel."""
        if relay is None or kind != "privmsg" or "draft/relaymsg" not in conn.caps:
            return None
        if not conn.is_channel(target):
            return None
        separator = conn.isupport.get("RELAYMSG") or "/"
        return from_matrix.relay_nick(relay.display_name, separator)

    async def handle_matrix_typing(self, typing: MatrixTyping) -> None:
        """``TypingHandling``: a ``+typing`` client tag (servers with message-tags)."""
        conn = self.conn
        if conn is None or not conn.connected or self.parked:
            return
        state = "active" if typing.typing else "done"
        conn.send_tagmsg(self.target_of(conn, typing.portal), {"+typing": state})

    async def handle_matrix_reaction(self, reaction: MatrixReaction) -> EmojiID | None:
        """``ReactionHandling``: a ``+draft/react`` on the message's msgid, which clients
        with reaction support show under the message; others show nothing, so a
        server without message-tags gets nothing either."""
        conn = self.require_connection()
        if ids.is_local(reaction.target.id) or len(reaction.key) > to_matrix.MAX_REACTION_LENGTH:
            return None  # the server gave that message no ID that IRC clients know
        target = self.target_of(conn, reaction.portal)
        conn.send_tagmsg(target, {"+draft/react": reaction.key, "+draft/reply": reaction.target.id})
        return None

    async def handle_matrix_reaction_remove(self, removal: MatrixReactionRemove) -> None:
        """IRC has no way to take a reaction back: nothing to send."""

    async def handle_matrix_edit(self, edit: MatrixEdit) -> None:
        """``EditHandling``: IRC cannot edit, so the new text follows as a correction."""
        if self.is_shared and await self.connector.shared.edit_as_user(self, edit):
            return
        conn = self.require_connection()
        target = self.target_of(conn, edit.portal)
        text = from_matrix.render_edit(edit, self._pills(conn, edit.portal))
        await self._send(conn, target, from_matrix.kind_of(edit.msgtype), text, {})

    async def _send(
        self,
        conn: IRCConnection,
        target: str,
        kind: MessageKind,
        text: str,
        tags: dict[str, str],
        *,
        as_nick: str | None = None,
        replayed: bool = False,
    ) -> MatrixMessageResponse:
        command = "NOTICE" if kind == "notice" else "PRIVMSG"
        overhead = _ACTION_OVERHEAD if kind == "action" else 0
        budget = max(conn.text_budget(target, command, overhead), 16)
        if from_matrix.line_count(text, budget) > self.settings.max_lines:
            text = await self._paste(target, text, budget)
        if replayed and as_nick is None:
            # Accepted before a crash: it may have gone out already (IRC has no
            # idempotent send), which the server's history can tell.
            earlier = await self.backfill.find_sent(conn, target, kind, text, budget)
            if earlier is not None and earlier.msgid:
                log.info("Not sending a replayed message again: %s has it", target)
                return MatrixMessageResponse(
                    MessageID(earlier.msgid), timestamp_ms=int(earlier.time.timestamp() * 1000)
                )
        if as_nick is not None:
            sent = conn.send_relaymsg(target, as_nick, text)
        else:
            sent = conn.send_message(target, text, kind=kind, tags=tags)
        if not sent.parts:
            raise BridgeError("That message has no text that IRC can show.")
        # Registered before any await, so that the echo cannot slip past it.
        echoed = "echo-message" in conn.caps
        future = self.outbox.expect_sent(kind, target, sent.parts, sent.labels) if echoed else None
        if future is None:
            return MatrixMessageResponse(ids.local_message_id())
        answer = await wait_answer(future, _ECHO_TIMEOUT)
        if isinstance(answer, ReplyEvent):
            raise BridgeError(f"{self.network_name} did not deliver it: {answer.message}")
        if isinstance(answer, MessageEvent) and answer.msgid:
            return MatrixMessageResponse(
                MessageID(answer.msgid), timestamp_ms=int(answer.time.timestamp() * 1000)
            )
        return MatrixMessageResponse(ids.local_message_id())

    async def _paste(self, target: str, text: str, budget: int) -> str:
        """The one line that stands for a message longer than ``max_lines``: its first
        line and a link to the whole text, uploaded to the homeserver. When the upload
        fails the text is cut instead, and the sender is told."""
        bridge = self.connector.bridge
        try:
            mxc = await bridge.upload_media(
                from_matrix.paste_text(text), "text/plain", "message.txt"
            )
        except MediaTooLarge as e:
            problem = str(e)
        except Exception:
            log.exception("Could not upload a long message of login %s", self.login.id)
            problem = "The homeserver did not take the upload."
        else:
            return from_matrix.paste_line(text, bridge.public_media_url(mxc) or mxc, budget)
        cut, omitted = from_matrix.cut_to_lines(text, budget, self.settings.max_lines)
        await self.login.notify_user(
            f"Your message to {target} was longer than {self.settings.max_lines} IRC lines and "
            f"could not be uploaded as a file ({problem}): only its start was sent, and "
            f"{omitted} lines were left out."
        )
        return cut

    def _reply_nick(self, target: MessageRecord | None) -> str | None:
        if target is None or target.sender_id is None or target.sender_id == self.login.id:
            return None
        nick = target.metadata.get("nick")
        if isinstance(nick, str):
            return nick
        folded = ids.nick_of(self.network_id, target.sender_id)
        return self.nick_for(folded) if folded is not None else None

    def _pills(self, conn: IRCConnection, portal: PortalKey) -> from_matrix.LinkResolver:
        targets = to_matrix.mention_targets(self, conn, portal).values()
        nicks = {mxid: nick for nick, mxid in targets}
        return from_matrix.pill_resolver(nicks)

    async def handle_matrix_room_meta(self, change: MatrixRoomMeta) -> None:
        """``RoomMetaHandling``: a topic set on Matrix becomes the channel's topic."""
        await room_changes.room_meta(self, change)

    async def handle_matrix_power_levels(self, change: MatrixPowerLevels) -> None:
        """``PowerLevelHandling``: levels of ghosts become channel statuses."""
        await room_changes.power_levels(self, change)

    async def handle_matrix_membership(self, change: MatrixMembership) -> None:
        """``MembershipHandling``: leaving, kicking, banning and inviting on IRC."""
        await room_changes.membership(self, change)
