"""The bridge's second slice: Discord threads as Matrix threads (both ways), channel
mentions as room links (both ways), presence, and room name/topic changes from
Matrix, all through the bridge against the test server and Synapse."""

from __future__ import annotations

import asyncio
from typing import Any

from mautrix.types import EventType

from tests.servers.discord import Intents, Message, Permissions

from .conftest import (
    DiscordHarness,
    build_world,
    logged_in,
    portal_room,
    wait_notice,
    wait_until,
)


def _thread_rel(event: dict[str, Any]) -> tuple[str | None, str | None]:
    relates = event["content"].get("m.relates_to") or {}
    return relates.get("rel_type"), relates.get("event_id")


async def test_discord_thread_is_a_matrix_thread_both_ways(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "start of a thread")
    root = await alice.wait_for_message(room_id, body="start of a thread")
    starter = server.find_messages(world.general, content="start of a thread")[-1]

    thread = server.create_thread(world.general, "the thread", owner=world.bob, starter=starter)
    server.send_message(world.bob, thread, "inside the thread")
    inside = await alice.wait_for_message(room_id, body="inside the thread")
    assert _thread_rel(inside) == ("m.thread", root["event_id"])

    # A Matrix reply in that thread goes into the Discord thread, not the channel.
    reply_id = await alice.send_text(room_id, "answer in thread", thread_root=root["event_id"])

    def in_thread() -> Message | None:
        found = server.find_messages(thread, content="answer in thread")
        return found[-1] if found else None

    answer: Message = await wait_until(in_thread)
    assert answer.author_id == world.bot.id
    assert not server.find_messages(world.general, content="answer in thread")

    # Edits, reactions and deletions of thread messages reach the thread's messages.
    await alice.edit(room_id, reply_id, "answer, edited")
    await wait_until(lambda: server.message(answer.id).content == "answer, edited")
    await alice.react(room_id, inside["event_id"], "👍")
    bob_message = server.find_messages(thread, content="inside the thread")[-1]
    await wait_until(lambda: server.message(bob_message.id).reactions)
    server.add_reaction(world.dalia, bob_message, "🔥")
    fire = await alice.wait_for_event(
        room_id,
        lambda e: e.get("type") == "m.reaction" and e.get("sender") == discord.ghost(world.dalia),
        timeout=30,
    )
    assert fire["content"]["m.relates_to"]["event_id"] == inside["event_id"]
    assert fire["content"]["m.relates_to"]["key"] == "🔥"
    await alice.redact(room_id, reply_id)
    await wait_until(lambda: not server.find_messages(thread, content="answer, edited"))

    # A Matrix thread on a message without a Discord thread starts one from it.
    plain = server.send_message(world.dalia, world.general, "no thread yet")
    plain_event = await alice.wait_for_message(room_id, body="no thread yet")
    await alice.send_text(room_id, "first thread reply", thread_root=plain_event["event_id"])
    started = await wait_until(lambda: server.message(plain.id).thread_id)
    assert started == plain.id
    assert server.find_messages(server.channel(started), content="first thread reply")

    # The new message in a fresh thread came back with the thread's relation only once.
    server.send_message(world.dalia, server.channel(started), "dalia in new thread")
    back = await alice.wait_for_message(room_id, body="dalia in new thread")
    assert _thread_rel(back) == ("m.thread", plain_event["event_id"])
    bodies = [e["content"].get("body") for e in alice.timeline(room_id)]
    assert bodies.count("first thread reply") == 1


