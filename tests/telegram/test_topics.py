"""Forum topics: the forum is a space, and each topic (the "General" one too) is a
portal in it."""

from __future__ import annotations

from typing import Any

from bridgekit.network import PortalID, PortalKey, RoomType
from tests.servers.telegram import Post

from .conftest import TelegramHarness, eventually, phone_login, portal_from_message


def _portal(harness: TelegramHarness, portal_id: str) -> Any:
    return harness.bridge.portals.get(PortalKey(PortalID(portal_id)))


async def test_forum_topics_are_portals_with_the_forum_as_parent(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550401", "Alice")
    bob = server.create_user("+15550402", "Bob")
    forum = server.create_channel(bob, "Garden forum", [alice], forum=True)
    plants = server.create_topic(forum, bob, "Plants")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)

    # "General" (messages without a topic) is a topic portal too.
    server.send_message(bob, forum, "general hello")
    general_room, _ = await portal_from_message(matrix, telegram, "general hello")
    assert (await matrix.get_state_event(general_room, "m.room.name"))["name"] == "General"

    # A message in a topic makes the topic's portal, named after the topic.
    ferns = server.send_message(bob, forum, "about ferns", topic=plants)
    topic_room, event = await portal_from_message(matrix, telegram, "about ferns")
    assert topic_room != general_room
    assert event["sender"] == telegram.ghost(bob)
    name = await matrix.get_state_event(topic_room, "m.room.name")
    assert name["name"] == "Plants"
    topic_portal = _portal(telegram, f"channel:{forum.id}:{plants.id}")
    assert topic_portal is not None and topic_portal.mxid == topic_room
    assert topic_portal.record.parent_id == f"channel:{forum.id}"
    # The forum is a space with both topics' rooms in it.
    forum_portal = _portal(telegram, f"channel:{forum.id}")
    assert forum_portal is not None and forum_portal.record.room_type == RoomType.SPACE
    space = str(forum_portal.mxid)
    bot = telegram.bridge.bot_intent
    for child in (general_room, topic_room):
        assert (await bot.get_state_event(space, "m.space.child", child))["via"]
    assert (await bot.get_state_event(space, "m.room.name"))["name"] == "Garden forum"

    # Matrix → the topic: a plain message and a reply both land in the topic.
    await matrix.send_text(topic_room, "from matrix")
    ferns_event = await matrix.wait_for_message(topic_room, body="about ferns")
    await matrix.send_text(topic_room, "a reply", reply_to=ferns_event["event_id"])

    async def in_topic(text: str) -> Post | None:
        return next((p for p in server.messages(bob, forum) if p.text == text), None)

    async def both_arrived() -> bool:
        return await in_topic("from matrix") is not None and await in_topic("a reply") is not None

    await eventually(both_arrived)
    plain, reply = await in_topic("from matrix"), await in_topic("a reply")
    assert plain is not None and plain.topic is not None and plain.topic.id == plants.id
    assert reply is not None and reply.topic is not None and reply.topic.id == plants.id
    assert reply.reply_to is ferns

    # Renaming the topic renames its room; deleting a topic message redacts it there.
    server.edit_topic(forum, plants, bob, title="Ferns & co")

    async def renamed() -> bool:
        state = await matrix.get_state_event(topic_room, "m.room.name")
        return bool(state.get("name") == "Ferns & co")

    await eventually(renamed)
    server.delete_messages([ferns])
    await matrix.wait_for_event(
        topic_room,
        lambda e: (
            e.get("type") == "m.room.redaction"
            and e.get("redacts", e.get("content", {}).get("redacts")) == ferns_event["event_id"]
        ),
        timeout=30,
    )

    # Nothing of the topic leaked into "General".
    general_bodies = [
        e["content"].get("body")
        for e in await matrix.get_messages(general_room, limit=50)
        if e["type"] == "m.room.message"
    ]
    assert general_bodies == ["general hello"]

    # Matrix → "General": no topic on Telegram.
    await matrix.send_text(general_room, "general from matrix")

    async def general_arrived() -> bool:
        return await in_topic("general from matrix") is not None

    await eventually(general_arrived)
    general_post = await in_topic("general from matrix")
    assert general_post is not None and general_post.topic is None
