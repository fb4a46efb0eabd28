"""kill -9 the bridge in the middle of a 500-message burst, in each direction: after a
restart every message has arrived exactly once, in order.

The bridge runs as a separate process (bridgekit.testing.loopback_process) so it can
really be killed; the loopback "network" keeps its state in files that outlive it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.loopback import LoopbackConnector
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.process import BridgeProcess
from bridgekit.testing.synapse import SynapseServer

pytestmark = pytest.mark.slow

BURST = 500


class LoopbackProcess(BridgeProcess):
    """The loopback bridge in a child process, with the network's journal of what it
    received from the bridge."""

    def __init__(self, tmp: Path, config: Path, world: Path, journal: Path, port: int) -> None:
        args = ["-m", "bridgekit.testing.loopback_process", str(config), str(world), str(journal)]
        super().__init__(args, port, tmp)
        self.journal = journal

    def journal_entries(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines()]


@asynccontextmanager
async def bridge_process(
    tmp_path: Path,
    setup: BridgeSetup,
    synapse: SynapseServer,
    database_url: str,
    backlog: list[dict[str, str]],
) -> AsyncIterator[LoopbackProcess]:
    config = setup.config(
        LoopbackConnector(), homeserver_url=synapse.url, database_url=database_url
    )
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config.dump())
    world = tmp_path / "world.json"
    world.write_text(
        json.dumps(
            {
                "accounts": [
                    {"username": "alice", "password": "pw"},
                    {"username": "bob", "password": "pw"},
                ],
                "chats": [{"chat_id": "g1", "name": "Burst", "members": ["alice", "bob"]}],
                "backlog": backlog,
            }
        )
    )
    process = LoopbackProcess(tmp_path, config_file, world, tmp_path / "journal.jsonl", setup.port)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def _login(alice: MatrixTestClient, bot: str) -> None:
    room = await alice.create_room(invite=[bot], is_direct=True)
    await alice.wait_for_message(room, sender=bot)
    for answer in ("login", "alice", "pw"):
        await alice.send_text(room, answer)
    await alice.wait_for_event(
        room,
        lambda e: "Successfully logged in" in e.get("content", {}).get("body", ""),
        timeout=60,
    )


async def _wait_until(check: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("condition not reached")


async def test_matrix_to_network_burst_survives_kill_9(
    tmp_path: Path,
    synapse: SynapseServer,
    loopback_setup: BridgeSetup,
    database_url: str,
    matrix_user: Any,
) -> None:
    backlog = [{"chat": "g1", "sender": "bob", "text": "open the portal", "id": "b0"}]
    async with bridge_process(tmp_path, loopback_setup, synapse, database_url, backlog) as bridge:
        alice = await matrix_user("alice")
        bot = f"@loopbackbot:{loopback_setup.domain}"
        await _login(alice, bot)
        room = await alice.wait_for_invite(timeout=60)
        await alice.join(room)

        killed = False
        for i in range(BURST):
            await alice.send_text(room, f"burst {i}")
            if not killed and len(bridge.journal_entries()) >= 100:
                await bridge.kill()  # mid-burst: the rest is sent while the bridge is dead
                killed = True
        assert killed, "the bridge had not bridged 100 messages before the burst ended"
        await bridge.start()

        def complete() -> bool:
            accepted = [e for e in bridge.journal_entries() if not e["duplicate"]]
            return len(accepted) >= BURST

        await _wait_until(complete, 240)
        entries = bridge.journal_entries()
    accepted = [e["body"] for e in entries if not e["duplicate"]]
    assert accepted == [f"burst {i}" for i in range(BURST)]  # each once, in order
    # Only an event in flight at the moment of the kill may be offered twice.
    assert sum(e["duplicate"] for e in entries) <= 1


async def test_network_to_matrix_burst_survives_kill_9(
    tmp_path: Path,
    synapse: SynapseServer,
    loopback_setup: BridgeSetup,
    database_url: str,
    matrix_user: Any,
) -> None:
    backlog = [
        {"chat": "g1", "sender": "bob", "text": f"remote {i}", "id": f"r{i}"} for i in range(BURST)
    ]
    async with bridge_process(tmp_path, loopback_setup, synapse, database_url, backlog) as bridge:
        alice = await matrix_user("alice")
        bot = f"@loopbackbot:{loopback_setup.domain}"
        await _login(alice, bot)  # connecting replays the whole backlog
        room = await alice.wait_for_invite(timeout=60)
        await alice.join(room)

        def bridged() -> list[str]:
            return [
                e["content"]["body"]
                for e in alice.timeline(room)
                if e["type"] == "m.room.message" and e["content"]["body"].startswith("remote ")
            ]

        await _wait_until(lambda: len(bridged()) >= 100, 120)
        await bridge.kill()
        await bridge.start()  # the login reconnects and the network replays everything
        await alice.wait_for_message(room, body=f"remote {BURST - 1}", timeout=240)
        await asyncio.sleep(2)  # anything doubled would arrive right behind the last one
    assert bridged() == [f"remote {i}" for i in range(BURST)]
