"""kill -9 the Discord bridge in the middle of a burst, in each direction: after a
restart every message has arrived exactly once, in order. The bridge runs in a child
process (so it really dies); the Discord test server and Synapse outlive it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.process import BridgeProcess, bridge_process
from bridgekit.testing.synapse import SynapseServer
from bridges.discord.connector import DiscordConnector
from tests.servers.discord import DiscordTestServer

from .conftest import World, build_world, network_overrides, wait_notice, wait_until

pytestmark = pytest.mark.slow

BURST = 200


@dataclass
class _ChildBridge:
    bot: str
    ghost_template: str
    server: DiscordTestServer
    world: World
    process: BridgeProcess

    def ghost(self, account: Any) -> str:
        return self.ghost_template.replace("{userid}", str(account.id))


@asynccontextmanager
async def _discord_process(
    tmp_path: Path,
    setup: BridgeSetup,
    synapse: SynapseServer,
    database_url: str,
    server: DiscordTestServer,
) -> AsyncIterator[_ChildBridge]:
    world = build_world(server)
    overrides = {**network_overrides(server), "network.backfill_limit": 1000}
    config = setup.config(
        DiscordConnector(),
        homeserver_url=synapse.url,
        database_url=database_url,
        overrides=overrides,
    )
    bot = f"@{config['appservice.bot.username']}:{setup.domain}"
    ghost = f"@{config['appservice.ghost_username_template']}:{setup.domain}"
    async with bridge_process(config, tmp_path, ["-m", "bridges.discord"]) as process:
        yield _ChildBridge(bot, ghost, server, world, process)


async def _portal(alice: MatrixTestClient, bridge: _ChildBridge) -> str:
    """Log in with the world's bot token and open #general's portal."""
    management = await alice.create_room(invite=[bridge.bot], is_direct=True)
    await wait_notice(alice, management, bridge.bot, "management room")
    await alice.send_text(management, "login")
    await wait_notice(alice, management, bridge.bot, "send your bot token")
    await alice.send_text(management, bridge.world.bot.token)
    await wait_notice(alice, management, bridge.bot, "Successfully logged in")
    for _ in range(60):  # the gateway connection comes up after the login
        seen = {e.get("event_id") for e in alice.timeline(management)}
        await alice.send_text(management, "ping")
        answer = await alice.wait_for_event(
            management,
            lambda e, seen=seen: (
                e.get("sender") == bridge.bot
                and e.get("event_id") not in seen
                and "):" in e.get("content", {}).get("body", "")
            ),
            timeout=30,
        )
        if answer["content"]["body"].endswith("CONNECTED"):
            break
        await asyncio.sleep(0.5)
    world = bridge.world
    bridge.server.send_message(world.dalia, world.general, "open")
    room_id = await alice.wait_for_invite(lambda i: i.name == "#general", timeout=30)
    await alice.join(room_id)
    await alice.wait_for_message(room_id, sender=bridge.ghost(world.dalia), timeout=30)
    return room_id


async def test_discord_to_matrix_burst_survives_kill_9(
    tmp_path: Path,
    synapse: SynapseServer,
    discord_setup: BridgeSetup,
    database_url: str,
    discord_server: DiscordTestServer,
    matrix_user: Any,
) -> None:
    async with _discord_process(
        tmp_path, discord_setup, synapse, database_url, discord_server
    ) as bridge:
        alice = await matrix_user("alice")
        room_id = await _portal(alice, bridge)
        world = bridge.world

        def bridged() -> list[str]:
            return [
                e["content"]["body"]
                for e in alice.timeline(room_id)
                if e["type"] == "m.room.message" and e["content"]["body"].startswith("remote ")
            ]

        for i in range(BURST):
            discord_server.send_message(world.dalia, world.general, f"remote {i}")
        await wait_until(lambda: len(bridged()) >= 50, 60)
        await bridge.process.kill()  # mid-burst
        await bridge.process.start()
        await alice.wait_for_message(room_id, body=f"remote {BURST - 1}", timeout=120)
        await asyncio.sleep(2)  # anything doubled would arrive right behind the last one
    assert bridged() == [f"remote {i}" for i in range(BURST)]


async def test_matrix_to_discord_burst_survives_kill_9(
    tmp_path: Path,
    synapse: SynapseServer,
    discord_setup: BridgeSetup,
    database_url: str,
    discord_server: DiscordTestServer,
    matrix_user: Any,
) -> None:
    async with _discord_process(
        tmp_path, discord_setup, synapse, database_url, discord_server
    ) as bridge:
        alice = await matrix_user("alice")
        room_id = await _portal(alice, bridge)
        world = bridge.world

        def on_discord() -> list[str]:
            return [
                m.content
                for m in discord_server.find_messages(world.general)
                if m.author_id == world.bot.id
            ]

        killed = False
        for i in range(BURST):
            await alice.send_text(room_id, f"burst {i}")
            if not killed and len(on_discord()) >= 50:
                await bridge.process.kill()  # the rest is sent while the bridge is dead
                killed = True
        assert killed, "the bridge had not sent 50 messages before the burst ended"
        await bridge.process.start()
        await wait_until(lambda: len(on_discord()) >= BURST, 120)
        await asyncio.sleep(2)
    # Exactly once, in order: a message Discord took just before the kill is offered
    # again by the homeserver, and Discord answers with the one it has (same nonce).
    assert on_discord() == [f"burst {i}" for i in range(BURST)]
