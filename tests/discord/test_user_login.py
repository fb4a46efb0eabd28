"""User-token logins through the bridge: off unless the operator allows them, a
warning before the token, DMs and group DMs both ways (as the user's own account),
the user's messages from other Discord clients as their real Matrix account, a
dropped gateway resumed without losing a DM, missed DMs caught up after downtime,
and refused tokens explained."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bridgekit.network import BridgeStateEvent, LoginID, PortalID, PortalKey
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.secrets import register_secret
from bridges.discord.dms import UserLoginClient
from tests.servers.discord import Account, DiscordTestServer, Upload

from .conftest import (
    PNG,
    DiscordHarness,
    build_world,
    wait_notice,
    wait_until,
)


@pytest.fixture
async def user_bridge(
    discord_server: DiscordTestServer,
    make_discord_bridge: Callable[..., Any],
    double_puppet_registration: dict[str, Any],
) -> AsyncIterator[DiscordHarness]:
    """The bridge with user logins switched on, double puppeting, and the world's
    people plus the Matrix user's own Discord account (``me``) in its guild."""
    world = build_world(discord_server)
    me = discord_server.create_user("alice_d", global_name="Alice")
    discord_server.add_member(world.guild, me)
    overrides = {
        "network.user_login": True,
        "double_puppet.secrets": {
            "bridgekit.test": f"as_token:{double_puppet_registration['as_token']}"
        },
    }
    async with make_discord_bridge(discord_server, world, overrides) as harness:
        harness.me = me  # type: ignore[attr-defined]
        yield harness


def me_of(harness: DiscordHarness) -> Account:
    me: Account = harness.me  # type: ignore[attr-defined]
    return me


def user_client(harness: DiscordHarness) -> UserLoginClient:
    return harness.connector.user_clients[LoginID(str(me_of(harness).id))]


async def start_user_login(client: MatrixTestClient, harness: DiscordHarness, token: str) -> str:
    """``login user`` up to the token; returns the management room."""
    room_id = await client.create_room(invite=[harness.bot], is_direct=True)
    await wait_notice(client, room_id, harness.bot, "management room")
    await client.send_text(room_id, "login user")
    warning = await wait_notice(client, room_id, harness.bot, "send your user token")
    assert "Discord may disable or ban your account" in warning["content"]["body"]
    register_secret(token)
    await client.send_text(room_id, token)
    return room_id


async def user_logged_in(client: MatrixTestClient, harness: DiscordHarness) -> str:
    room_id = await start_user_login(client, harness, me_of(harness).token)
    await wait_notice(client, room_id, harness.bot, "Successfully logged in as alice_d")
    scope = await wait_notice(client, room_id, harness.bot, "Your DMs and group DMs are bridged")
    assert "servers are not bridged through a user login" in scope["content"]["body"]
    login = harness.bridge.logins[LoginID(str(me_of(harness).id))]
    await wait_until(lambda: login.state == BridgeStateEvent.CONNECTED)
    return room_id


async def dm_room(client: MatrixTestClient, harness: DiscordHarness, author: Account) -> str:
    """``author`` writes to the user on Discord; the user joins the DM's room."""
    dm = harness.server.create_dm(author, me_of(harness))
    harness.server.send_message(author, dm, f"hello from {author.username}")
    room_id = await client.wait_for_invite(lambda i: i.is_direct, timeout=30)
    await client.join(room_id)
    await client.wait_for_message(room_id, sender=harness.ghost(author), timeout=30)
    return room_id


