"""A basic group upgraded to a supergroup goes on in the same room."""

from __future__ import annotations

from typing import Any

from bridgekit.network import PortalID, PortalKey

from .conftest import TelegramHarness, eventually, phone_login, portal_from_message, say


async def test_supergroup_upgrade_keeps_the_room(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550701", "Alice")
    bob = server.create_user("+15550702", "Bob")
    group = server.create_group(bob, "Small club", [alice])
    matrix = await matrix_user("alice")
    management = await phone_login(matrix, telegram, alice)

    # Enough messages in the basic group that the supergroup's IDs (from 1 again)
    # would collide with them if they shared a numbering.
    for i in range(4):
        server.send_message(bob, group, f"before {i}")
    room, _ = await portal_from_message(matrix, telegram, "before 0")
    before = await matrix.wait_for_message(room, body="before 3")

    supergroup = server.upgrade_group(group, bob)
    for i in range(4):
        server.send_message(bob, supergroup, f"after {i}")
    await matrix.wait_for_message(room, body="after 3")

    # Matrix → the supergroup, from the same room; edits reach it too.
    sent = await matrix.send_text(room, "from matrix after the upgrade")

    async def arrived(text: str) -> bool:
        return any(p.text == text for p in server.messages(bob, supergroup))

    await eventually(lambda: arrived("from matrix after the upgrade"))
    await matrix.edit(room, sent, "edited after the upgrade")
    await eventually(lambda: arrived("edited after the upgrade"))

    # A reply and a deletion in the supergroup reach the right events of the room.
    first_after = next(p for p in server.messages(bob, supergroup) if p.text == "after 0")
    server.send_message(bob, supergroup, "replying", reply_to=first_after)
    reply = await matrix.wait_for_message(room, body="replying")
    replied = await matrix.get_event(
        room, reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
    )
    assert replied["content"].get("body") == "after 0", replied
    server.delete_messages([first_after])
    await matrix.wait_for_event(
        room,
        lambda e: (
            e.get("type") == "m.room.redaction"
            and e.get("redacts", e.get("content", {}).get("redacts")) == replied["event_id"]
        ),
        timeout=30,
    )

    # Every message arrived once, in the one room; no portal for the supergroup.
    history = list(reversed(await matrix.get_messages(room, limit=100)))
    bodies = [
        e["content"].get("body")
        for e in history
        if e["type"] == "m.room.message" and "m.relates_to" not in e["content"]
    ]
    for text in ["before 0", "before 3", "after 1", "after 3", "from matrix after the upgrade"]:
        assert bodies.count(text) == 1, (text, bodies)
    assert before["event_id"] in {e["event_id"] for e in history}
    assert PortalKey(PortalID(f"channel:{supergroup.id}")) not in telegram.bridge.portals

    # After a restart, and after `sync`, the supergroup still lives in the same room.
    async with telegram.restarted():
        await say(matrix, management, telegram, "sync", "Syncing")
        server.send_message(bob, supergroup, "after the restart")
        await matrix.wait_for_message(room, body="after the restart")
        assert PortalKey(PortalID(f"channel:{supergroup.id}")) not in telegram.bridge.portals
