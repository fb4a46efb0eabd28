"""Changes to the world reach a stock discord.py client as the right events: threads,
channel and guild updates, members, roles, emoji, stickers, DMs and visibility."""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp
import discord

from . import DiscordTestServer, Overwrite, Permissions, StickerFormat, running_client
from .conftest import Scene
from .rest.cdn import tiny_png

ClientFactory = Callable[..., discord.Client]


async def test_threads_from_the_server_and_the_client(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        starter = server.send_message(scene.alice, scene.general, "topic")
        await client.wait_for("message", timeout=5)
        thread = server.create_thread(
            scene.general, "side talk", owner=scene.alice, starter=starter
        )
        created = await client.wait_for("thread_create", timeout=5)
        assert (created.id, created.name, created.parent_id) == (
            starter.id,
            "side talk",
            scene.general.id,
        )
        server.send_message(scene.bob, thread, "inside")
        inside = await client.wait_for("message", timeout=5)
        assert isinstance(inside.channel, discord.Thread) and inside.channel.id == thread.id

        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        own = await channel.create_thread(name="bot thread", type=discord.ChannelType.public_thread)
        notice = server.messages_in(scene.general)[-1]
        assert notice.type == 18 and notice.thread_id == own.id
        await own.send("posted by the bot")
        assert [m.content for m in server.messages_in(own.id)] == ["posted by the bot"]
        active = await client.get_guild(scene.guild.id).active_threads()  # type: ignore[union-attr]
        assert {t.id for t in active} == {thread.id, own.id}


async def test_channel_guild_role_and_member_updates(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        server.update_channel(scene.general, name="general-chat", topic="New topic")
        before, after = await client.wait_for("guild_channel_update", timeout=5)
        assert (before.name, after.name) == ("general", "general-chat")
        assert isinstance(after, discord.TextChannel) and after.topic == "New topic"

        server.update_guild(scene.guild, name="Renamed", icon=tiny_png())
        before_g, after_g = await client.wait_for("guild_update", timeout=5)
        assert (before_g.name, after_g.name) == ("Test Guild", "Renamed")
        assert after_g.icon is not None and await after_g.icon.read() == tiny_png()

        role = server.create_role(
            scene.guild, "Mods", color=0xFF0000, permissions=Permissions.MANAGE_MESSAGES
        )
        created = await client.wait_for("guild_role_create", timeout=5)
        assert (created.id, created.name, created.colour.value) == (role.id, "Mods", 0xFF0000)

        server.update_member(scene.guild, scene.bob, nick="Bobby", roles=[role])
        _, member = await client.wait_for("member_update", timeout=5)
        assert member.nick == "Bobby" and role.id in [r.id for r in member.roles]

        carol = server.create_user("carol")
        server.add_member(scene.guild, carol)
        joined = await client.wait_for("member_join", timeout=5)
        assert joined.id == carol.id
        server.remove_member(scene.guild, carol)
        raw = await client.wait_for("raw_member_remove", timeout=5)
        assert raw.user.id == carol.id

        emoji = server.create_emoji(scene.guild, "party", tiny_png(), creator=scene.alice)
        _, _, emojis_after = await client.wait_for("guild_emojis_update", timeout=5)
        assert [e.id for e in emojis_after] == [emoji.id]
        assert await emojis_after[0].read() == tiny_png()

        server.delete_channel(scene.random)
        deleted = await client.wait_for("guild_channel_delete", timeout=5)
        assert deleted.id == scene.random.id


async def test_bot_joining_a_guild_gets_guild_create(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        other = server.create_guild("Second", owner=scene.bob)
        room = server.create_text_channel(other, "lobby")
        assert client.get_guild(other.id) is None
        server.add_member(other, scene.bot)
        joined = await client.wait_for("guild_join", timeout=5)
        assert joined.id == other.id and joined.get_channel(room.id) is not None
        server.remove_member(other, scene.bot)
        left = await client.wait_for("guild_remove", timeout=5)
        assert left.id == other.id


async def test_hidden_channel_is_invisible_and_refuses_rest(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    staff = server.create_text_channel(
        scene.guild,
        "staff",
        overwrites=[Overwrite(scene.guild.id, 0, deny=Permissions.VIEW_CHANNEL)],
    )
    client = make_client()
    async with running_client(client, scene.bot.token):
        guild = client.get_guild(scene.guild.id)
        assert guild is not None and guild.get_channel(staff.id) is None
        server.send_message(scene.alice, staff, "not for bots")
        server.send_message(scene.alice, scene.general, "for everyone")
        seen = await client.wait_for("message", timeout=5)
        assert seen.content == "for everyone"
        partial = client.get_partial_messageable(staff.id)
        try:
            await partial.send("let me in")
        except discord.Forbidden as exc:
            assert exc.code == 50001
        else:
            raise AssertionError("sending into an invisible channel must fail")


async def test_direct_messages_and_stickers(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    lottie = json.dumps({"v": "5.5.2", "layers": []}).encode()
    sticker = server.create_sticker(
        "wave", lottie, format_type=StickerFormat.LOTTIE, guild=scene.guild
    )
    stranger = server.create_user("stranger")
    client = make_client()
    async with running_client(client, scene.bot.token):
        dm = server.create_dm(scene.alice, scene.bot)
        server.send_message(scene.alice, dm, "psst")
        got = await client.wait_for("message", timeout=5)
        assert isinstance(got.channel, discord.DMChannel) and got.author.id == scene.alice.id
        await got.channel.send("hello back")
        assert [m.content for m in server.messages_in(dm)] == ["psst", "hello back"]

        alice = await client.fetch_user(scene.alice.id)
        channel = await alice.create_dm()
        assert channel.id == dm.id

        lonely = await (await client.fetch_user(stranger.id)).create_dm()
        try:
            await lonely.send("hi stranger")
        except discord.Forbidden as exc:
            assert exc.code == 50007
        else:
            raise AssertionError("bots may only DM users they share a guild with")

        server.send_message(scene.alice, scene.general, "", sticker=sticker)
        with_sticker = await client.wait_for("message", timeout=5)
        [item] = with_sticker.stickers
        assert (item.id, item.name, item.format) == (
            sticker.id,
            "wave",
            discord.StickerFormatType.lottie,
        )
        assert item.url.startswith(server.base_url)
        async with aiohttp.ClientSession() as session, session.get(item.url) as response:
            assert await response.read() == lottie