async def test_user_login_is_refused_while_switched_off(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    me = discord.server.create_user("alice_d")
    alice = await matrix_user("alice")
    room_id = await alice.create_room(invite=[discord.bot], is_direct=True)
    await wait_notice(alice, room_id, discord.bot, "management room")
    await alice.send_text(room_id, "login user")
    await wait_notice(alice, room_id, discord.bot, "There is no login method `user`")

    # Pasting one's own account's token into the bot login gets the reason.
    await alice.send_text(room_id, "login")
    await wait_notice(alice, room_id, discord.bot, "send your bot token")
    register_secret(me.token)
    await alice.send_text(room_id, me.token)
    refusal = await wait_notice(alice, room_id, discord.bot, "token of a user account")
    assert "User-token login is switched off on this bridge" in refusal["content"]["body"]
    assert "`user_login`" in refusal["content"]["body"]
    assert not discord.bridge.logins
    assert not discord.server.gateway.records_of("identify", me)


async def test_dms_both_ways_as_the_users_own_account(
    user_bridge: DiscordHarness, matrix_user: Any
) -> None:
    harness, server, world = user_bridge, user_bridge.server, user_bridge.world
    me = me_of(harness)
    alice = await matrix_user("alice")
    await user_logged_in(alice, harness)
    [identify] = server.gateway.records_of("identify", me)
    assert identify.properties is not None and identify.properties["browser"] == "Chrome"

    server.send_message(world.bob, world.general, "guild messages stay with bot logins")
    room_id = await dm_room(alice, harness, world.dalia)
    dm = server.create_dm(world.dalia, me)
    dalia_ghost = harness.ghost(world.dalia)
    members = await alice.get_joined_members(room_id)
    assert set(members) == {alice.user_id, dalia_ghost, harness.bot}
    assert members[dalia_ghost]["display_name"] == "Dalia (Discord)"
    for receiver in (None, LoginID(str(me.id))):
        portal = PortalKey(PortalID(str(world.general.id)), receiver)
        assert await harness.bridge.find_portal_room(portal) is None

    # Matrix → Discord: a formatted reply goes out as the user's own account.
    hello = (await alice.wait_for_message(room_id, sender=dalia_ghost))["event_id"]
    await alice.send_text(room_id, "**hi** Dalia", html="<b>hi</b> Dalia", reply_to=hello)
    answer = await wait_until(lambda: [m for m in server.messages_in(dm) if m.author_id == me.id])
    assert answer[0].content == "**hi** Dalia"
    assert answer[0].reference is not None
    assert answer[0].reference["message_id"] == str(server.messages_in(dm)[0].id)
    [mine] = [e for e in alice.timeline(room_id) if e["content"].get("body") == "**hi** Dalia"]

    # Discord → Matrix: an edit, a reaction, typing and a file from Dalia.
    original = server.messages_in(dm)[0]
    server.edit_message(original, "hello, edited")
    edit = await alice.wait_for_event(
        room_id, lambda e: e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
    )
    assert edit["sender"] == dalia_ghost
    assert edit["content"]["m.new_content"]["body"] == "hello, edited"
    server.add_reaction(world.dalia, answer[0], "❤️")
    reaction = await alice.wait_for_event(room_id, lambda e: e["type"] == "m.reaction")
    assert reaction["sender"] == dalia_ghost
    assert reaction["content"]["m.relates_to"]["event_id"] == mine["event_id"]
    server.start_typing(world.dalia, dm)
    await alice.wait_for_ephemeral(
        room_id, lambda e: e["type"] == "m.typing" and dalia_ghost in e["content"]["user_ids"]
    )
    server.send_message(world.dalia, dm, "", attachments=[Upload("dot.png", PNG, "image/png")])
    image = await alice.wait_for_event(room_id, lambda e: e["content"].get("msgtype") == "m.image")
    assert image["sender"] == dalia_ghost
    assert await alice.download(image["content"]["url"]) == PNG

    # Matrix → Discord: a reaction, an edit, a deletion and a file.
    thumbs = await alice.react(room_id, hello, "👍")
    await wait_until(lambda: any(r.user_ids == [me.id] for r in original.reactions))
    await alice.redact(room_id, thumbs)
    await wait_until(lambda: not any(r.user_ids for r in original.reactions))
    await alice.send_typing(room_id)
    await wait_until(lambda: server.requests_to("/channels/{channel_id}/typing", "POST"))
    await alice.edit(room_id, mine["event_id"], "hi Dalia, edited")
    await wait_until(lambda: answer[0].content == "hi Dalia, edited")
    await alice.redact(room_id, mine["event_id"])
    await wait_until(lambda: answer[0].deleted)
    await alice.send_media(room_id, PNG, "image/png", "mine.png")
    sent_file = await wait_until(
        lambda: [m for m in server.messages_in(dm) if m.author_id == me.id and m.attachments]
    )
    assert sent_file[0].attachments[0].data == PNG

    server.delete_message(original)
    await alice.wait_for_event(
        room_id, lambda e: e["type"] == "m.room.redaction" and e.get("redacts") == hello
    )

    # The user writes from another Discord client: it is theirs on Matrix too.
    other_client = server.send_message(me, dm, "sent from my phone")
    phone = await alice.wait_for_message(room_id, body="sent from my phone")
    assert phone["sender"] == alice.user_id
    assert not any(
        e["sender"] == harness.ghost(me)
        for e in alice.timeline(room_id)
        if e["type"] == "m.room.message"
    )
    # None of the bridge's own changes came back as a second edit or reaction.
    timeline = alice.timeline(room_id)
    assert len([e for e in timeline if e["type"] == "m.reaction"]) == 2
    assert [e["sender"] for e in timeline if e["content"].get("m.new_content")] == [
        dalia_ghost,
        alice.user_id,
    ]
    assert other_client.author_id == me.id


async def test_group_dm_portal(user_bridge: DiscordHarness, matrix_user: Any) -> None:
    harness, server, world = user_bridge, user_bridge.server, user_bridge.world
    alice = await matrix_user("alice")
    await user_logged_in(alice, harness)
    group = server.create_group_dm(world.bob, [me_of(harness), world.dalia], name="Plans", icon=PNG)
    room_id = await alice.wait_for_invite(lambda i: i.name == "Plans", timeout=30)
    await alice.join(room_id)
    server.send_message(world.bob, group, "shall we?")
    message = await alice.wait_for_message(room_id, body="shall we?")
    assert message["sender"] == harness.ghost(world.bob)
    members = await alice.get_joined_members(room_id)
    assert {harness.ghost(world.bob), harness.ghost(world.dalia), alice.user_id} <= set(members)
    state = {
        (e["type"], e.get("state_key")): e["content"] for e in await alice.get_room_state(room_id)
    }
    assert await alice.download(state[("m.room.avatar", "")]["url"]) == PNG

    await alice.send_text(room_id, "yes")
    answer = await wait_until(lambda: [m for m in server.messages_in(group) if m.content == "yes"])
    assert answer[0].author_id == me_of(harness).id


async def test_a_dropped_gateway_resumes_without_losing_a_dm(
    user_bridge: DiscordHarness, matrix_user: Any
) -> None:
    harness, server, world = user_bridge, user_bridge.server, user_bridge.world
    me = me_of(harness)
    alice = await matrix_user("alice")
    await user_logged_in(alice, harness)
    room_id = await dm_room(alice, harness, world.dalia)
    dm = server.create_dm(world.dalia, me)

    server.faults.drop_gateway(me)
    server.send_message(world.dalia, dm, "while the line was down")
    await server.gateway.wait_for_record("resume", me, within=20)
    await alice.wait_for_message(room_id, body="while the line was down")
    assert len(server.gateway.records_of("identify", me)) == 1
    assert server.gateway.records_of("resume", me)[0].replayed >= 1


@pytest.mark.both_backends
async def test_missed_dms_are_caught_up_after_downtime(
    user_bridge: DiscordHarness, matrix_user: Any
) -> None:
    harness, server, world = user_bridge, user_bridge.server, user_bridge.world
    me = me_of(harness)
    alice = await matrix_user("alice")
    await user_logged_in(alice, harness)
    room_id = await dm_room(alice, harness, world.dalia)
    dm = server.create_dm(world.dalia, me)

    def while_down() -> None:
        server.send_message(world.dalia, dm, "missed one")
        server.send_message(world.dalia, dm, "missed two")

    async with harness.restarted(while_down):
        await alice.wait_for_message(room_id, body="missed two", timeout=60)
    bodies = [e["content"].get("body") for e in alice.timeline(room_id)]
    assert bodies.count("hello from dalia") == 1
    assert bodies.index("missed one") < bodies.index("missed two")


async def test_refused_user_tokens_are_explained(
    user_bridge: DiscordHarness, matrix_user: Any
) -> None:
    harness, server = user_bridge, user_bridge.server
    me = me_of(harness)
    alice = await matrix_user("alice")
    room_id = await start_user_login(alice, harness, "y" * 30 + ".not-a-real-token")
    await wait_notice(alice, room_id, harness.bot, "Discord refused your user token")
    bot_token = harness.world.bot.token
    register_secret(bot_token)
    await alice.send_text(room_id, bot_token)  # without "Bot ", Discord refuses it
    await wait_until(
        lambda: (
            len(
                [
                    e
                    for e in alice.timeline(room_id)
                    if "Discord refused your user token" in e["content"].get("body", "")
                ]
            )
            == 2
        )
    )
    assert not harness.bridge.logins

    await alice.send_text(room_id, me.token)
    await wait_notice(alice, room_id, harness.bot, "Successfully logged in")
    login = harness.bridge.logins[LoginID(str(me.id))]
    await wait_until(lambda: login.state == BridgeStateEvent.CONNECTED)
    server.reset_token(me)  # the gateway closes with 4004
    notice = await wait_notice(alice, room_id, harness.bot, "stopped working")
    assert "Discord refused your user token" in notice["content"]["body"]
    await wait_until(lambda: not user_client(harness).running)
    assert login.state == BridgeStateEvent.BAD_CREDENTIALS
    assert len(server.gateway.records_of("identify", me)) == 1
