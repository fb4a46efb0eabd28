"""Bot commands and personal spaces end to end: loopback network ⇄ bridge ⇄ real Synapse.

Every test runs on SQLite or PostgreSQL (the ``database_url`` fixture; see
``--db-backends``).
"""

from __future__ import annotations

from typing import Any

from bridgekit.network import PortalID, PortalKey
from bridgekit.testing.bridge import run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.matrix_client import MatrixTestClient

from .conftest import Harness, log_in, open_management_room, wait_notice


async def _accept_portal_invite(client: MatrixTestClient) -> str:
    room_id = await client.wait_for_invite()
    await client.join(room_id)
    return room_id


async def _accept_space_invite(client: MatrixTestClient) -> str:
    room_id = await client.wait_for_invite(lambda invite: invite.is_space, include_spaces=True)
    await client.join(room_id)
    return room_id


async def _portal_room(
    client: MatrixTestClient, harness: Harness, chat: str, sender: str, text: str
) -> str:
    """A remote message creates the portal; the user accepts the invite."""
    await harness.world.send_message(chat, sender, text)
    room_id = await _accept_portal_invite(client)
    await client.wait_for_message(room_id, sender=harness.ghost(sender), body=text)
    return room_id


async def _state(client: MatrixTestClient, room_id: str) -> dict[tuple[str, str], Any]:
    return {(e["type"], e["state_key"]): e["content"] for e in await client.get_room_state(room_id)}


async def _space_children(client: MatrixTestClient, space_id: str) -> set[str]:
    return {
        key
        for (kind, key), content in (await _state(client, space_id)).items()
        if kind == "m.space.child" and content
    }


def _in(members: dict[str, Any], *mxids: str) -> bool:
    return all(mxid in members for mxid in mxids)


