"""Login, READY and guild availability, intents errors and bad tokens, with a stock
discord.py client."""

from __future__ import annotations

from collections.abc import Callable

import discord

from . import DiscordTestServer, Intents, running_client
from .conftest import Scene


async def test_login_ready_and_guild_visible(
    server: DiscordTestServer, scene: Scene, make_client: Callable[..., discord.Client]
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        assert client.user is not None and client.user.id == scene.bot.id
        assert client.application_id == scene.app.id
        guild = client.get_guild(scene.guild.id)
        assert guild is not None and guild.name == "Test Guild"
        general = guild.get_channel(scene.general.id)
        assert isinstance(general, discord.TextChannel)
        assert general.topic == "Talk" and general.category_id == scene.category.id
        assert {c.name for c in guild.text_channels} == {"general", "random"}
        assert guild.owner_id == scene.alice.id
    identify = server.gateway.records_of("identify", scene.bot)
    assert len(identify) == 1
    assert identify[0].intents is not None and identify[0].intents & Intents.MESSAGE_CONTENT


async def test_member_requests_over_the_gateway(
    server: DiscordTestServer, scene: Scene, make_client: Callable[..., discord.Client]
) -> None:
    client = make_client(chunk_guilds_at_startup=True)
    async with running_client(client, scene.bot.token):
        guild = client.get_guild(scene.guild.id)
        assert guild is not None and guild.chunked
        assert {m.id for m in guild.members} == {scene.alice.id, scene.bob.id, scene.bot.id}
        found = await guild.query_members("bo")
        assert [m.id for m in found] == [scene.bob.id]
        by_id = await guild.query_members(user_ids=[scene.alice.id])
        assert [m.display_name for m in by_id] == ["Alice"]
        assert len(await guild.chunk()) == 3
    [session] = server.gateway.sessions_of(scene.bot)
    names = [name for _, name, _ in session.dispatched]
    assert names[:2] == ["READY", "GUILD_CREATE"]
    assert names.count("GUILD_MEMBERS_CHUNK") == 3
