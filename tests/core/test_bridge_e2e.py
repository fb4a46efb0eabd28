"""The core engine end to end: loopback network ⇄ bridge ⇄ real Synapse ⇄ test user.

Every test runs on SQLite or PostgreSQL (the ``database_url`` fixture; see
``--db-backends``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridgekit.network import (
    MatrixEdit,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixReaction,
    MessageID,
    PortalID,
    PortalKey,
    RemoteEdit,
    RemoteMessageRemove,
    RemoteReaction,
)
from bridgekit.network.content import ConvertedMessage
from bridgekit.network.events import EventSender
from bridgekit.network.ids import RemoteUserID
from bridgekit.testing.bridge import run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.matrix_client import MatrixTestClient

from .conftest import Harness, log_in, open_management_room, wait_notice


async def _portal_room(
    client: MatrixTestClient, harness: Harness, chat: str, sender: str, text: str
) -> str:
    """A remote message creates the portal; the user accepts the invite."""
    await harness.world.send_message(chat, sender, text)
    room_id = await client.wait_for_invite()
    await client.join(room_id)
    await client.wait_for_message(room_id, sender=harness.ghost(sender), body=text)
    return room_id


async def test_login_with_code_then_remote_message_creates_portal(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice", code="123456")
    login_ids = [login.id for login in loopback.bridge.logins.values()]
    assert login_ids == ["loopback-alice"]

    loopback.world.add_account("bob", "x", name="Bob")
    loopback.world.add_chat("g1", "Group One", ["alice", "bob"], topic="about things")
    room_id = await _portal_room(alice, loopback, "g1", "bob", "hello from bob")

    state = {
        (e["type"], e.get("state_key")): e["content"] for e in await alice.get_room_state(room_id)
    }
    assert state[("m.room.name", "")]["name"] == "Group One"
    assert state[("m.room.topic", "")]["topic"] == "about things"
    bridge_state = state[("m.bridge", "bridgekit://loopback/g1")]
    assert bridge_state["protocol"]["id"] == "loopback"
    members = await alice.get_joined_members(room_id)
    assert loopback.ghost("bob") in members
    assert members[loopback.ghost("bob")]["display_name"] == "Bob (Loopback)"


async def test_matrix_events_reach_the_network_with_resolved_targets(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group", ["alice", "bob"])
    room_id = await _portal_room(alice, loopback, "g1", "bob", "first")
    first = await alice.wait_for_message(room_id, body="first")
    world = loopback.world

    await alice.send_text(room_id, "plain reply", reply_to=first["event_id"])
    sent = await world.wait_for_sent(
        lambda e: isinstance(e, MatrixMessage) and e.body == "plain reply"
    )
    assert isinstance(sent.event, MatrixMessage)
    assert sent.event.reply_to is not None and sent.event.reply_to.id == "m1"
    assert sent.event.login_id == "loopback-alice"

    html_id = await alice.send_text(room_id, "bold", html="<b>bold</b>")
    sent_html = await world.wait_for_sent(
        lambda e: isinstance(e, MatrixMessage) and e.body == "bold"
    )
    assert isinstance(sent_html.event, MatrixMessage) and sent_html.event.html == "<b>bold</b>"

    await alice.edit(room_id, html_id, "bolder")
    edit = await world.wait_for_sent(lambda e: isinstance(e, MatrixEdit))
    assert isinstance(edit.event, MatrixEdit)
    assert edit.event.target.id == sent_html.remote_id and edit.event.body == "bolder"

    await alice.react(room_id, first["event_id"], "👍")
    reaction = await world.wait_for_sent(lambda e: isinstance(e, MatrixReaction))
    assert isinstance(reaction.event, MatrixReaction)
    assert reaction.event.target.id == "m1" and reaction.event.key == "👍"

    await alice.redact(room_id, html_id)
    removal = await world.wait_for_sent(lambda e: isinstance(e, MatrixMessageRemove))
    assert isinstance(removal.event, MatrixMessageRemove)
    assert removal.event.target.id == sent_html.remote_id

    await alice.send_text(room_id, "fail please")
    await wait_notice(alice, room_id, loopback.bot, "refused this message")


async def test_remote_edits_reactions_and_deletes_reach_matrix(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group", ["alice", "bob"])
    room_id = await _portal_room(alice, loopback, "g1", "bob", "original")
    original = await alice.wait_for_message(room_id, body="original")
    bob = EventSender(RemoteUserID("bob"))
    key = PortalKey(PortalID("g1"))
    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]

    async def edited(_: Any) -> ConvertedMessage:
        return ConvertedMessage.text("changed")

    await login.queue_remote_event(
        RemoteEdit(portal=key, sender=bob, target=MessageID("m1"), convert=edited)
    )
    edit = await alice.wait_for_event(
        room_id,
        lambda e: e.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace",
    )
    assert edit["content"]["m.new_content"]["body"] == "changed"
    assert edit["content"]["m.relates_to"]["event_id"] == original["event_id"]

    await login.queue_remote_event(
        RemoteReaction(portal=key, sender=bob, target=MessageID("m1"), emoji="🎉")
    )
    reaction = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.reaction")
    assert reaction["content"]["m.relates_to"]["key"] == "🎉"
    assert reaction["sender"] == loopback.ghost("bob")

    # A duplicate remote message ID is dropped, not sent twice.
    await loopback.world.send_message("g1", "bob", "duplicate?", message_id="m1")
    await login.queue_remote_event(
        RemoteMessageRemove(portal=key, sender=bob, target=MessageID("m1"))
    )
    redaction = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.room.redaction")
    assert redaction["redacts"] == original["event_id"]
    bodies = [
        e["content"].get("body") for e in alice.timeline(room_id) if e["type"] == "m.room.message"
    ]
    assert "duplicate?" not in bodies


async def test_order_holds_for_200_messages_while_another_portal_runs(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("busy", "Busy", ["alice", "bob"])
    loopback.world.add_chat("other", "Other", ["alice", "bob"])
    busy = await _portal_room(alice, loopback, "busy", "bob", "start busy")
    other = await _portal_room(alice, loopback, "other", "bob", "start other")

    async def flood(chat: str, count: int) -> None:
        for i in range(count):
            await loopback.world.send_message(chat, "bob", f"{chat} {i}")

    await asyncio.gather(flood("busy", 200), flood("other", 20))
    await alice.wait_for_message(busy, body="busy 199", timeout=120)
    await alice.wait_for_message(other, body="other 19", timeout=60)
    got = [
        e["content"]["body"]
        for e in alice.timeline(busy)
        if e["type"] == "m.room.message" and e["content"]["body"].startswith("busy ")
    ]
    assert got == [f"busy {i}" for i in range(200)]


@pytest.mark.both_backends
async def test_mappings_survive_a_restart(loopback: Harness, matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group", ["alice", "bob"])
    room_id = await _portal_room(alice, loopback, "g1", "bob", "before restart")
    before = await alice.wait_for_message(room_id, body="before restart")

    await loopback.bridge.stop()
    world = loopback.world
    async with run_bridge(
        LoopbackConnector(world), loopback.setup, loopback.synapse, loopback.database_url
    ) as bridge:
        loopback.bridge = bridge
        assert "loopback-alice" in bridge.logins  # the login was reloaded and reconnected
        await alice.edit(room_id, before["event_id"], "after restart")
        edit = await world.wait_for_sent(lambda e: isinstance(e, MatrixEdit))
        assert isinstance(edit.event, MatrixEdit) and edit.event.target.id == "m1"
        await world.send_message("g1", "bob", "still here")
        await alice.wait_for_message(room_id, sender=loopback.ghost("bob"), body="still here")


async def test_commands_explain_mistakes(loopback: Harness, matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    room_id = await open_management_room(alice, loopback)
    await alice.send_text(room_id, "frobnicate")
    await wait_notice(alice, room_id, loopback.bot, "Unknown command `frobnicate`")
    await alice.send_text(room_id, "login carrier-pigeon")
    await wait_notice(alice, room_id, loopback.bot, "no login method `carrier-pigeon`")
    await alice.send_text(room_id, "help")
    help_text = await wait_notice(alice, room_id, loopback.bot, "login")
    assert "delete-portal" not in help_text["content"]["body"]  # admin-only, and portal-only

    loopback.world.add_account("carol", "right")
    await alice.send_text(room_id, "login")
    await wait_notice(alice, room_id, loopback.bot, "send your username")
    await alice.send_text(room_id, "carol")
    await wait_notice(alice, room_id, loopback.bot, "send your password")
    await alice.send_text(room_id, "wrong")
    await wait_notice(alice, room_id, loopback.bot, "Wrong username or password")
    await alice.send_text(room_id, "cancel")
    await wait_notice(alice, room_id, loopback.bot, "Login cancelled")
    assert not loopback.bridge.logins


async def test_users_without_permission_are_refused(
    synapse: Any, loopback_setup: Any, database_url: str, matrix_user: Any
) -> None:
    from bridgekit.testing.loopback import LoopbackWorld

    world = LoopbackWorld()
    world.add_account("mallory", "pw")
    overrides = {"bridge.permissions": {"*": "relay"}}
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        mallory = await matrix_user("mallory")
        room_id = await mallory.create_room(invite=[str(bridge.bot_mxid)], is_direct=True)
        await wait_notice(mallory, room_id, str(bridge.bot_mxid), "management room")
        await mallory.send_text(room_id, "login")
        await wait_notice(mallory, room_id, str(bridge.bot_mxid), "needs the user level")
        assert not bridge.logins


async def test_relay_mode_formats_messages_of_users_without_a_login(
    synapse: Any, loopback_setup: Any, database_url: str, matrix_user: Any
) -> None:
    from bridgekit.testing.loopback import LoopbackWorld

    from .conftest import Harness

    world = LoopbackWorld()
    overrides = {"bridge.relay.enabled": True, "bridge.relay.format": "<{displayname}> {message}"}
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        harness = Harness(bridge, world, loopback_setup, synapse, database_url)
        alice = await matrix_user("alice")
        await log_in(alice, harness, "alice")
        world.add_account("bob", "x")
        world.add_chat("g1", "Group", ["alice", "bob"])
        room_id = await _portal_room(alice, harness, "g1", "bob", "hi")
        await alice.send_text(room_id, f"{bridge.commands.prefix} set-relay")
        await wait_notice(alice, room_id, harness.bot, "now relayed through")

        dave = await matrix_user("dave")
        await dave.set_displayname("Dave")
        await alice.invite(room_id, dave.user_id)
        await dave.join(room_id)
        await dave.send_text(room_id, "relayed hello")
        sent = await world.wait_for_sent(
            lambda e: isinstance(e, MatrixMessage) and e.sender_mxid == dave.user_id
        )
        assert isinstance(sent.event, MatrixMessage)
        assert sent.event.body == "<Dave> relayed hello"
        assert sent.event.relay is not None and sent.event.relay.display_name == "Dave"
        assert sent.event.login_id == "loopback-alice"


async def test_start_up_says_when_the_homeserver_cannot_reach_the_bridge(
    synapse: Any, loopback_setup: Any, database_url: str
) -> None:
    import pytest

    from bridgekit.bridge import StartupError
    from bridgekit.testing.synapse import free_port

    # The bridge listens somewhere else than the registration's URL says.
    overrides = {"appservice.port": free_port()}
    with pytest.raises(StartupError, match="cannot reach the bridge"):
        async with run_bridge(
            LoopbackConnector(), loopback_setup, synapse, database_url, overrides
        ):
            pass


async def test_typing_receipts_membership_power_levels_and_room_meta_reach_the_network(
    loopback: Harness, matrix_user: Any
) -> None:
    from bridgekit.network import (
        MatrixMembership,
        MatrixPowerLevels,
        MatrixReadReceipt,
        MatrixRoomMeta,
        MatrixTyping,
    )

    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group", ["alice", "bob"], admins=["alice"])
    room_id = await _portal_room(alice, loopback, "g1", "bob", "read me")
    first = await alice.wait_for_message(room_id, body="read me")
    world = loopback.world
    bob = loopback.ghost("bob")

    await alice.send_typing(room_id, True)
    typing = await world.wait_for_sent(lambda e: isinstance(e, MatrixTyping) and e.typing)
    assert typing.event.sender_mxid == alice.user_id
    await alice.send_typing(room_id, False)
    await world.wait_for_sent(lambda e: isinstance(e, MatrixTyping) and not e.typing)

    await alice.send_receipt(room_id, first["event_id"])
    receipt = await world.wait_for_sent(lambda e: isinstance(e, MatrixReadReceipt))
    assert isinstance(receipt.event, MatrixReadReceipt)
    assert receipt.event.target is not None and receipt.event.target.id == "m1"

    await alice.set_room_name(room_id, "Renamed")
    meta = await world.wait_for_sent(lambda e: isinstance(e, MatrixRoomMeta))
    assert isinstance(meta.event, MatrixRoomMeta) and meta.event.name == "Renamed"

    # Alice is an admin of the remote chat, so admin (100) in the portal.
    power = await alice.get_state_event(room_id, "m.room.power_levels")
    assert power["users"][alice.user_id] == 100
    power["users"][bob] = 10
    await alice.set_power_levels(room_id, power)
    levels = await world.wait_for_sent(lambda e: isinstance(e, MatrixPowerLevels))
    assert isinstance(levels.event, MatrixPowerLevels) and levels.event.users == {"bob": 10}

    await alice.kick(room_id, bob, reason="bye")
    kick = await world.wait_for_sent(lambda e: isinstance(e, MatrixMembership))
    assert isinstance(kick.event, MatrixMembership)
    assert kick.event.target_user == "bob" and kick.event.membership == "leave"
    assert kick.event.reason == "bye"


async def test_network_commands_need_a_login_and_then_run(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    room_id = await open_management_room(alice, loopback)
    await alice.send_text(room_id, "whoami")
    await wait_notice(alice, room_id, loopback.bot, "`whoami` needs a login")
    await alice.send_text(room_id, "help")
    help_text = await wait_notice(alice, room_id, loopback.bot, "Network:")
    assert "whoami — show your loopback account" in help_text["content"]["body"]
    loopback.world.add_account("alice", "hunter2", name="Alice A.")
    for answer in ("login", "alice", "hunter2"):
        await alice.send_text(room_id, answer)
    await wait_notice(alice, room_id, loopback.bot, "Successfully logged in")
    await alice.send_text(room_id, "whoami")
    await wait_notice(alice, room_id, loopback.bot, "You are Alice A. on the loopback network.")


async def test_qr_login_shows_the_code_as_an_image(
    synapse: Any, loopback_setup: Any, database_url: str, matrix_user: Any
) -> None:
    world = LoopbackWorld()
    world.add_account("kim", "-", name="Kim")
    connector = LoopbackConnector(world, qr_login=True)
    async with run_bridge(connector, loopback_setup, synapse, database_url) as bridge:
        harness = Harness(bridge, world, loopback_setup, synapse, database_url)
        kim = await matrix_user("kim")
        room_id = await open_management_room(kim, harness)
        await kim.send_text(room_id, "login")
        await wait_notice(kim, room_id, harness.bot, "login qr — QR code")
        await kim.send_text(room_id, "login qr")
        image = await kim.wait_for_event(
            room_id, lambda e: e.get("content", {}).get("msgtype") == "m.image"
        )
        assert image["content"]["body"] == "loopback://qr/1"
        png = await kim.download(image["content"]["url"])
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200
        await connector.scans.put("kim")
        await wait_notice(kim, room_id, harness.bot, "Successfully logged in as Kim")


async def test_networks_learn_when_their_events_are_done_and_can_post_notices(
    loopback: Harness, matrix_user: Any
) -> None:
    from bridgekit.network import RemoteMessage

    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group", ["alice", "bob"])
    room_id = await _portal_room(alice, loopback, "g1", "bob", "first")
    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]
    key = PortalKey(PortalID("g1"))
    done: list[tuple[str, bool]] = []

    def recorder(name: str) -> Any:
        async def on_handled(ok: bool) -> None:
            done.append((name, ok))

        return on_handled

    bob = EventSender(RemoteUserID("bob"))
    for name, message_id in (("new", "n1"), ("duplicate", "n1")):
        event = RemoteMessage.text(key, bob, MessageID(message_id), f"{name} message")
        event.on_handled = recorder(name)
        await login.queue_remote_event(event)
    await alice.wait_for_message(room_id, body="new message")
    portal = await loopback.bridge.get_portal(key)
    await portal.queue.drain()
    assert done == [("new", True), ("duplicate", True)]

    await loopback.bridge.send_notice(key, "Held back by a rate limit for 30 s.")
    await wait_notice(alice, room_id, loopback.bot, "Held back by a rate limit")


async def test_start_up_explains_a_taken_port_and_a_bad_network_section(
    synapse: Any, loopback_setup: Any, database_url: str
) -> None:
    import socket

    import pytest

    from bridgekit.bridge import StartupError

    class StrictConnector(LoopbackConnector):
        def load_config(self, section: dict[str, Any]) -> None:
            raise ValueError("network.example_setting must be true or false, not 'maybe'")

    with pytest.raises(StartupError, match="example_setting must be true or false"):
        async with run_bridge(StrictConnector(), loopback_setup, synapse, database_url):
            pass
    with socket.socket() as taken:
        # Like the bridge, ignore connections of an earlier test still in TIME_WAIT.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", loopback_setup.port))
        taken.listen()
        with pytest.raises(StartupError, match="Is another bridge or program using the port"):
            async with run_bridge(LoopbackConnector(), loopback_setup, synapse, database_url):
                pass


async def test_start_up_explains_a_missing_database_and_one_from_a_newer_version(
    synapse: Any, loopback_setup: Any, postgres_server_url: str, tmp_path: Any
) -> None:
    from yarl import URL

    from bridgekit.bridge import StartupError

    missing = str(URL(postgres_server_url).with_path("/bridgekit_no_such_database"))
    with pytest.raises(StartupError, match=r"database does not exist.*createdb"):
        async with run_bridge(LoopbackConnector(), loopback_setup, synapse, missing):
            pass
    with pytest.raises(StartupError, match=r"directory in database\.url exists"):
        url = f"sqlite://{tmp_path / 'no' / 'such' / 'dir' / 'bridge.db'}"
        async with run_bridge(LoopbackConnector(), loopback_setup, synapse, url):
            pass

    url = f"sqlite://{tmp_path / 'bridge.db'}"
    async with run_bridge(LoopbackConnector(), loopback_setup, synapse, url) as bridge:
        await bridge.db.execute("UPDATE bridgekit_version SET version=version+1")
    with pytest.raises(StartupError, match="last used by a newer bridgekit"):
        async with run_bridge(LoopbackConnector(), loopback_setup, synapse, url):
            pass


async def test_an_account_connected_by_one_user_cannot_be_taken_by_another(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "shared")
    mallory = await matrix_user("mallory")
    room_id = await open_management_room(mallory, loopback)
    for answer in ("login", "shared", "hunter2"):
        await mallory.send_text(room_id, answer)
    await wait_notice(mallory, room_id, loopback.bot, "already connected to this bridge")
    [login] = loopback.bridge.logins.values()
    assert login.user_mxid == alice.user_id
