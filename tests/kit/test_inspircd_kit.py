"""The test kit's InspIRCd: real IRC clients register, negotiate IRCv3 and talk through it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import irctokens

from bridgekit.testing.inspircd import InspIRCdServer

TIMEOUT = 10.0
BRIDGE_CAPS = {"server-time", "echo-message", "message-tags", "batch", "labeled-response"}


class RawIRCClient:
    """A bare IRC connection: asyncio streams plus irctokens, nothing of bridgekit's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.nick = ""
        self.offered_caps: dict[str, str] = {}
        self.isupport: dict[str, str] = {}

    @classmethod
    async def connect(cls, server: InspIRCdServer) -> RawIRCClient:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        return cls(reader, writer)

    async def send(self, command: str, *params: str) -> None:
        self.writer.write(f"{irctokens.build(command, list(params)).format()}\r\n".encode())
        await self.writer.drain()

    async def read_line(self) -> irctokens.Line | None:
        """Return the next line (answering PINGs on the way), or None at end of stream."""
        while True:
            raw = await self.reader.readline()
            if not raw:
                return None
            line = irctokens.tokenise(raw.rstrip(b"\r\n"))
            if line.command == "PING":
                await self.send("PONG", *line.params)
                continue
            return line

    async def wait_for(self, match: Callable[[irctokens.Line], bool]) -> irctokens.Line:
        async with asyncio.timeout(TIMEOUT):
            while True:
                line = await self.read_line()
                if line is None:
                    raise ConnectionError("server closed the connection")
                if match(line):
                    return line

    async def register(self, nick_prefix: str, request_caps: set[str]) -> None:
        """Run CAP LS 302, NICK/USER, CAP REQ and CAP END; return after ``001``."""
        self.nick = f"{nick_prefix}{secrets.token_hex(3)}"
        await self.send("CAP", "LS", "302")
        await self.send("NICK", self.nick)
        await self.send("USER", self.nick, "0", "*", f"{nick_prefix} test client")
        while True:
            ls = await self.wait_for(lambda line: line.command == "CAP")
            # Multi-line replies mark every line but the last with "*".
            more = ls.params[2] == "*"
            for token in ls.params[-1].split():
                name, _, value = token.partition("=")
                self.offered_caps[name] = value
            if not more:
                break
        if request_caps:
            await self.send("CAP", "REQ", " ".join(sorted(request_caps)))
            ack = await self.wait_for(lambda line: line.command == "CAP")
            assert ack.params[1] == "ACK", ack
            assert set(ack.params[-1].split()) == request_caps
        await self.send("CAP", "END")
        welcome = await self.wait_for(lambda line: line.command == "001")
        assert welcome.params[0] == self.nick
        while True:
            line = await self.wait_for(lambda line: line.command in ("005", "376", "422"))
            if line.command != "005":
                break
            for token in line.params[1:-1]:
                name, _, value = token.partition("=")
                self.isupport[name] = value

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.write(b"QUIT :bye\r\n")
            self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def test_registration_offers_ircv3_caps_and_oper(inspircd: InspIRCdServer) -> None:
    client = await RawIRCClient.connect(inspircd)
    try:
        await client.register("capcheck", {"server-time", "echo-message"})
        assert BRIDGE_CAPS <= client.offered_caps.keys(), client.offered_caps
        assert client.isupport["NETWORK"] == inspircd.network_name

        await client.send("OPER", inspircd.oper_name, inspircd.oper_password)
        reply = await client.wait_for(lambda line: line.command in ("381", "491", "464"))
        assert reply.command == "381", reply  # RPL_YOUREOPER
    finally:
        await client.close()


async def test_privmsg_reaches_the_other_client(inspircd: InspIRCdServer) -> None:
    caps = {"server-time", "echo-message", "message-tags"}
    alice, bob = await asyncio.gather(
        RawIRCClient.connect(inspircd), RawIRCClient.connect(inspircd)
    )
    try:
        # InspIRCd registers clients once a second: register both at the same time.
        await asyncio.gather(alice.register("alice", caps), bob.register("bob", caps))
        channel = f"#kit-{secrets.token_hex(4)}"
        await alice.send("JOIN", channel)
        await alice.wait_for(lambda line: line.command == "366")
        await bob.send("JOIN", channel)
        await bob.wait_for(lambda line: line.command == "366")
        joined = await alice.wait_for(lambda line: line.command == "JOIN")
        assert joined.hostmask.nickname == bob.nick

        text = "héllo from alice 🙂 :with a colon"
        await alice.send("PRIVMSG", channel, text)
        received = await bob.wait_for(lambda line: line.command == "PRIVMSG")
        echoed = await alice.wait_for(lambda line: line.command == "PRIVMSG")
    finally:
        await asyncio.gather(alice.close(), bob.close())

    assert received.params == [channel, text]
    assert received.hostmask.nickname == alice.nick
    assert received.tags is not None and echoed.tags is not None
    assert received.tags["time"].endswith("Z")
    assert received.tags["msgid"] == echoed.tags["msgid"]
    assert echoed.params == [channel, text]


async def test_restart_serves_again_on_the_same_port(
    inspircd_factory: Callable[..., InspIRCdServer],
) -> None:
    server = inspircd_factory()
    port = server.port
    before = await RawIRCClient.connect(server)
    try:
        await before.register("before", set())
        await server.restart_async()
        # The old connection ends (possibly after an ERROR line) when the server stops.
        async with asyncio.timeout(TIMEOUT):
            while (line := await before.read_line()) is not None:
                assert line.command in ("ERROR", "NOTICE"), line
    finally:
        await before.close()

    assert server.port == port
    assert server.running
    after = await RawIRCClient.connect(server)
    try:
        await after.register("after", {"server-time"})
        assert after.isupport["NETWORK"] == server.network_name
    finally:
        await after.close()
    assert "Startup complete" in server.log_path.read_text()


async def _pongs_after_ping_flood(server: InspIRCdServer, count: int, wait: float) -> int:
    client = await RawIRCClient.connect(server)
    try:
        await client.register("flood", set())
        client.writer.write(b"".join(f"PING :flood{i}\r\n".encode() for i in range(count)))
        await client.writer.drain()
        pongs = 0
        try:
            async with asyncio.timeout(wait):
                while pongs < count:
                    line = await client.read_line()
                    assert line is not None, "server closed the connection"
                    pongs += line.command == "PONG"
        except TimeoutError:
            pass
        return pongs
    finally:
        await client.close()


async def test_fakelag_off_answers_a_flood_and_on_throttles_it(
    inspircd: InspIRCdServer, inspircd_factory: Callable[..., InspIRCdServer]
) -> None:
    flood = 60
    throttled = inspircd_factory(fakelag=True)
    # Stock limits: a burst of about ten commands, then one per second.
    free_pongs, throttled_pongs = await asyncio.gather(
        _pongs_after_ping_flood(inspircd, flood, TIMEOUT),
        _pongs_after_ping_flood(throttled, flood, 1.0),
    )
    assert free_pongs == flood
    assert throttled_pongs < flood // 2
