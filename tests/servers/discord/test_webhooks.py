"""Webhooks with a stock discord.py: create, execute with username/avatar, edit and
delete the webhook's messages, post into a thread, and Discord's name rules."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import discord
import pytest

from . import DiscordTestServer, running_client
from .conftest import Scene

ClientFactory = Callable[..., discord.Client]


async def test_webhook_executes_with_username_and_avatar(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token), aiohttp.ClientSession() as session:
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        created = await channel.create_webhook(name="Matrix relay")
        assert created.token is not None
        model = server.webhook(created.id)
        assert (model.name, model.channel_id, model.creator_id) == (
            "Matrix relay",
            scene.general.id,
            scene.bot.id,
        )
        assert [w.id for w in await channel.webhooks()] == [created.id]

        hook = discord.Webhook.partial(created.id, created.token, session=session)
        sent = await hook.send(
            "hi from matrix",
            username="Alice (Matrix)",
            avatar_url="https://matrix.example/avatar.png",
            wait=True,
        )
        seen = await client.wait_for("message", timeout=5)
        assert seen.id == sent.id and seen.webhook_id == created.id
        assert seen.author.name == "Alice (Matrix)" and seen.content == "hi from matrix"
        stored = server.message(sent.id)
        assert stored.webhook is not None
        assert stored.webhook.username == "Alice (Matrix)"
        assert stored.webhook.avatar_url == "https://matrix.example/avatar.png"
        assert stored.webhook_id == created.id

        await sent.edit(content="hi from matrix (edited)")
        _, after = await client.wait_for("message_edit", timeout=5)
        assert after.content == "hi from matrix (edited)"
        assert server.message(sent.id).content == "hi from matrix (edited)"

        await sent.delete()
        deleted = await client.wait_for("raw_message_delete", timeout=5)
        assert deleted.message_id == sent.id
        assert server.find_messages(scene.general, id=sent.id) == []

        await hook.send("fire and forget", username="Bob (Matrix)")
        assert server.messages_in(scene.general)[-1].content == "fire and forget"


async def test_webhook_posts_into_a_thread(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    starter = server.send_message(scene.alice, scene.general, "let's discuss")
    hook_model = server.create_webhook(scene.general, "relay", creator=scene.bot)
    client = make_client()
    async with running_client(client, scene.bot.token), aiohttp.ClientSession() as session:
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.fetch_message(starter.id)
        thread = await message.create_thread(name="discussion")
        assert thread.id == starter.id and server.channel(thread.id).parent_id == channel.id

        hook = discord.Webhook.partial(hook_model.id, hook_model.token, session=session)
        sent = await hook.send("in the thread", username="Carol", thread=thread, wait=True)
        assert sent.channel.id == thread.id
        assert [m.content for m in server.messages_in(thread.id)] == ["in the thread"]


async def test_webhook_names_follow_discord_rules(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    hook_model = server.create_webhook(scene.general, "relay", creator=scene.bot)
    client = make_client()
    async with running_client(client, scene.bot.token), aiohttp.ClientSession() as session:
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as refused:
            await channel.create_webhook(name="Discord bridge")
        assert (refused.value.status, refused.value.code) == (400, 50035)

        hook = discord.Webhook.partial(hook_model.id, hook_model.token, session=session)
        with pytest.raises(discord.HTTPException) as bad_user:
            await hook.send("x", username="clyde", wait=True)
        assert bad_user.value.code == 50035
        wrong = discord.Webhook.partial(hook_model.id, "not-the-token", session=session)
        with pytest.raises(discord.HTTPException) as bad_token:
            await wrong.send("x", wait=True)
        assert bad_token.value.status == 401
    assert server.messages_in(scene.general) == []
