"""Operator mode: a network's channels as public rooms shared by every Matrix user.

Against the session's InspIRCd: Matrix users join ``#irc_test_<#channel>`` by alias;
the bridge's relay connection bridges the channel once for all of them; each Matrix
user speaks through a connection the bridge opens for them (or, without puppets,
through the relay), and none of the bridge's own nicks turns into a ghost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.matrix_client import MatrixRequestError
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector
from bridges.irc.protocol import IRCConnection, JoinEvent, MessageEvent, PartEvent, QuitEvent

from .conftest import (
    NETWORK,
    ConnFactory,
    IRCHarness,
    connected,
    eventually,
    expect,
    irc_log_in,
    irc_overrides,
    unique,
    wait_notice,
)


def shared_overrides(server: InspIRCdServer, relay_nick: str, puppet_nick: str) -> dict[str, Any]:
    """The test network in operator mode."""
    overrides = irc_overrides(server)
    network = dict(overrides["network.networks"][0])
    network["shared_channels"] = {
        "enabled": True,
        "relay_nick": relay_nick,
        "puppet_nick": puppet_nick,
    }
    return {**overrides, "network.networks": [network]}


@pytest.fixture
def shared_bridge(
    synapse: SynapseServer, irc_setup: BridgeSetup, database_url: str, inspircd: InspIRCdServer
) -> Any:
    """``async with shared_bridge(puppet_nick) as harness``: the bridge in operator mode
    with a relay nick of its own."""

    @asynccontextmanager
    async def start(puppet_nick: str) -> AsyncIterator[IRCHarness]:
        overrides = shared_overrides(inspircd, unique("relay"), puppet_nick)
        async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as b:
            yield IRCHarness(b, irc_setup, synapse, database_url, inspircd)

    return start


async def irc_user_in(
    irc_connect: ConnFactory, server: InspIRCdServer, channel: str
) -> IRCConnection:
    """An IRC user who joined ``channel`` first (and so is its op)."""
    conn = irc_connect(server.host, server.port, unique("carol"))
    await connected(conn)
    conn.join(channel)
    await expect(conn, JoinEvent, lambda e: e.is_self)
    return conn


def alias_of(harness: IRCHarness, channel: str) -> str:
    return f"#irc_{NETWORK}_{channel}:{harness.bridge.domain}"


def bodies(client: Any, room_id: str) -> list[tuple[str, str]]:
    """(sender, body) of every message in the room's timeline so far."""
    return [
        (e["sender"], e["content"].get("body", ""))
        for e in client.timeline(room_id)
        if e["type"] == "m.room.message"
    ]


async def test_two_matrix_users_share_a_channel_and_each_irc_line_arrives_once(
    shared_bridge: Any, inspircd: InspIRCdServer, irc_connect: ConnFactory, matrix_user: Any
) -> None:
    channel = unique("#shared")
    carol = await irc_user_in(irc_connect, inspircd, channel)
    async with shared_bridge("{displayname}[m]") as harness:
        alice, bob = await matrix_user("alice"), await matrix_user("bob")
        alice_name, bob_name = unique("Alice"), unique("Bob")
        await alice.set_displayname(alice_name)
        await bob.set_displayname(bob_name)

        room_id = await alice.join(alias_of(harness, channel))
        assert await bob.join(alias_of(harness, channel)) == room_id
        carol_ghost = harness.ghost(carol.nick)

        async def carol_in_room() -> bool:
            return carol_ghost in await alice.get_joined_members(room_id)

        await eventually(carol_in_room)

        carol.send_message(channel, "hello matrix")
        await alice.wait_for_message(room_id, body="hello matrix")
        await bob.wait_for_message(room_id, body="hello matrix")

        # Each Matrix user speaks through a connection of their own, named after them.
        await alice.send_text(room_id, "hi carol")
        from_alice = await expect(carol, MessageEvent, lambda e: e.text == "hi carol", 30)
        assert from_alice.source.nick.startswith(alice_name)
        await bob.send_text(room_id, "hi from bob")
        from_bob = await expect(carol, MessageEvent, lambda e: e.text == "hi from bob", 30)
        assert from_bob.source.nick.startswith(bob_name)
        # The second message of a user goes through the same connection.
        await alice.send_text(room_id, "still me")
        again = await expect(carol, MessageEvent, lambda e: e.text == "still me", 30)
        assert again.source.nick == from_alice.source.nick

        carol.send_message(channel, "marker")
        await alice.wait_for_message(room_id, body="marker")
        await bob.wait_for_message(room_id, body="marker")
        seen = bodies(alice, room_id)
        assert seen.count((carol_ghost, "hello matrix")) == 1
        # What Matrix users said is theirs alone: no ghost repeats it.
        assert [s for s, body in seen if body in ("hi carol", "still me")] == [alice.user_id] * 2
        assert [s for s, body in seen if body == "hi from bob"] == [bob.user_id]
        members = await alice.get_joined_members(room_id)
        for nick in (from_alice.source.nick, from_bob.source.nick):
            assert harness.ghost(nick) not in members
        assert harness.bridge.is_ghost(carol_ghost)

        # A puppet's channel status is its Matrix user's power level in the room.
        carol.set_mode(channel, "+o", from_alice.source.nick)

        async def alice_is_op() -> bool:
            content = await alice.get_state_event(room_id, "m.room.power_levels")
            return content.get("users", {}).get(alice.user_id) == 50

        await eventually(alice_is_op, 30)

        # Leaving the room parts the channel; the room stays for the others.
        await bob.leave(room_id)
        await expect(carol, PartEvent, lambda e: e.source.nick == from_bob.source.nick, 30)
        carol.send_message(channel, "still here for alice")
        await alice.wait_for_message(room_id, body="still here for alice")


