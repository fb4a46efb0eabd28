"""IRC commands sent for a Matrix user who waits for the server's answer.

Joining, changing the nick, WHOIS, KICK, MODE and TOPIC each end in an event that
shows the command worked or an error numeric that refuses it; the user hears which.
With labeled-response the answer carries the command's label (:mod:`tracking`);
without it, each command knows what its answer looks like. The methods are mixed into
:class:`~bridges.irc.client.IRCClient`, which provides what is declared here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import ClassVar

from bridgekit.network import (
    BridgeError,
    ChatInfo,
    EventSender,
    LoginHandle,
    PortalKey,
    RemoteChatInfoChange,
)

from .protocol import IRCConnection, IRCEvent, KickEvent, ModeEvent, ReplyEvent, UnsafeLineError
from .protocol.safety import clean_text
from .tracking import Accept, Outbox, wait_answer

_ANSWER_TIMEOUT = 10.0
# Numerics of a WHOIS answer (user, server, operator, idle, end, channels, account,
# away, secure connection, host, certificate fingerprint...) and of a missing nick.
_WHOIS_CODES = frozenset(
    {"276", "301", "307", "311", "312", "313", "317", "318", "319", "320", "330"}
    | {"335", "338", "378", "379", "401", "406", "671"}
)
_WHOIS_END = frozenset({"318", "401", "406"})
# Errors that refuse a KICK or a MODE (no such nick or channel, not on that channel,
# not an op, unknown mode, bad parameter...).
_KICK_REFUSED = frozenset({"401", "403", "441", "442", "482"})
_MODE_REFUSED = frozenset(
    {"401", "403", "441", "442", "467", "472", "478", "482", "501", "502", "696"}
)


class Requests:
    """The commands of :class:`~bridges.irc.client.IRCClient` that wait for answers."""

    #: The outcome key of a nick change (see :meth:`expect_outcome`).
    NICK_OUTCOME: ClassVar[str] = "nick"

    login: LoginHandle
    conn: IRCConnection | None
    outbox: Outbox
    topics: dict[str, str]
    _outcomes: dict[str, asyncio.Future[IRCEvent | None]]

    @property
    def network_name(self) -> str:
        raise NotImplementedError

    def casefold(self, name: str) -> str:
        raise NotImplementedError

    def require_connection(self) -> IRCConnection:
        raise NotImplementedError

    def in_channel(self, channel: str) -> str | None:
        raise NotImplementedError

    def portal_key(self, target: str) -> PortalKey:
        raise NotImplementedError

    async def join(self, channel: str, key: str | None = None) -> IRCEvent | None:
        """Join ``channel`` and wait for the outcome: its ``ChannelSyncedEvent`` (the
        portal is created then), the error numeric the server refused it with, or
        ``None`` when no answer came in time (while disconnected the channel is
        joined after the reconnect)."""
        conn = self.conn
        if conn is None:
            raise BridgeError(f"Not connected to {self.network_name}: send `reconnect`.")
        if not conn.is_channel(channel):
            raise BridgeError(f"`{channel}` is not a channel name: IRC channels start with #.")
        outcome = self.join_key(channel)
        future = self.expect_outcome(outcome)
        try:
            conn.join(channel, key)
        except UnsafeLineError as e:
            self.settle(outcome, None)
            raise BridgeError(f"Cannot join `{channel}`: {e}.") from e
        if not conn.connected:
            self.settle(outcome, None)
            return None
        return await wait_answer(future, _ANSWER_TIMEOUT)

    async def change_nick(self, nick: str) -> IRCEvent | None:
        """Ask for ``nick``: the ``NickEvent`` of the change, the error numeric the
        server refused it with, or ``None`` when no answer came in time."""
        conn = self.require_connection()
        # Not a labeled request: InspIRCd 3 answers a labeled NICK with the new nick as
        # the source, which makes the change look like somebody else's.
        future = self.expect_outcome(self.NICK_OUTCOME)
        conn.set_nick(nick)
        return await wait_answer(future, _ANSWER_TIMEOUT)

    # Outcomes of commands the server answers without a label we could match

    def expect_outcome(self, key: str) -> asyncio.Future[IRCEvent | None]:
        """A future for the outcome of a command (``join:<folded channel>`` or
        :attr:`NICK_OUTCOME`): the event that shows it worked, the error numeric the
        server refused it with, or ``None`` if the connection dropped."""
        self.settle(key, None)
        future: asyncio.Future[IRCEvent | None] = asyncio.get_running_loop().create_future()
        self._outcomes[key] = future
        return future

    def settle(self, key: str, outcome: IRCEvent | None) -> bool:
        """Resolve the waiter for ``key``; ``False`` if nobody waited."""
        future = self._outcomes.pop(key, None)
        if future is None:
            return False
        if not future.done():
            future.set_result(outcome)
        return True

    def settle_all(self) -> None:
        """The connection dropped: nothing pending will be answered."""
        for key in list(self._outcomes):
            self.settle(key, None)

    def join_key(self, channel: str) -> str:
        """The outcome key of joining ``channel``."""
        return f"join:{self.casefold(channel)}"

    async def whois(self, nick: str) -> list[ReplyEvent] | None:
        """The server's WHOIS numerics about ``nick`` (a 401 when nobody uses it), or
        ``None`` when no answer came in time."""
        conn = self.require_connection()
        folded = self.casefold(nick)

        def about(event: IRCEvent) -> bool:
            return (
                isinstance(event, ReplyEvent)
                and event.code in _WHOIS_CODES
                and bool(event.params)
                and self.casefold(event.params[0]) == folded
            )

        def end(event: IRCEvent) -> bool:
            return isinstance(event, ReplyEvent) and event.code in _WHOIS_END

        label = self.outbox.new_label() if "labeled-response" in conn.caps else None
        future = self.outbox.collect(label, about, end)
        try:
            conn.send("WHOIS", nick, tags={"label": label} if label else None)
        except UnsafeLineError as e:
            self.outbox.forget(future)
            raise BridgeError(f"`{nick}` is not a nick.") from e
        with contextlib.suppress(TimeoutError):
            lines = await asyncio.wait_for(asyncio.shield(future), _ANSWER_TIMEOUT)
            return [line for line in lines if isinstance(line, ReplyEvent)]
        self.outbox.forget(future)
        return None

    async def ask(self, accept: Accept, command: str, *params: str) -> IRCEvent | None:
        """Send a command and wait for what answers it: with labeled-response the event
        carrying its label (or an error numeric), otherwise the first event ``accept``
        matches (it must match the refusing numerics too). ``None`` when nothing came
        in time. The answer is bridged as usual, refusals are not."""
        conn = self.require_connection()
        label = self.outbox.new_label() if "labeled-response" in conn.caps else None
        if label is not None:
            future = self.outbox.expect(label, accept, swallow=False)
        else:
            future = self.outbox.watch(accept, swallow=False)
        try:
            conn.send(command, *params, tags={"label": label} if label else None)
        except UnsafeLineError as e:
            self.outbox.forget(future)
            raise BridgeError(f"Not sent: {e}.") from e
        answer = await wait_answer(future, _ANSWER_TIMEOUT)
        if answer is None:
            self.outbox.forget(future)
        return answer

    async def kick(self, channel: str, nick: str, reason: str | None) -> IRCEvent | None:
        """Kick ``nick`` from ``channel``: the ``KickEvent``, the refusing numeric, or
        ``None`` when no answer came in time."""
        names = {self.casefold(channel), self.casefold(nick)}

        def answer(event: IRCEvent) -> bool:
            if isinstance(event, KickEvent):
                return {self.casefold(event.channel), self.casefold(event.nick)} == names
            return _refusal(event, _KICK_REFUSED, names, self.casefold)

        params = [channel, nick, clean_text(reason)] if reason else [channel, nick]
        return await self.ask(answer, "KICK", *params)

    async def mode(self, target: str, changes: list[str]) -> IRCEvent | None:
        """Change (or with no ``changes`` show) the modes of a channel or our nick: the
        ``ModeEvent`` or the current modes' numeric (324, 221), the refusing numeric,
        or ``None`` when no answer came in time (a change that changes nothing gets
        none)."""
        folded = self.casefold(target)

        def answer(event: IRCEvent) -> bool:
            if isinstance(event, ModeEvent):
                return self.casefold(event.target) == folded
            if isinstance(event, ReplyEvent) and event.code in ("324", "221") and event.params:
                return event.code == "221" or self.casefold(event.params[0]) == folded
            return _refusal(event, _MODE_REFUSED, None, self.casefold)

        return await self.ask(answer, "MODE", target, *changes)

    async def set_topic(self, channel: str, topic: str) -> str:
        """Set the topic of ``channel`` (which must be joined) and return it as sent;
        raises ``BridgeError`` when the server refuses. The change is not bridged back
        to the room: the caller has done that or does it."""
        conn = self.require_connection()
        joined = self.in_channel(channel)
        if joined is None:
            raise BridgeError(f"You are not in {channel}.")
        topic = clean_text(topic)
        label = self.outbox.new_label() if "labeled-response" in conn.caps else None
        future = self.outbox.expect_sent("topic", joined, (topic,), (label,))
        conn.send("TOPIC", joined, topic, tags={"label": label} if label else None)
        answer = await wait_answer(future, _ANSWER_TIMEOUT)
        if isinstance(answer, ReplyEvent):
            raise BridgeError(f"{self.network_name} refused the topic: {answer.message}")
        self.topics[self.casefold(joined)] = topic
        return topic

    async def share_topic(self, channel: str, topic: str) -> None:
        """Show a topic we set on IRC (not from the room) in the channel's room."""
        await self.login.queue_remote_event(
            RemoteChatInfoChange(
                portal=self.portal_key(channel),
                sender=EventSender(is_from_me=True),
                info=ChatInfo(topic=topic),
            )
        )


def _refusal(
    event: IRCEvent,
    codes: frozenset[str],
    about: set[str] | None,
    casefold: Callable[[str], str],
) -> bool:
    """Whether ``event`` is one of the error numerics ``codes`` (about one of the folded
    names ``about``, when given)."""
    if not isinstance(event, ReplyEvent) or event.code not in codes or not event.params:
        return False
    return about is None or casefold(event.params[0]) in about
