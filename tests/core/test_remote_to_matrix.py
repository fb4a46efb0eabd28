"""Network → Matrix beyond plain messages: DMs, chat info, avatars, double puppeting,
bridge state, deleting portals."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bridgekit.network import (
    Avatar,
    ChatInfo,
    ConvertedMessage,
    EventSender,
    MediaUploader,
    MessageID,
    PortalID,
    PortalKey,
    RemoteBackfill,
    RemoteChatInfoChange,
    RemoteMessage,
    RemoteUserID,
    UserInfo,
)
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.synapse import SynapseServer, free_port

from .conftest import Harness, group_with_bob, log_in

PNG_1 = b"\x89PNG\r\n\x1a\n first avatar"
PNG_2 = b"\x89PNG\r\n\x1a\n second avatar"


async def test_dm_portals_are_per_login_and_direct(loopback: Harness, matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x", name="Bob")
    loopback.world.add_chat("dm-ab", "", ["alice", "bob"], is_dm=True)
    await loopback.world.send_message("dm-ab", "bob", "psst")
    # Only a direct invite is accepted: an ordinary one times out and fails the test.
    room_id = await alice.wait_for_invite(lambda invite: invite.is_direct)
    await alice.join(room_id)
    await alice.wait_for_message(room_id, sender=loopback.ghost("bob"), body="psst")
    portal = await loopback.bridge.get_portal_by_mxid(room_id)
    assert portal is not None
    assert portal.key == PortalKey(PortalID("dm-ab"), "loopback-alice")  # type: ignore[arg-type]


async def test_chat_info_changes_and_ghost_avatars_follow_the_network(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Old name", ["alice", "bob"])
    await loopback.world.send_message("g1", "bob", "hi")
    room_id = await alice.wait_for_invite()
    await alice.join(room_id)
    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]
    key = PortalKey(PortalID("g1"))
    downloads: list[str] = []

    def avatar(avatar_id: str, data: bytes) -> Avatar:
        async def get() -> bytes:
            downloads.append(avatar_id)
            return data

        return Avatar(avatar_id, get, "image/png")

    await login.queue_remote_event(
        RemoteChatInfoChange(
            portal=key,
            info=ChatInfo(name="New name", topic="New topic", avatar=avatar("r1", PNG_1)),
        )
    )
    await alice.wait_for_event(room_id, lambda e: e["type"] == "m.room.avatar")
    state = {e["type"]: e["content"] for e in await alice.get_room_state(room_id)}
    assert state["m.room.name"]["name"] == "New name"
    assert state["m.room.topic"]["topic"] == "New topic"
    assert await alice.download(state["m.room.avatar"]["url"]) == PNG_1

    bob = EventSender(
        RemoteUserID("bob"), user_info=UserInfo(name="Robert", avatar=avatar("u1", PNG_1))
    )
    for i, sender in enumerate([bob, bob]):  # the same avatar twice: uploaded once
        await login.queue_remote_event(
            RemoteMessage.text(key, sender, MessageID(f"x{i}"), f"profile {i}")
        )
    await alice.wait_for_message(room_id, body="profile 1")
    profile = await alice.get_profile(loopback.ghost("bob"))
    assert profile["displayname"] == "Robert (Loopback)"
    assert await alice.download(profile["avatar_url"]) == PNG_1
    changed = EventSender(RemoteUserID("bob"), user_info=UserInfo(avatar=avatar("u2", PNG_2)))
    await login.queue_remote_event(RemoteMessage.text(key, changed, MessageID("x9"), "new face"))
    await alice.wait_for_message(room_id, body="new face")
    profile = await alice.get_profile(loopback.ghost("bob"))
    assert await alice.download(profile["avatar_url"]) == PNG_2
    assert downloads == ["r1", "u1", "u2"]


async def test_own_messages_from_another_client_appear_as_the_real_user(
    synapse: SynapseServer,
    loopback_setup: BridgeSetup,
    database_url: str,
    matrix_user: Any,
    double_puppet_registration: dict[str, Any],
) -> None:
    world = LoopbackWorld()
    overrides = {
        "double_puppet.secrets": {
            "bridgekit.test": f"as_token:{double_puppet_registration['as_token']}"
        }
    }
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        harness = Harness(bridge, world, loopback_setup, synapse, database_url)
        alice = await matrix_user("alice")
        await log_in(alice, harness, "alice")
        world.add_account("bob", "x")
        world.add_chat("g1", "Group", ["alice", "bob"])
        await world.send_message("g1", "bob", "hello alice")
        room_id = await alice.wait_for_invite()
        await alice.join(room_id)
        login = bridge.logins["loopback-alice"]  # type: ignore[index]
        me = EventSender(RemoteUserID("alice"), is_from_me=True)
        await login.queue_remote_event(
            RemoteMessage.text(
                PortalKey(PortalID("g1")), me, MessageID("mine"), "sent from my phone"
            )
        )
        event = await alice.wait_for_message(room_id, body="sent from my phone")
        assert event["sender"] == alice.user_id


async def test_login_state_is_pushed_to_the_status_endpoint(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str, matrix_user: Any
) -> None:
    received: list[dict[str, Any]] = []
    headers: list[str] = []

    async def status(request: web.Request) -> web.Response:
        received.append(await request.json())
        headers.append(request.headers.get("Authorization", ""))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        world = LoopbackWorld()
        overrides = {"homeserver.status_endpoint": f"http://127.0.0.1:{port}/status"}
        async with run_bridge(
            LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
        ) as bridge:
            alice = await matrix_user("alice")
            await log_in(
                alice, Harness(bridge, world, loopback_setup, synapse, database_url), "alice"
            )
    finally:
        await runner.cleanup()
    assert received and received[-1]["state_event"] == "CONNECTED"
    assert received[-1]["remote_id"] == "loopback-alice"
    assert received[-1]["user_id"] == alice.user_id
    assert headers[-1] == f"Bearer {loopback_setup.as_token}"


async def test_admin_deletes_a_portal(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str, matrix_user: Any
) -> None:
    world = LoopbackWorld()
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url
    ) as bridge:
        harness = Harness(bridge, world, loopback_setup, synapse, database_url)
        admin = await matrix_user("admin")  # localpart admin_<random>: not the configured admin
        bridge.config["bridge.permissions"] = {"*": "relay", admin.user_id: "admin"}
        await log_in(admin, harness, "boss")
        world.add_account("bob", "x")
        world.add_chat("g1", "Doomed", ["boss", "bob"])
        await world.send_message("g1", "bob", "short-lived")
        room_id = await admin.wait_for_invite()
        await admin.join(room_id)
        short = await admin.wait_for_message(room_id, body="short-lived")
        old = await bridge.messages_db.by_mxid(short["event_id"])
        assert old is not None
        await admin.send_text(room_id, f"{bridge.commands.prefix} delete-portal")
        await admin.wait_for_event(
            room_id,
            lambda e: (
                e["type"] == "m.room.member"
                and e.get("state_key") == admin.user_id
                and e["content"]["membership"] == "leave"
            ),
        )
        assert await bridge.portals_db.get(PortalKey(PortalID("g1"))) is None

        # The chat lives on: the network offering the old message again (a
        # catch-up) makes a new room, and the message is sent there anew, not
        # answered with the deleted room's event (same transaction ID otherwise).
        login = bridge.logins["loopback-boss"]  # type: ignore[index]
        bob = EventSender(RemoteUserID("bob"))
        again = RemoteMessage.text(PortalKey(PortalID("g1")), bob, old.id, "short-lived")
        await login.queue_remote_event(again)
        new_room = await admin.wait_for_invite(lambda i: i.room_id != room_id)
        await admin.join(new_room)
        resent = await admin.wait_for_message(new_room, body="short-lived")
        assert resent["event_id"] != old.mxid


async def test_every_other_remote_event_type_reaches_matrix(
    loopback: Harness, matrix_user: Any
) -> None:
    from bridgekit.network import (
        EmojiID,
        RemoteBackfill,
        RemoteChatDelete,
        RemotePresence,
        RemoteReaction,
        RemoteReactionRemove,
        RemoteReadReceipt,
        RemoteTyping,
    )

    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group", ["alice", "bob"])
    await loopback.world.send_message("g1", "bob", "m1 text", message_id="m1")
    room_id = await alice.wait_for_invite()
    await alice.join(room_id)
    first = await alice.wait_for_message(room_id, body="m1 text")
    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]
    key = PortalKey(PortalID("g1"))
    bob = EventSender(RemoteUserID("bob"))
    ghost = loopback.ghost("bob")

    await login.queue_remote_event(RemoteTyping(portal=key, sender=bob, timeout_s=20))
    typing = await alice.wait_for_ephemeral(
        room_id, lambda e: e["type"] == "m.typing" and ghost in e["content"]["user_ids"]
    )
    assert typing

    await login.queue_remote_event(
        RemoteReadReceipt(portal=key, sender=bob, target=MessageID("m1"))
    )
    await alice.wait_for_ephemeral(
        room_id,
        lambda e: (
            e["type"] == "m.receipt"
            and ghost in e["content"].get(first["event_id"], {}).get("m.read", {})
        ),
    )

    await login.queue_remote_event(
        RemoteReaction(portal=key, sender=bob, target=MessageID("m1"), emoji="👀")
    )
    reaction = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.reaction")
    await login.queue_remote_event(
        RemoteReactionRemove(portal=key, sender=bob, target=MessageID("m1"), emoji_id=EmojiID("👀"))
    )
    removed = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.room.redaction")
    assert removed["redacts"] == reaction["event_id"]

    older = [
        RemoteMessage.text(key, bob, MessageID(f"old{i}"), f"backfilled {i}") for i in range(3)
    ]
    older.append(RemoteMessage.text(key, bob, MessageID("m1"), "m1 again, already bridged"))
    await login.queue_remote_event(RemoteBackfill(portal=key, messages=older))
    await alice.wait_for_message(room_id, body="backfilled 2")
    bodies = [
        e["content"].get("body") for e in alice.timeline(room_id) if e["type"] == "m.room.message"
    ]
    assert "m1 again, already bridged" not in bodies

    await login.queue_remote_event(RemotePresence(portal=key, sender=bob, presence="unavailable"))
    portal = await loopback.bridge.get_portal(key)
    await portal.queue.drain()
    presence = await alice.request("GET", f"/_matrix/client/v3/presence/{ghost}/status")
    assert presence["presence"] == "unavailable"

    await login.queue_remote_event(RemoteChatDelete(portal=key, sender=bob))
    await alice.wait_for_event(
        room_id,
        lambda e: (
            e["type"] == "m.room.member"
            and e.get("state_key") == alice.user_id
            and e["content"]["membership"] == "leave"
        ),
    )
    assert await loopback.bridge.find_portal_room(key) is None


async def test_a_message_the_network_cannot_convert_leaves_a_notice(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    world = loopback.world
    room_id = await group_with_bob(alice, loopback, "first")

    async def broken(uploader: MediaUploader) -> ConvertedMessage:
        raise ValueError("the network sent something its plugin cannot read")

    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]
    event = RemoteMessage(
        portal=PortalKey(PortalID("g1")),
        sender=EventSender(RemoteUserID("bob")),
        id=MessageID("odd1"),
        convert=broken,
    )
    await login.queue_remote_event(event)
    notice = await alice.wait_for_event(
        room_id, lambda e: "could not be bridged" in e["content"].get("body", "")
    )
    assert notice["sender"] == loopback.ghost("bob")
    body = notice["content"]["body"]
    assert notice["content"]["msgtype"] == "m.notice"
    assert "could not be bridged (ValueError)" in body and "open Loopback" in body
    # It took the message's place: offered again, it is not bridged a second time.
    await login.queue_remote_event(event)
    await world.send_message("g1", "bob", "next")
    await alice.wait_for_message(room_id, body="next")
    notices = [e for e in alice.timeline(room_id) if "could not be bridged" in str(e["content"])]
    assert len(notices) == 1


async def test_a_long_catch_up_is_reported_in_the_management_room(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    management = await log_in(alice, loopback, "alice")
    room_id = await group_with_bob(alice, loopback, "before the downtime")
    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]

    def missed(n: int) -> RemoteMessage:
        bob = EventSender(RemoteUserID("bob"))
        return RemoteMessage.text(
            PortalKey(PortalID("g1")), bob, MessageID(f"late{n}"), f"missed {n}"
        )

    # Five of them made it before (a catch-up overlaps what was bridged live).
    for n in range(5):
        await login.queue_remote_event(missed(n))
    await alice.wait_for_message(room_id, body="missed 4")
    await login.queue_remote_event(
        RemoteBackfill(portal=PortalKey(PortalID("g1")), messages=[missed(n) for n in range(60)])
    )
    start = await alice.wait_for_event(
        management, lambda e: "Catching up" in e["content"].get("body", "")
    )
    assert start["content"]["body"] == "Catching up on 60 messages missed in Group…"
    done = await alice.wait_for_event(
        management, lambda e: "Caught up" in e["content"].get("body", "")
    )
    assert done["content"]["body"] == "Caught up on Group: 60 messages (5 were there already)."
    history = reversed(await alice.get_messages(room_id, limit=200))
    bodies = [e["content"]["body"] for e in history if "missed" in e["content"].get("body", "")]
    assert bodies == [f"missed {n}" for n in range(60)]


async def test_a_message_the_homeserver_refuses_leaves_a_notice(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    world = loopback.world
    room_id = await group_with_bob(alice, loopback, "first")

    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]
    bob = EventSender(RemoteUserID("bob"))
    huge = RemoteMessage.text(PortalKey(PortalID("g1")), bob, MessageID("huge1"), "x" * 70_000)
    await login.queue_remote_event(huge)
    notice = await alice.wait_for_event(
        room_id, lambda e: "could not be bridged" in e["content"].get("body", "")
    )
    assert notice["sender"] == loopback.ghost("bob")
    assert "the homeserver refused it (M_TOO_LARGE)" in notice["content"]["body"]
    # The message is mapped to the notice: offered again, nothing more arrives, and
    # what follows is bridged as usual.
    await login.queue_remote_event(huge)
    await world.send_message("g1", "bob", "after the big one")
    await alice.wait_for_message(room_id, body="after the big one")
    notices = [e for e in alice.timeline(room_id) if "could not be bridged" in str(e["content"])]
    assert len(notices) == 1
