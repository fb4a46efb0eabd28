"""Room name and topic changes from Matrix → Telegram titles, descriptions and topic
names. Power levels mirror Telegram's admin rights, so Matrix lets admins change the
room; Telegram has the last word (rights may have changed since the last sync)."""

from __future__ import annotations

from typing import Any

from .conftest import TelegramHarness, eventually, phone_login, portal_from_message, wait_notice
from .test_messages import png


async def test_matrix_room_name_and_topic_change_the_telegram_chat(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550601", "Alice")
    bob = server.create_user("+15550602", "Bob")
    group = server.create_group(bob, "Book club", [alice])
    supergroup = server.create_channel(bob, "Announcements", [alice])
    forum = server.create_channel(bob, "Forum", [alice], forum=True)
    own_topic = server.create_topic(forum, alice, "Alice's corner")
    group.admins.add(alice.id)
    supergroup.members[alice.id].admin = True
    forum.members[alice.id].admin = True
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)

    # A basic group: an admin renames it and changes its description.
    server.send_message(bob, group, "in the group")
    group_room, _ = await portal_from_message(matrix, telegram, "in the group")
    await matrix.set_room_name(group_room, "Reading club")
    await matrix.set_room_topic(group_room, "Novels only")

    async def group_changed() -> bool:
        return group.title == "Reading club" and group.about == "Novels only"

    await eventually(group_changed)
    # And its picture: a new room avatar becomes the group's photo; removing it, none.
    picture = png(6, 6)
    mxc = await matrix.upload(picture, "image/png", "club.png")
    await matrix.send_state(
        group_room, "m.room.avatar", {"url": mxc, "info": {"mimetype": "image/png"}}
    )

    async def photo_set() -> bool:
        return group.photo is not None and group.photo.data == picture

    await eventually(photo_set)
    await matrix.send_state(group_room, "m.room.avatar", {})

    async def photo_removed() -> bool:
        return group.photo is None

    await eventually(photo_removed)
    # The rename's service message comes back from Telegram without undoing anything.
    server.send_message(bob, group, "after the rename")
    await matrix.wait_for_message(group_room, body="after the rename")
    assert (await matrix.get_state_event(group_room, "m.room.name"))["name"] == "Reading club"

    # A supergroup where Alice was an admin when the room was made, and no longer is:
    # Telegram refuses, and she is told.
    server.send_message(bob, supergroup, "in the supergroup")
    super_room, _ = await portal_from_message(matrix, telegram, "in the supergroup")
    supergroup.members[alice.id].admin = False
    await matrix.set_room_name(super_room, "Mine now")
    await wait_notice(matrix, super_room, telegram.bot, "Only admins of this Telegram chat")
    assert supergroup.title == "Announcements"

    # A forum topic: renaming its room renames the topic.
    server.send_message(bob, forum, "in her topic", topic=own_topic)
    topic_room, _ = await portal_from_message(matrix, telegram, "in her topic")
    await matrix.set_room_name(topic_room, "Alice's garden")

    async def topic_renamed() -> bool:
        return own_topic.title == "Alice's garden"

    await eventually(topic_renamed)
