"""The IRC bridge in encrypted rooms, as Element makes them by default: login through
an encrypted DM with the bot, and an encrypted channel portal both ways, with a real
E2EE Matrix client (matrix-nio) and InspIRCd."""

from __future__ import annotations

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


async def test_encrypted_dm_login_and_encrypted_channel_portal(
    synapse: SynapseServer,
    encrypted_bridge_setups: dict[str, BridgeSetup],
    database_url: str,
    inspircd: InspIRCdServer,
    encrypted_user: Any,
    irc_connect: ConnFactory,
) -> None:
    setup = encrypted_bridge_setups["irc"]
    async with run_bridge(
        IRCConnector(), setup, synapse, database_url, irc_overrides(inspircd)
    ) as bridge:
        harness = IRCHarness(bridge, setup, synapse, database_url, inspircd)
        bob = irc_connect(inspircd.host, inspircd.port, unique("bob"))
        nick, channel = unique("al"), unique("#secret")
        await connected(bob)
        bob.join(channel)
        await expect(bob, ChannelSyncedEvent, lambda e: e.channel == channel)

        alice = await encrypted_user("alice")
        management = await irc_log_in(alice, harness, nick)  # an encrypted DM
        await alice.send_text(management, f"join {channel}")
        room_id = await alice.wait_for_invite(timeout=30)
        await alice.join(room_id)
        await wait_notice(alice, management, harness.bot, f"Joined {channel}")
        await expect(bob, JoinEvent, lambda e: e.source.nick == nick)

        bob.send_message(channel, "hello from IRC")
        hello = await alice.wait_for_message(
            room_id, "hello from IRC", timeout=30, sender=harness.ghost(bob.nick)
        )
        assert hello["decrypted"] is True  # it was encrypted in the room

        await alice.send_text(room_id, "hello from an encrypted room")
        said = await expect(bob, MessageEvent, lambda e: e.source.nick == nick)
        assert said.text == "hello from an encrypted room"
