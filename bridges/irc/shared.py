"""Operator mode: the channels of a network as public rooms shared by everyone.

On a network with ``shared_channels`` on, a channel is one portal without a receiver
(``#<alias_prefix><network>_<#channel>``), not a room per bouncer connection:

- the bridge keeps a connection of its own, the **relay** (a login owned by the bridge
  bot), in every shared channel; it alone turns what is said there into Matrix events,
  so a message is bridged once however many bridge connections hear it;
- a Matrix user speaks through a connection of their own: the one they logged in with,
  or a **puppet** the bridge opens for them (nick from ``puppet_nick``, the server's
  collision handling picks another when it is taken); with no puppets configured, or
  for a user who may not log in, the relay speaks for them (``draft/relaymsg`` or
  "name: text");
- the nicks of all the bridge's connections are the bridge's own: what they say came
  from Matrix and is not bridged back, and they get no ghosts;
- private chats stay per connection, as in bouncer mode;
- an existing Matrix room is bridged to a channel (``bridge #channel``) only with the
  consent of one of the channel's operators: the requester themselves when they are
  one, else the first operator who answers the relay's question with "yes".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bridgekit.network import (
    BridgeError,
    LoginComplete,
    LoginError,
    MatrixEdit,
    MatrixMessage,
    MatrixMessageResponse,
    PortalKey,
    PublicChat,
    RelayInfo,
)

from . import from_matrix, ids
from .protocol import (
    AwayEvent,
    ChannelSyncedEvent,
    IRCConnection,
    IRCEvent,
    JoinEvent,
    KickEvent,
    MessageEvent,
    ModeEvent,
    NickEvent,
    PartEvent,
    QuitEvent,
    ReplyEvent,
    TagMessageEvent,
    TopicEvent,
)
from .settings import NetworkSettings, SharedSettings

if TYPE_CHECKING:
    from .client import IRCClient
    from .connector import IRCConnector

log = logging.getLogger("bridgekit.irc.shared")

#: Login metadata key of the bridge's own relay connection.
RELAY_KEY = "relay"
#: Login metadata key of a connection the bridge opened for a Matrix user.
PUPPET_KEY = "puppet"
#: How long a Matrix message waits for its speaker's connection and join.
_CONNECT_TIMEOUT = 30.0
#: How long the relay waits for a consented ``bridge`` command to adopt its room.
_FOLLOW_TIMEOUT = 120.0
#: Channel statuses that may consent to bridging a room (owner, admin, op).
_OPERATOR_PREFIXES = frozenset("~&@")
_NICK_UNSAFE = re.compile(r"[^A-Za-z0-9\[\]\\`^{}|_-]")
# Channel-scoped events: in operator mode only the relay bridges them.
_CHANNEL_EVENTS = (
    AwayEvent,
    ChannelSyncedEvent,
    JoinEvent,
    KickEvent,
    ModeEvent,
    NickEvent,
    PartEvent,
    QuitEvent,
    TopicEvent,
)


def nick_from_template(template: str, display_name: str, mxid: str, nicklen: int) -> str:
    """A puppet nick for a Matrix user: the template filled with their name reduced to
    the characters nicks may hold, cut to ``nicklen``, never starting with a digit."""
    localpart = mxid.removeprefix("@").split(":", 1)[0]
    name = _NICK_UNSAFE.sub("", display_name) or _NICK_UNSAFE.sub("", localpart) or "matrix"
    local = _NICK_UNSAFE.sub("", localpart) or "matrix"
    room = max(1, nicklen - len(template.format(displayname="", localpart="")))
    nick = template.format(displayname=name[:room], localpart=local[:room])[:nicklen]
    return nick if nick[0].isalpha() or nick[0] in "[]\\`^{}|_" else f"M{nick}"[:nicklen]


class SharedChannels:
    """Operator mode for the connector's shared networks."""

    def __init__(self, connector: IRCConnector) -> None:
        self.connector = connector
        self._puppet_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_task: asyncio.Task[None] | None = None

    # Roles

    def settings_of(self, client: IRCClient) -> SharedSettings | None:
        """The operator-mode settings of the client's network (``None``: bouncer mode)."""
        return client.network.shared if client.network is not None else None

    @staticmethod
    def is_relay(client: IRCClient) -> bool:
        return bool(client.login.metadata.get(RELAY_KEY))

    def relay_of(self, network_id: str) -> IRCClient | None:
        """The relay client of a shared network."""
        return next(
            (
                c
                for c in self.connector.clients.values()
                if c.network_id == network_id and self.is_relay(c)
            ),
            None,
        )

    def own_nicks(self, network_id: str, conn: IRCConnection) -> set[str]:
        """The folded nicks of every connection of the bridge's on ``network_id``."""
        return {
            conn.casefold(c.conn.nick)
            for c in self.connector.clients.values()
            if c.network_id == network_id and c.conn is not None
        }

    def owner_of(self, network_id: str, conn: IRCConnection, nick: str) -> str | None:
        """The Matrix user behind one of the bridge's nicks (not the relay's)."""
        folded = conn.casefold(nick)
        for client in self.connector.clients.values():
            if (
                client.network_id == network_id
                and client.conn is not None
                and conn.casefold(client.conn.nick) == folded
                and not self.is_relay(client)
            ):
                return client.login.user_mxid
        return None

    # Start-up

    def start_idle_watch(self) -> None:
        """Quit puppets that stayed silent for ``puppet_idle_hours`` (where set)."""
        hours = [
            n.shared.puppet_idle_hours
            for n in self.connector.settings.networks.values()
            if n.shared is not None and n.shared.puppet_idle_hours > 0
        ]
        if hours and self._idle_task is None:
            every = min(60.0, min(hours) * 3600 / 4)
            self._idle_task = asyncio.create_task(self._idle_watch(every), name="irc-idle")

    async def stop(self) -> None:
        task, self._idle_task = self._idle_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _idle_watch(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for client in list(self.connector.clients.values()):
                settings = self.settings_of(client)
                if (
                    settings is None
                    or settings.puppet_idle_hours <= 0
                    or not client.login.metadata.get(PUPPET_KEY)
                    or client.parked
                    or client.speaking
                    or now - client.last_active < settings.puppet_idle_hours * 3600
                ):
                    continue
                log.info("Puppet %s was idle; it quits until its user speaks", client.login.id)
                try:
                    await client.park(
                        "Quit after a quiet while; your next message in a shared room "
                        "brings it back."
                    )
                except Exception:
                    log.exception("Could not park idle puppet %s", client.login.id)

    async def open_relays(self) -> None:
        """Open (or find) the relay login of every shared network."""
        bridge = self.connector.bridge
        for network in self.connector.settings.networks.values():
            if network.shared is None:
                continue
            nick = network.shared.relay_nick
            done = LoginComplete(
                login_id=ids.login_id(network.id, nick.lower()),
                remote_name=f"{nick}@{network.id}",
                metadata={"network": network.id, "nick": nick, RELAY_KEY: True},
            )
            try:
                await bridge.add_login(bridge.bot_mxid, done)
            except LoginError as e:
                log.error("Cannot open the relay connection of %s: %s", network.id, e)

    # Opening a shared channel

    async def resolve_alias(self, name: str) -> PublicChat | None:
        """``<network>_<#channel>`` → the channel's shared portal, with the relay in it."""
        network_id, _, channel = name.partition("_")
        network = self.connector.settings.networks.get(network_id)
        relay = self.relay_of(network_id)
        if network is None or network.shared is None or relay is None or not channel:
            return None
        try:
            joined = await self.relay_join(relay, channel)
        except BridgeError as e:
            log.info("No shared room for %s on %s: %s", channel, network_id, e)
            return None
        return PublicChat(relay.portal_key(joined), relay.login.id)

    async def relay_join(self, relay: IRCClient, channel: str) -> str:
        """Make the relay join ``channel`` (if it is not in it) and return the channel's
        name; raises ``BridgeError`` saying why it could not."""
        conn = relay.conn
        if conn is None:
            raise BridgeError(f"The bridge is not connected to {relay.network_name}.")
        async with asyncio.timeout(_CONNECT_TIMEOUT):
            await conn.wait_connected()
        if not conn.is_channel(channel):
            raise BridgeError(f"`{channel}` is not a channel name.")
        joined = relay.in_channel(channel)
        if joined is not None:
            return joined
        outcome = await relay.join(channel)
        if isinstance(outcome, ReplyEvent):
            raise BridgeError(f"{relay.network_name} refused {channel}: {outcome.message}")
        joined = relay.in_channel(channel)
        if joined is None:
            raise BridgeError(f"{relay.network_name} did not answer the join of {channel}.")
        return joined

    async def joined_by_user(self, client: IRCClient, channel: str) -> None:
        """A user's connection joined a shared channel: the relay follows, so that the
        channel is bridged."""
        relay = self.relay_of(client.network_id)
        if relay is None or relay is client:
            return
        try:
            await self.relay_join(relay, channel)
        except (BridgeError, TimeoutError) as e:
            await client.login.notify_user(
                f"{channel} is not bridged to Matrix right now: {e}. Ask the bridge's operator."
            )

    # IRC → Matrix

    def bridges(self, client: IRCClient, conn: IRCConnection, event: IRCEvent) -> bool:
        """Whether ``client`` turns ``event`` into Matrix events (bouncer mode: always).

        In operator mode the relay bridges channel events except those of the bridge's
        own nicks; other connections bridge their private chats and what happens to
        themselves (their joins, so that their user is invited; parts and kicks, so
        that they hear of them), and nothing else of the channels.
        """
        if client.network is None or client.network.shared is None:
            return True
        channel_event = isinstance(event, _CHANNEL_EVENTS) or (
            isinstance(event, MessageEvent | TagMessageEvent) and event.is_channel
        )
        if not channel_event:
            # Nobody would read the relay's private chats.
            return not (self.is_relay(client) and isinstance(event, MessageEvent | TagMessageEvent))
        if isinstance(event, ChannelSyncedEvent) or getattr(event, "is_self", False):
            return True
        if not self.is_relay(client):
            # Its own channel status: the power level of its Matrix user.
            return isinstance(event, ModeEvent) and any(
                c.kind == "prefix"
                and c.param
                and conn.casefold(c.param) == conn.casefold(conn.nick)
                for c in event.changes
            )
        source = getattr(event, "source", None)
        if source is None or source.is_server:
            return True
        return conn.casefold(source.nick) not in self.own_nicks(client.network_id, conn)

    def reports(self, client: IRCClient, conn: IRCConnection, nick: str) -> bool:
        """Whether ``client`` reports ``nick``'s membership and status: in operator
        mode the relay reports everyone but the bridge's nicks, another connection
        only itself (its channel status becomes its Matrix user's power level)."""
        if not client.is_shared:
            return True
        if self.is_relay(client):
            return conn.casefold(nick) not in self.own_nicks(client.network_id, conn)
        return conn.casefold(nick) == conn.casefold(conn.nick)

    def is_own_nick(self, client: IRCClient, conn: IRCConnection, nick: str) -> bool:
        """Whether ``nick`` is one of the bridge's connections on a shared network."""
        if client.network is None or client.network.shared is None:
            return False
        return conn.casefold(nick) in self.own_nicks(client.network_id, conn)

    # Matrix → IRC

    async def speaker(self, relay_client: IRCClient, relay: RelayInfo) -> IRCClient | None:
        """The connection a relayed Matrix user speaks through: their own on this
        network, or a puppet opened for them; ``None``: the relay speaks for them."""
        settings = self.settings_of(relay_client)
        network_id = relay_client.network_id
        own = next(
            (
                c
                for c in self.connector.clients_of(relay.sender_mxid)
                if c.network_id == network_id and not self.is_relay(c) and not c.parked
            ),
            None,
        )
        if own is not None:
            return own
        asleep = next(
            (
                c
                for c in self.connector.clients_of(relay.sender_mxid)
                if c.network_id == network_id and c.login.metadata.get(PUPPET_KEY)
            ),
            None,
        )
        if asleep is not None:  # a puppet that quit while idle comes back
            await asleep.reconnect()
            return asleep
        if settings is None or not settings.puppet_nick or relay_client.network is None:
            return None
        lock = self._puppet_locks.setdefault(f"{network_id}\0{relay.sender_mxid}", asyncio.Lock())
        async with lock:
            return await self._open_puppet(relay_client, relay_client.network, settings, relay)

    async def _open_puppet(
        self,
        relay_client: IRCClient,
        network: NetworkSettings,
        settings: SharedSettings,
        relay: RelayInfo,
    ) -> IRCClient | None:
        bridge = self.connector.bridge
        conn = relay_client.conn
        nicklen = conn.nicklen if conn is not None else 9
        nick = nick_from_template(
            settings.puppet_nick, relay.display_name, relay.sender_mxid, nicklen
        )
        for attempt in range(10):
            candidate = nick if attempt == 0 else f"{nick[: nicklen - 1]}{attempt}"
            done = LoginComplete(
                login_id=ids.login_id(network.id, candidate.lower()),
                remote_name=f"{candidate}@{network.id}",
                metadata={"network": network.id, "nick": candidate, PUPPET_KEY: True},
            )
            try:
                login = await bridge.add_login(relay.sender_mxid, done)
            except LoginError as e:
                if e.fatal and "another Matrix user" in str(e):
                    continue  # that nick's login belongs to someone else: try another
                log.info("No puppet for %s: %s", relay.sender_mxid, e)
                return None
            client = self.connector.clients.get(login.id)
            if client is not None:
                log.info("Opened puppet %s for %s", login.id, relay.sender_mxid)
            return client
        return None

    async def send_as_user(
        self, relay_client: IRCClient, msg: MatrixMessage
    ) -> MatrixMessageResponse | None:
        """Send a relayed message through the sender's own connection; ``None`` when
        the relay must speak for them instead."""
        relay = msg.relay
        if relay is None:
            return None
        speaker = await self.speaker(relay_client, relay)
        if speaker is None:
            return None
        body, html = from_matrix.own_text(msg.content)  # it joins the channel if needed
        return await speaker.handle_matrix_message(replace(msg, relay=None, body=body, html=html))

    async def edit_as_user(self, relay_client: IRCClient, edit: MatrixEdit) -> bool:
        """Send a relayed edit through the sender's own connection; ``False`` when the
        relay must speak for them."""
        relay = edit.relay
        if relay is None:
            return False
        speaker = await self.speaker(relay_client, relay)
        if speaker is None:
            return False
        await self.ensure_in_channel(speaker, edit.portal)
        body, html = from_matrix.own_text(edit.content)
        await speaker.handle_matrix_edit(replace(edit, relay=None, body=body, html=html))
        return True

    async def ensure_in_channel(self, client: IRCClient, portal: PortalKey) -> None:
        """Connect ``client`` and join it to the portal's channel (a user who left the
        channel and speaks in its room again rejoins it)."""
        if client.network is None or client.network.shared is None:
            return
        if client.parked and client.login.metadata.get(PUPPET_KEY):
            await client.reconnect()  # quit while idle: back for this message
        conn = client.conn
        folded = ids.target_of(client.network_id, portal)
        if conn is None or folded is None:
            raise BridgeError(f"Not connected to {client.network_name}.")
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                await conn.wait_connected()
        except TimeoutError as e:
            raise BridgeError(
                f"Your connection to {client.network_name} is not up yet. Try again shortly."
            ) from e
        if not conn.is_channel(folded) or client.in_channel(folded) is not None:
            return
        outcome = await client.join(folded)
        if isinstance(outcome, ReplyEvent):
            raise BridgeError(f"You cannot join {folded}: {outcome.message}")

    # Bridging an existing room

    async def consent(self, asker: IRCClient, channel: str) -> str:
        """Get a channel operator's consent to bridge ``channel`` to an existing room
        for ``asker``'s user: the user's own connection when it is an operator, else
        the operators are asked by the relay and the first answer counts. Returns the
        channel's name; raises ``BridgeError`` when nobody consents."""
        relay = self.relay_of(asker.network_id)
        if relay is None or relay.conn is None:
            raise BridgeError(f"The bridge has no connection of its own to {asker.network_name}.")
        name = await self.relay_join(relay, channel)
        conn = relay.conn
        own = self.own_nicks(asker.network_id, conn)
        ops = {
            conn.casefold(m.nick): m.nick
            for m in conn.members(name)
            if _OPERATOR_PREFIXES & set(m.prefixes)
        }
        if asker.conn is not None and conn.casefold(asker.conn.nick) in ops:
            return name
        ops = {folded: nick for folded, nick in ops.items() if folded not in own}
        if not ops:
            raise BridgeError(f"{name} has no operator who could agree to bridging it.")
        try:
            settings = self.settings_of(asker)
            wait_s = settings.consent_timeout if settings is not None else 300.0
            return await self._ask(relay, conn, asker, name, ops, wait_s)
        except BridgeError:
            if await self.connector.bridge.find_portal_room(relay.portal_key(name)) is None:
                conn.part(name, "Not bridged")
            raise

    async def _ask(
        self,
        relay: IRCClient,
        conn: IRCConnection,
        asker: IRCClient,
        name: str,
        ops: dict[str, str],
        wait_s: float,
    ) -> str:
        def answer(event: IRCEvent) -> bool:
            return (
                isinstance(event, MessageEvent)
                and not event.is_channel
                and not event.is_echo
                and conn.casefold(event.source.nick) in ops
                and event.text.strip().lower() in ("yes", "no")
            )

        future = relay.outbox.watch(answer, swallow=True)
        question = (
            f"{asker.login.user_mxid} asks to bridge {name} to a Matrix room. As an operator "
            f'of {name}, answer me "yes" to allow it or "no" to refuse.'
        )
        for nick in ops.values():
            conn.send_message(nick, question, kind="notice")
        await asker.login.notify_user(
            f"Asked the operators of {name} ({', '.join(sorted(ops.values()))}) for consent; "
            f"waiting up to {wait_s:.0f} s."
        )
        try:
            reply = await asyncio.wait_for(future, wait_s)
        except TimeoutError as e:
            relay.outbox.forget(future)
            raise BridgeError(f"No operator of {name} agreed within {wait_s:.0f} s.") from e
        if not isinstance(reply, MessageEvent):
            raise BridgeError(f"The bridge lost its connection while asking about {name}.")
        if reply.text.strip().lower() != "yes":
            raise BridgeError(f"{reply.source.nick}, an operator of {name}, refused.")
        conn.send_message(reply.source.nick, f"Thanks: {name} is being bridged.", kind="notice")
        return name

    def follow_bridging(self, network_id: str, channel: str) -> None:
        """Once the ``bridge`` command has made a room the channel's portal, the relay
        takes its place in it (so that it relays for users without a connection)."""
        relay = self.relay_of(network_id)
        if relay is None:
            return
        task = asyncio.create_task(self._follow(relay, channel), name=f"irc-follow {channel}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, relay: IRCClient, channel: str) -> None:
        bridge = self.connector.bridge
        key = relay.portal_key(channel)
        for _ in range(int(_FOLLOW_TIMEOUT / 0.5)):
            if await bridge.find_portal_room(key) is not None:
                await relay.resync(channel, create=False)
                return
            await asyncio.sleep(0.5)
