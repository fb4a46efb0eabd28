"""The database's disk fills up during traffic both ways, then is freed: every message
arrives exactly once, in order. SQLite's ``max_page_count`` stands in for the disk
(its writes then fail with the very error of a full disk, SQLITE_FULL); nothing else
in the bridge writes files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bridgekit.network import MatrixMessage
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.synapse import SynapseServer

from .chat import group_with_bob

PER_SIDE = 20


async def _fill_up(db: Any) -> None:
    """Let the database file grow no more, and fill its free pages: from here every
    write that needs space fails with SQLITE_FULL ("database or disk is full")."""
    await db.execute("CREATE TABLE IF NOT EXISTS filler (data BLOB)")
    pages = await db.fetchval("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {int(pages)}")
    await _fill_gaps(db)


async def _fill_gaps(db: Any) -> None:
    for size in (4096, 512, 64, 1):  # big rows first, then the gaps they leave
        try:
            for _ in range(100_000):
                await db.execute(f"INSERT INTO filler VALUES (randomblob({size}))")
        except sqlite3.OperationalError as e:
            assert "full" in str(e)


async def _keep_full(db: Any) -> None:
    """The bridge frees a little space as it goes (handled inbox rows are emptied):
    take it again, as other programs on a full disk would."""
    while True:
        await _fill_gaps(db)
        await asyncio.sleep(0)


async def test_a_full_disk_loses_and_doubles_nothing(
    tmp_path: Path,
    synapse: SynapseServer,
    loopback_setup: BridgeSetup,
    matrix_user: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = LoopbackWorld()
    database = f"sqlite:///{tmp_path / 'bridge.db'}"
    async with run_bridge(LoopbackConnector(world), loopback_setup, synapse, database) as bridge:
        alice = await matrix_user("alice")
        room = await group_with_bob(alice, bridge, world, "Full disk")

        await _fill_up(bridge.db)
        keeper = asyncio.create_task(_keep_full(bridge.db))
        for i in range(PER_SIDE):
            await world.send_message("g1", "bob", f"net {i}")
            await alice.send_text(room, f"mx {i}")
        await asyncio.sleep(3)  # the bridge tries, fails, and waits
        keeper.cancel()
        assert "database or disk is full" in caplog.text  # it noticed, and says so
        await bridge.db.execute("DROP TABLE filler")  # space freed
        await bridge.db.execute("PRAGMA max_page_count = 1073741823")

        last = PER_SIDE - 1
        await alice.wait_for_message(room, body=f"net {last}", timeout=90)
        await world.wait_for_sent(
            lambda e: isinstance(e, MatrixMessage) and e.body == f"mx {last}", timeout=90
        )
        await asyncio.sleep(1)  # anything doubled would follow right behind
        # Every write that failed was done again: each message has its mapping row
        # (replies, edits and redactions of it resolve), none was silently dropped.
        bridged = [
            e["event_id"]
            for e in alice.timeline(room)
            if e["type"] == "m.room.message" and e["content"]["body"].startswith(("net ", "mx "))
        ]
        assert len(bridged) == 2 * PER_SIDE
        missing = [x for x in bridged if await bridge.messages_db.by_mxid(x) is None]
        assert missing == []

    ghost = bridge.ghost_mxid("bob")  # type: ignore[arg-type]
    from_network = [
        e["content"]["body"]
        for e in alice.timeline(room)
        if e["type"] == "m.room.message" and e["sender"] == ghost
    ]
    assert from_network == ["before", *(f"net {i}" for i in range(PER_SIDE))]
    to_network = [
        s.event.body
        for s in world.sent
        if isinstance(s.event, MatrixMessage) and s.event.body.startswith("mx ")
    ]
    assert to_network == [f"mx {i}" for i in range(PER_SIDE)]
