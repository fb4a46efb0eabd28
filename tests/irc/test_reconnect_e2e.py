"""Losing the IRC server and coming back, end to end: a restart of a private InspIRCd
(reconnect, rejoin, same rooms), and catching up on what was said while the bridge
was away, from a network that keeps history (draft/chathistory). Each test runs on
SQLite or PostgreSQL (``database_url``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bridgekit.network import BridgeStateEvent, RemoteMessage
from bridgekit.testing.bridge import run_bridge
from bridgekit.testing.inspircd import InspIRCdServer
from bridges.irc import backfill
from bridges.irc.connector import IRCConnector
from bridges.irc.protocol import (
    ChannelSyncedEvent,
    IRCConnection,
    JoinEvent,
    MessageEvent,
    QuitEvent,
)

from .conftest import (
    NETWORK,
    BridgeFactory,
    ConnFactory,
    IRCHarness,
    connected,
    eventually,
    expect,
    irc_log_in,
    irc_overrides,
    ping_state,
    unique,
    wait_notice,
)
from .history_server import HistoryNetwork


async def _join_portal(alice: Any, harness: IRCHarness, management: str, channel: str) -> str:
    await alice.send_text(management, f"join {channel}")
    room_id: str = await alice.wait_for_invite(lambda invite: invite.name == channel)
    await alice.join(room_id)
    await wait_notice(alice, management, harness.bot, f"Joined {channel}")
    return room_id


def _said_by(nick: str) -> Any:
    return lambda e: not e.is_echo and e.source.nick == nick


def _state_is(harness: IRCHarness, nick: str, state: BridgeStateEvent) -> Any:
    async def login_state() -> bool:
        login = harness.bridge.logins.get(f"{NETWORK}/{nick}")  # type: ignore[call-overload]
        return login is not None and login.state == state

    return login_state


async def test_irc_server_restart_reconnects_and_rejoins(
    inspircd_factory: Any,
    irc_bridge_for: BridgeFactory,
    matrix_user: Any,
    irc_connect: ConnFactory,
) -> None:
    server: InspIRCdServer = inspircd_factory()
    async with irc_bridge_for(server) as harness:
        bob = irc_connect(server.host, server.port, unique("bob"))
        alice = await matrix_user("alice")
        nick, channel = unique("al"), unique("#phoenix")
        await connected(bob)
        bob.join(channel)
        await expect(bob, ChannelSyncedEvent, lambda e: e.channel == channel)
        management = await irc_log_in(alice, harness, nick)
        room_id = await _join_portal(alice, harness, management, channel)
        await expect(bob, JoinEvent, lambda e: e.source.nick == nick)
        await eventually(_state_is(harness, nick, BridgeStateEvent.CONNECTED))
        assert await ping_state(alice, harness, management) == "CONNECTED"

        await server.stop_async()
        await eventually(_state_is(harness, nick, BridgeStateEvent.TRANSIENT_DISCONNECT))
        assert await ping_state(alice, harness, management) == "TRANSIENT_DISCONNECT"

        await server.start_async()
        await eventually(_state_is(harness, nick, BridgeStateEvent.CONNECTED), timeout=30)
        assert await ping_state(alice, harness, management) == "CONNECTED"

        # Both came back and rejoined on their own (whoever was first, bob sees alice).
        async def both_in_channel() -> bool:
            return bob.connected and nick.lower() in {m.nick.lower() for m in bob.members(channel)}

        await eventually(both_in_channel, timeout=30)
        bob.send_message(channel, "the server is back")
        bob_ghost = harness.ghost(bob.nick)
        await alice.wait_for_message(room_id, sender=bob_ghost, body="the server is back")
        await alice.send_text(room_id, "so are we")
        back = await expect(bob, MessageEvent, _said_by(nick))
        assert (back.text, back.conversation) == ("so are we", channel)


async def _text(message: RemoteMessage) -> str:
    converted = await message.convert(None)  # type: ignore[arg-type]
    return str(converted.parts[0].content["body"])


async def _bodies(alice: Any, room_id: str, sender: str) -> list[str]:
    return [
        e["content"]["body"]
        for e in alice.timeline(room_id)
        if e["type"] == "m.room.message" and e["sender"] == sender
    ]


async def test_what_was_said_while_away_is_bridged_once(
    irc_bridge_for: BridgeFactory, matrix_user: Any
) -> None:
    async with HistoryNetwork() as network, irc_bridge_for(network) as harness:
        alice = await matrix_user("alice")
        nick, channel = unique("al"), unique("#hist")
        management = await irc_log_in(alice, harness, nick)
        room_id = await _join_portal(alice, harness, management, channel)
        bob, dave = harness.ghost("bob"), harness.ghost("dave")
        network.say(channel, "bob", "before")
        await alice.wait_for_message(room_id, sender=bob, body="before")
        network.say_privately("dave", nick, "a private word")
        dm_id = await alice.wait_for_invite(lambda invite: invite.is_direct)
        await alice.join(dm_id)
        await alice.wait_for_message(dm_id, sender=dave, body="a private word")

        # The connection drops: what is said meanwhile comes after the reconnect.
        network.go_down()
        await eventually(_state_is(harness, nick, BridgeStateEvent.TRANSIENT_DISCONNECT))
        network.say(channel, "bob", "missed one")
        network.say_privately("dave", nick, "missed in private")
        network.say(channel, "bob", "missed two")
        network.come_up()
        await alice.wait_for_message(room_id, sender=bob, body="missed two")
        await alice.wait_for_message(dm_id, sender=dave, body="missed in private")
        network.say(channel, "bob", "live again")
        await alice.wait_for_message(room_id, sender=bob, body="live again")

        # The bridge stops: after its restart it asks from where it stopped.
        await harness.bridge.stop()
        network.say(channel, "bob", "while stopped")
        network.say_privately("dave", nick, "private while stopped")
        async with harness.restart() as bridge:
            harness.bridge = bridge
            await alice.wait_for_message(room_id, sender=bob, body="while stopped")
            await alice.wait_for_message(dm_id, sender=dave, body="private while stopped")
            network.say(channel, "bob", "after the restart")
            await alice.wait_for_message(room_id, sender=bob, body="after the restart")

            # The same history, a page at a time (BackfillingNetwork.fetch_messages).
            client = bridge.connector.clients[f"{NETWORK}/{nick}"]  # type: ignore[attr-defined]
            portal = client.portal_key(channel)
            newest = await client.fetch_messages(portal, None, 2)
            assert [await _text(m) for m in newest.messages] == [
                "while stopped",
                "after the restart",
            ]
            assert newest.has_more
            first = await client.fetch_messages(portal, None, 100)
            later = await client.fetch_messages(portal, first.messages[2].id, 2)
            assert [await _text(m) for m in later.messages] == ["live again", "while stopped"]

        assert await _bodies(alice, room_id, bob) == [
            "before",
            "missed one",
            "missed two",
            "live again",
            "while stopped",
            "after the restart",
        ]
        assert await _bodies(alice, dm_id, dave) == [
            "a private word",
            "missed in private",
            "private while stopped",
        ]
        # Each catch-up listed the chats with news, then asked each for the newest
        # messages after the last one it had.
        requests = network.requests
        assert len([r for r in requests if r.startswith("TARGETS timestamp=")]) == 2
        assert len([r for r in requests if r.startswith(f"LATEST {channel} timestamp=")]) == 2
        assert [r for r in requests if r.startswith("LATEST dave timestamp=")]
    assert not network.errors


async def test_disconnect_keeps_the_login_until_reconnect(
    irc_bridge: IRCHarness, matrix_user: Any, irc_connect: ConnFactory
) -> None:
    server = irc_bridge.server
    bob: IRCConnection = irc_connect(server.host, server.port, unique("bob"))
    alice = await matrix_user("alice")
    nick, channel = unique("al"), unique("#pause")
    await connected(bob)
    bob.join(channel)
    await expect(bob, ChannelSyncedEvent, lambda e: e.channel == channel)
    management = await irc_log_in(alice, irc_bridge, nick)
    room_id = await _join_portal(alice, irc_bridge, management, channel)
    await expect(bob, JoinEvent, lambda e: e.source.nick == nick)

    await alice.send_text(management, "disconnect")
    await wait_notice(alice, management, irc_bridge.bot, "send `reconnect` to connect again")
    await expect(bob, QuitEvent, lambda e: e.source.nick == nick)
    assert await ping_state(alice, irc_bridge, management) == "TRANSIENT_DISCONNECT"
    await alice.send_text(room_id, "anyone?")
    await wait_notice(alice, room_id, irc_bridge.bot, "You disconnected from Test IRC")

    # It stays disconnected across a restart of the bridge, and the login is kept.
    await irc_bridge.bridge.stop()
    async with irc_bridge.restart() as bridge:
        irc_bridge.bridge = bridge
        login = bridge.logins[f"{NETWORK}/{nick}"]  # type: ignore[index]
        assert login.state == BridgeStateEvent.TRANSIENT_DISCONNECT
        await alice.send_text(management, "reconnect")
        rejoined = await expect(bob, JoinEvent, lambda e: e.source.nick == nick)
        assert rejoined.channel == channel
        await eventually(_state_is(irc_bridge, nick, BridgeStateEvent.CONNECTED))
        await alice.send_text(room_id, "back again")
        said = await expect(bob, MessageEvent, _said_by(nick))
        assert said.text == "back again"


async def test_the_user_hears_what_could_not_be_caught_up(
    irc_bridge: IRCHarness,
    irc_bridge_for: BridgeFactory,
    matrix_user: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server without history (InspIRCd 3): after the bridge was away, the user is
    told that what was said meanwhile is gone. A server with history but more missed
    than ``backfill_limit``: the user is told only the newest were bridged."""
    monkeypatch.setattr(backfill, "_GAP_WORTH_TELLING", timedelta(0))
    alice = await matrix_user("alice")
    nick = unique("al")
    management = await irc_log_in(alice, irc_bridge, nick)
    await _join_portal(alice, irc_bridge, management, unique("#nohist"))
    await irc_bridge.bridge.stop()
    async with irc_bridge.restart() as bridge:
        irc_bridge.bridge = bridge
        await wait_notice(alice, management, irc_bridge.bot, "server keeps no history")

    async with HistoryNetwork() as network, irc_bridge_for(network) as harness:
        channel = unique("#busy")
        nick = unique("bo")
        management = await irc_log_in(alice, harness, nick)
        room_id = await _join_portal(alice, harness, management, channel)
        await harness.bridge.stop()
        for i in range(5):
            network.say(channel, "bob", f"missed {i}")
        async with run_bridge(
            IRCConnector(),
            harness.setup,
            harness.synapse,
            harness.database_url,
            {**irc_overrides(network), "network.backfill_limit": 3},
        ):
            await wait_notice(alice, management, harness.bot, f"More was said in {channel}")
            await alice.wait_for_message(room_id, body="missed 4")
        bodies = [e["content"].get("body") for e in alice.timeline(room_id)]
        assert [b for b in bodies if str(b).startswith("missed")] == [
            "missed 2",
            "missed 3",
            "missed 4",
        ]
    assert not network.errors
