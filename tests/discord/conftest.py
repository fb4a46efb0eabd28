"""Fixtures of the Discord bridge's tests: the local Discord server with a small world,
the bridge pointed at it (through its config) on the session's Synapse, and a Matrix
user logged in with the world's bot token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bridgekit.bridge import Bridge
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.secrets import register_secret
from bridgekit.testing.synapse import SynapseServer
from bridgekit.testing.wait import eventually
from bridges.discord.client import DiscordClient
from bridges.discord.connector import DiscordConnector
from tests.servers.discord import Account, Application, Channel, DiscordTestServer, Guild, Intents

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a3"
    "42e80000000049454e44ae426082"
)


@dataclass
class World:
    """The Discord side of a test: a bot application in a guild with two people."""

    app: Application
    bot: Account
    dalia: Account
    bob: Account
    guild: Guild
    general: Channel
    random: Channel


@dataclass
class DiscordHarness:
    """A running Discord bridge against the test server."""

    bridge: Bridge
    connector: DiscordConnector
    server: DiscordTestServer
    world: World
    setup: BridgeSetup
    synapse: SynapseServer
    database_url: str
    overrides: dict[str, Any]

    @property
    def bot(self) -> str:
        return str(self.bridge.bot_mxid)

    def ghost(self, account: Account) -> str:
        return self.bridge.ghost_mxid(str(account.id))  # type: ignore[arg-type]

    @property
    def client(self) -> DiscordClient:
        return self.connector.clients[str(self.world.bot.id)]  # type: ignore[index]

    @asynccontextmanager
    async def restarted(
        self, while_down: Callable[[], object] | None = None
    ) -> AsyncIterator[DiscordHarness]:
        """Stop the bridge, call ``while_down``, then run a new bridge on the same
        database."""
        await self.bridge.stop()
        if while_down is not None:
            while_down()
        self.connector = DiscordConnector()
        async with run_bridge(
            self.connector, self.setup, self.synapse, self.database_url, self.overrides
        ) as bridge:
            self.bridge = bridge
            yield self


def network_overrides(server: DiscordTestServer) -> dict[str, Any]:
    """Config values that point the bridge at the test server."""
    return {
        "network.api_base": server.api_url,
        "network.gateway_url": server.gateway_url,
        "network.cdn_url": server.base_url,
    }


@pytest.fixture
async def discord_server() -> AsyncIterator[DiscordTestServer]:
    """A started Discord test server; fails the test on a bug in the server itself."""
    server = DiscordTestServer(heartbeat_interval=1.0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert not server.internal_errors, server.internal_errors[0]


def build_world(server: DiscordTestServer, intents: int | None = None) -> World:
    """A bot with the intents it needs (unless ``intents`` says otherwise) in a guild
    with #general (with a topic) and #random, and two people."""
    if intents is None:
        intents = Intents.MESSAGE_CONTENT | Intents.GUILD_MEMBERS
    app = server.create_application("Bridge", privileged_intents=intents)
    bot = server.bot_of(app)
    dalia = server.create_user("dalia", global_name="Dalia", avatar=PNG)
    bob = server.create_user("bob")
    guild = server.create_guild("Test Guild", owner=dalia)
    server.add_member(guild, bob)
    server.add_member(guild, bot)
    general = server.create_text_channel(guild, "general", topic="Talk here")
    random = server.create_text_channel(guild, "random")
    return World(app, bot, dalia, bob, guild, general, random)


@pytest.fixture
def make_discord_bridge(
    synapse: SynapseServer, discord_setup: BridgeSetup, database_url: str
) -> Callable[..., Any]:
    """``async with make_discord_bridge(server, world, overrides) as harness``."""

    @asynccontextmanager
    async def make(
        server: DiscordTestServer, world: World, overrides: Mapping[str, Any] | None = None
    ) -> AsyncIterator[DiscordHarness]:
        values = {**network_overrides(server), **(overrides or {})}
        connector = DiscordConnector()
        async with run_bridge(connector, discord_setup, synapse, database_url, values) as bridge:
            yield DiscordHarness(
                bridge, connector, server, world, discord_setup, synapse, database_url, values
            )

    return make


@pytest.fixture
async def discord(
    discord_server: DiscordTestServer, make_discord_bridge: Callable[..., Any]
) -> AsyncIterator[DiscordHarness]:
    """The bridge with relaying allowed, against a fresh world."""
    world = build_world(discord_server)
    overrides = {
        "bridge.relay.enabled": True,
        "bridge.public_media_url": "https://matrix.example.org",
    }
    async with make_discord_bridge(discord_server, world, overrides) as harness:
        yield harness


async def wait_notice(client: MatrixTestClient, room_id: str, sender: str, text: str) -> Any:
    """Wait for a notice from ``sender`` that contains ``text``."""

    def matches(event: Any) -> bool:
        content = event.get("content", {})
        return (
            event.get("sender") == sender
            and content.get("msgtype") == "m.notice"
            and text in content.get("body", "")
        )

    return await client.wait_for_event(room_id, matches, timeout=60)


#: Polling the test server's state (which has no change signal for everything) or the
#: homeserver's: the kit's ``eventually`` takes either kind of check.
wait_until = wait_until_async = eventually


async def log_in(client: MatrixTestClient, harness: DiscordHarness, token: str) -> str:
    """Log in with a bot token through the bot; returns the management room."""
    room_id = await client.create_room(invite=[harness.bot], is_direct=True)
    await wait_notice(client, room_id, harness.bot, "management room")
    await client.send_text(room_id, "login")
    await wait_notice(client, room_id, harness.bot, "send your bot token")
    register_secret(token)
    await client.send_text(room_id, token)
    return room_id


async def logged_in(client: MatrixTestClient, harness: DiscordHarness) -> str:
    """Log in with the world's bot and wait until it is connected to the gateway."""
    room_id = await log_in(client, harness, harness.world.bot.token)
    await wait_notice(client, room_id, harness.bot, "Successfully logged in")
    await wait_until(lambda: harness.client.discord and harness.client.discord.is_ready())
    return room_id


async def portal_room(
    client: MatrixTestClient, harness: DiscordHarness, author: Account, text: str
) -> str:
    """A Discord message in #general creates its portal; the user joins it."""
    harness.server.send_message(author, harness.world.general, text)
    room_id = await client.wait_for_invite(lambda i: i.name == "#general", timeout=30)
    await client.join(room_id)
    await client.wait_for_message(room_id, sender=harness.ghost(author), timeout=30)
    return room_id