async def test_without_puppets_the_relay_speaks_for_matrix_users(
    shared_bridge: Any, inspircd: InspIRCdServer, irc_connect: ConnFactory, matrix_user: Any
) -> None:
    channel = unique("#relayed")
    carol = await irc_user_in(irc_connect, inspircd, channel)
    async with shared_bridge("") as harness:
        dave = await matrix_user("dave")
        await dave.set_displayname("Dave")
        room_id = await dave.join(alias_of(harness, channel))
        await dave.send_text(room_id, "relayed hello")
        line = await expect(carol, MessageEvent, lambda e: "relayed hello" in e.text, 30)
        assert line.text == "Dave: relayed hello"
        carol.send_message(channel, "heard you")
        await dave.wait_for_message(room_id, body="heard you")
        assert [body for _, body in bodies(dave, room_id)].count("relayed hello") == 1


async def test_an_alias_of_no_shared_channel_is_not_found(
    shared_bridge: Any, matrix_user: Any
) -> None:
    async with shared_bridge("{displayname}[m]") as harness:
        erin = await matrix_user("erin")
        domain = harness.bridge.domain
        for alias in (f"#irc_nonet_#x:{domain}", f"#irc_{NETWORK}_nochannel:{domain}"):
            with pytest.raises(MatrixRequestError) as failed:
                await erin.join(alias)
            assert failed.value.status == 404, alias


async def _room_for_the_bot(client: Any, harness: IRCHarness) -> str:
    room = await client.create_room(invite=[harness.bot], name="Our own room")
    await client.wait_for_event(
        room,
        lambda e: (
            e["type"] == "m.room.member"
            and e["state_key"] == harness.bot
            and e["content"]["membership"] == "join"
        ),
    )
    await client.set_user_power_level(room, harness.bot, 100)
    return room


async def test_bridging_an_existing_room_needs_a_channel_operators_yes(
    shared_bridge: Any, inspircd: InspIRCdServer, irc_connect: ConnFactory, matrix_user: Any
) -> None:
    agreed, refused = unique("#plumb"), unique("#private")
    carol = await irc_user_in(irc_connect, inspircd, agreed)
    carol.join(refused)
    await expect(carol, JoinEvent, lambda e: e.is_self and e.channel == refused)
    async with shared_bridge("{displayname}[m]") as harness:
        alice = await matrix_user("alice")
        await irc_log_in(alice, harness, unique("al"))
        prefix = harness.bridge.commands.prefix

        room_id = await _room_for_the_bot(alice, harness)
        await alice.send_text(room_id, f"{prefix} bridge {agreed}")
        question = await expect(
            carol, MessageEvent, lambda e: e.kind == "notice" and "asks to bridge" in e.text, 30
        )
        assert alice.user_id in question.text and agreed in question.text
        carol.send_message(question.source.nick, "yes")
        await wait_notice(alice, room_id, harness.bot, "now bridged")
        carol.send_message(agreed, "welcome, matrix room")
        await alice.wait_for_message(room_id, body="welcome, matrix room")
        # Someone without a connection of their own gets one in the bridged room too.
        frank = await matrix_user("frank")
        await frank.set_displayname(unique("Frank"))
        await alice.invite(room_id, frank.user_id)
        await frank.join(room_id)
        await frank.send_text(room_id, "frank here")
        line = await expect(carol, MessageEvent, lambda e: e.text == "frank here", 30)
        assert line.source.nick != question.source.nick

        other = await _room_for_the_bot(alice, harness)
        await alice.send_text(other, f"{prefix} bridge {refused}")
        question = await expect(
            carol, MessageEvent, lambda e: e.kind == "notice" and refused in e.text, 30
        )
        carol.send_message(question.source.nick, "no")
        await wait_notice(alice, other, harness.bot, f"an operator of {refused}, refused")
        assert await harness.bridge.get_portal_by_mxid(other) is None


