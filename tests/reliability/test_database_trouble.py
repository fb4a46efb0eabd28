"""PostgreSQL drops every connection of the bridge in the middle of traffic, as when
it restarts or an operator terminates sessions: the bridge reconnects, and every
message in both directions arrives exactly once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from yarl import URL

from bridgekit.network import MatrixMessage
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.postgres import create_database, drop_database
from bridgekit.testing.synapse import SynapseServer

ROUNDS = 3
PER_ROUND = 5


@pytest.fixture
async def bridge_database(postgres_server_url: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server_url)
    try:
        yield url
    finally:
        await drop_database(url, postgres_server_url)


async def _terminate_connections(admin_url: str, database_url: str) -> int:
    """Close every session on the bridge's database from the server side."""
    name = URL(database_url).path.lstrip("/")
    conn = await asyncpg.connect(admin_url)
    try:
        killed = await conn.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await conn.close()
    return int(killed)


async def test_lost_database_connections_lose_and_double_nothing(
    synapse: SynapseServer,
    loopback_setup: BridgeSetup,
    postgres_server_url: str,
    bridge_database: str,
    matrix_user: Any,
) -> None:
    world = LoopbackWorld()
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, bridge_database
    ) as bridge:
        alice = await matrix_user("alice")
        world.add_account("alice", "pw")
        world.add_account("bob", "x")
        world.add_chat("g1", "Outage", ["alice", "bob"])
        management = await alice.create_room(invite=[str(bridge.bot_mxid)], is_direct=True)
        await alice.wait_for_message(management, sender=str(bridge.bot_mxid))
        for answer in ("login", "alice", "pw"):
            await alice.send_text(management, answer)
        await alice.wait_for_event(
            management, lambda e: "Successfully" in e.get("content", {}).get("body", "")
        )
        await world.send_message("g1", "bob", "before")
        room = await alice.wait_for_invite()
        await alice.join(room)
        await alice.wait_for_message(room, body="before")

        for round_ in range(ROUNDS):
            killed = await _terminate_connections(postgres_server_url, bridge_database)
            assert killed >= 1  # the bridge had connections, and lost them
            for i in range(PER_ROUND):
                await world.send_message("g1", "bob", f"net {round_}-{i}")
                await alice.send_text(room, f"mx {round_}-{i}")
            await asyncio.sleep(0.5)

        last = f"{ROUNDS - 1}-{PER_ROUND - 1}"
        await alice.wait_for_message(room, body=f"net {last}", timeout=60)
        await world.wait_for_sent(
            lambda e: isinstance(e, MatrixMessage) and e.body == f"mx {last}", timeout=60
        )

    expected = [f"{r}-{i}" for r in range(ROUNDS) for i in range(PER_ROUND)]
    ghost = bridge.ghost_mxid("bob")  # type: ignore[arg-type]
    from_network = [
        e["content"]["body"]
        for e in alice.timeline(room)
        if e["type"] == "m.room.message" and e["sender"] == ghost
    ]
    assert from_network == ["before", *(f"net {x}" for x in expected)]
    to_network = [
        s.event.body
        for s in world.sent
        if isinstance(s.event, MatrixMessage) and s.event.body.startswith("mx ")
    ]
    assert to_network == [f"mx {x}" for x in expected]
