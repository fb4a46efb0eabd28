"""Relay mode on IRC: a Matrix user without a connection of their own speaks through
the relay login. Where the server offers ``draft/relaymsg`` they appear under their
own name (``Dave_the_Matrixer/m``); the echo of that line is not bridged back."""

from __future__ import annotations

from typing import Any

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector

from .conftest import IRCHarness, eventually, irc_log_in, irc_overrides, unique, wait_notice
from .history_server import HistoryNetwork


async def test_a_relayed_user_speaks_under_their_own_name_with_relaymsg(
    synapse: SynapseServer, irc_setup: BridgeSetup, database_url: str, matrix_user: Any
) -> None:
    async with HistoryNetwork() as network:
        overrides = {**irc_overrides(network), "bridge.relay.enabled": True}
        async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as b:
            harness = IRCHarness(b, irc_setup, synapse, database_url, network)
            alice = await matrix_user("alice")
            nick, channel = unique("al"), unique("#relay")
            management = await irc_log_in(alice, harness, nick)
            await alice.send_text(management, f"join {channel}")
            room_id = await alice.wait_for_invite(lambda invite: invite.name == channel)
            await alice.join(room_id)
            await wait_notice(alice, management, harness.bot, f"Joined {channel}")
            await alice.send_text(room_id, f"{b.commands.prefix} set-relay")
            await wait_notice(alice, room_id, harness.bot, "now relayed through")

            dave = await matrix_user("dave")
            await dave.set_displayname("Dave the Matrixer")
            await alice.invite(room_id, dave.user_id)
            await dave.join(room_id)
            await dave.send_text(room_id, "hello from <b>dave</b>", html="hello from <b>dave</b>")
            await dave.send_text(room_id, "second line")

            def relayed() -> list[tuple[str, str, str | None]]:
                return [
                    (s.source.split("!")[0], s.text, s.relayed_by)
                    for s in network.said_in(channel)
                    if s.relayed_by is not None
                ]

            async def both_relayed() -> bool:
                return len(relayed()) == 2

            await eventually(both_relayed)
            assert relayed() == [
                ("Dave_the_Matrixer/m", "hello from \x02dave", nick),
                ("Dave_the_Matrixer/m", "second line", nick),
            ]
            # An IRC user answers; the relayed lines did not come back as a ghost.
            network.say(channel, "bob", "hi dave")
            await alice.wait_for_message(room_id, body="hi dave")
            senders = {
                e["sender"] for e in alice.timeline(room_id) if e["type"] == "m.room.message"
            }
            assert harness.ghost("Dave_the_Matrixer/m") not in senders
            assert network.errors == []
