"""Faults between the bridge and Discord: a dropped gateway connection, rate limits,
and downtime of the bridge itself. Nothing is missed and nothing is doubled."""

from __future__ import annotations

from typing import Any

import pytest

from bridgekit.network import MatrixMessage

from .conftest import DiscordHarness, logged_in, portal_room, wait_notice, wait_until


async def test_gateway_drop_resumes_without_missing_a_message(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "before the drop")

    server.faults.drop_gateway(world.bot)
    server.send_message(world.dalia, world.general, "while dropped")
    resume = await server.gateway.wait_for_record("resume", world.bot, within=30)
    assert resume.replayed >= 1
    await alice.wait_for_message(room_id, body="while dropped", timeout=30)
    server.send_message(world.dalia, world.general, "after the drop")
    await alice.wait_for_message(room_id, body="after the drop", timeout=30)

    assert len(server.gateway.records_of("identify", world.bot)) == 1  # resumed, not re-identified
    bodies = [
        e["content"].get("body") for e in alice.timeline(room_id) if e["type"] == "m.room.message"
    ]
    assert bodies.count("while dropped") == 1


async def test_rate_limited_message_is_retried_and_sent_once(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")

    fault = server.faults.fail_rest(
        "/channels/{channel_id}/messages", method="POST", retry_after=0.3
    )
    await alice.send_text(room_id, "despite the 429")
    await wait_until(lambda: server.find_messages(world.general, content="despite the 429"))
    assert fault.hits == 1
    posts = server.requests_to("/channels/{channel_id}/messages", "POST")
    assert [r.status for r in posts] == [429, 200]
    assert len(server.find_messages(world.general, content="despite the 429")) == 1


@pytest.mark.both_backends
async def test_messages_missed_while_the_bridge_was_down_are_backfilled_once(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "before downtime")

    def discord_goes_on() -> None:
        server.send_message(world.dalia, world.general, "missed one")
        server.send_message(world.bob, world.general, "missed two")

    async with discord.restarted(discord_goes_on):
        await alice.wait_for_message(room_id, body="missed two", timeout=30)
        server.send_message(world.dalia, world.general, "live again")
        await alice.wait_for_message(room_id, body="live again", timeout=30)
    bodies = [
        e["content"].get("body") for e in alice.timeline(room_id) if e["type"] == "m.room.message"
    ]
    assert bodies == ["before downtime", "missed one", "missed two", "live again"]


async def test_a_matrix_message_offered_again_after_a_crash_is_not_doubled(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "hello")
    event_id = await alice.send_text(room_id, "only once")
    await wait_until(lambda: server.find_messages(world.general, content="only once"))
    record = await discord.bridge.messages_db.by_mxid(event_id)
    assert record is not None
    # After a crash between Discord taking the message and the bridge noting it, the
    # homeserver offers the event again and the core hands it to the network again.
    portal = await discord.bridge.portal_of_room(room_id)
    assert portal is not None
    login = next(iter(discord.bridge.logins.values()))
    again = MatrixMessage(
        portal=portal,
        event_id=event_id,
        sender_mxid=alice.user_id,
        login_id=login.id,
        msgtype="m.text",
        body="only once",
    )
    response = await login.client.handle_matrix_message(again)
    assert response.id == record.id  # Discord answered with the message it had
    assert len(server.find_messages(world.general, content="only once")) == 1


async def test_thread_messages_missed_while_down_are_backfilled_into_the_thread(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "thread starter")
    root = await alice.wait_for_message(room_id, body="thread starter")
    starter = server.find_messages(world.general, content="thread starter")[-1]
    thread = server.create_thread(world.general, "a thread", owner=world.bob, starter=starter)
    server.send_message(world.bob, thread, "in the thread")
    await alice.wait_for_message(room_id, body="in the thread")

    def discord_goes_on() -> None:
        server.send_message(world.bob, thread, "missed in the thread")
        server.send_message(world.dalia, thread, "missed again")

    async with discord.restarted(discord_goes_on):
        missed = await alice.wait_for_message(room_id, body="missed again", timeout=30)
        relation = missed["content"]["m.relates_to"]
        assert (relation["rel_type"], relation["event_id"]) == ("m.thread", root["event_id"])
        server.send_message(world.bob, thread, "live in the thread")
        await alice.wait_for_message(room_id, body="live in the thread", timeout=30)
    bodies = [
        e["content"].get("body") for e in alice.timeline(room_id) if e["type"] == "m.room.message"
    ]
    assert bodies == [
        "thread starter",
        "in the thread",
        "missed in the thread",
        "missed again",
        "live in the thread",
    ]


async def test_the_user_hears_when_more_was_missed_than_the_backfill_limit(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    management = await logged_in(alice, discord)
    room_id = await portal_room(alice, discord, world.dalia, "before downtime")
    discord.overrides["network.backfill_limit"] = 2

    def discord_goes_on() -> None:
        for i in range(3):
            server.send_message(world.bob, world.general, f"missed {i}")

    async with discord.restarted(discord_goes_on):
        await wait_notice(alice, management, discord.bot, "More was said in #general")
        await alice.wait_for_message(room_id, body="missed 2", timeout=30)
    bodies = [
        e["content"].get("body") for e in alice.timeline(room_id) if e["type"] == "m.room.message"
    ]
    assert bodies == ["before downtime", "missed 1", "missed 2"]