async def test_a_login_gets_a_space_holding_its_portals(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group One", ["alice", "bob"])
    loopback.world.add_chat("g2", "Group Two", ["alice", "bob"])
    first = await _portal_room(alice, loopback, "g1", "bob", "hello")

    space = await _accept_space_invite(alice)
    state = await _state(alice, space)
    assert state[("m.room.create", "")]["type"] == "m.space"
    assert state[("m.room.name", "")]["name"] == "Loopback (Alice)"
    create = next(e for e in await alice.get_room_state(space) if e["type"] == "m.room.create")
    assert create["sender"] == loopback.bot
    login = loopback.bridge.logins["loopback-alice"]  # type: ignore[index]
    assert login.record.space_room == space
    assert await _space_children(alice, space) == {first}
    assert (await _state(alice, first))[("m.space.parent", space)]["via"] == ["bridgekit.test"]

    second = await _portal_room(alice, loopback, "g2", "bob", "again")
    assert await _space_children(alice, space) == {first, second}
    assert ("m.space.parent", space) in await _state(alice, second)


async def test_search_contacts_and_start_chat(loopback: Harness, matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    room = await log_in(alice, loopback, "alice")
    world = loopback.world
    world.add_account("bob", "x", name="Bob Builder")
    world.add_account("carol", "x", name="Carol")
    world.add_contact("alice", "carol")

    await alice.send_text(room, "search BUI")
    found = await wait_notice(alice, room, loopback.bot, "users matching `BUI`")
    assert "Bob Builder (loopback:bob)" in found["content"]["body"]
    assert "Carol" not in found["content"]["body"]
    await alice.send_text(room, "search zzz")
    await wait_notice(alice, room, loopback.bot, "No Loopback users match `zzz`")
    await alice.send_text(room, "list-contacts")
    contacts = await wait_notice(alice, room, loopback.bot, "Contacts of Alice")
    assert "Carol (loopback:carol)" in contacts["content"]["body"]

    await alice.send_text(room, "start-chat")
    await wait_notice(alice, room, loopback.bot, "Usage: `start-chat <identifier>`")
    await alice.send_text(room, "start-chat zed")
    await wait_notice(alice, room, loopback.bot, "Nobody on Loopback has the identifier `zed`")
    await alice.send_text(room, "start-chat alice")
    await wait_notice(alice, room, loopback.bot, "That is your own account")

    await alice.send_text(room, "start-chat loopback:bob")
    started = await wait_notice(alice, room, loopback.bot, "Started a chat with Bob Builder")
    dm = await alice.wait_for_invite(lambda invite: invite.is_direct)
    assert dm in started["content"]["body"]
    await alice.join(dm)
    members = await alice.get_joined_members(dm)
    assert set(members) == {alice.user_id, loopback.bot, loopback.ghost("bob")}
    assert members[loopback.ghost("bob")]["display_name"] == "Bob Builder (Loopback)"
    assert ("m.bridge", "bridgekit://loopback/dm-alice-bob") in await _state(alice, dm)

    await world.send_message("dm-alice-bob", "bob", "hi alice")
    await alice.wait_for_message(dm, sender=loopback.ghost("bob"), body="hi alice")
    space = await _accept_space_invite(alice)
    assert await _space_children(alice, space) == {dm}

    await alice.send_text(room, "start-chat bob")
    again = await wait_notice(alice, room, loopback.bot, "You already have a chat with Bob")
    assert dm in again["content"]["body"]


async def test_sync_creates_and_updates_portals_with_progress(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    room = await log_in(alice, loopback, "alice")
    world = loopback.world
    world.add_account("bob", "x")
    world.add_chat("g1", "Old name", ["alice", "bob"])
    world.add_chat("g2", "Group Two", ["alice", "bob"])
    world.add_chat("g3", "Group Three", ["alice", "bob"])
    world.add_chat("elsewhere", "Not Alice's", ["bob"])
    g1 = await _portal_room(alice, loopback, "g1", "bob", "first")
    world.chats["g1"].name = "New name"  # type: ignore[index]

    await alice.send_text(room, "sync")
    await wait_notice(alice, room, loopback.bot, "Syncing 3 chats of Alice")
    await wait_notice(alice, room, loopback.bot, "Synced 3/3 chats of Alice: 2 new, 1 updated.")

    await alice.wait_for_event(
        g1, lambda e: e["type"] == "m.room.name" and e["content"]["name"] == "New name"
    )
    names = set()
    rooms = {g1}
    for _ in range(2):
        room_id = await _accept_portal_invite(alice)
        rooms.add(room_id)
        names.add((await _state(alice, room_id))[("m.room.name", "")]["name"])
    assert names == {"Group Two", "Group Three"}
    space = await _accept_space_invite(alice)
    assert await _space_children(alice, space) == rooms

    await alice.send_text(room, "sync loopback-nobody")
    await wait_notice(alice, room, loopback.bot, "You have no login `loopback-nobody`")


async def test_bridge_an_existing_room_then_unbridge_it(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    world = loopback.world
    world.add_account("bob", "x", name="Bob")
    world.add_chat("g1", "Remote Group", ["alice", "bob"], topic="remote topic")
    prefix = loopback.bridge.commands.prefix
    bot = loopback.bot

    room = await alice.create_room(invite=[bot], name="Our room")
    await alice.wait_for_event(
        room,
        lambda e: (
            e["type"] == "m.room.member"
            and e["state_key"] == bot
            and e["content"]["membership"] == "join"
        ),
    )
    await alice.send_text(room, f"{prefix} bridge g1")
    await wait_notice(alice, room, bot, "I need power level 100 in this room")
    await alice.set_user_power_level(room, bot, 100)
    await alice.send_text(room, f"{prefix} bridge")
    await wait_notice(alice, room, bot, f"Usage: `{prefix} bridge <chat>`")
    await alice.send_text(room, f"{prefix} bridge nosuch")
    await wait_notice(alice, room, bot, "Cannot bridge `nosuch`: Alice is not in a chat")

    await alice.send_text(room, f"{prefix} bridge g1")
    await wait_notice(alice, room, bot, "This room is now bridged to Remote Group on Loopback")
    state = await _state(alice, room)
    assert state[("m.bridge", "bridgekit://loopback/g1")]["channel"]["id"] == "g1"
    assert state[("m.room.name", "")]["name"] == "Remote Group"
    assert state[("m.room.topic", "")]["topic"] == "remote topic"
    assert _in(await alice.get_joined_members(room), loopback.ghost("bob"))
    await world.send_message("g1", "bob", "into the bridged room")
    await alice.wait_for_message(room, sender=loopback.ghost("bob"), body="into the bridged room")
    space = await _accept_space_invite(alice)
    assert await _space_children(alice, space) == {room}

    # The same chat cannot be bridged into a second room.
    other = await alice.create_room(invite=[bot], name="Another room")
    await alice.wait_for_event(
        other, lambda e: e["type"] == "m.room.member" and e["state_key"] == bot
    )
    await alice.set_user_power_level(other, bot, 100)
    await alice.send_text(other, f"{prefix} bridge g1")
    already = await wait_notice(alice, other, bot, "`g1` is already bridged to")
    assert room in already["content"]["body"]

    await alice.send_text(room, f"{prefix} unbridge")
    await wait_notice(alice, room, bot, "This room is no longer bridged to Remote Group")
    for mxid in (bot, loopback.ghost("bob")):
        await alice.wait_for_event(
            room,
            lambda e, mxid=mxid: (
                e["type"] == "m.room.member"
                and e["state_key"] == mxid
                and e["content"]["membership"] == "leave"
            ),
        )
    state = await _state(alice, room)
    assert state[("m.bridge", "bridgekit://loopback/g1")] == {}
    assert await _space_children(alice, space) == set()
    assert set(await alice.get_joined_members(room)) == {alice.user_id}

    # Remote messages no longer reach the room: the chat gets a new portal instead.
    await world.send_message("g1", "bob", "after unbridge")
    new_portal = await _accept_portal_invite(alice)
    assert new_portal not in (room, other)
    await alice.wait_for_message(new_portal, sender=loopback.ghost("bob"), body="after unbridge")
    bodies = [
        e["content"].get("body") for e in alice.timeline(room) if e["type"] == "m.room.message"
    ]
    assert "after unbridge" not in bodies


async def test_commands_need_a_capable_login_and_the_right_place(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    room = await open_management_room(alice, loopback)
    await alice.send_text(room, "help")
    before = (await wait_notice(alice, room, loopback.bot, "login"))["content"]["body"]
    assert "start-chat" not in before and "sync" not in before
    await alice.send_text(room, "start-chat bob")
    await wait_notice(alice, room, loopback.bot, "`start-chat` needs a login: send `login`")

    room = await log_in(alice, loopback, "alice")
    await alice.send_text(room, "help")
    after = await wait_notice(alice, room, loopback.bot, "start-chat <identifier>")
    for command in ("search <query>", "list-contacts", "sync", "bridge <chat>"):
        assert command in after["content"]["body"]
    assert "delete-all-portals" not in after["content"]["body"]
    await alice.send_text(room, "bridge g1")
    await wait_notice(alice, room, loopback.bot, "This is your management room")
    await alice.send_text(room, "unbridge")
    await wait_notice(alice, room, loopback.bot, "`unbridge` only works in a portal room")
    await alice.send_text(room, "delete-all-portals")
    await wait_notice(alice, room, loopback.bot, "`delete-all-portals` needs the admin level")


async def test_delete_all_portals_asks_first_then_empties_the_bridge(
    synapse: Any, loopback_setup: Any, database_url: str, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    overrides = {
        "bridge.permissions": {
            "*": "relay",
            loopback_setup.domain: "user",
            alice.user_id: "admin",
        }
    }
    world = LoopbackWorld()
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        harness = Harness(bridge, world, loopback_setup, synapse, database_url)
        room = await log_in(alice, harness, "alice")
        world.add_account("bob", "x")
        world.add_chat("g1", "One", ["alice", "bob"])
        world.add_chat("g2", "Two", ["alice", "bob"])
        portals = {
            await _portal_room(alice, harness, "g1", "bob", "one"),
            await _portal_room(alice, harness, "g2", "bob", "two"),
        }
        space = await _accept_space_invite(alice)
        assert await _space_children(alice, space) == portals

        await alice.send_text(room, "help")
        await wait_notice(alice, room, harness.bot, "delete-all-portals")
        await alice.send_text(room, "delete-all-portals")
        await wait_notice(alice, room, harness.bot, "Send `delete-all-portals confirm`")
        assert len(await bridge.portals_db.all_with_room()) == 2

        await alice.send_text(room, "delete-all-portals confirm")
        await wait_notice(alice, room, harness.bot, "Deleted 2/2 portals.")
        for portal in portals:
            await alice.wait_for_event(
                portal,
                lambda e: (
                    e["type"] == "m.room.member"
                    and e["state_key"] == alice.user_id
                    and e["content"]["membership"] == "leave"
                ),
            )
        assert await bridge.portals_db.all_with_room() == []
        assert await _space_children(alice, space) == set()
        await alice.send_text(room, "delete-all-portals")
        await wait_notice(alice, room, harness.bot, "There are no portals to delete.")


async def test_with_double_puppeting_the_user_is_joined_to_their_space(
    synapse: Any,
    loopback_setup: Any,
    database_url: str,
    matrix_user: Any,
    double_puppet_registration: dict[str, Any],
) -> None:
    secret = f"as_token:{double_puppet_registration['as_token']}"
    overrides = {"double_puppet.secrets": {loopback_setup.domain: secret}}
    world = LoopbackWorld()
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        harness = Harness(bridge, world, loopback_setup, synapse, database_url)
        alice = await matrix_user("alice")
        await log_in(alice, harness, "alice")
        world.add_account("bob", "x")
        world.add_chat("g1", "Group", ["alice", "bob"])
        portal = await _portal_room(alice, harness, "g1", "bob", "hello")
        space = bridge.logins["loopback-alice"].record.space_room  # type: ignore[index]
        assert space is not None
        assert space in await alice.get_joined_rooms()
        assert await _space_children(alice, space) == {portal}


async def test_a_parent_chat_becomes_a_space_between_the_login_space_and_its_rooms(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    world = loopback.world
    world.add_account("bob", "x")
    world.add_chat("guild", "My Server", ["alice", "bob"], is_space=True)
    world.add_chat("chan", "general", ["alice", "bob"], parent="guild")
    await world.send_message("chan", "bob", "hello in a channel")
    room_id = await alice.wait_for_invite()
    await alice.join(room_id)
    await alice.wait_for_message(room_id, body="hello in a channel")

    bridge = loopback.bridge
    guild = await bridge.find_portal_room(PortalKey(PortalID("guild")))
    assert guild is not None
    guild_state = await bridge.bot_intent.get_state(guild)  # type: ignore[arg-type]
    create = next(e for e in guild_state if str(e.type) == "m.room.create")
    assert create.content.serialize().get("type") == "m.space"
    children = {str(e.state_key) for e in guild_state if str(e.type) == "m.space.child"}
    assert children == {room_id}
    parents = await alice.get_room_state(room_id)
    assert {e["state_key"] for e in parents if e["type"] == "m.space.parent"} == {guild}
    personal = bridge.logins["loopback-alice"].record.space_room  # type: ignore[index]
    assert personal is not None
    personal_state = await bridge.bot_intent.get_state(personal)  # type: ignore[arg-type]
    assert guild in {str(e.state_key) for e in personal_state if str(e.type) == "m.space.child"}


async def test_create_group_from_a_matrix_room_with_ghosts(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    management = await log_in(alice, loopback, "alice")
    world = loopback.world
    for name in ("bob", "carol"):
        world.add_account(name, "x", name=name.title())
    world.add_chat("old", "Old chat", ["alice", "bob", "carol"])
    for name in ("bob", "carol"):  # their ghosts exist once they have said something
        await world.send_message("old", name, f"hi from {name}")
    old_room = await alice.wait_for_invite()
    await alice.join(old_room)
    await alice.wait_for_message(old_room, body="hi from carol")
    prefix, bot = loopback.bridge.commands.prefix, loopback.bot

    await alice.send_text(management, "create-group")
    await wait_notice(alice, management, bot, "Create a Matrix room, invite me")
    ghosts = [loopback.ghost("bob"), loopback.ghost("carol")]
    room = await alice.create_room(invite=[bot, *ghosts], name="Project X")
    await alice.wait_for_event(
        room,
        lambda e: (
            e["type"] == "m.room.member"
            and e["state_key"] == bot
            and e["content"]["membership"] == "join"
        ),
    )
    await alice.set_user_power_level(room, bot, 100)
    await alice.send_text(room, f"{prefix} create-group")
    await wait_notice(alice, room, bot, "Created the Loopback group Project X")

    group = next(c for c in world.chats.values() if c.name == "Project X")
    assert sorted(group.members) == ["alice", "bob", "carol"]
    await alice.send_text(room, "welcome to the group")
    sent = await world.wait_for_sent(
        lambda e: getattr(e, "body", None) == "welcome to the group", timeout=30
    )
    assert sent.event.portal.id == group.id
    await world.send_message(str(group.id), "bob", "thanks!")
    await alice.wait_for_message(room, body="thanks!", sender=loopback.ghost("bob"))
