"""One client connection to an IRC network, kept alive until stopped.

:class:`IRCConnection` connects (TLS, SOCKS), registers (CAP, SASL, nick fallback),
answers PINGs, checks liveness, reports what happens as :mod:`events`, and reconnects
with exponential backoff, jitter and server rotation, re-joining its channels. Fatal
errors (banned, bad password, SASL failure) stop it for good. Sending goes through the
flood-controlled :class:`SendQueue` and the :func:`encode_line` choke point.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import ircstates
import irctokens
from python_socks import ProxyError

from . import events as ev
from .chathistory import TARGETS, HistoryCollector, Subcommand, by_time
from .config import ConnectionConfig, ServerAddress
from .errors import ChatHistoryError, FatalConnectionError, NotConnectedError
from .messaging import Messaging
from .registration import Registration, default_username
from .safety import clean_text, encode_line
from .sendqueue import SendQueue
from .translate import Translator, members_of
from .transport import open_stream

log = logging.getLogger("bridgekit.irc.protocol.connection")

_BAN_RE = re.compile(r"\b(?:[kgzd]-?lined?|banned|akill(?:ed)?|not welcome)", re.IGNORECASE)
_NICK_REFUSED = frozenset({"431", "432", "433", "436", "437"})
_JOIN_REFUSED = frozenset({"403", "405", "471", "473", "474", "475", "477", "479"})
# Servers that end registration without a MOTD reply are rare, but must not hang us.
_READY_FALLBACK = 5.0
# A connection that stayed up this long resets the backoff; shorter ones count as flaps.
_STABLE_AFTER = 60.0
_CTCP_REPLY_INTERVAL = 3.0
# ircstates only knows these casemappings and raises on any other ISUPPORT value.
_KNOWN_CASEMAPPINGS = ("ascii", "rfc1459")
_SECRET_COMMANDS = frozenset({"PASS", "AUTHENTICATE", "OPER"})


class _Disconnect(Exception):
    """The session ended and a reconnect may help."""


class IRCConnection(Messaging):
    """A persistent connection to one IRC network.

    Call :meth:`start`, then consume :meth:`events`. Sending methods (in
    :class:`Messaging`) may be called at any time: lines queue up while disconnected
    and go out after the next registration and channel re-join. Not thread-safe; use
    from one event loop.
    """

    def __init__(self, config: ConnectionConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self._queue = SendQueue(config.flood)
        self._events: asyncio.Queue[ev.IRCEvent | None] = asyncio.Queue()
        self._state = ircstates.Server(config.servers[0].host)
        self._translator = Translator(self._state)
        self._registration = Registration(config, self._state, config.nick, self._rng)
        self._history = HistoryCollector(self._state.casefold)
        self._channels: dict[str, tuple[str, str | None]] = {
            self._state.casefold(name): (name, key) for name, key in config.channels
        }
        self._desired_nick = config.nick
        self._labels = itertools.count(1)
        self._runner: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._server: ServerAddress | None = None
        self._ports: tuple[int, int] | None = None
        self._fatal: FatalConnectionError | None = None
        self._stopping = False
        self._ended = False
        self._ready = False
        self._ready_at = 0.0
        self._welcomed_at: float | None = None
        self._last_ctcp_reply = 0.0

    # Lifecycle

    def start(self) -> None:
        """Start connecting in the background (idempotent)."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="irc-connection")

    async def wait_connected(self) -> None:
        """Wait until registered (wrap in ``asyncio.timeout`` to bound it). Raises
        :class:`FatalConnectionError` if the connection gave up."""
        if self._fatal is not None:
            raise self._fatal
        if self._runner is None:
            raise NotConnectedError("start() was not called")
        waiter = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait({waiter, self._runner}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self._fatal is not None:
            raise self._fatal
        if not self._connected.is_set():
            raise NotConnectedError("the connection stopped before registering")

    async def stop(self, message: str | None = None, grace: float = 5.0) -> None:
        """Flush queued lines (for up to ``grace`` seconds), QUIT and stop reconnecting.

        The event stream ends with a :class:`DisconnectedEvent` (``retry_in=None``). A
        stopped connection cannot be started again: create a new one.
        """
        self._stopping = True
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._ready:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._queue.drained()
            quit_message = clean_text(message or self.config.quit_message)
            self._send("QUIT", [quit_message], urgent=True)
            # The server closes the connection once it has read the QUIT.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(runner), grace)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        if not self._ended:
            self._publish(ev.DisconnectedEvent(time=_now(), reason="stopped", retry_in=None))
            self._end_stream()

    def _end_stream(self) -> None:
        self._ended = True
        self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[ev.IRCEvent]:
        """Every event in order, until :meth:`stop` or a fatal error."""
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)
                return
            yield event

    async def next_event(self) -> ev.IRCEvent:
        """The next event; raises :class:`NotConnectedError` once the stream has ended."""
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)
            raise NotConnectedError("the connection has stopped")
        return event

    # State

    @property
    def connected(self) -> bool:
        """Whether we are registered right now."""
        return self._ready

    @property
    def nick(self) -> str:
        """Our current nick (the wanted one while disconnected)."""
        return self._state.nickname or self._registration.nick or self._desired_nick

    @property
    def caps(self) -> frozenset[str]:
        """Capabilities the server agreed to on the current connection."""
        return frozenset(self._state.agreed_caps)

    @property
    def server(self) -> ServerAddress | None:
        """The server of the current (or last) connection."""
        return self._server

    @property
    def ports(self) -> tuple[int, int] | None:
        """The local and the remote TCP port of the current (or last) connection, as an
        ident server is asked about them."""
        return self._ports

    @property
    def ident(self) -> str:
        """The user name this connection registers with (``USER``)."""
        return self.config.username or default_username(self.config.nick)

    @property
    def isupport(self) -> Mapping[str, str | None]:
        """The server's raw ISUPPORT tokens."""
        return dict(self._state.isupport.raw)

    @property
    def prefix_modes(self) -> dict[str, str]:
        """The channel status symbols the server has, by mode letter (``{"o": "@"}``)."""
        prefix = self._state.isupport.prefix
        return dict(zip(prefix.modes, prefix.prefixes, strict=False))

    @property
    def nicklen(self) -> int:
        """The server's NICKLEN (9, RFC 1459's limit, until the server says)."""
        return int(self._state.isupport.nicklen)

    @property
    def network(self) -> str | None:
        """The ISUPPORT NETWORK name, if the server sent one."""
        return self._state.isupport.network

    @property
    def channels(self) -> list[tuple[str, str | None]]:
        """Channels (name, key) we are in or will re-join on reconnect."""
        return list(self._channels.values())

    def casefold(self, name: str) -> str:
        """``name`` folded with the server's CASEMAPPING, for comparing nicks/channels."""
        return str(self._state.casefold(name))

    def is_channel(self, name: str) -> bool:
        """Whether ``name`` is a channel on this server (CHANTYPES)."""
        return bool(self._state.is_channel(name))

    def members(self, channel: str) -> tuple[ev.Member, ...]:
        """The members of ``channel`` as far as we know (empty if not joined)."""
        return members_of(self._state, channel)

    # Background work

    async def _run(self) -> None:
        failures = 0
        tls_failures = 0
        servers = self.config.servers
        for index in itertools.count():
            if self._stopping:
                return
            server = servers[index % len(servers)]
            try:
                await self._session(server)
                reason = "connection closed"
            except FatalConnectionError as fatal:
                self._give_up(fatal)
                return
            except ssl.SSLCertVerificationError as e:
                reason = f"TLS certificate of {server.host} rejected: {e.verify_message}"
                tls_failures += 1
                if tls_failures >= len(servers):
                    self._give_up(FatalConnectionError(ev.FatalReason.TLS_ERROR, reason))
                    return
            except (_Disconnect, OSError, ProxyError) as e:
                reason = str(e) or type(e).__name__
            else:
                tls_failures = 0
            if self._stopping:
                return
            loop = asyncio.get_running_loop()
            if self._ready_at and loop.time() - self._ready_at >= _STABLE_AFTER:
                failures = 0
            self._ready_at = 0.0
            delay = self.config.reconnect.delay(failures, self._rng)
            failures += 1
            log.info("disconnected from %s (%s), retrying in %.1fs", server, reason, delay)
            self._publish(ev.DisconnectedEvent(time=_now(), reason=reason, retry_in=delay))
            await asyncio.sleep(delay)

    def _give_up(self, fatal: FatalConnectionError) -> None:
        log.warning("giving up on %s: %s", self._server, fatal)
        self._fatal = fatal
        self._publish(ev.FatalErrorEvent(time=_now(), reason=fatal.reason, message=fatal.message))
        self._end_stream()

    async def _session(self, server: ServerAddress) -> None:
        self._server = server
        log.info("connecting to %s as %s", server, self._desired_nick)
        reader, writer = await open_stream(self.config, server)
        self._ports = _ports(writer)
        self._state = ircstates.Server(server.host)
        self._translator = Translator(self._state)
        self._registration = Registration(self.config, self._state, self._desired_nick, self._rng)
        self._history = HistoryCollector(self._state.casefold)
        self._welcomed_at = None
        self._queue.clear_urgent()
        self._queue.hold()
        for command, params in self._registration.opening():
            self._send(command, params, urgent=True)
        write_task = asyncio.create_task(self._write_loop(writer), name="irc-writer")
        try:
            await self._read_loop(reader)
        finally:
            self._ready = False
            self._connected.clear()
            self._queue.hold()
            self._history.fail_all("disconnected")
            write_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await write_task
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await writer.wait_closed()

    async def _write_loop(self, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await self._queue.get()
                writer.write(data)
                await writer.drain()
        except OSError as e:
            log.info("write failed: %s", e)
            writer.transport.abort()

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        ping_sent: float | None = None
        while True:
            now = loop.time()
            if not self._ready:
                deadline = started + self.config.registration_timeout
                if self._welcomed_at is not None:
                    deadline = min(deadline, self._welcomed_at + _READY_FALLBACK)
            elif ping_sent is not None:
                deadline = ping_sent + self.config.ping_timeout
            else:
                deadline = now + self.config.ping_interval
            try:
                async with asyncio.timeout(max(0.0, deadline - now)):
                    raw = await reader.readuntil(b"\n")
            except TimeoutError:
                if self._welcomed_at is not None and not self._ready:
                    self._become_ready()
                elif not self._ready:
                    raise _Disconnect("registration timed out") from None
                elif ping_sent is not None:
                    raise _Disconnect("ping timeout") from None
                else:
                    self._send("PING", [f"bridgekit-{int(loop.time())}"], urgent=True)
                    ping_sent = loop.time()
                continue
            except asyncio.IncompleteReadError:
                raise _Disconnect("connection closed by the server") from None
            except asyncio.LimitOverrunError:
                raise _Disconnect("the server sent an overlong line") from None
            ping_sent = None
            self._handle_raw(raw)

    # Incoming lines

    def _handle_raw(self, raw: bytes) -> None:
        data = raw.rstrip(b"\r\n")
        if not data.strip():
            return
        try:
            line = irctokens.tokenise(data)
        except (ValueError, IndexError, UnicodeDecodeError):
            log.warning("unparseable line from %s dropped", self._server)
            return
        self._handle_line(line)

    def _handle_line(self, line: irctokens.Line) -> None:
        command = line.command
        if command == "PING":
            self._send("PONG", line.params[:1] or ["bridgekit"], urgent=True)
            return
        if command == "ERROR":
            reason = line.params[0] if line.params else "ERROR"
            if not self._stopping and _BAN_RE.search(reason):
                raise FatalConnectionError(ev.FatalReason.BANNED, reason)
            raise _Disconnect(reason)
        if command == "005":
            line = _known_casemapping(line)
        try:
            # Nick refusals during registration are handled (fallback nicks), not news.
            quiet = not self._ready and command in _NICK_REFUSED
            events = [] if quiet else self._translator.translate(line)
        except (IndexError, ValueError, KeyError):
            log.warning("could not interpret %s from %s", command, self._server, exc_info=True)
            events = []
        try:
            self._state.parse_tokens(line)
        except (IndexError, ValueError, KeyError):
            log.debug("ircstates could not apply %s", command, exc_info=True)
        for reply, params in self._registration.handle(line):
            self._send(reply, params, urgent=not self._ready)
        self._after_state(line)
        for event in events:
            self._dispatch(event)

    def _after_state(self, line: irctokens.Line) -> None:
        command = line.command
        if command == "001":
            self._welcomed_at = asyncio.get_running_loop().time()
        elif command in ("376", "422"):
            self._become_ready()
        elif command in _JOIN_REFUSED and len(line.params) >= 2:
            self._channels.pop(self.casefold(line.params[1]), None)
        elif command == "ACK" and line.tags and "label" in line.tags:
            self._history.acknowledged(line.tags["label"])

    def _become_ready(self) -> None:
        if self._ready:
            return
        self._ready = True
        self._ready_at = asyncio.get_running_loop().time()
        self._channels = {self.casefold(name): (name, key) for name, key in self._channels.values()}
        self._queue.put_front(self._join_lines(list(self._channels.values())))
        self._queue.release()
        self._connected.set()
        log.info("registered on %s as %s, caps: %s", self._server, self.nick, sorted(self.caps))
        self._publish(
            ev.ConnectedEvent(
                time=_now(),
                nick=self.nick,
                server=str(self._server),
                caps=self.caps,
                network=self.network,
            )
        )

    def _dispatch(self, event: ev.IRCEvent) -> None:
        if self._history.offer(event):
            return
        if isinstance(event, ev.JoinEvent) and event.is_self:
            folded = self.casefold(event.channel)
            key = self._channels.get(folded, (event.channel, None))[1]
            self._channels[folded] = (event.channel, key)
        elif isinstance(event, ev.PartEvent | ev.KickEvent) and event.is_self:
            self._channels.pop(self.casefold(event.channel), None)
        elif isinstance(event, ev.NickEvent) and event.is_self:
            self._desired_nick = event.new_nick
        elif isinstance(event, ev.CTCPEvent) and not event.is_reply:
            self._answer_ctcp(event)
        self._publish(event)

    def _answer_ctcp(self, event: ev.CTCPEvent) -> None:
        now = asyncio.get_running_loop().time()
        if event.source.is_server or now - self._last_ctcp_reply < _CTCP_REPLY_INTERVAL:
            return
        if event.command == "VERSION" and self.config.version_reply:
            answer = f"VERSION {self.config.version_reply}"
        elif event.command == "PING":
            answer = f"PING {event.argument}"[:100]
        else:
            return
        self._last_ctcp_reply = now
        with contextlib.suppress(ValueError):
            self._send("NOTICE", [event.source.nick, f"\x01{answer}\x01"])

    def _publish(self, event: ev.IRCEvent) -> None:
        self._events.put_nowait(event)

    # Outgoing lines (the public commands live in Messaging)

    def _send(
        self,
        command: str,
        params: list[str],
        *,
        tags: Mapping[str, str] | None = None,
        urgent: bool = False,
    ) -> None:
        data = encode_line(command, params, tags)
        if command not in _SECRET_COMMANDS:
            log.debug("queue %s %s", command, params[0] if params else "")
        self._queue.put(data, urgent=urgent)

    def _new_label(self) -> str | None:
        if "labeled-response" not in self._state.agreed_caps:
            return None
        return f"bk{next(self._labels)}"

    def _self_hostmask(self) -> tuple[str | None, str | None]:
        return self._state.username, self._state.hostname

    async def chathistory(
        self,
        subcommand: Subcommand,
        target: str,
        selector: str = "*",
        limit: int = 100,
    ) -> list[ev.IRCEvent]:
        """Ask the server for history of ``target`` and return the events it sent
        (oldest first); they are not published as live events.

        ``selector`` is ``*`` (LATEST only) or from :func:`by_time` / :func:`by_msgid`.
        ``limit`` is capped by the server's ISUPPORT CHATHISTORY. Raises
        :class:`ChatHistoryError` if the server lacks draft/chathistory or refuses, and
        :class:`NotConnectedError` while disconnected. Bound the wait with
        ``asyncio.timeout``.
        """
        self._check_history()
        server_max = self._state.isupport.raw.get("CHATHISTORY")
        if server_max and server_max.isdigit() and int(server_max) > 0:
            limit = min(limit, int(server_max))
        label = self._new_label()
        future = self._history.expect(target, label)
        self._send(
            "CHATHISTORY",
            [subcommand, target, selector, str(limit)],
            tags={"label": label} if label else None,
        )
        try:
            return await future
        finally:
            if not future.done():
                self._history.cancel(future)

    async def chathistory_targets(
        self, since: datetime, until: datetime, limit: int = 50
    ) -> list[ev.ChatHistoryTargetEvent]:
        """The chats (channels and nicks) that had messages between ``since`` and
        ``until``, as the server lists them (``CHATHISTORY TARGETS``). Raises like
        :meth:`chathistory`; bound the wait with ``asyncio.timeout``."""
        self._check_history()
        label = self._new_label()
        future = self._history.expect(TARGETS, label)
        self._send(
            "CHATHISTORY",
            ["TARGETS", by_time(since), by_time(until), str(limit)],
            tags={"label": label} if label else None,
        )
        try:
            events = await future
        finally:
            if not future.done():
                self._history.cancel(future)
        return [event for event in events if isinstance(event, ev.ChatHistoryTargetEvent)]

    def _check_history(self) -> None:
        if not self._ready:
            raise NotConnectedError("not connected")
        if not {"draft/chathistory", "chathistory"} & set(self._state.agreed_caps):
            raise ChatHistoryError("the server does not offer chathistory")


def _known_casemapping(line: irctokens.Line) -> irctokens.Line:
    params = []
    for param in line.params:
        key, _, value = param.partition("=")
        if key == "CASEMAPPING" and value not in _KNOWN_CASEMAPPINGS:
            param = "CASEMAPPING=" + ("rfc1459" if "rfc1459" in value else "ascii")
        params.append(param)
    return irctokens.build(line.command, params, line.source, line.tags)


def _now() -> datetime:
    return datetime.now(UTC)


def _ports(writer: asyncio.StreamWriter) -> tuple[int, int] | None:
    local, remote = writer.get_extra_info("sockname"), writer.get_extra_info("peername")
    if isinstance(local, tuple) and isinstance(remote, tuple):
        return int(local[1]), int(remote[1])
    return None
