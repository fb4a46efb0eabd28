"""Fixtures for the Discord test server's own tests: a started server, a small world
(an application with its bot, two users, a guild with a category and two channels),
and a factory for stock ``discord.Client`` objects pointed at the server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import discord
import pytest

from . import DiscordTestServer, Intents, use_test_server
from .entities import Account, Application, Channel, Guild


@dataclass
class Scene:
    """The standard world of these tests."""

    app: Application
    bot: Account
    alice: Account
    bob: Account
    guild: Guild
    category: Channel
    general: Channel
    random: Channel


@pytest.fixture
async def server() -> AsyncIterator[DiscordTestServer]:
    """A started server with a 1 s heartbeat interval; fails the test if the server
    itself raised (a bug in the test server, not a simulated fault)."""
    srv = DiscordTestServer(heartbeat_interval=1.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
    assert not srv.internal_errors, srv.internal_errors[0]


@pytest.fixture
def scene(server: DiscordTestServer) -> Scene:
    """An app whose bot may use MESSAGE_CONTENT and GUILD_MEMBERS, in a guild of alice."""
    app = server.create_application(
        "Bridge", privileged_intents=Intents.MESSAGE_CONTENT | Intents.GUILD_MEMBERS
    )
    bot = server.bot_of(app)
    alice = server.create_user("alice", global_name="Alice")
    bob = server.create_user("bob")
    guild = server.create_guild("Test Guild", owner=alice)
    server.add_member(guild, bob)
    server.add_member(guild, bot)
    category = server.create_category(guild, "Text Channels")
    general = server.create_text_channel(guild, "general", category=category, topic="Talk")
    random = server.create_text_channel(guild, "random", category=category)
    return Scene(app, bot, alice, bob, guild, category, general, random)


@pytest.fixture
def pointed(server: DiscordTestServer) -> Iterator[None]:
    """discord.py pointed at the server for the duration of the test."""
    with use_test_server(server):
        yield


def default_intents() -> discord.Intents:
    """Default intents plus MESSAGE_CONTENT and GUILD_MEMBERS."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    return intents


@pytest.fixture
def make_client(pointed: None) -> Callable[..., discord.Client]:
    """Build a ``discord.Client`` suited to tests (fast ready, no chunking)."""

    def build(intents: discord.Intents | None = None, **options: object) -> discord.Client:
        options.setdefault("guild_ready_timeout", 0.1)
        options.setdefault("chunk_guilds_at_startup", False)
        return discord.Client(intents=intents or default_intents(), **options)  # type: ignore[arg-type]

    return build
