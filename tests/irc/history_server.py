"""A small IRC network that keeps history (IRCv3 ``draft/chathistory``), which the
session's InspIRCd 3 cannot: just enough of a server for the bridge to log in, join
channels, talk, drop and reconnect, and ask what it missed.

Built on :class:`~tests.irc.scripted.ScriptedServer`. The test plays the people on the
network with :meth:`HistoryNetwork.say` (in a channel) and
:meth:`HistoryNetwork.say_privately`, takes the network down and up again, and
reads the CHATHISTORY requests it received in :attr:`HistoryNetwork.requests`. It
offers ``server-time``, ``batch``, ``message-tags``, ``echo-message``,
``draft/chathistory`` and ``draft/relaymsg`` (a client may speak in a channel as a
nick of its choosing with the ``/`` separator in it, ``RELAYMSG #chan name/m :text``;
everybody sees the line from that nick, tagged ``draft/relaymsg=<the relayer>``), but
not ``labeled-response``, so the bridge matches answers the way it must on servers
without labels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import irctokens

from .scripted import Peer, ScriptedServer

CAPS = "server-time batch message-tags echo-message draft/chathistory draft/relaymsg"
ISUPPORT = "CHANTYPES=# CASEMAPPING=ascii PREFIX=(ov)@+ CHATHISTORY=100 NETWORK=History RELAYMSG=/"
SERVER = "history.test"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _now() -> datetime:
    """Now, to the millisecond (what a time tag can carry)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _pair(one: str, other: str) -> str:
    """The history key of the private chat between two nicks."""
    return " ".join(sorted((one.lower(), other.lower())))


@dataclass(frozen=True, slots=True)
class Said:
    """One message the network keeps."""

    msgid: str
    time: datetime
    source: str
    command: str
    target: str
    text: str
    relayed_by: str | None = None

    def line(self, batch: str | None = None) -> str:
        tags = f"time={_stamp(self.time)};msgid={self.msgid}"
        if self.relayed_by is not None:
            tags += f";draft/relaymsg={self.relayed_by}"
        if batch is not None:
            tags += f";batch={batch}"
        return f"@{tags} :{self.source} {self.command} {self.target} :{self.text}"


