"""The homeserver goes away for 30 s in the middle of traffic: the bridge keeps running,
holds what the network sends, and delivers all of it, in order, when it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer

pytestmark = pytest.mark.slow

DOWNTIME_S = 30


async def test_network_messages_wait_for_the_homeserver_and_arrive_in_order(
    tmp_path: Path,
) -> None:
    # One database backend is enough here: what is tested is the Matrix side.
    database_url = f"sqlite:///{tmp_path / 'bridge.db'}"
    # A homeserver of its own: the suite's shared one must stay up for other tests.
    setup = BridgeSetup.new("loopback", appservice_id="lbdown")
    connector = LoopbackConnector(LoopbackWorld())
    world = connector.world
    synapse = SynapseServer(tmp_path / "hs", [setup.registration(connector)])
    await asyncio.to_thread(synapse.start)
    try:
        async with run_bridge(connector, setup, synapse, database_url) as bridge:
            user_id, token = await synapse.aregister_user("alice", "pw")
            alice = MatrixTestClient(synapse.url, user_id, token)
            world.add_account("alice", "pw")
            world.add_account("bob", "x")
            world.add_chat("g1", "Outage", ["alice", "bob"])
            room = await alice.create_room(invite=[str(bridge.bot_mxid)], is_direct=True)
            await alice.wait_for_message(room, sender=str(bridge.bot_mxid))
            for answer in ("login", "alice", "pw"):
                await alice.send_text(room, answer)
            await alice.wait_for_event(
                room, lambda e: "Successfully" in e.get("content", {}).get("body", "")
            )
            await world.send_message("g1", "bob", "before 0")
            portal = await alice.wait_for_invite()
            await alice.join(portal)
            await alice.wait_for_message(portal, body="before 0")
            await alice.close()

            await asyncio.to_thread(synapse.stop)
            for i in range(20):
                await world.send_message("g1", "bob", f"during {i}")
            await asyncio.sleep(DOWNTIME_S)
            assert not bridge.stopping  # the bridge did not give up
            await asyncio.to_thread(synapse.start)

            alice = MatrixTestClient(synapse.url, user_id, token)
            await world.send_message("g1", "bob", "after 0")
            await alice.wait_for_message(portal, body="after 0", timeout=120)
            bodies = [
                e["content"]["body"]
                for e in alice.timeline(portal)
                if e["type"] == "m.room.message"
            ]
            await alice.close()
    finally:
        await asyncio.to_thread(synapse.stop)
    expected = ["before 0", *(f"during {i}" for i in range(20)), "after 0"]
    assert [b for b in bodies if b in expected] == expected
