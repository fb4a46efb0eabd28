"""The protocol client against a scripted server: SASL, fatal errors, rotation,
liveness, chathistory, CTCP and ISUPPORT edge cases."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import pytest

from bridges.irc.protocol import (
    ChatHistoryError,
    ChatHistoryTargetEvent,
    ConnectedEvent,
    CTCPEvent,
    DisconnectedEvent,
    FatalConnectionError,
    FatalErrorEvent,
    FatalReason,
    MessageEvent,
    ReconnectPolicy,
    SaslCredentials,
    ServerAddress,
    by_time,
)
from bridges.irc.protocol.config import ConnectionConfig
from bridges.irc.protocol.connection import IRCConnection
from bridges.irc.protocol.sendqueue import FloodControl

from .conftest import ConnFactory, expect
from .scripted import Peer, Script, ScriptedServer


async def test_sasl_plain_with_chunked_authenticate(irc_connect: ConnFactory) -> None:
    password = "p" * 500  # base64 of the payload spans two AUTHENTICATE chunks
    chunks: list[str] = []

    async def script(peer: Peer) -> None:
        await peer.negotiate("server-time sasl=PLAIN,EXTERNAL")
        assert peer.received[-1].params == ["PLAIN"]
        peer.send("AUTHENTICATE +")
        while True:
            chunk = (await peer.until("AUTHENTICATE")).params[0]
            chunks.append(chunk)
            if len(chunk) < 400:
                break
        payload = base64.b64decode("".join(c for c in chunks if c != "+"))
        if payload != f"\0account\0{password}".encode():
            peer.send(":srv 904 * :SASL authentication failed")
            return
        peer.send(":srv 900 * * account :You are now logged in", ":srv 903 * :SASL successful")
        await peer.until("CAP")
        peer.welcome()
        await peer.closed()

    async with ScriptedServer(script) as server:
        conn = irc_connect(
            "127.0.0.1", server.port, "sasl", sasl=SaslCredentials("PLAIN", "account", password)
        )
        async with asyncio.timeout(5):
            await conn.wait_connected()
        assert [len(c) for c in chunks] == [400, 280]
        assert "sasl" in conn.caps
        await conn.stop()
    assert not server.errors


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (":srv 904 * :SASL authentication failed", FatalReason.SASL_FAILED),
        (":srv 464 * :Password incorrect", FatalReason.BAD_PASSWORD),
        ("ERROR :Closing link: (x@127.0.0.1) [K-Lined: spam]", FatalReason.BANNED),
        (":srv 465 * :You are banned from this server", FatalReason.BANNED),
    ],
)
async def test_fatal_replies_stop_retrying(
    irc_connect: ConnFactory, reply: str, reason: FatalReason
) -> None:
    async def script(peer: Peer) -> None:
        await peer.negotiate("sasl")
        if peer.received[-1].command == "AUTHENTICATE":
            peer.send("AUTHENTICATE +")
            await peer.until("AUTHENTICATE")
        peer.send(reply)
        await peer.closed(1)

    async with ScriptedServer(script) as server:
        conn = irc_connect(
            "127.0.0.1",
            server.port,
            "fatal",
            password="server-pass",
            sasl=SaslCredentials("PLAIN", "a", "b") if "904" in reply else None,
        )
        with pytest.raises(FatalConnectionError) as info:
            async with asyncio.timeout(5):
                await conn.wait_connected()
        assert info.value.reason is reason
        fatal = await expect(conn, FatalErrorEvent)
        assert fatal.reason is reason and fatal.message
        await asyncio.sleep(0.5)  # several reconnect delays: no new attempt may come
        assert len(server.peers) == 1
        commands = [line.command for line in server.peers[0].received]
        assert commands.index("PASS") < commands.index("NICK")
    assert not server.errors


async def test_non_fatal_error_rotates_to_the_next_server() -> None:
    async def refuse(peer: Peer) -> None:
        await peer.until("USER")
        peer.send("ERROR :Closing link: (Throttled: Reconnecting too fast)")

    async def accept(peer: Peer) -> None:
        await peer.negotiate()
        peer.welcome()
        await peer.closed()

    async with ScriptedServer(refuse) as first, ScriptedServer(accept) as second:
        config = ConnectionConfig(
            servers=(
                ServerAddress("127.0.0.1", first.port, tls=False),
                ServerAddress("127.0.0.1", second.port, tls=False),
            ),
            nick="rot",
            reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.1),
        )
        conn = IRCConnection(config)
        conn.start()
        try:
            dropped = await expect(conn, DisconnectedEvent)
            assert "Throttled" in dropped.reason and dropped.retry_in is not None
            event = await expect(conn, ConnectedEvent)
            assert event.server == f"127.0.0.1:{second.port}"
            assert event.network == "Scripted"
        finally:
            await conn.stop()


async def test_silent_server_is_pinged_then_dropped_and_reconnected(
    irc_connect: ConnFactory,
) -> None:
    async def silent(peer: Peer) -> None:
        await peer.negotiate()
        peer.welcome()
        await peer.until("PING")  # the client's liveness check; never answered
        await peer.closed()

    async with ScriptedServer(silent) as server:
        conn = irc_connect("127.0.0.1", server.port, "ping", ping_interval=0.2, ping_timeout=0.3)
        await expect(conn, ConnectedEvent)
        dropped = await expect(conn, DisconnectedEvent)
        assert dropped.reason == "ping timeout"
        await expect(conn, ConnectedEvent)
        assert len(server.peers) == 2
    assert not server.errors


async def test_server_pings_are_answered_first(irc_connect: ConnFactory) -> None:
    ponged = asyncio.Event()

    async def script(peer: Peer) -> None:
        await peer.negotiate()
        peer.welcome()
        await peer.until("JOIN")
        peer.send("PING :token123")
        pong = await peer.until("PONG")
        assert pong.params == ["token123"]
        ponged.set()
        await peer.closed()

    async with ScriptedServer(script) as server:
        conn = irc_connect(
            "127.0.0.1", server.port, "pong", flood=FloodControl(burst=1, interval=60)
        )
        conn.join("#a")
        for i in range(5):
            conn.send_message("#a", f"queued {i}")  # held back by flood control
        await expect(conn, ConnectedEvent)
        async with asyncio.timeout(5):
            await ponged.wait()
        assert not any(line.command == "PRIVMSG" for line in server.peers[0].received)
    assert not server.errors


async def test_ctcp_version_is_answered_and_reported(irc_connect: ConnFactory) -> None:
    answered = asyncio.Event()

    async def script(peer: Peer) -> None:
        await peer.negotiate()
        peer.welcome()
        peer.send(f":asker!a@h PRIVMSG {peer.nick} :\x01VERSION\x01")
        reply = await peer.until("NOTICE")
        assert reply.params == ["asker", "\x01VERSION bridgekit\x01"]
        answered.set()
        await peer.closed()

    async with ScriptedServer(script) as server:
        conn = irc_connect("127.0.0.1", server.port, "ctcp")
        event = await expect(conn, CTCPEvent)
        assert event.command == "VERSION" and event.source.nick == "asker"
        async with asyncio.timeout(5):
            await answered.wait()
    assert not server.errors


async def test_unknown_casemapping_and_linelen_are_handled(irc_connect: ConnFactory) -> None:
    async def script(peer: Peer) -> None:
        await peer.negotiate()
        peer.welcome("CASEMAPPING=rfc7613 LINELEN=2048 NETWORK=Big")
        await peer.closed()

    async with ScriptedServer(script) as server:
        conn = irc_connect("127.0.0.1", server.port, "case")
        event = await expect(conn, ConnectedEvent)
        assert event.network == "Big"
        assert conn.text_budget("#chan") > 1800
        assert conn.casefold("ABC") == "abc"
    assert not server.errors


def _history_script(caps: str, labeled: bool) -> tuple[list[str], Script]:
    requests: list[str] = []

    async def script(peer: Peer) -> None:
        await peer.negotiate(caps)
        peer.welcome("CHATHISTORY=50 NETWORK=Hist")
        request = await peer.until("CHATHISTORY")
        requests.append(" ".join(request.params))
        label = (request.tags or {}).get("label")
        tag = f"@label={label} " if labeled and label else ""
        peer.send(
            f"{tag}:srv BATCH +h1 chathistory #hist",
            "@batch=h1;time=2024-01-01T00:00:01.000Z;msgid=a :x!x@h PRIVMSG #hist :old one",
            "@batch=h1;time=2024-01-01T00:00:02.000Z;msgid=b :x!x@h PRIVMSG #hist :old two",
            ":srv BATCH -h1",
            "@time=2024-01-01T00:01:00.000Z;msgid=c :x!x@h PRIVMSG #hist :live",
        )
        second = await peer.until("CHATHISTORY")
        requests.append(" ".join(second.params))
        peer.send(":srv FAIL CHATHISTORY INVALID_TARGET CHATHISTORY #nope :No such target")
        await peer.closed()

    return requests, script


@pytest.mark.parametrize("labeled", [True, False], ids=["labeled", "fifo"])
async def test_chathistory_collects_the_batch(irc_connect: ConnFactory, labeled: bool) -> None:
    caps = "server-time batch message-tags draft/chathistory"
    if labeled:
        caps += " labeled-response"
    requests, script = _history_script(caps, labeled)
    async with ScriptedServer(script) as server:
        conn = irc_connect("127.0.0.1", server.port, "hist")
        await expect(conn, ConnectedEvent)
        async with asyncio.timeout(5):
            history = await conn.chathistory("LATEST", "#hist", "*", 500)
        assert [e.text for e in history if isinstance(e, MessageEvent)] == ["old one", "old two"]
        assert [e.msgid for e in history] == ["a", "b"]
        live = await expect(conn, MessageEvent)
        assert live.text == "live"  # history was not replayed as live messages
        with pytest.raises(ChatHistoryError, match="INVALID_TARGET"):
            async with asyncio.timeout(5):
                await conn.chathistory("AFTER", "#nope", by_time(live.time), 10)
        assert requests == [
            "LATEST #hist * 50",
            "AFTER #nope timestamp=2024-01-01T00:01:00.000Z 10",
        ]
    assert not server.errors


async def test_chathistory_targets_lists_the_chats_with_news(irc_connect: ConnFactory) -> None:
    requests: list[str] = []

    async def script(peer: Peer) -> None:
        await peer.negotiate("server-time batch message-tags labeled-response draft/chathistory")
        peer.welcome()
        request = await peer.until("CHATHISTORY")
        requests.append(" ".join(request.params))
        label = (request.tags or {})["label"]
        peer.send(
            f"@label={label} :srv BATCH +t1 draft/chathistory-targets",
            "@batch=t1 :srv CHATHISTORY TARGETS #chan 2024-01-01T00:00:05.000Z",
            "@batch=t1 :srv CHATHISTORY TARGETS Dave timestamp=2024-01-01T00:00:09.000Z",
            ":srv BATCH -t1",
            ":srv CHATHISTORY TARGETS #stray 2024-01-01T00:00:01.000Z",
        )
        await peer.closed()

    async with ScriptedServer(script) as server:
        conn = irc_connect("127.0.0.1", server.port, "targets")
        await expect(conn, ConnectedEvent)
        since = datetime(2024, 1, 1, tzinfo=UTC)
        async with asyncio.timeout(5):
            found = await conn.chathistory_targets(since, since + timedelta(minutes=1), 20)
        assert [(t.target, t.latest) for t in found] == [
            ("#chan", since + timedelta(seconds=5)),
            ("Dave", since + timedelta(seconds=9)),
        ]
        assert requests == [
            "TARGETS timestamp=2024-01-01T00:00:00.000Z timestamp=2024-01-01T00:01:00.000Z 20"
        ]
        # A TARGETS line outside the answer's batch is no answer to anything.
        stray = await expect(conn, ChatHistoryTargetEvent)
        assert stray.target == "#stray"
    assert not server.errors


async def test_chathistory_needs_the_cap(irc_connect: ConnFactory) -> None:
    async def script(peer: Peer) -> None:
        await peer.negotiate()
        peer.welcome()
        await peer.closed()

    async with ScriptedServer(script) as server:
        conn = irc_connect("127.0.0.1", server.port, "nohist")
        await expect(conn, ConnectedEvent)
        with pytest.raises(ChatHistoryError):
            await conn.chathistory("LATEST", "#x")


async def test_stop_while_reconnecting_ends_the_event_stream() -> None:
    async def hang_up(peer: Peer) -> None:
        await peer.until("USER")

    async with ScriptedServer(hang_up) as server:
        config = ConnectionConfig(
            servers=(ServerAddress("127.0.0.1", server.port, tls=False),),
            nick="stopper",
            reconnect=ReconnectPolicy(initial_delay=30, max_delay=30, jitter=0),
        )
        conn = IRCConnection(config)
        conn.start()
        dropped = await expect(conn, DisconnectedEvent)
        assert dropped.retry_in == 30
        async with asyncio.timeout(2):
            await conn.stop()
            remaining = [event async for event in conn.events()]
        (last,) = remaining
        assert isinstance(last, DisconnectedEvent) and last.retry_in is None
        assert len(server.peers) == 1
