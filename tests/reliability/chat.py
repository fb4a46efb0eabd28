"""The reliability tests' common start: Alice logged in to the loopback network through
the bot, and her group chat with Bob bridged to a room she has joined."""

from __future__ import annotations

from bridgekit.bridge import Bridge
from bridgekit.testing.loopback import LoopbackWorld
from bridgekit.testing.matrix_client import MatrixTestClient


async def group_with_bob(
    alice: MatrixTestClient, bridge: Bridge, world: LoopbackWorld, title: str = "Outage"
) -> str:
    """Log Alice in (account ``alice``/``pw``), bridge the chat ``g1`` with Bob through
    a first message ("before"), and return its room, joined."""
    world.add_account("alice", "pw")
    world.add_account("bob", "x")
    world.add_chat("g1", title, ["alice", "bob"])
    management = await alice.create_room(invite=[str(bridge.bot_mxid)], is_direct=True)
    await alice.wait_for_message(management, sender=str(bridge.bot_mxid))
    for answer in ("login", "alice", "pw"):
        await alice.send_text(management, answer)
    await alice.wait_for_event(
        management, lambda e: "Successfully" in e.get("content", {}).get("body", "")
    )
    await world.send_message("g1", "bob", "before")
    room = await alice.wait_for_invite()
    await alice.join(room)
    await alice.wait_for_message(room, body="before")
    return room
