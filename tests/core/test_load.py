"""Load: 20 portals each receiving 100 messages concurrently, in both directions — all
delivered, each chat in order, memory bounded."""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path
from typing import Any

import pytest

from bridgekit.network import MatrixMessage
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.synapse import SynapseServer

from .conftest import Harness, log_in

pytestmark = pytest.mark.slow

PORTALS = 20
PER_PORTAL = 100


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_twenty_busy_portals_both_ways(
    tmp_path: Path, synapse: SynapseServer, loopback_setup: BridgeSetup, matrix_user: Any
) -> None:
    # One database backend is enough: the load is on the queues and the homeserver.
    database_url = f"sqlite:///{tmp_path / 'bridge.db'}"
    world = LoopbackWorld()
    async with run_bridge(LoopbackConnector(world), loopback_setup, synapse, database_url) as b:
        harness = Harness(b, world, loopback_setup, synapse, database_url)
        await _run(harness, matrix_user)


async def _run(loopback: Harness, matrix_user: Any) -> None:
    world = loopback.world
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    world.add_account("bob", "x")
    rooms: dict[str, str] = {}
    for n in range(PORTALS):
        chat = f"c{n}"
        world.add_chat(chat, f"Chat {n}", ["alice", "bob"])
        await world.send_message(chat, "bob", f"{chat} open")
        room_id = await alice.wait_for_invite(lambda i, name=f"Chat {n}": i.name == name)
        await alice.join(room_id)
        rooms[chat] = room_id
    before = _rss_mb()

    async def remote_burst(chat: str) -> None:
        for i in range(PER_PORTAL):
            await world.send_message(chat, "bob", f"{chat} in {i}")

    async def matrix_burst(chat: str) -> None:
        for i in range(PER_PORTAL):
            await alice.send_text(rooms[chat], f"{chat} out {i}")

    await asyncio.gather(*(remote_burst(c) for c in rooms), *(matrix_burst(c) for c in rooms))

    for chat, room_id in rooms.items():
        await alice.wait_for_message(room_id, body=f"{chat} in {PER_PORTAL - 1}", timeout=300)
    await world.wait_for_sent(
        lambda e: (
            sum(isinstance(s.event, MatrixMessage) for s in world.sent) >= PORTALS * PER_PORTAL
        ),
        timeout=300,
    )
    for chat, room_id in rooms.items():
        arrived = [
            e["content"]["body"]
            for e in alice.timeline(room_id)
            if e["type"] == "m.room.message" and e["content"]["body"].startswith(f"{chat} in ")
        ]
        assert arrived == [f"{chat} in {i}" for i in range(PER_PORTAL)], chat
        sent = [
            s.event.body
            for s in world.sent
            if isinstance(s.event, MatrixMessage) and s.event.body.startswith(f"{chat} out ")
        ]
        assert sent == [f"{chat} out {i}" for i in range(PER_PORTAL)], chat
    # Peak memory of the whole test process (bridge, clients and all) stays modest.
    assert _rss_mb() - before < 300
