"""Discord → Matrix through the bridge: portals, ghosts, formatting, edits, deletions,
reactions, typing, attachments and channel changes."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from mautrix.types import EventType
from PIL import Image

from bridgekit.testing.matrix_client import MatrixRequestError
from bridges.discord.members import colour_mark
from tests.lottie import is_red, moving_square
from tests.servers.discord import DiscordTestServer, StickerFormat, Upload

from .conftest import (
    PNG,
    DiscordHarness,
    build_world,
    logged_in,
    portal_room,
    wait_notice,
    wait_until_async,
)


async def test_channel_message_creates_portal_with_ghost_and_formatting(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    text = f"**bold** *it* __under__ ~~gone~~ ||secret|| `co*de*` hi <@{world.bob.id}>"
    room_id = await portal_room(alice, discord, world.dalia, text)

    message = await alice.wait_for_message(room_id, sender=discord.ghost(world.dalia))
    content = message["content"]
    assert content["body"] == ("**bold** *it* __under__ ~~gone~~ ||secret|| `co*de*` hi @bob")
    bob_pill = f'<a href="https://matrix.to/#/{discord.ghost(world.bob)}">bob</a>'
    assert content["formatted_body"] == (
        "<strong>bold</strong> <em>it</em> <u>under</u> <del>gone</del> "
        f"<span data-mx-spoiler>secret</span> <code>co*de*</code> hi {bob_pill}"
    )

    state = {
        (e["type"], e.get("state_key")): e["content"] for e in await alice.get_room_state(room_id)
    }
    assert state[("m.room.name", "")]["name"] == "#general"
    assert state[("m.room.topic", "")]["topic"] == "Talk here"
    members = await alice.get_joined_members(room_id)
    dalia = members[discord.ghost(world.dalia)]
    assert dalia["display_name"] == "Dalia (Discord)"
    assert dalia["avatar_url"] and await alice.download(dalia["avatar_url"]) == PNG
    assert discord.ghost(world.bob) in members  # members of the channel came along

    # A code block with a language, a quote and a masked link.
    server.send_message(
        world.bob,
        world.general,
        "> quoted\n```py\nprint('hi')\n```\n[docs](https://example.org/docs)",
    )
    rich = await alice.wait_for_message(room_id, sender=discord.ghost(world.bob))
    assert rich["content"]["formatted_body"] == (
        '<blockquote>quoted</blockquote><pre><code class="language-py">'
        "print('hi')</code></pre><a href=\"https://example.org/docs\">docs</a>"
    )


async def test_discord_edits_deletes_reactions_replies_and_files_reach_matrix(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "first")
    first = await alice.wait_for_message(room_id, body="first")
    original = server.messages_in(world.general)[-1]
    dalia = discord.ghost(world.dalia)

    reply = server.send_message(world.bob, world.general, "a reply", reference=original)
    got = await alice.wait_for_message(room_id, body="a reply")
    assert got["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == first["event_id"]

    server.edit_message(original, "first, edited")
    edit = await alice.wait_for_event(
        room_id,
        lambda e: e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace",
    )
    assert edit["sender"] == dalia
    assert edit["content"]["m.relates_to"]["event_id"] == first["event_id"]
    assert edit["content"]["m.new_content"]["body"] == "first, edited"

    server.add_reaction(world.bob, original, "👍")
    reaction = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.reaction")
    assert reaction["sender"] == discord.ghost(world.bob)
    assert reaction["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": first["event_id"],
        "key": "👍",
    }
    server.remove_reaction(world.bob, original, "👍")
    await alice.wait_for_event(
        room_id,
        lambda e: e["type"] == "m.room.redaction" and e.get("redacts") == reaction["event_id"],
    )

    server.start_typing(world.bob, world.general)
    await alice.wait_for_ephemeral(
        room_id,
        lambda e: e["type"] == "m.typing" and discord.ghost(world.bob) in e["content"]["user_ids"],
    )

    server.send_message(
        world.dalia, world.general, "look", attachments=[Upload("dot.png", PNG, "image/png")]
    )
    caption = await alice.wait_for_message(room_id, sender=dalia, body="look")
    image = await alice.wait_for_event(room_id, lambda e: e["content"].get("msgtype") == "m.image")
    assert image["origin_server_ts"] >= caption["origin_server_ts"]
    assert image["content"]["body"] == "dot.png"
    assert image["content"]["info"]["mimetype"] == "image/png"
    assert await alice.download(image["content"]["url"]) == PNG

    server.delete_message(reply)
    redaction = await alice.wait_for_event(
        room_id, lambda e: e["type"] == "m.room.redaction" and e.get("redacts") == got["event_id"]
    )
    assert redaction["redacts"] == got["event_id"]


async def test_channel_changes_and_guild_commands(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    management = await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")

    server.update_channel(world.general, name="general-chat", topic="New topic")
    await alice.wait_for_event(
        room_id,
        lambda e: e["type"] == "m.room.name" and e["content"].get("name") == "#general-chat",
    )
    await alice.wait_for_event(
        room_id,
        lambda e: e["type"] == "m.room.topic" and e["content"].get("topic") == "New topic",
    )

    await alice.send_text(management, "guilds list")
    listing = await wait_notice(alice, management, discord.bot, "Test Guild")
    assert (
        f"{world.guild.id} — Test Guild: on-message, 2 text channels"
        in (listing["content"]["body"])
    )
    await alice.send_text(management, f"guilds bridge {world.guild.id}")
    await wait_notice(alice, management, discord.bot, "Bridging 2 channels of Test Guild")
    random_room = await alice.wait_for_invite(lambda i: i.name == "#random", timeout=30)
    await alice.join(random_room)
    server.send_message(world.bob, world.random, "in random")
    await alice.wait_for_message(random_room, sender=discord.ghost(world.bob), body="in random")

    await alice.send_text(management, f"guilds unbridge {world.guild.id}")
    await wait_notice(alice, management, discord.bot, "no longer bridged")
    server.send_message(world.bob, world.random, "not bridged")
    server.send_message(world.bob, world.random, "still not")
    await alice.send_text(management, f"guilds bridge {world.guild.id} on-message")
    await wait_notice(alice, management, discord.bot, "at their first message")
    server.send_message(world.bob, world.random, "bridged again")
    await alice.wait_for_message(random_room, body="bridged again")
    bodies = [e["content"].get("body") for e in alice.timeline(random_room)]
    assert "not bridged" not in bodies and "still not" not in bodies


async def test_a_bulk_delete_redacts_every_bridged_message(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "first")
    ghost = discord.ghost(world.dalia)
    messages = [server.send_message(world.dalia, world.general, f"spam {i}") for i in range(3)]
    events = [
        await alice.wait_for_message(room_id, sender=ghost, body=f"spam {i}") for i in range(3)
    ]
    kept = server.send_message(world.dalia, world.general, "keep me")
    await alice.wait_for_message(room_id, sender=ghost, body="keep me")

    server.bulk_delete(messages)
    for event in events:
        await alice.wait_for_event(
            room_id,
            lambda e, target=event["event_id"]: (
                e["type"] == "m.room.redaction" and e.get("redacts") == target
            ),
        )
    redacted = {
        e.get("redacts") for e in alice.timeline(room_id) if e["type"] == "m.room.redaction"
    }
    assert redacted == {e["event_id"] for e in events}
    assert not kept.deleted


async def test_pins_on_discord_become_the_rooms_pinned_messages(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "first")
    ghost = discord.ghost(world.dalia)
    one = server.send_message(world.dalia, world.general, "pin one")
    two = server.send_message(world.dalia, world.general, "pin two")
    one_event = await alice.wait_for_message(room_id, sender=ghost, body="pin one")
    two_event = await alice.wait_for_message(room_id, sender=ghost, body="pin two")

    async def pinned() -> list[str]:
        try:
            state = await alice.get_state_event(room_id, "m.room.pinned_events")
        except MatrixRequestError:
            return []
        return list(state.get("pinned", []))

    async def pinned_is(expected: list[str]) -> bool:
        return await pinned() == expected

    server.pin_message(one)
    await wait_until_async(lambda: pinned_is([one_event["event_id"]]))
    server.pin_message(two)
    await wait_until_async(lambda: pinned_is([one_event["event_id"], two_event["event_id"]]))
    server.pin_message(one, False)
    await wait_until_async(lambda: pinned_is([two_event["event_id"]]))


async def test_pins_made_on_matrix_reach_discord(discord: DiscordHarness, matrix_user: Any) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "first")
    message = server.send_message(world.dalia, world.general, "pin from Matrix")
    event = await alice.wait_for_message(
        room_id, sender=discord.ghost(world.dalia), body="pin from Matrix"
    )

    async def pinned_on_discord(expected: bool) -> bool:
        return bool(message.pinned) is expected

    await alice.send_state(room_id, "m.room.pinned_events", {"pinned": [event["event_id"]]})
    await wait_until_async(lambda: pinned_on_discord(True))
    await alice.send_state(room_id, "m.room.pinned_events", {"pinned": []})
    await wait_until_async(lambda: pinned_on_discord(False))


async def test_stickers_arrive_as_images_and_lottie_ones_play(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "stickers coming")
    ghost = discord.ghost(world.dalia)

    wave = server.create_sticker("wave", PNG, guild=world.guild)
    server.send_message(world.dalia, world.general, sticker=wave)
    still = await alice.wait_for_event(
        room_id, lambda e: e["type"] == "m.sticker" and e["sender"] == ghost, timeout=30
    )
    assert still["content"]["body"] == "wave"
    assert await alice.download(still["content"]["url"]) == PNG

    moving = json.dumps(moving_square()).encode()
    party = server.create_sticker("party", moving, format_type=StickerFormat.LOTTIE)
    server.send_message(world.dalia, world.general, sticker=party)
    played = await alice.wait_for_event(
        room_id, lambda e: e["type"] == "m.sticker" and e["content"]["body"] == "party", timeout=30
    )
    assert played["content"]["info"]["mimetype"] == "image/webp"
    image = Image.open(io.BytesIO(await alice.download(played["content"]["url"])))
    assert image.n_frames > 10
    assert is_red(image.convert("RGBA").getpixel((64, 128)))

    broken = server.create_sticker("broken", b"{not json", format_type=StickerFormat.LOTTIE)
    server.send_message(world.dalia, world.general, sticker=broken)
    await wait_notice(alice, room_id, ghost, "[sticker: broken]")


async def test_the_guild_space_lists_channels_in_discord_order(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    projects = server.create_category(world.guild, "Projects", position=0)
    server.create_text_channel(world.guild, "alpha", category=projects, position=0)
    alice = await matrix_user("alice")
    management = await logged_in(alice, discord)
    await alice.send_text(management, f"guilds bridge {world.guild.id}")
    await wait_notice(alice, management, discord.bot, "Bridging 3 channels of Test Guild")
    general = await alice.wait_for_invite(lambda i: i.name == "#general", timeout=30)
    intent = discord.bridge.bot_intent

    async def guild_space() -> str | None:
        parents = [
            e.state_key for e in await intent.get_state(general) if e.type == EventType.SPACE_PARENT
        ]
        return parents[0] if parents else None

    space = await wait_until_async(guild_space)

    async def children() -> dict[str, str]:
        """Each child room's name → its order in the space."""
        found: dict[str, str] = {}
        for event in await intent.get_state(space):
            content = event.content.serialize()
            if event.type == EventType.SPACE_CHILD and content.get("via"):
                name = await intent.get_state_event(event.state_key, EventType.ROOM_NAME)
                found[name["name"]] = content.get("order", "")
        return found

    async def all_three() -> dict[str, str]:
        listed = await children()
        return listed if len(listed) == 3 else {}

    listed = await wait_until_async(all_three)
    # Channels without a category first (#general, #random), then the category's.
    assert sorted(listed, key=listed.__getitem__) == ["#general", "#random", "#alpha"]

    # Moving #random into the category moves its room after #alpha.
    server.update_channel(world.random, category=projects, position=1)

    async def moved() -> dict[str, str]:
        listed = await children()
        return listed if listed.get("#random", "") > listed.get("#alpha", "~") else {}

    await wait_until_async(moved)