class HistoryNetwork:
    """The network: ``async with HistoryNetwork() as network``."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.server = ScriptedServer(self._serve)
        self.up = True
        self.requests: list[str] = []
        #: The RELAYMSG commands received (their parameters).
        self.relayed: list[str] = []
        self._history: dict[str, list[Said]] = {}
        self._members: dict[str, dict[Peer, str]] = {}
        self._residents: dict[str, set[str]] = {}
        self._ids = itertools.count(1)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def errors(self) -> list[BaseException]:
        """What went wrong in the server's scripts (a test asserts it stays empty)."""
        return self.server.errors

    async def __aenter__(self) -> HistoryNetwork:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.__aexit__(*exc_info)

    # What the test does

    def say(self, channel: str, nick: str, text: str) -> Said:
        """``nick`` (somebody with no connection of their own) says ``text`` in
        ``channel``: kept in the history and sent to whoever is in the channel."""
        self._residents.setdefault(channel.lower(), set()).add(nick)
        return self._store_and_send(f"{nick}!{nick}@{SERVER}", "PRIVMSG", channel, text, None)

    def say_privately(self, nick: str, to: str, text: str) -> Said:
        """``nick`` sends ``text`` to the nick ``to`` (delivered if ``to`` is online)."""
        said = self._store(f"{nick}!{nick}@{SERVER}", "PRIVMSG", to, _pair(nick, to), text)
        for peer in self.server.peers:
            if peer.nick.lower() == to.lower() and not peer.writer.is_closing():
                peer.send(said.line())
        return said

    def said_in(self, channel: str) -> list[Said]:
        """What the channel's history holds, oldest first."""
        return list(self._history.get(channel.lower(), []))

    def go_down(self) -> None:
        """Close every connection and refuse new ones until :meth:`come_up`."""
        self.up = False
        for peer in self.server.peers:
            peer.writer.close()
        self._members.clear()

    def come_up(self) -> None:
        """Accept connections again."""
        self.up = True

    # The server

    async def _serve(self, peer: Peer) -> None:
        if not self.up:
            return
        await peer.negotiate(CAPS)
        peer.welcome(ISUPPORT)
        try:
            while True:
                line = await peer.line(timeout=3600)
                if line.command == "QUIT":
                    return
                self._handle(peer, line)
        finally:
            for members in self._members.values():
                members.pop(peer, None)

    def _handle(self, peer: Peer, line: irctokens.Line) -> None:
        command, params = line.command, line.params
        if command == "PING":
            peer.send(f":{SERVER} PONG {SERVER} :{params[0] if params else ''}")
        elif command == "JOIN" and params:
            for channel in params[0].split(","):
                self._join(peer, channel)
        elif command == "PART" and params:
            for channel in params[0].split(","):
                self._send_to(channel, f":{self._mask(peer)} PART {channel}")
                self._members.get(channel.lower(), {}).pop(peer, None)
        elif command in ("PRIVMSG", "NOTICE") and len(params) >= 2:
            self._store_and_send(self._mask(peer), command, params[0], params[1], peer)
        elif command == "RELAYMSG" and len(params) >= 3:
            self.relayed.append(" ".join(params))
            channel, nick, text = params[0], params[1], params[2]
            if "/" not in nick or not channel.startswith("#"):
                peer.send(f"FAIL RELAYMSG INVALID_NICK {channel} {nick} :Nick needs a /")
                return
            source = f"{nick}!relay@{SERVER}"
            self._store_and_send(source, "PRIVMSG", channel, text, peer, relayed_by=peer.nick)
        elif command == "CHATHISTORY" and len(params) >= 4:
            self.requests.append(" ".join(params))
            self._history_batch(peer, params)

    def _mask(self, peer: Peer) -> str:
        return f"{peer.nick}!{peer.nick}@{SERVER}"

    def _join(self, peer: Peer, channel: str) -> None:
        members = self._members.setdefault(channel.lower(), {})
        members[peer] = peer.nick
        self._send_to(channel, f":{self._mask(peer)} JOIN {channel}")
        names = sorted({*members.values(), *self._residents.get(channel.lower(), ())})
        peer.send(
            f":{SERVER} 353 {peer.nick} = {channel} :{' '.join(names)}",
            f":{SERVER} 366 {peer.nick} {channel} :End of /NAMES list.",
        )

    def _send_to(self, channel: str, line: str, skip: Peer | None = None) -> None:
        for member in self._members.get(channel.lower(), {}):
            if member is not skip:
                member.send(line)

    def _store(
        self,
        source: str,
        command: str,
        target: str,
        key: str,
        text: str,
        relayed_by: str | None = None,
    ) -> Said:
        said = Said(f"h{next(self._ids)}", _now(), source, command, target, text, relayed_by)
        self._history.setdefault(key, []).append(said)
        return said

    def _store_and_send(
        self,
        source: str,
        command: str,
        target: str,
        text: str,
        sender: Peer | None,
        relayed_by: str | None = None,
    ) -> Said:
        if not target.startswith("#"):
            nick = source.split("!", 1)[0]
            said = self._store(source, command, target, _pair(nick, target), text)
            if sender is not None:
                sender.send(said.line())  # echo-message
            return said
        said = self._store(source, command, target, target.lower(), text, relayed_by)
        # echo-message: the sender gets its own message back, with the msgid.
        self._send_to(target, said.line())
        if sender is not None and sender not in self._members.get(target.lower(), {}):
            sender.send(said.line())
        return said

    def _targets_batch(self, peer: Peer, params: list[str]) -> None:
        since = datetime.fromisoformat(params[1].removeprefix("timestamp="))
        until = datetime.fromisoformat(params[2].removeprefix("timestamp="))
        batch = f"b{next(self._ids)}"
        peer.send(f":{SERVER} BATCH +{batch} draft/chathistory-targets")
        for key, kept in self._history.items():
            times = [said.time for said in kept if since < said.time < until]
            if not times:
                continue
            if key.startswith("#"):
                target = kept[0].target
            elif peer.nick.lower() in key.split(" "):
                target = next(n for n in key.split(" ") if n != peer.nick.lower())
            else:
                continue
            peer.send(f"@batch={batch} :{SERVER} CHATHISTORY TARGETS {target} {_stamp(max(times))}")
        peer.send(f":{SERVER} BATCH -{batch}")

    def _history_batch(self, peer: Peer, params: list[str]) -> None:
        subcommand, target, selector, limit = params[0].upper(), params[1], params[2], params[3]
        if subcommand == "TARGETS":
            self._targets_batch(peer, params)
            return
        key = target.lower() if target.startswith("#") else _pair(peer.nick, target)
        kept = self._history.get(key, [])
        if selector == "*":
            found = kept
        else:
            kind, _, value = selector.partition("=")
            if kind == "msgid":
                index = next((i for i, said in enumerate(kept) if said.msgid == value), -1)
                before, after = kept[:index] if index >= 0 else [], kept[index + 1 :]
            else:
                moment = datetime.fromisoformat(value)
                before = [said for said in kept if said.time < moment]
                after = [said for said in kept if said.time > moment]
            found = before if subcommand == "BEFORE" else after
        count = int(limit)
        found = found[:count] if subcommand == "AFTER" else found[-count:]
        batch = f"b{next(self._ids)}"
        peer.send(f":{SERVER} BATCH +{batch} chathistory {target}")
        peer.send(*(said.line(batch) for said in found))
        peer.send(f":{SERVER} BATCH -{batch}")
