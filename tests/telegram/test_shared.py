"""Supergroups shared by several bridge users: one room, every message bridged once."""

from __future__ import annotations

from typing import Any

from bridgekit.network import PortalID, PortalKey

from .conftest import TelegramHarness, eventually, phone_login, say


async def test_shared_supergroup_is_one_portal_and_messages_are_bridged_once(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550201", "Alice")
    bob = server.create_user("+15550202", "Bob")
    carol = server.create_user("+15550203", "Carol")
    group = server.create_channel(carol, "Gardeners", [alice, bob], about="Green things")
    alice_mx = await matrix_user("alice")
    bob_mx = await matrix_user("bob")
    alice_room = await phone_login(alice_mx, telegram, alice)
    bob_room = await phone_login(bob_mx, telegram, bob)

    for i in range(3):
        server.send_message(carol, group, f"message {i}")
    await eventually(lambda: _has_room(telegram, group.id))
    room = _room(telegram, group.id)

    # Whichever login saw the chat first made the room and invited its owner; the
    # other login's copies of the messages were dropped as duplicates. `sync` invites
    # the owner of every login that is in the chat.
    await say(alice_mx, alice_room, telegram, "sync", "Syncing")
    await say(bob_mx, bob_room, telegram, "sync", "Syncing")
    for matrix in (alice_mx, bob_mx):
        assert await matrix.wait_for_invite(lambda invite: invite.room_id == room) == room
        await matrix.join(room)

    # Both logins receive every message; each arrives once.
    server.send_message(carol, group, "after both joined")
    await bob_mx.wait_for_message(room, body="after both joined")
    sent = await bob_mx.send_text(room, "bob from matrix")
    await eventually(lambda: _has(server, carol, group, "bob from matrix"))
    await bob_mx.edit(room, sent, "bob edited")
    await eventually(lambda: _has(server, carol, group, "bob edited"))
    server.send_message(carol, group, "last")
    await alice_mx.wait_for_message(room, body="last")

    history = list(reversed(await alice_mx.get_messages(room, limit=200)))
    bodies = [
        e["content"]["body"]
        for e in history
        if e["type"] == "m.room.message" and "m.relates_to" not in e["content"]
    ]
    expected = ["message 0", "message 1", "message 2", "after both joined", "bob from matrix"]
    assert bodies == [*expected, "last"]
    edits = [
        e for e in history if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
    ]
    assert [e["sender"] for e in edits] == [bob_mx.user_id]
    portals = {k for k in telegram.bridge.portals if k.id == f"channel:{group.id}"}
    assert len(portals) == 1 and next(iter(portals)).receiver is None


async def _has(server: Any, viewer: Any, chat: Any, text: str) -> bool:
    return any(p.text == text for p in server.messages(viewer, chat))


async def _has_room(harness: TelegramHarness, channel_id: int) -> bool:
    portal = harness.bridge.portals.get(PortalKey(PortalID(f"channel:{channel_id}")))
    return portal is not None and portal.mxid is not None


def _room(harness: TelegramHarness, channel_id: int) -> str:
    return str(harness.bridge.portals[PortalKey(PortalID(f"channel:{channel_id}"))].mxid)
