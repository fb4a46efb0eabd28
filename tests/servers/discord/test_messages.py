"""Messages both ways between the test (acting as Discord users) and a stock
discord.py client: content, authors, attachments, replies, edits, deletes, reactions,
typing, history, and the MESSAGE_CONTENT intent rule."""

from __future__ import annotations

import io
from collections.abc import Callable

import discord

from . import DiscordTestServer, running_client
from .conftest import Scene
from .rest.cdn import tiny_png

ClientFactory = Callable[..., discord.Client]


async def test_server_message_arrives_with_content_author_and_attachment(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        png = tiny_png((255, 0, 0))
        server.send_message(
            scene.alice,
            scene.general,
            f"hello <@{scene.bot.id}>",
            attachments=[("red.png", png), ("notes.txt", b"some notes")],
            embeds=[{"title": "An embed", "description": "with text"}],
        )
        msg = await client.wait_for("message", timeout=5)
        assert msg.content == f"hello <@{scene.bot.id}>"
        assert msg.author.id == scene.alice.id and msg.author.display_name == "Alice"
        assert isinstance(msg.author, discord.Member)
        assert msg.channel.id == scene.general.id
        assert [m.id for m in msg.mentions] == [scene.bot.id]
        assert [a.filename for a in msg.attachments] == ["red.png", "notes.txt"]
        assert msg.attachments[0].content_type == "image/png"
        assert (msg.attachments[0].width, msg.attachments[0].height) == (1, 1)
        assert await msg.attachments[0].read() == png
        assert await msg.attachments[1].read() == b"some notes"
        assert msg.embeds[0].title == "An embed"


async def test_client_sends_message_with_file_and_the_model_has_it(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send(
            "report attached", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), filename="r.csv")
        )
        stored = server.message(sent.id)
        assert stored.content == "report attached"
        assert stored.author_id == scene.bot.id
        assert [(a.filename, a.data) for a in stored.attachments] == [("r.csv", b"a,b\n1,2\n")]
        assert stored.attachments[0].content_type == "text/csv"
        assert sent.attachments[0].url.startswith(server.base_url)
        assert await sent.attachments[0].read() == b"a,b\n1,2\n"

        reply = await sent.reply("and a reply")
        assert server.message(reply.id).reference == {
            "type": 0,
            "message_id": str(sent.id),
            "channel_id": str(scene.general.id),
            "guild_id": str(scene.guild.id),
        }
        assert reply.reference is not None and reply.reference.message_id == sent.id


async def test_edit_delete_and_reaction_events_reach_the_client(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    emoji = server.create_emoji(scene.guild, "blob", tiny_png(), creator=scene.alice)
    client = make_client()
    async with running_client(client, scene.bot.token):
        msg = server.send_message(scene.alice, scene.general, "first")
        await client.wait_for("message", timeout=5)

        server.edit_message(msg, "first (edited)")
        before, after = await client.wait_for("message_edit", timeout=5)
        assert (before.content, after.content) == ("first", "first (edited)")
        assert after.edited_at is not None

        server.add_reaction(scene.bob, msg, "👍")
        reaction, user = await client.wait_for("reaction_add", timeout=5)
        assert (str(reaction.emoji), user.id) == ("👍", scene.bob.id)

        server.add_reaction(scene.alice, msg, emoji)
        reaction, user = await client.wait_for("reaction_add", timeout=5)
        assert isinstance(reaction.emoji, discord.Emoji) and reaction.emoji.id == emoji.id

        server.remove_reaction(scene.bob, msg, "👍")
        raw = await client.wait_for("raw_reaction_remove", timeout=5)
        assert (raw.user_id, raw.emoji.name) == (scene.bob.id, "👍")

        server.start_typing(scene.bob, scene.general)
        where, typer, _ = await client.wait_for("typing", timeout=5)
        assert isinstance(where, discord.TextChannel)
        assert (where.id, typer.id) == (scene.general.id, scene.bob.id)

        server.delete_message(msg)
        deleted = await client.wait_for("message_delete", timeout=5)
        assert deleted.id == msg.id

        batch = [server.send_message(scene.bob, scene.general, f"m{i}") for i in range(3)]
        await client.wait_for("message", check=lambda m: m.id == batch[-1].id, timeout=5)
        server.bulk_delete(batch)
        gone = await client.wait_for("bulk_message_delete", timeout=5)
        assert sorted(m.id for m in gone) == sorted(m.id for m in batch)


async def test_client_edits_reacts_and_deletes_through_rest(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    target = server.send_message(scene.alice, scene.general, "react to me")
    emoji = server.create_emoji(scene.guild, "custom", tiny_png(), creator=scene.alice)
    client = make_client()
    async with running_client(client, scene.bot.token):
        channel = client.get_channel(scene.general.id)
        assert isinstance(channel, discord.TextChannel)
        theirs = await channel.fetch_message(target.id)
        await theirs.add_reaction("🎉")
        assert [(r.emoji.name, r.user_ids) for r in target.reactions] == [("🎉", [scene.bot.id])]
        await theirs.remove_reaction("🎉", client.user)  # type: ignore[arg-type]
        assert target.reactions == []
        custom = client.get_emoji(emoji.id)
        assert custom is not None
        await theirs.add_reaction(custom)
        assert [(r.emoji.id, r.user_ids) for r in target.reactions] == [(emoji.id, [scene.bot.id])]

        mine = await channel.send("draft")
        await mine.edit(content="final")
        assert server.message(mine.id).content == "final"
        assert server.message(mine.id).edited_timestamp is not None
        await mine.delete()
        assert server.find_messages(scene.general, id=mine.id) == []
        await theirs.delete()
        assert target.deleted


async def test_history_pages_in_discord_order(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    sent = [server.send_message(scene.alice, scene.random, f"n{i}") for i in range(7)]
    client = make_client()
    async with running_client(client, scene.bot.token):
        channel = client.get_channel(scene.random.id)
        assert isinstance(channel, discord.TextChannel)
        newest_first = [m.content async for m in channel.history(limit=5)]
        assert newest_first == ["n6", "n5", "n4", "n3", "n2"]
        after = [m.content async for m in channel.history(after=sent[2], limit=None)]
        assert after == ["n3", "n4", "n5", "n6"]
        before = [m.content async for m in channel.history(before=sent[2], limit=None)]
        assert before == ["n1", "n0"]


async def test_message_content_is_empty_without_the_intent(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    intents = discord.Intents.default()
    client = make_client(intents)
    async with running_client(client, scene.bot.token):
        server.send_message(scene.alice, scene.general, "secret", attachments=[("a.txt", b"x")])
        hidden = await client.wait_for("message", timeout=5)
        assert (hidden.content, hidden.attachments) == ("", [])
        server.send_message(scene.alice, scene.general, f"<@{scene.bot.id}> ping")
        mentioned = await client.wait_for("message", timeout=5)
        assert mentioned.content == f"<@{scene.bot.id}> ping"
        dm = server.create_dm(scene.alice, scene.bot)
        server.send_message(scene.alice, dm, "in private")
        private = await client.wait_for("message", timeout=5)
        assert private.content == "in private" and private.guild is None
