"""A flood from Matrix: 300 messages sent as fast as a client can reach IRC complete
and in order, through the bridge's paced send queue, against the real InspIRCd."""

from __future__ import annotations

import asyncio
from typing import Any

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector
from bridges.irc.protocol import ChannelSyncedEvent, JoinEvent, MessageEvent

from .conftest import (
    ConnFactory,
    IRCHarness,
    connected,
    expect,
    irc_log_in,
    irc_overrides,
    unique,
    wait_notice,
)

FLOOD = 300


async def test_three_hundred_matrix_messages_arrive_complete_and_in_order(
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    inspircd: InspIRCdServer,
    matrix_user: Any,
    irc_connect: ConnFactory,
) -> None:
    overrides = irc_overrides(inspircd)
    # Pacing on (a burst, then a steady rate), fast enough for a test.
    overrides["network.flood"] = {"enabled": True, "burst": 10, "interval": 0.01}
    async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as bridge:
        bob = irc_connect(inspircd.host, inspircd.port, unique("bob"))
        await connected(bob)
        channel = unique("#flood")
        bob.join(channel)
        await expect(bob, ChannelSyncedEvent, lambda e: e.channel == channel)

        alice = await matrix_user("alice")
        nick = unique("al")
        harness = IRCHarness(bridge, irc_setup, synapse, database_url, inspircd)
        management = await irc_log_in(alice, harness, nick)
        await alice.send_text(management, f"join {channel}")
        room_id = await alice.wait_for_invite(lambda invite: invite.name == channel)
        await alice.join(room_id)
        await wait_notice(alice, management, harness.bot, f"Joined {channel}")
        await expect(bob, JoinEvent, lambda e: e.source.nick == nick and e.channel == channel)

        received: list[str] = []

        async def collect() -> None:
            while len(received) < FLOOD:
                event = await expect(
                    bob, MessageEvent, lambda e: not e.is_echo and e.source.nick == nick, 60
                )
                received.append(event.text)

        collector = asyncio.create_task(collect())
        for i in range(FLOOD):
            await alice.send_text(room_id, f"flood {i:03}")
        await asyncio.wait_for(collector, 120)
        assert received == [f"flood {i:03}" for i in range(FLOOD)]