async def test_a_logged_in_user_joins_a_shared_channel_with_their_own_connection(
    shared_bridge: Any, inspircd: InspIRCdServer, irc_connect: ConnFactory, matrix_user: Any
) -> None:
    channel = unique("#own")
    carol = await irc_user_in(irc_connect, inspircd, channel)
    async with shared_bridge("{displayname}[m]") as harness:
        alice = await matrix_user("alice")
        nick = unique("al")
        management = await irc_log_in(alice, harness, nick)
        await alice.send_text(management, f"join {channel}")
        room_id = await alice.wait_for_invite(lambda invite: invite.name == channel)
        await alice.join(room_id)
        # The shared room, reachable by its alias for everyone else.
        gina = await matrix_user("gina")
        assert await gina.join(alias_of(harness, channel)) == room_id

        await alice.send_text(room_id, "through my own nick")
        line = await expect(carol, MessageEvent, lambda e: e.text == "through my own nick", 30)
        assert line.source.nick == nick
        carol.send_message(channel, f"hi {nick}")
        event = await alice.wait_for_message(room_id, body=f"hi {nick}")
        # The nick of the bridge's own connection is the Matrix user's, as a pill.
        assert alice.user_id in event["content"].get("m.mentions", {}).get("user_ids", [])
        await gina.wait_for_message(room_id, body=f"hi {nick}")
        assert [s for s, b in bodies(gina, room_id) if b == f"hi {nick}"] == [
            harness.ghost(carol.nick)
        ]


@pytest.mark.both_backends
async def test_shared_rooms_and_puppets_come_back_after_a_restart(
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    inspircd: InspIRCdServer,
    irc_connect: ConnFactory,
    matrix_user: Any,
) -> None:
    channel = unique("#again")
    carol = await irc_user_in(irc_connect, inspircd, channel)
    overrides = shared_overrides(inspircd, unique("relay"), "{displayname}[m]")
    alice = await matrix_user("alice")
    await alice.set_displayname(unique("Alice"))
    async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as b:
        harness = IRCHarness(b, irc_setup, synapse, database_url, inspircd)
        room_id = await alice.join(alias_of(harness, channel))
        await alice.send_text(room_id, "before")
        first = await expect(carol, MessageEvent, lambda e: e.text == "before", 30)
    async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as b:
        await expect(carol, JoinEvent, lambda e: e.source.nick == first.source.nick, 30)
        carol.send_message(channel, "after the restart")
        await alice.wait_for_message(room_id, body="after the restart")
        await alice.send_text(room_id, "me again")
        again = await expect(carol, MessageEvent, lambda e: e.text == "me again", 30)
        assert again.source.nick == first.source.nick
        assert [b for _, b in bodies(alice, room_id)].count("after the restart") == 1


async def test_idle_puppets_quit_and_come_back_when_their_user_speaks(
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    inspircd: InspIRCdServer,
    irc_connect: ConnFactory,
    matrix_user: Any,
) -> None:
    channel = unique("#quiet")
    carol = await irc_user_in(irc_connect, inspircd, channel)
    overrides = shared_overrides(inspircd, unique("relay"), "{displayname}[m]")
    network = overrides["network.networks"][0]
    network["shared_channels"]["puppet_idle_hours"] = 2 / 3600  # two seconds
    alice = await matrix_user("alice")
    await alice.set_displayname(unique("Alice"))
    async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as b:
        harness = IRCHarness(b, irc_setup, synapse, database_url, inspircd)
        room_id = await alice.join(alias_of(harness, channel))
        await alice.send_text(room_id, "then silence")
        first = await expect(carol, MessageEvent, lambda e: e.text == "then silence", 30)
        puppet = first.source.nick
        await expect(carol, QuitEvent, lambda e: e.source.nick == puppet, 30)
        await alice.send_text(room_id, "back again")
        back = await expect(carol, MessageEvent, lambda e: e.text == "back again", 30)
        assert back.source.nick == puppet
