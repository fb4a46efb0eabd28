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

from .chat import group_with_bob

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
        room = await group_with_bob(alice, bridge, world)

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


class _Proxy:
    """A TCP proxy in front of PostgreSQL that can go away: :meth:`cut` drops every
    connection through it and refuses new ones until :meth:`restore`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes -= {writer, up_writer}

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for pipe in list(self._pipes):
            pipe.close()

    async def restore(self) -> None:
        await self.start()  # the same port


async def test_a_database_that_refuses_connections_for_a_while_loses_nothing(
    synapse: SynapseServer,
    loopback_setup: BridgeSetup,
    bridge_database: str,
    matrix_user: Any,
) -> None:
    url = URL(bridge_database)
    proxy = _Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = str(url.with_host("127.0.0.1").with_port(proxy.port))
    world = LoopbackWorld()
    async with run_bridge(LoopbackConnector(world), loopback_setup, synapse, through_proxy) as b:
        alice = await matrix_user("alice")
        room = await group_with_bob(alice, b, world)

        # PostgreSQL is unreachable for a few seconds while both sides keep talking.
        await proxy.cut()
        for i in range(PER_ROUND):
            await world.send_message("g1", "bob", f"net {i}")
            await alice.send_text(room, f"mx {i}")
            await asyncio.sleep(0.5)
        await proxy.restore()

        await alice.wait_for_message(room, body=f"net {PER_ROUND - 1}", timeout=90)
        await world.wait_for_sent(
            lambda e: isinstance(e, MatrixMessage) and e.body == f"mx {PER_ROUND - 1}", timeout=90
        )
        ghost = b.ghost_mxid("bob")  # type: ignore[arg-type]
        from_network = [
            e["content"]["body"]
            for e in alice.timeline(room)
            if e["type"] == "m.room.message" and e["sender"] == ghost
        ]
        assert from_network == ["before", *(f"net {i}" for i in range(PER_ROUND))]
        to_network = [
            s.event.body
            for s in world.sent
            if isinstance(s.event, MatrixMessage) and s.event.body.startswith("mx ")
        ]
        assert to_network == [f"mx {i}" for i in range(PER_ROUND)]
        notices = [
            e["content"]["body"]
            for e in alice.timeline(room)
            if e["content"].get("msgtype") == "m.notice"
        ]
        assert notices == []
    await proxy.cut()