async def test_server_nicknames_and_roles_name_ghosts_in_guild_rooms(
    discord_server: DiscordTestServer, make_discord_bridge: Any, matrix_user: Any
) -> None:
    world = build_world(discord_server)
    mods = discord_server.create_role(world.guild, "Mods", color=0xE74C3C)
    discord_server.update_member(world.guild, world.bob, nick="Bobby", roles=[mods])
    overrides = {"network.member_name_template": "{nick} {colour} ({role})"}
    async with make_discord_bridge(discord_server, world, overrides) as harness:
        alice = await matrix_user("alice")
        await logged_in(alice, harness)
        room_id = await portal_room(alice, harness, world.dalia, "hello")
        discord_server.send_message(world.bob, world.general, "from a mod")
        await alice.wait_for_message(room_id, body="from a mod")

        async def names() -> dict[str, str]:
            members = await alice.get_joined_members(room_id)
            return {mxid: m.get("display_name") for mxid, m in members.items()}

        bob = harness.ghost(world.bob)
        for _ in range(100):
            if (await names()).get(bob) == "Bobby 🔴 (Mods) (Discord)":
                break
            await asyncio.sleep(0.1)
        assert (await names())[bob] == "Bobby 🔴 (Mods) (Discord)"
        # Without a role or nickname the brackets go: Dalia is just Dalia here.
        assert (await names())[harness.ghost(world.dalia)] == "Dalia (Discord)"
        # The profile keeps the global name (other rooms, DMs).
        profile = await alice.get_profile(bob)
        assert profile["displayname"] == "bob (Discord)"


@pytest.mark.parametrize(
    ("colour", "mark"),
    [
        *[(0, ""), (0xE74C3C, "🔴"), (0x3498DB, "🔵"), (0x2ECC71, "🟢"), (0xF1C40F, "🟡")],
        *[(0x9B59B6, "🟣"), (0xE67E22, "🟠"), (0x95A5A6, "⚪"), (0x23272A, "⚫")],
    ],
)
def test_role_colours_become_the_nearest_coloured_circle(colour: int, mark: str) -> None:
    assert colour_mark(colour) == mark
