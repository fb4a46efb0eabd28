"""Fixtures for the core's end-to-end tests: the loopback bridge on the real Synapse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bridgekit.bridge import Bridge
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.secrets import register_secret
from bridgekit.testing.synapse import SynapseServer


@dataclass
class Harness:
    """A running loopback bridge, its remote world, and how to restart it."""

    bridge: Bridge
    world: LoopbackWorld
    setup: BridgeSetup
    synapse: SynapseServer
    database_url: str

    @property
    def bot(self) -> str:
        return str(self.bridge.bot_mxid)

    def ghost(self, user_id: str) -> str:
        return self.bridge.ghost_mxid(user_id)  # type: ignore[arg-type]


@pytest.fixture
async def loopback(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str
) -> AsyncIterator[Harness]:
    world = LoopbackWorld()
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url
    ) as bridge:
        yield Harness(bridge, world, loopback_setup, synapse, database_url)


async def wait_notice(client: MatrixTestClient, room_id: str, sender: str, text: str) -> Any:
    """Wait for a notice from ``sender`` that contains ``text``."""

    def matches(event: Any) -> bool:
        content = event.get("content", {})
        return (
            event.get("sender") == sender
            and content.get("msgtype") == "m.notice"
            and text in content.get("body", "")
        )

    # Generous: the suite shares one homeserver, which may first replay transactions an
    # earlier test's bridge (same registration) did not take before it stopped, and
    # Synapse can hold an event queued during that replay until the next one comes.
    return await client.wait_for_event(room_id, matches, timeout=60)


async def open_management_room(client: MatrixTestClient, harness: Harness) -> str:
    """Create a DM with the bot, as Element does, and wait for its welcome."""
    room_id = await client.create_room(invite=[harness.bot], is_direct=True)
    await wait_notice(client, room_id, harness.bot, "management room")
    return room_id


async def log_in(
    client: MatrixTestClient, harness: Harness, username: str, *, code: str | None = None
) -> str:
    """Create a loopback account and log into it through the bot; returns the
    management room."""
    harness.world.add_account(username, "hunter2", name=username.title(), code=code)
    register_secret("hunter2")
    room_id = await open_management_room(client, harness)
    await client.send_text(room_id, "login")
    await wait_notice(client, room_id, harness.bot, "send your username")
    await client.send_text(room_id, username)
    await wait_notice(client, room_id, harness.bot, "send your password")
    await client.send_text(room_id, "hunter2")
    if code is not None:
        await wait_notice(client, room_id, harness.bot, "send your code")
        await client.send_text(room_id, code)
    await wait_notice(client, room_id, harness.bot, "Successfully logged in")
    return room_id


async def group_with_bob(client: Any, harness: Harness, first: str) -> str:
    """A loopback chat ``g1`` ("Group") of the logged-in ``alice`` and ``bob``, whose
    message ``first`` makes its portal; the client (plain or E2EE) joins it. Returns
    the room."""
    harness.world.add_account("bob", "x")
    harness.world.add_chat("g1", "Group", ["alice", "bob"])
    await harness.world.send_message("g1", "bob", first)
    room_id = await client.wait_for_invite()
    await client.join(room_id)
    return room_id