async def test_channel_mentions_and_room_links_map_to_each_other(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    general_room = await portal_room(alice, discord, world.dalia, "hello")
    server.send_message(world.dalia, world.random, "in random")
    random_room = await alice.wait_for_invite(lambda i: i.name == "#random", timeout=30)

    server.send_message(world.dalia, world.general, f"see <#{world.random.id}>")
    seen = await alice.wait_for_message(general_room, body="see #random")
    assert seen["content"]["formatted_body"] == (
        f'see <a href="https://matrix.to/#/{random_room}">#random</a>'
    )

    link = f'<a href="https://matrix.to/#/{random_room}">#random</a>'
    await alice.send_text(general_room, "go to #random", html=f"go to {link}")
    await wait_until(
        lambda: server.find_messages(world.general, content=f"go to <#{world.random.id}>")
    )


async def test_presence_reaches_the_ghost(
    discord_server: Any, make_discord_bridge: Any, matrix_user: Any
) -> None:
    world = build_world(
        discord_server, Intents.MESSAGE_CONTENT | Intents.GUILD_MEMBERS | Intents.GUILD_PRESENCES
    )
    async with make_discord_bridge(discord_server, world) as harness:
        alice = await matrix_user("alice")
        await logged_in(alice, harness)
        await portal_room(alice, harness, world.dalia, "hello")
        ghost = harness.ghost(world.dalia)

        async def presence_is(state: str, status_msg: str | None = None) -> None:
            path = f"/_matrix/client/v3/presence/{ghost}/status"
            for _ in range(150):
                found = await alice.request("GET", path)
                if (found.get("presence"), found.get("status_msg")) == (state, status_msg):
                    return
                await asyncio.sleep(0.2)
            raise AssertionError(f"presence is {found}, not {state}")

        discord_server.set_presence(world.dalia, "idle")
        await presence_is("unavailable")
        busy = [{"type": 4, "name": "Custom Status", "state": "Busy"}]
        discord_server.set_presence(world.dalia, "online", activities=busy)
        await presence_is("online", "Busy")
        discord_server.set_presence(world.dalia, "offline")
        await presence_is("offline")


async def test_room_name_and_topic_changes_reach_discord(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")

    # Without Manage Channels the bot says why nothing changed.
    await alice.set_room_topic(room_id, "A new topic")
    await wait_notice(alice, room_id, discord.bot, "Manage Channels")
    assert server.channel(world.general.id).topic == "Talk here"

    _grant_manage_channels(discord)
    await alice.set_room_topic(room_id, "Another topic")
    await wait_until(lambda: server.channel(world.general.id).topic == "Another topic")
    await alice.set_room_name(room_id, "#chat")
    await wait_until(lambda: server.channel(world.general.id).name == "chat")


def _grant_manage_channels(harness: DiscordHarness) -> None:
    server, world = harness.server, harness.world
    role = server.create_role(
        world.guild, "channel managers", permissions=Permissions.MANAGE_CHANNELS
    )
    server.update_member(world.guild, world.bot, roles=[role])


async def test_members_leaving_and_kicks_from_matrix(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    carol = server.create_user("carol")
    server.add_member(world.guild, carol)
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")
    for person in (world.bob, carol):
        server.send_message(person, world.general, f"{person.username} was here")
        await alice.wait_for_message(room_id, body=f"{person.username} was here")

    # Kicking a ghost on Matrix without Kick Members: a notice, carol stays.
    await alice.kick(room_id, discord.ghost(carol), reason="spam")
    await wait_notice(alice, room_id, discord.bot, "Kick Members")
    assert carol.id in server.guild(world.guild.id).members

    role = server.create_role(world.guild, "mods", permissions=Permissions.KICK_MEMBERS)
    server.update_member(world.guild, world.bot, roles=[role])
    await alice.kick(room_id, discord.ghost(world.bob))
    await wait_until(lambda: world.bob.id not in server.guild(world.guild.id).members)

    # Someone leaving the server on Discord leaves the room on Matrix.
    server.remove_member(world.guild, world.dalia)
    for _ in range(150):
        if discord.ghost(world.dalia) not in await alice.get_joined_members(room_id):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("Dalia's ghost is still in the room")


async def test_guild_is_a_space_holding_its_channel_rooms(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    world = discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")

    async def space_parent() -> str:
        for _ in range(150):
            state = await alice.get_room_state(room_id)
            parents = [e["state_key"] for e in state if e["type"] == "m.space.parent"]
            if parents:
                return str(parents[0])
            await asyncio.sleep(0.2)
        raise AssertionError("the room has no space parent")

    space = await space_parent()
    intent = discord.bridge.bot_intent
    create = await intent.get_state_event(space, EventType.ROOM_CREATE)
    assert create["type"].value == "m.space"
    assert (await intent.get_state_event(space, EventType.ROOM_NAME))["name"] == "Test Guild"
    child = await intent.get_state_event(space, EventType.SPACE_CHILD, room_id)
    assert child["via"]

    discord.server.update_guild(world.guild, name="Renamed Guild")
    for _ in range(150):
        if (await intent.get_state_event(space, EventType.ROOM_NAME))["name"] == "Renamed Guild":
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the space was not renamed")
