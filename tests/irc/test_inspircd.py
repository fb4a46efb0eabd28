"""The protocol client against a real InspIRCd (the test kit's ``inspircd`` fixtures)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bridgekit.testing.inspircd import InspIRCdServer
from bridges.irc.protocol import (
    ChannelSyncedEvent,
    ConnectedEvent,
    DisconnectedEvent,
    FloodControl,
    IRCConnection,
    JoinEvent,
    KickEvent,
    MessageEvent,
    ModeEvent,
    NickEvent,
    QuitEvent,
    ReplyEvent,
    TopicEvent,
    UnsafeLineError,
)

from .conftest import ConnFactory, connected, expect, unique


async def joined(conn: IRCConnection, channel: str) -> ChannelSyncedEvent:
    conn.join(channel)
    return await expect(conn, ChannelSyncedEvent, lambda e: e.channel == channel)


async def test_connect_negotiates_the_ircv3_caps(
    inspircd: InspIRCdServer, irc_connect: ConnFactory
) -> None:
    conn = irc_connect(inspircd.host, inspircd.port, unique("cap"))
    await connected(conn)
    event = await expect(conn, ConnectedEvent)
    for cap in ("server-time", "echo-message", "message-tags", "batch", "labeled-response"):
        assert cap in event.caps
    assert "sasl" not in conn.caps
    assert event.network == "BridgekitTest"


async def test_messages_both_ways_with_server_time_and_echo(
    inspircd: InspIRCdServer, irc_connect: ConnFactory
) -> None:
    alice = irc_connect(inspircd.host, inspircd.port, unique("alice"))
    bob = irc_connect(inspircd.host, inspircd.port, unique("bob"))
    await connected(alice, bob)
    channel = unique("#msg")
    await joined(alice, channel)
    await joined(bob, channel)

    sent = alice.send_message(channel, "hello <bob> & ünïcode")
    received = await expect(bob, MessageEvent)
    echo = await expect(alice, MessageEvent)
    assert received.text == echo.text == "hello <bob> & ünïcode"
    assert received.source.nick == alice.nick and received.conversation == channel
    assert "time" in received.tags and abs(received.time - datetime.now(UTC)) < timedelta(
        seconds=30
    )
    assert received.msgid and received.msgid == echo.msgid
    assert echo.is_echo and not received.is_echo
    assert echo.label is not None and echo.label == sent.labels[0]

    bob.send_message(alice.nick, "private reply", kind="notice")
    private = await expect(alice, MessageEvent)
    assert private.kind == "notice" and private.conversation == bob.nick and not private.is_channel

    bob.send_message(channel, "waves", kind="action")
    action = await expect(alice, MessageEvent)
    assert action.kind == "action" and action.text == "waves"


async def test_long_message_is_split_within_limits_and_reassembles(
    inspircd: InspIRCdServer, irc_connect: ConnFactory
) -> None:
    alice = irc_connect(inspircd.host, inspircd.port, unique("long"))
    bob = irc_connect(inspircd.host, inspircd.port, unique("read"))
    await connected(alice, bob)
    channel = unique("#long")
    await joined(alice, channel)
    await joined(bob, channel)

    text = " ".join(f"wörd{i}-€😀" for i in range(300))
    sent = alice.send_message(channel, text)
    assert len(sent.parts) > 3
    lines = [await expect(bob, MessageEvent) for _ in sent.parts]
    assert "".join(line.text for line in lines) == text
    for line in lines:
        relayed = f":{line.source.hostmask} PRIVMSG {channel} :{line.text}\r\n".encode()
        assert len(relayed) <= 512
    # The estimate is not wasteful: lines are at least 80% full.
    assert all(len(line.text.encode()) > 0.8 * len(lines[0].text.encode()) for line in lines[:-1])


async def test_nick_change_kick_topic_mode_and_quit_are_reported(
    inspircd: InspIRCdServer, irc_connect: ConnFactory
) -> None:
    op = irc_connect(inspircd.host, inspircd.port, unique("op"))
    user = irc_connect(inspircd.host, inspircd.port, unique("usr"))
    await connected(op, user)
    channel = unique("#ev")
    synced = await joined(op, channel)
    assert [(m.nick, m.prefixes) for m in synced.members] == [(op.nick, "@")]
    await joined(user, channel)

    old_nick, new_nick = user.nick, unique("ren")
    user.set_nick(new_nick)
    nick = await expect(op, NickEvent)
    assert (nick.source.nick, nick.new_nick, nick.channels) == (old_nick, new_nick, (channel,))
    self_nick = await expect(user, NickEvent)
    assert self_nick.is_self and user.nick == new_nick

    op.set_topic(channel, "a topic\nwith a newline")
    topic = await expect(user, TopicEvent)
    assert topic.topic == "a topic with a newline" and topic.setter == op.nick

    op.set_mode(channel, "+v", new_nick)
    mode = await expect(user, ModeEvent)
    assert [(c.adding, c.char, c.param, c.prefix) for c in mode.changes] == [
        (True, "v", new_nick, "+")
    ]
    assert [m.prefixes for m in user.members(channel) if m.nick == new_nick] == ["+"]

    op.kick(channel, new_nick, "out")
    kicked = await expect(user, KickEvent)
    assert kicked.is_self and kicked.reason == "out" and kicked.source.nick == op.nick
    assert channel not in [name for name, _ in user.channels]
    assert (await expect(op, KickEvent)).nick == new_nick

    await joined(user, channel)
    await expect(op, JoinEvent, lambda e: e.source.nick == new_nick)
    await user.stop("gone fishing")
    quit_ = await expect(op, QuitEvent)
    assert quit_.source.nick == new_nick and quit_.channels == (channel,)
    assert quit_.reason is not None and "gone fishing" in quit_.reason


async def test_nick_in_use_falls_back_during_registration(
    inspircd: InspIRCdServer, irc_connect: ConnFactory
) -> None:
    nick = unique("dup")
    first = irc_connect(inspircd.host, inspircd.port, nick)
    await connected(first)
    second = irc_connect(inspircd.host, inspircd.port, nick)
    await connected(second)
    assert first.nick == nick and second.nick == nick + "_"
    seen = []
    while not isinstance(event := await second.next_event(), ConnectedEvent):
        seen.append(event)
    assert event.nick == nick + "_"
    assert not [e for e in seen if isinstance(e, ReplyEvent)]  # handled, not reported


async def test_flood_of_300_lines_arrives_complete_and_in_order(
    inspircd: InspIRCdServer, irc_connect: ConnFactory
) -> None:
    sender = irc_connect(
        inspircd.host, inspircd.port, unique("fld"), flood=FloodControl(burst=10, interval=0.002)
    )
    reader = irc_connect(inspircd.host, inspircd.port, unique("rdr"))
    await connected(sender, reader)
    channel = unique("#flood")
    await joined(sender, channel)
    await joined(reader, channel)

    for i in range(300):
        sender.send_message(channel, f"line {i}")
    got = [(await expect(reader, MessageEvent)).text for _ in range(300)]
    assert got == [f"line {i}" for i in range(300)]


async def test_server_restart_reconnects_rejoins_and_delivers_queued_lines(
    inspircd_factory: Callable[..., InspIRCdServer],
    irc_connect: ConnFactory,
) -> None:
    server: InspIRCdServer = inspircd_factory()
    conn = irc_connect(server.host, server.port, unique("rec"))
    await connected(conn)
    channel = unique("#rec")
    await joined(conn, channel)

    await server.stop_async()
    disconnected = await expect(conn, DisconnectedEvent)
    assert disconnected.retry_in is not None
    conn.send_message(channel, "said while the server was down")
    await server.start_async()

    await expect(conn, ConnectedEvent, timeout=15)
    rejoin = await expect(conn, JoinEvent, lambda e: e.is_self)
    assert rejoin.channel == channel
    echo = await expect(conn, MessageEvent)
    assert echo.is_echo and echo.text == "said while the server was down"

    other = irc_connect(server.host, server.port, unique("oth"))
    await connected(other)
    synced = await joined(other, channel)
    assert conn.nick in {m.nick for m in synced.members}
    conn.send_message(channel, "after restart")
    assert (await expect(other, MessageEvent)).text == "after restart"


async def test_restart_helper_of_the_kit_also_recovers(
    inspircd_factory: Callable[..., InspIRCdServer],
    irc_connect: ConnFactory,
) -> None:
    server: InspIRCdServer = inspircd_factory()
    conn = irc_connect(server.host, server.port, unique("rst"))
    await connected(conn)
    channel = unique("#rst")
    await joined(conn, channel)
    await server.restart_async()
    await expect(conn, ConnectedEvent, timeout=15)
    assert (await expect(conn, JoinEvent, lambda e: e.is_self)).channel == channel
    await asyncio.sleep(0)


async def test_matrix_text_cannot_inject_commands(
    inspircd: InspIRCdServer, irc_connect: ConnFactory
) -> None:
    attacker = irc_connect(inspircd.host, inspircd.port, unique("inj"))
    witness = irc_connect(inspircd.host, inspircd.port, unique("wit"))
    await connected(attacker, witness)
    channel = unique("#inj")
    await joined(attacker, channel)
    await joined(witness, channel)

    attacker.send_message(channel, "hi\r\nQUIT :pwned\rJOIN #evil\x00\nPRIVMSG #x :y")
    with pytest.raises(UnsafeLineError):
        attacker.send_raw("PRIVMSG #x :a\r\nQUIT")
    with pytest.raises(UnsafeLineError):
        attacker.set_mode(channel, "+o\r\nQUIT")
    attacker.set_topic(channel, "topic\r\nQUIT :pwned")
    got = [(await expect(witness, MessageEvent)).text for _ in range(4)]
    assert got == ["hi", "QUIT :pwned", "JOIN #evil", "PRIVMSG #x :y"]
    topic = await expect(witness, TopicEvent)
    assert topic.topic == "topic QUIT :pwned"
    attacker.send_message(channel, "still here")
    assert (await expect(witness, MessageEvent)).text == "still here"
    assert attacker.connected
