"""kill -9 the IRC bridge in the middle of a burst, in each direction: after a restart
every message has arrived exactly once, in order. The bridge runs in a child process
(so it really dies) against the history-keeping network (``draft/chathistory``):
what arrived while it was dead, or was received and not yet bridged, comes back
through the catch-up; a Matrix message that went out just before the kill is found
in the channel's history instead of being sent twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.process import BridgeProcess, bridge_process
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector

from .conftest import (
    BridgeFactory,
    eventually,
    irc_log_in,
    irc_overrides,
    unique,
    wait_notice,
)
from .history_server import HistoryNetwork

pytestmark = pytest.mark.slow

BURST = 200


@dataclass
class _ChildBridge:
    bot: str
    process: BridgeProcess


@asynccontextmanager
async def _irc_process(
    tmp_path: Path,
    setup: BridgeSetup,
    synapse: SynapseServer,
    database_url: str,
    network: HistoryNetwork,
) -> AsyncIterator[_ChildBridge]:
    overrides = {**irc_overrides(network), "network.backfill_limit": BURST * 2}
    config = setup.config(
        IRCConnector(), homeserver_url=synapse.url, database_url=database_url, overrides=overrides
    )
    bot = f"@{config['appservice.bot.username']}:{setup.domain}"
    async with bridge_process(config, tmp_path, ["-m", "bridges.irc"]) as process:
        yield _ChildBridge(bot, process)


async def _channel_room(bridge: _ChildBridge, matrix_user: Any, channel: str) -> tuple[Any, str]:
    """Alice logged in through the bot and joined to ``channel``'s room."""
    alice = await matrix_user("alice")
    management = await alice.create_room(invite=[bridge.bot], is_direct=True)
    await wait_notice(alice, management, bridge.bot, "management room")
    for answer, prompt in (
        ("login", "send your network"),
        ("test", "send your nick"),
        (unique("al"), "send your SASL password"),
        ("-", "Successfully logged in"),
    ):
        await alice.send_text(management, answer)
        await wait_notice(alice, management, bridge.bot, prompt)
    await alice.send_text(management, f"join {channel}")
    room_id = await alice.wait_for_invite(lambda invite: invite.name == channel)
    await alice.join(room_id)
    await wait_notice(alice, management, bridge.bot, f"Joined {channel}")
    return alice, room_id


async def test_irc_to_matrix_burst_survives_kill_9(
    tmp_path: Path,
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    matrix_user: Any,
) -> None:
    channel = unique("#crash")
    async with (
        HistoryNetwork() as network,
        _irc_process(tmp_path, irc_setup, synapse, database_url, network) as bridge,
    ):
        alice, room_id = await _channel_room(bridge, matrix_user, channel)

        def bridged() -> list[str]:
            return [
                e["content"]["body"]
                for e in alice.timeline(room_id)
                if e["type"] == "m.room.message" and e["content"]["body"].startswith("remote ")
            ]

        for i in range(BURST):
            network.say(channel, "bob", f"remote {i}")

        async def half_way() -> bool:
            return len(bridged()) >= 50

        await eventually(half_way, 60)
        await bridge.process.kill()  # mid-burst: the rest was received, not bridged
        network.say(channel, "bob", "while it was dead")
        await bridge.process.start()
        await alice.wait_for_message(room_id, body="while it was dead", timeout=120)
        await asyncio.sleep(2)  # anything doubled would arrive right behind the last one
        assert network.errors == []
    expected = [f"remote {i}" for i in range(BURST)]
    assert bridged() == expected


async def test_matrix_to_irc_burst_survives_kill_9(
    tmp_path: Path,
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    matrix_user: Any,
) -> None:
    channel = unique("#crash")
    async with (
        HistoryNetwork() as network,
        _irc_process(tmp_path, irc_setup, synapse, database_url, network) as bridge,
    ):
        alice, room_id = await _channel_room(bridge, matrix_user, channel)

        def on_irc() -> list[str]:
            return [s.text for s in network.said_in(channel) if s.text.startswith("burst ")]

        killed = False
        for i in range(BURST):
            await alice.send_text(room_id, f"burst {i}")
            if not killed and len(on_irc()) >= 50:
                await bridge.process.kill()  # the rest is sent while the bridge is dead
                killed = True
        assert killed, "the bridge had not sent 50 messages before the burst ended"
        await bridge.process.start()

        async def all_there() -> bool:
            return len(on_irc()) >= BURST

        await eventually(all_there, 120)
        await asyncio.sleep(2)
        assert network.errors == []
    # Exactly once, in order: a message that reached IRC just before the kill is
    # offered again after the restart, and found in the channel's history.
    assert on_irc() == [f"burst {i}" for i in range(BURST)]


async def test_a_message_sent_just_before_a_crash_is_not_sent_again(
    irc_bridge_for: BridgeFactory, matrix_user: Any
) -> None:
    """The crash window itself, made on purpose: a Matrix message reached IRC, but the
    bridge died before it recorded that (the inbox still holds the event, no mapping
    row exists). After the restart the replayed event is found in the channel's
    history under the bridge's nick, linked to it, and not sent a second time."""
    channel = unique("#window")
    async with HistoryNetwork() as network, irc_bridge_for(network) as harness:
        alice = await matrix_user("alice")
        management = await irc_log_in(alice, harness, unique("al"))
        await alice.send_text(management, f"join {channel}")
        room_id = await alice.wait_for_invite(lambda invite: invite.name == channel)
        await alice.join(room_id)
        event_id = await alice.send_text(room_id, "sent before the crash")

        bridge = harness.bridge

        async def recorded() -> bool:
            return await bridge.messages_db.by_mxid(event_id) is not None

        await eventually(recorded)
        record = await bridge.messages_db.by_mxid(event_id)
        assert record is not None
        raw = await alice.get_event(room_id, event_id)
        # Undo what the bridge did after sending: the mapping row and "handled".
        await bridge.messages_db.delete(record.portal, record.id)
        await bridge.db.execute(
            "UPDATE matrix_inbox SET handled=false, data=$2 WHERE event_id=$1",
            event_id,
            json.dumps({**raw, "room_id": room_id}),
        )
        await bridge.stop()
        async with harness.restart() as restarted:
            await alice.send_text(room_id, "after the restart")

            async def flushed() -> bool:
                return any(s.text == "after the restart" for s in network.said_in(channel))

            await eventually(flushed, 30)
            again = await restarted.messages_db.by_mxid(event_id)
            assert again is not None and again.id == record.id
        sent = [s.text for s in network.said_in(channel)]
        assert sent.count("sent before the crash") == 1
        assert network.errors == []
