"""End-to-bridge encryption against the real Synapse, in both delivery modes."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from mautrix.types import Membership, RoomID, UserID

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.synapse import SynapseServer

from .conftest import Harness, group_with_bob, log_in


@pytest.fixture(params=["appservice", "sync"])
async def encrypted(
    request: pytest.FixtureRequest,
    synapse: SynapseServer,
    encrypted_loopback_setups: dict[str, BridgeSetup],
    database_url: str,
) -> AsyncIterator[Harness]:
    setup = encrypted_loopback_setups[request.param]
    world = LoopbackWorld()
    async with run_bridge(LoopbackConnector(world), setup, synapse, database_url) as bridge:
        yield Harness(bridge, world, setup, synapse, database_url)


async def test_bot_device_keys_are_on_the_server_and_portals_are_encrypted(
    encrypted: Harness, matrix_user: Any
) -> None:
    bridge = encrypted.bridge
    assert bridge.encryption is not None
    device_id = bridge.encryption.client.device_id
    alice = await matrix_user("alice")
    keys = await alice.request(
        "POST", "/_matrix/client/v3/keys/query", {"device_keys": {encrypted.bot: []}}
    )
    device = keys["device_keys"][encrypted.bot][device_id]
    assert "m.megolm.v1.aes-sha2" in device["algorithms"]

    await log_in(alice, encrypted, "alice")
    encrypted.world.add_account("bob", "x")
    encrypted.world.add_chat("g1", "Secret group", ["alice", "bob"])
    await encrypted.world.send_message("g1", "bob", "for your eyes only")
    room_id = await alice.wait_for_invite()
    await alice.join(room_id)
    state = {e["type"]: e["content"] for e in await alice.get_room_state(room_id)}
    assert state["m.room.encryption"]["algorithm"] == "m.megolm.v1.aes-sha2"
    event = await alice.wait_for_event(
        room_id, lambda e: e["sender"] == encrypted.ghost("bob") and e["type"] != "m.room.member"
    )
    assert event["type"] == "m.room.encrypted"
    assert "for your eyes only" not in str(event["content"])


async def _notice(client: Any, room_id: str, sender: str, text: str) -> dict[str, Any]:
    def matches(event: dict[str, Any]) -> bool:
        return text in event.get("content", {}).get("body", "")

    return await client.wait_for_message(room_id, matches, timeout=30, sender=sender)


async def _encrypted_login(client: Any, harness: Harness, username: str) -> str:
    """Log in through an encrypted DM with the bot, as Element makes it by default."""
    harness.world.add_account(username, "hunter2", code="424242")
    room_id = await client.create_room(invite=[harness.bot], is_direct=True, encrypted=True)
    await _notice(client, room_id, harness.bot, "management room")
    await client.send_text(room_id, "help")
    await _notice(client, room_id, harness.bot, "connect an account")
    for answer, prompt in (
        ("login", "send your username"),
        (username, "send your password"),
        ("hunter2", "send your code"),
        ("424242", "Successfully logged in"),
    ):
        await client.send_text(room_id, answer)
        await _notice(client, room_id, harness.bot, prompt)
    return room_id


async def test_encrypted_dm_login_and_encrypted_portal_both_ways(
    encrypted: Harness, encrypted_user: Any
) -> None:
    from bridgekit.network import MatrixMessage

    alice = await encrypted_user("alice")
    await _encrypted_login(alice, encrypted, "alice")
    assert "loopback-alice" in encrypted.bridge.logins

    world = encrypted.world
    world.add_account("bob", "x", name="Bob")
    world.add_chat("g1", "Secret group", ["alice", "bob"])
    await world.send_message("g1", "bob", "encrypted hello", "<b>encrypted</b> hello")
    room_id = await alice.wait_for_invite(timeout=30)
    await alice.join(room_id)
    hello = await alice.wait_for_message(
        room_id, "encrypted hello", timeout=30, sender=encrypted.ghost("bob")
    )
    assert hello["decrypted"] is True
    assert hello["content"]["formatted_body"] == "<b>encrypted</b> hello"

    await alice.send_text(room_id, "secret reply")
    sent = await world.wait_for_sent(
        lambda e: isinstance(e, MatrixMessage) and e.body == "secret reply", timeout=30
    )
    assert sent.event.sender_mxid == alice.user_id

    picture = bytes(range(256)) * 40
    await alice.send_image(room_id, picture, "image/png", "cat.png")
    image = await world.wait_for_sent(
        lambda e: isinstance(e, MatrixMessage) and e.msgtype == "m.image", timeout=30
    )
    assert isinstance(image.event, MatrixMessage) and image.event.media is not None
    assert await image.event.media.download() == picture
    async with image.event.media.open() as file:  # decrypted on disk, for large files
        assert file.path.read_bytes() == picture


async def test_network_media_arrives_as_an_encrypted_attachment(
    encrypted: Harness, encrypted_user: Any
) -> None:
    from bridgekit.network import (
        ConvertedMessage,
        ConvertedPart,
        EventSender,
        MediaUploader,
        MessageID,
        PortalID,
        PortalKey,
        RemoteMessage,
        RemoteUserID,
    )

    alice = await encrypted_user("alice")
    await _encrypted_login(alice, encrypted, "alice")
    world = encrypted.world
    world.add_account("bob", "x")
    world.add_chat("g1", "Pictures", ["alice", "bob"])
    room_id_task = world.send_message("g1", "bob", "here comes a picture")
    await room_id_task
    room_id = await alice.wait_for_invite(timeout=30)
    await alice.join(room_id)
    picture = b"\x89PNG fake image " * 500

    async def convert(uploader: MediaUploader) -> ConvertedMessage:
        ref = await uploader.upload(picture, "image/png", "dog.png")
        content = {"msgtype": "m.image", "body": "dog.png", "info": {"mimetype": "image/png"}}
        return ConvertedMessage([ConvertedPart({**content, **ref})])

    login = encrypted.bridge.logins["loopback-alice"]  # type: ignore[index]
    await login.queue_remote_event(
        RemoteMessage(
            portal=PortalKey(PortalID("g1")),
            sender=EventSender(RemoteUserID("bob")),
            id=MessageID("pic1"),
            convert=convert,
        )
    )
    event = await alice.wait_for_message(
        room_id, lambda e: e["content"].get("msgtype") == "m.image", timeout=30
    )
    assert "file" in event["content"] and "url" not in event["content"]
    assert await alice.download_decrypted(event["content"]) == picture


@pytest.mark.both_backends
async def test_keys_survive_a_restart(encrypted: Harness, encrypted_user: Any) -> None:
    from bridgekit.network import MatrixMessage

    alice = await encrypted_user("alice")
    await _encrypted_login(alice, encrypted, "alice")
    world = encrypted.world
    world.add_account("bob", "x")
    world.add_chat("g1", "Group", ["alice", "bob"])
    await world.send_message("g1", "bob", "before")
    room_id = await alice.wait_for_invite(timeout=30)
    await alice.join(room_id)
    await alice.wait_for_message(room_id, "before", timeout=30)
    assert encrypted.bridge.encryption is not None
    device = encrypted.bridge.encryption.client.device_id

    await encrypted.bridge.stop()
    async with run_bridge(
        LoopbackConnector(world), encrypted.setup, encrypted.synapse, encrypted.database_url
    ) as bridge:
        encrypted.bridge = bridge
        assert bridge.encryption is not None
        assert bridge.encryption.client.device_id == device
        await world.send_message("g1", "bob", "after")
        await alice.wait_for_message(room_id, "after", timeout=30)
        await alice.send_text(room_id, "still secret")
        await world.wait_for_sent(
            lambda e: isinstance(e, MatrixMessage) and e.body == "still secret", timeout=30
        )


async def test_a_message_whose_key_never_arrives_gets_a_visible_notice(
    synapse: SynapseServer,
    encrypted_loopback_setups: dict[str, BridgeSetup],
    database_url: str,
    matrix_user: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup = encrypted_loopback_setups["appservice"]
    overrides = {"encryption.key_wait_seconds": 1}
    async with run_bridge(LoopbackConnector(), setup, synapse, database_url, overrides) as bridge:
        mallory = await matrix_user("mallory")
        bot = str(bridge.bot_mxid)
        room_id = await mallory.create_room(
            invite=[bot],
            is_direct=True,
            initial_state=[
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        )
        await mallory.wait_for_event(
            room_id, lambda e: e["sender"] == bot and e["type"] == "m.room.encrypted", timeout=30
        )
        # A Megolm event for a session the bot was never given.
        await mallory.send_event(
            room_id,
            "m.room.encrypted",
            {
                "algorithm": "m.megolm.v1.aes-sha2",
                "sender_key": "c2VuZGVyIGtleSBvZiBhIGRldmljZSB0aGF0IGRvZXNu",
                "device_id": "NOSUCHDEVICE",
                "session_id": "bm8gc3VjaCBzZXNzaW9uIGV2ZXIgZXhpc3RlZCBoZXJl",
                "ciphertext": "AwgAEnB1cmUgbm9pc2UgdGhhdCBkZWNyeXB0cyB0byBub3RoaW5n",
            },
        )
        # The bot's notice is itself encrypted; the undecryptable message must not be
        # silently dropped, so a new event from the bot must follow it.
        before = len(mallory.timeline(room_id))
        await mallory.wait_for_event(
            room_id,
            lambda e: e["sender"] == bot and mallory.timeline(room_id).index(e) >= before,
            timeout=30,
        )
        assert "never received the key" in caplog.text


async def test_msc4190_device_creation_and_an_encrypted_dm(
    synapse: SynapseServer,
    encrypted_loopback_setups: dict[str, BridgeSetup],
    database_url: str,
    encrypted_user: Any,
) -> None:
    setup = encrypted_loopback_setups["msc4190"]
    world = LoopbackWorld()
    async with run_bridge(LoopbackConnector(world), setup, synapse, database_url) as bridge:
        harness = Harness(bridge, world, setup, synapse, database_url)
        assert bridge.encryption is not None and bridge.encryption.msc4190
        alice = await encrypted_user("alice")
        await _encrypted_login(alice, harness, "alice")
        assert "loopback-alice" in bridge.logins


async def test_require_refuses_plaintext_messages(
    synapse: SynapseServer,
    encrypted_loopback_setups: dict[str, BridgeSetup],
    database_url: str,
    matrix_user: Any,
) -> None:
    setup = encrypted_loopback_setups["appservice"]
    overrides = {"encryption.require": True}
    async with run_bridge(LoopbackConnector(), setup, synapse, database_url, overrides) as bridge:
        plain = await matrix_user("plain")
        bot = str(bridge.bot_mxid)
        room_id = await plain.create_room(invite=[bot], is_direct=True)
        await plain.wait_for_message(room_id, sender=bot)
        await plain.send_text(room_id, "login")
        await plain.wait_for_event(
            room_id,
            lambda e: "only accepts encrypted messages" in e.get("content", {}).get("body", ""),
        )
        assert bridge.users[plain.user_id].pending_login is None


async def test_remote_edits_and_reactions_are_encrypted_too(
    encrypted: Harness, encrypted_user: Any
) -> None:
    from bridgekit.network import (
        ConvertedMessage,
        EventSender,
        MediaUploader,
        MessageID,
        PortalID,
        PortalKey,
        RemoteEdit,
        RemoteReaction,
        RemoteUserID,
    )

    alice = await encrypted_user("alice")
    await _encrypted_login(alice, encrypted, "alice")
    world = encrypted.world
    world.add_account("bob", "x")
    world.add_chat("g1", "Group", ["alice", "bob"])
    await world.send_message("g1", "bob", "draft", message_id="d1")
    room_id = await alice.wait_for_invite(timeout=30)
    await alice.join(room_id)
    await alice.wait_for_message(room_id, "draft", timeout=30)
    login = encrypted.bridge.logins["loopback-alice"]  # type: ignore[index]
    key, bob = PortalKey(PortalID("g1")), EventSender(RemoteUserID("bob"))

    async def final(_: MediaUploader) -> ConvertedMessage:
        return ConvertedMessage.text("final")

    await login.queue_remote_event(
        RemoteEdit(portal=key, sender=bob, target=MessageID("d1"), convert=final)
    )
    edit = await alice.wait_for_message(
        room_id, lambda e: e["content"].get("m.new_content", {}).get("body") == "final", timeout=30
    )
    assert edit["decrypted"] is True
    await login.queue_remote_event(
        RemoteReaction(portal=key, sender=bob, target=MessageID("d1"), emoji="✅")
    )
    reaction = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.reaction", timeout=30)
    assert reaction["decrypted"] is True
    assert reaction["content"]["m.relates_to"]["key"] == "✅"


async def test_real_users_joining_and_leaving_rotate_the_group_session(
    encrypted: Harness, encrypted_user: Any
) -> None:
    alice = await encrypted_user("alice")
    await _encrypted_login(alice, encrypted, "alice")
    world = encrypted.world
    room_id = await group_with_bob(alice, encrypted, "before carol")
    await alice.wait_for_message(room_id, "before carol", timeout=30)

    carol = await encrypted_user("carol")
    await alice.invite(room_id, carol.user_id)
    await carol.join(room_id)
    # Carol's join changes who the bridge's group session must reach: the next message
    # goes out in a session shared with her device too.
    await world.send_message("g1", "bob", "welcome carol")
    event = await carol.wait_for_message(room_id, "welcome carol", timeout=30)
    assert event["decrypted"] is True

    # When she leaves, what follows goes out in a session her device never got.
    await carol.nio_client.room_leave(room_id)
    await _until_the_bridge_sees_leave(encrypted, room_id, carol.user_id)
    await world.send_message("g1", "bob", "carol has gone")
    after = await alice.wait_for_message(room_id, "carol has gone", timeout=30)
    assert after["decrypted"] and event["decrypted"]
    assert after["session_id"] != event["session_id"]


async def _until_the_bridge_sees_leave(harness: Harness, room_id: str, user_id: str) -> None:
    """(The leave reaches the bridge in its own transaction: a message the network sends
    before that still goes out in the old session, as with any client.)"""
    state_store = harness.bridge.appservice.state_store
    for _ in range(300):
        if await state_store.get_membership(RoomID(room_id), UserID(user_id)) == Membership.LEAVE:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the bridge never saw {user_id} leave")


async def _admin(synapse: SynapseServer) -> Any:
    from bridgekit.testing.matrix_client import MatrixTestClient

    user_id, token = await synapse.aregister_user("admin" + secrets.token_hex(3), "pw", admin=True)
    return MatrixTestClient(synapse.url, user_id, token)


async def test_a_device_lost_on_the_server_is_replaced_at_start_up(
    synapse: SynapseServer,
    encrypted_loopback_setups: dict[str, BridgeSetup],
    database_url: str,
    encrypted_user: Any,
    matrix_user: Any,
) -> None:
    setup = encrypted_loopback_setups["appservice"]
    world = LoopbackWorld()
    async with run_bridge(LoopbackConnector(world), setup, synapse, database_url) as bridge:
        assert bridge.encryption is not None
        lost = bridge.encryption.client.device_id
        bot = str(bridge.bot_mxid)

    # The homeserver loses the device and its keys (deleted, or restored from a backup).
    admin = await _admin(synapse)
    await admin.request(
        "DELETE", f"/_synapse/admin/v2/users/{quote(bot)}/devices/{quote(str(lost))}"
    )
    await admin.close()

    async with run_bridge(LoopbackConnector(world), setup, synapse, database_url) as bridge:
        harness = Harness(bridge, world, setup, synapse, database_url)
        assert bridge.encryption is not None
        device = bridge.encryption.client.device_id
        assert device != lost
        observer = await matrix_user("observer")
        result = await observer.request(
            "POST", "/_matrix/client/v3/keys/query", {"device_keys": {bot: []}}
        )
        # (The suite's other tests left devices of their own on this bot.)
        assert device in result["device_keys"][bot] and lost not in result["device_keys"][bot]
        # And encrypted rooms work with the new device.
        alice = await encrypted_user("alice")
        await _encrypted_login(alice, harness, "alice")


@pytest.mark.parametrize("mode", ["appservice", "sync"])
async def test_one_time_keys_are_replenished(
    mode: str,
    synapse: SynapseServer,
    encrypted_loopback_setups: dict[str, BridgeSetup],
    database_url: str,
    encrypted_user: Any,
    matrix_user: Any,
) -> None:
    setup = encrypted_loopback_setups[mode]
    world = LoopbackWorld()
    async with run_bridge(LoopbackConnector(world), setup, synapse, database_url) as bridge:
        await _use_up_and_replenish(
            Harness(bridge, world, setup, synapse, database_url), encrypted_user, matrix_user
        )


async def _use_up_and_replenish(encrypted: Harness, encrypted_user: Any, matrix_user: Any) -> None:
    alice = await encrypted_user("alice")
    await _encrypted_login(alice, encrypted, "alice")
    claimer = await matrix_user("claimer")
    assert encrypted.bridge.encryption is not None
    bot, device = encrypted.bot, str(encrypted.bridge.encryption.client.device_id)

    async def claim() -> dict[str, Any]:
        result = await claimer.request(
            "POST",
            "/_matrix/client/v3/keys/claim",
            {"one_time_keys": {bot: {device: "signed_curve25519"}}},
        )
        keys: dict[str, Any] = result["one_time_keys"].get(bot, {}).get(device, {})
        return next(iter(keys.values()), {})

    # Other users' devices claim the bot's one-time keys until only the fallback is left.
    for _ in range(200):
        key = await claim()
        if not key or key.get("fallback"):
            break
    else:
        raise AssertionError("the bot's one-time keys never ran out")
    # Whoever claims a key goes on to send the device an Olm message. The homeserver
    # reports the new count with that transaction (appservice mode) or sync (/sync
    # mode); the bridge uploads new keys, and a later claim gets a real one-time key.
    await claimer.request(
        "PUT",
        f"/_matrix/client/v3/sendToDevice/m.dummy/{secrets.token_hex(8)}",
        {"messages": {bot: {device: {}}}},
    )
    for _ in range(100):
        key = await claim()
        if key and not key.get("fallback"):
            return
        await asyncio.sleep(0.3)
    raise AssertionError("no new one-time keys were uploaded")


async def test_a_new_device_gets_missed_keys_on_request_and_an_outsider_does_not(
    encrypted: Harness, encrypted_user: Any
) -> None:
    alice = await encrypted_user("alice")
    await _encrypted_login(alice, encrypted, "alice")
    room_id = await group_with_bob(alice, encrypted, "said before the laptop")
    await alice.wait_for_message(room_id, "said before the laptop", timeout=30)
    assert encrypted.bridge.encryption is not None
    bot_device = str(encrypted.bridge.encryption.client.device_id)

    # Alice signs in on a laptop: the history it syncs was encrypted before it existed.
    laptop = await alice.new_device()
    try:
        missed = await laptop.wait_for_event(
            room_id,
            lambda e: e["type"] == "m.room.encrypted" and e["sender"] == encrypted.ghost("bob"),
            timeout=30,
        )
        assert missed["decrypted"] is False
        await laptop.request_room_key(room_id, missed["content"], encrypted.bot, bot_device)
        recovered = await laptop.wait_for_message(room_id, "said before the laptop", timeout=30)
        assert recovered["decrypted"] is True
    finally:
        await laptop.close()

    # Someone outside the room asking for the same key is refused, and told why.
    mallory = await encrypted_user("mallory")
    await mallory.request_room_key(room_id, missed["content"], encrypted.bot, bot_device)
    withheld = await mallory.wait_for_to_device(
        lambda e: e["type"] == "m.room_key.withheld", timeout=30
    )
    assert withheld["content"]["code"] == "m.unauthorised"
    assert withheld["content"]["session_id"] == missed["content"]["session_id"]
