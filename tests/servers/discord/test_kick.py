"""Kicking members over REST: KICK_MEMBERS, the owner and the role hierarchy."""

from __future__ import annotations

from collections.abc import Callable

import discord
import pytest

from . import DiscordTestServer, Permissions, running_client
from .conftest import Scene


async def test_kick_needs_permission_and_a_higher_role(
    server: DiscordTestServer, scene: Scene, make_client: Callable[..., discord.Client]
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        guild = client.get_guild(scene.guild.id)
        assert guild is not None
        with pytest.raises(discord.Forbidden):
            await guild.kick(discord.Object(scene.bob.id))
        role = server.create_role(scene.guild, "mods", permissions=Permissions.KICK_MEMBERS)
        server.update_member(scene.guild, scene.bot, roles=[role])
        with pytest.raises(discord.Forbidden):
            await guild.kick(discord.Object(scene.alice.id))  # the owner
        await guild.kick(discord.Object(scene.bob.id))
        assert scene.bob.id not in server.guild(scene.guild.id).members
        with pytest.raises(discord.NotFound):
            await guild.kick(discord.Object(scene.bob.id))
