"""Matrix → Discord through the bridge: the login's owner writes as the bot (text,
formatting, pills, replies, edits, deletions, reactions, typing, files); relayed
Matrix users write through the channel's webhook with their own name and avatar."""

from __future__ import annotations

from typing import Any

import aiohttp

from bridgekit.testing.matrix_client import MatrixTestClient
from tests.servers.discord import Message

from .conftest import PNG, DiscordHarness, logged_in, portal_room, wait_notice, wait_until


def _newest(harness: DiscordHarness) -> Message:
    return harness.server.messages_in(harness.world.general)[-1]


async def _wait_discord(harness: DiscordHarness, content: str) -> Message:
    """The message with ``content`` in #general, once it arrived."""

    def find() -> Message | None:
        found = harness.server.find_messages(harness.world.general, content=content)
        return found[-1] if found else None

    result: Message = await wait_until(find)
    return result


async def test_owner_messages_reach_discord_as_the_bot(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")
    hello = await alice.wait_for_message(room_id, body="hello")
    hello_on_discord = _newest(discord)

    pill = f'<a href="https://matrix.to/#/{discord.ghost(world.dalia)}">Dalia</a>'
    await alice.send_text(
        room_id,
        "bold reply",
        html=f"<b>bold</b> <u>reply</u> to {pill}",
        reply_to=hello["event_id"],
    )
    sent = await _wait_discord(discord, f"**bold** __reply__ to <@{world.dalia.id}>")
    assert sent.author_id == world.bot.id
    assert sent.reference is not None
    assert sent.reference["message_id"] == str(hello_on_discord.id)
    assert world.dalia.id in sent.mentions

    plain_id = await alice.send_text(room_id, "typo here")
    typo = await _wait_discord(discord, "typo here")
    await alice.edit(room_id, plain_id, "fixed here")
    await wait_until(lambda: server.message(typo.id).content == "fixed here")

    await alice.react(room_id, hello["event_id"], "🎉")
    await wait_until(lambda: server.message(hello_on_discord.id).reactions)
    reactions = server.message(hello_on_discord.id).reactions
    assert [(r.emoji.name, r.user_ids) for r in reactions] == [("🎉", [world.bot.id])]

    await alice.send_typing(room_id, True)
    await wait_until(lambda: server.requests_to("/channels/{channel_id}/typing", "POST"))

    await alice.redact(room_id, plain_id)
    await wait_until(lambda: not server.find_messages(world.general, content="fixed here"))

    await alice.send_media(room_id, PNG, "image/png", "dot.png")
    upload = await wait_until(lambda: _newest(discord).attachments and _newest(discord))
    assert upload.attachments[0].filename == "dot.png"
    assert upload.attachments[0].data == PNG

    big = b"\0" * (server.max_upload_size + 1)
    await alice.send_media(room_id, big, "application/octet-stream", "big.bin")
    await wait_notice(alice, room_id, discord.bot, "big.bin is 10.0 MiB; Discord takes files")

    # Nothing the bridge sent came back to Matrix as a second copy.
    await alice.send_text(room_id, "last one")
    await _wait_discord(discord, "last one")
    server.send_message(world.dalia, world.general, "marker")
    await alice.wait_for_message(room_id, body="marker")
    echoes = [
        e
        for e in alice.timeline(room_id)
        if e["sender"] != alice.user_id and e["content"].get("body") in ("typo here", "last one")
    ]
    assert echoes == []


async def _relayed_user(
    alice: MatrixTestClient, harness: DiscordHarness, room_id: str, matrix_user: Any
) -> MatrixTestClient:
    await alice.send_text(room_id, f"{harness.bridge.commands.prefix} set-relay")
    await wait_notice(alice, room_id, harness.bot, "now relayed through")
    dave = await matrix_user("dave")
    await dave.set_displayname("Dave the Discordian")
    await dave.set_avatar_url(await dave.upload(PNG, "image/png", "dave.png"))
    await alice.invite(room_id, dave.user_id)
    await dave.join(room_id)
    return dave


async def test_relayed_matrix_users_write_through_a_webhook(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")
    dave = await _relayed_user(alice, discord, room_id, matrix_user)
    profile = await dave.get_profile()

    first_id = await dave.send_text(room_id, "hi from matrix", html="hi from <i>matrix</i>")
    first = await _wait_discord(discord, "hi from *matrix*")
    assert first.webhook is not None
    assert first.webhook.username == "Dave the Disc_ordian"
    # Discord fetches the avatar from a link the bridge serves itself.
    avatar = first.webhook.avatar_url
    assert avatar is not None and avatar.startswith("https://matrix.example.org/_bridgekit/media/")
    local = avatar.replace("https://matrix.example.org", f"http://127.0.0.1:{discord.setup.port}")
    async with aiohttp.ClientSession() as http, http.get(local) as response:
        assert response.status == 200 and await response.read() == PNG
    assert profile["avatar_url"].removeprefix("mxc://") in avatar
    hooks = [h for h in server.webhooks.values() if h.channel_id == world.general.id]
    assert len(hooks) == 1 and first.webhook_id == hooks[0].id

    await dave.send_text(room_id, "second")
    second = await _wait_discord(discord, "second")
    assert second.webhook_id == first.webhook_id  # the channel's webhook is reused
    assert len(server.requests_to("/channels/{channel_id}/webhooks", "POST")) == 1

    await dave.edit(room_id, first_id, "hi from matrix, edited")
    await wait_until(lambda: server.message(first.id).content == "hi from matrix, edited")
    edits = server.requests_to("/webhooks/{webhook_id}/{token}/messages/{message_id}")
    assert [r.method for r in edits] == ["PATCH"]

    await dave.redact(room_id, first_id)
    await wait_until(lambda: not server.find_messages(world.general, content=first.content))
    webhook_calls = server.requests_to("/webhooks/{webhook_id}/{token}/messages/{message_id}")
    assert [r.method for r in webhook_calls] == ["PATCH", "DELETE"]

    # The webhook's messages come back over the gateway, but never into Matrix.
    server.send_message(world.dalia, world.general, "marker")
    await alice.wait_for_message(room_id, body="marker")
    from_ghosts = [
        e["content"].get("body")
        for e in alice.timeline(room_id)
        if e["type"] == "m.room.message" and discord.bridge.is_ghost(e["sender"])
    ]
    assert from_ghosts == ["hello", "marker"]


async def test_everyone_pings_need_the_power_to_notify_the_matrix_room(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    world = discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")
    dave = await _relayed_user(alice, discord, room_id, matrix_user)

    # Dave (power level 0) is relayed: his @everyone reaches Discord as text, not a ping.
    await dave.send_text(room_id, "@everyone look at this")
    quiet = await _wait_discord(discord, "@everyone look at this")
    assert quiet.webhook is not None and not quiet.mention_everyone
    # Alice has the room's level 50, enough to notify it: her @room is Discord's @everyone.
    await alice.send_text(room_id, "@room meeting in five")
    loud = await _wait_discord(discord, "@everyone meeting in five")
    assert loud.author_id == world.bot.id and loud.mention_everyone
    await alice.send_text(room_id, "and @everyone again")
    again = await _wait_discord(discord, "and @everyone again")
    assert again.mention_everyone


async def test_custom_emoji_reactions_both_ways(discord: DiscordHarness, matrix_user: Any) -> None:
    server, world = discord.server, discord.world
    party = server.create_emoji(world.guild, "party", PNG)
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "react to me")
    hello = await alice.wait_for_message(room_id, body="react to me")
    on_discord = server.find_messages(world.general, content="react to me")[0]

    # Discord → Matrix: the emoji's picture is the reaction, its name the shortcode.
    server.add_reaction(world.bob, on_discord, party)
    reaction = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.reaction")
    key = reaction["content"]["m.relates_to"]["key"]
    assert key.startswith("mxc://") and await alice.download(key) == PNG
    assert reaction["content"]["com.beeper.reaction.shortcode"] == ":party:"

    # Matrix → Discord: clicking that reaction adds the same custom emoji.
    await alice.react(room_id, hello["event_id"], key)
    await wait_until(
        lambda: any(
            r.emoji.id == party.id and world.bot.id in r.user_ids
            for r in server.message(on_discord.id).reactions
        )
    )

    # A Matrix user's own custom emoji means nothing on Discord: they are told.
    other = await alice.upload(PNG, "image/png", "mine.png")
    await alice.react(room_id, hello["event_id"], other)
    await wait_notice(alice, room_id, discord.bot, "the Discord server's own emoji")
