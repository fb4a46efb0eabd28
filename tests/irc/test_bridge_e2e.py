"""The IRC bridge end to end: a real InspIRCd, the bridge, a real Synapse.

The Matrix side is a test user logged in through the bot (bouncer mode: the bridge
keeps that user's own IRC connection); the IRC side is the protocol client's
``IRCConnection`` playing other people on the network. Every test runs on SQLite and
on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mautrix.types import RoomID, UserID

from bridgekit.network import BridgeStateEvent
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.secrets import register_secret
from bridges.irc.protocol import (
    ChannelSyncedEvent,
    IRCConnection,
    JoinEvent,
    MessageEvent,
    ModeEvent,
    PartEvent,
    QuitEvent,
    TagMessageEvent,
    TopicEvent,
)

from .conftest import (
    NETWORK,
    PUBLIC_MEDIA,
    ConnFactory,
    IRCHarness,
    connected,
    eventually,
    expect,
    irc_log_in,
    unique,
    wait_notice,
)
from .history_server import HistoryNetwork


async def _joined(conn: IRCConnection, channel: str) -> None:
    conn.join(channel)
    await expect(conn, ChannelSyncedEvent, lambda e: e.channel == channel)


async def _join_portal(
    client: MatrixTestClient, harness: IRCHarness, management: str, channel: str
) -> str:
    """``join`` through the bot; accept the portal's invite; return its room."""
    await client.send_text(management, f"join {channel}")
    room_id = await client.wait_for_invite(lambda invite: invite.name == channel)
    await client.join(room_id)
    await wait_notice(client, management, harness.bot, f"Joined {channel}")
    return room_id


def _left(mxid: str) -> Any:
    return lambda e: (
        e["type"] == "m.room.member"
        and e.get("state_key") == mxid
        and e["content"].get("membership") == "leave"
    )


def _said_by(nick: str) -> Any:
    return lambda e: not e.is_echo and e.source.nick == nick


async def _levels(client: MatrixTestClient, room_id: str) -> dict[str, int]:
    content = await client.get_state_event(room_id, "m.room.power_levels")
    users: dict[str, int] = content.get("users", {})
    return users


async def test_login_join_and_messages_both_ways(
    irc_bridge: IRCHarness, matrix_user: Any, irc_connect: ConnFactory
) -> None:
    server = irc_bridge.server
    bob = irc_connect(server.host, server.port, unique("bob"))
    alice = await matrix_user("alice")
    nick, channel = unique("al"), unique("#talk")
    await connected(bob)
    await _joined(bob, channel)  # bob founds the channel: he is its op

    management = await irc_log_in(alice, irc_bridge, nick)
    login = irc_bridge.bridge.logins[f"{NETWORK}/{nick}"]  # type: ignore[index]
    assert login.metadata["nick"] == nick and login.metadata["network"] == NETWORK

    async def is_connected() -> bool:
        return login.state == BridgeStateEvent.CONNECTED

    await eventually(is_connected)
    room_id = await _join_portal(alice, irc_bridge, management, channel)
    await expect(bob, JoinEvent, lambda e: e.source.nick == nick and e.channel == channel)
    bob_ghost = irc_bridge.ghost(bob.nick)

    async def bob_is_an_op_member() -> bool:
        members = await alice.get_joined_members(room_id)
        return bob_ghost in members and (await _levels(alice, room_id)).get(bob_ghost) == 50

    await eventually(bob_is_an_op_member)
    members = await alice.get_joined_members(room_id)
    assert members[bob_ghost]["display_name"] == f"{bob.nick} (IRC)"

    # IRC → Matrix: formatting as HTML, our nick as a pill of the Matrix user.
    bob.send_message(channel, f"\x02hello\x02 {nick}, how are you?")
    bob_echo = await expect(bob, MessageEvent, lambda e: e.is_echo)
    hello = await alice.wait_for_message(room_id, sender=bob_ghost)
    content = hello["content"]
    assert content["body"] == f"hello {nick}, how are you?"
    assert content["formatted_body"] == (
        f'<strong>hello</strong> <a href="https://matrix.to/#/{alice.user_id}">{nick}</a>, '
        "how are you?"
    )
    assert content["m.mentions"] == {"user_ids": [alice.user_id]}
    bob.send_message(channel, "waves", kind="action")
    waves = await alice.wait_for_message(room_id, sender=bob_ghost, body="waves")
    assert waves["content"]["msgtype"] == "m.emote"

    # Matrix → IRC: text, emote, notice and HTML arrive exactly, as the right kind.
    plain_id = await alice.send_text(room_id, "plain text with ünïcode & <stuff>")
    plain = await expect(bob, MessageEvent, _said_by(nick))
    assert (plain.text, plain.kind, plain.conversation) == (
        "plain text with ünïcode & <stuff>",
        "privmsg",
        channel,
    )
    await alice.send_emote(room_id, "dances")
    emote = await expect(bob, MessageEvent, _said_by(nick))
    assert (emote.text, emote.kind) == ("dances", "action")
    await alice.send_notice(room_id, "a notice")
    notice = await expect(bob, MessageEvent, _said_by(nick))
    assert (notice.text, notice.kind) == ("a notice", "notice")
    await alice.send_text(room_id, "bold move", html="<b>bold</b> move")
    formatted = await expect(bob, MessageEvent, _said_by(nick))
    assert formatted.text == "\x02bold\x0f move"
    pill = f'<a href="https://matrix.to/#/{bob_ghost}">{bob.nick} (IRC)</a>: ping'
    await alice.send_text(room_id, f"{bob.nick} (IRC): ping", html=pill)
    mention = await expect(bob, MessageEvent, _said_by(nick))
    assert mention.text == f"{bob.nick}: ping"

    # The bridge recorded the server's msgid of our message (from its echo), so an IRC
    # reply to it is a Matrix reply.
    record = await irc_bridge.bridge.messages_db.by_mxid(plain_id)
    assert record is not None and record.id == plain.msgid
    assert plain.msgid is not None
    bob.send_message(channel, "answering you", tags={"+draft/reply": plain.msgid})
    answer = await alice.wait_for_message(room_id, sender=bob_ghost, body="answering you")
    assert answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == plain_id

    # A reply names the nick (and carries the reply tag); an edit is a correction.
    await alice.send_text(room_id, "fine, thanks", reply_to=hello["event_id"])
    reply = await expect(bob, MessageEvent, _said_by(nick))
    assert reply.text == f"{bob.nick}: fine, thanks"
    assert reply.reply_to == bob_echo.msgid
    await alice.edit(room_id, plain_id, "plain text, corrected")
    edit = await expect(bob, MessageEvent, _said_by(nick))
    assert edit.text == "* plain text, corrected"

    # Lines: up to max_lines (3 here) go out one message each; a longer message is
    # uploaded, and IRC gets its first line and the link (public_media_url's).
    await alice.send_text(room_id, "one\ntwo\nthree")
    lines = [(await expect(bob, MessageEvent, _said_by(nick))).text for _ in range(3)]
    assert lines == ["one", "two", "three"]
    long_html = "first<br>second<br>third<br>fourth<br><b>fifth</b>"
    await alice.send_text(room_id, "first\nsecond\nthird\nfourth\nfifth", html=long_html)
    pasted = await expect(bob, MessageEvent, _said_by(nick))
    found = re.fullmatch(
        rf"first \(full message: {re.escape(PUBLIC_MEDIA)}(/_bridgekit/media/\S+)\)", pasted.text
    )
    assert found is not None, pasted.text
    # The link is served by the bridge itself (PUBLIC_MEDIA stands for its address).
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{irc_bridge.setup.port}{found[1]}") as response:
            assert response.status == 200
            assert await response.read() == b"first\nsecond\nthird\nfourth\nfifth\n"

    # Nothing we sent came back into Matrix through the echo.
    bob.send_message(channel, "marker")
    await alice.wait_for_message(room_id, sender=bob_ghost, body="marker")
    ours = [e for e in alice.timeline(room_id) if e["type"] == "m.room.message"]
    assert not [e for e in ours if e["sender"] == irc_bridge.ghost(nick)]
    bodies = [e["content"]["body"] for e in ours if e["sender"] == alice.user_id]
    assert bodies.count("plain text with ünïcode & <stuff>") == 1


async def _presence_is(
    client: MatrixTestClient, mxid: str, state: str, status_msg: str | None
) -> None:
    found: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal found
        found = await client.request("GET", f"/_matrix/client/v3/presence/{mxid}/status")
        return (found.get("presence"), found.get("status_msg")) == (state, status_msg)

    try:
        await eventually(check)
    except AssertionError:
        raise AssertionError(f"presence of {mxid} is {found}, not {state}") from None


async def test_typing_reactions_and_away_both_ways(
    irc_bridge: IRCHarness, matrix_user: Any, irc_connect: ConnFactory
) -> None:
    server = irc_bridge.server
    bob = irc_connect(server.host, server.port, unique("bob"))
    alice = await matrix_user("alice")
    nick, channel = unique("al"), unique("#fun")
    await connected(bob)
    await _joined(bob, channel)
    management = await irc_log_in(alice, irc_bridge, nick)
    room_id = await _join_portal(alice, irc_bridge, management, channel)
    await expect(bob, JoinEvent, lambda e: e.source.nick == nick and e.channel == channel)
    bob_ghost = irc_bridge.ghost(bob.nick)

    # Reactions: a Matrix reaction is a +draft/react on the IRC message's msgid...
    bob.send_message(channel, "react to this")
    bob_line = await expect(bob, MessageEvent, lambda e: e.is_echo)
    assert bob_line.msgid
    bob_message = await alice.wait_for_message(room_id, sender=bob_ghost, body="react to this")
    await alice.react(room_id, bob_message["event_id"], "👍")
    tag = await expect(bob, TagMessageEvent, lambda e: e.source.nick == nick)
    assert tag.conversation == channel
    assert tag.tags["+draft/react"] == "👍" and tag.tags["+draft/reply"] == bob_line.msgid

    # ...and an IRC one becomes a Matrix reaction from the reacting nick's ghost.
    mine = await alice.send_text(room_id, "and react to mine")
    said = await expect(bob, MessageEvent, _said_by(nick))
    assert said.msgid
    bob.send_tagmsg(channel, {"+draft/react": "🎉", "+draft/reply": said.msgid})
    reaction = await alice.wait_for_event(
        room_id, lambda e: e["type"] == "m.reaction" and e["sender"] == bob_ghost
    )
    assert reaction["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": mine,
        "key": "🎉",
    }

    # Typing: +typing=active/done on IRC is the ghost typing in the room and stopping.
    bob.send_tagmsg(channel, {"+typing": "active"})
    await alice.wait_for_ephemeral(
        room_id,
        lambda e: e["type"] == "m.typing" and bob_ghost in e["content"]["user_ids"],
    )
    bob.send_tagmsg(channel, {"+typing": "done"})
    await alice.wait_for_ephemeral(
        room_id,
        lambda e: e["type"] == "m.typing" and bob_ghost not in e["content"]["user_ids"],
    )
    # Away (away-notify) is the ghost's presence, with the reason as its status.
    bob.send("AWAY", "out for lunch")
    await _presence_is(alice, bob_ghost, "unavailable", "out for lunch")
    bob.send("AWAY")
    await _presence_is(alice, bob_ghost, "online", None)
    # And the Matrix user typing reaches IRC the same way.
    await alice.send_typing(room_id, True)
    started = await expect(bob, TagMessageEvent, lambda e: e.source.nick == nick)
    assert started.tags.get("+typing") == "active"
    await alice.send_typing(room_id, False)
    stopped = await expect(bob, TagMessageEvent, lambda e: e.source.nick == nick)
    assert stopped.tags.get("+typing") == "done"


async def test_members_nick_changes_modes_and_topic(
    irc_bridge: IRCHarness, matrix_user: Any, irc_connect: ConnFactory
) -> None:
    server = irc_bridge.server
    bob = irc_connect(server.host, server.port, unique("bob"))
    carol = irc_connect(server.host, server.port, unique("carol"))
    dave = irc_connect(server.host, server.port, unique("dave"))
    alice = await matrix_user("alice")
    nick, channel = unique("al"), unique("#crew")
    await connected(bob, carol, dave)
    await _joined(bob, channel)
    management = await irc_log_in(alice, irc_bridge, nick)
    room_id = await _join_portal(alice, irc_bridge, management, channel)

    async def members() -> dict[str, Any]:
        return await alice.get_joined_members(room_id)

    carol_ghost, dave_ghost = irc_bridge.ghost(carol.nick), irc_bridge.ghost(dave.nick)
    await _joined(carol, channel)
    await _joined(dave, channel)

    async def carol_and_dave_joined() -> bool:
        joined = await members()
        return carol_ghost in joined and dave_ghost in joined

    await eventually(carol_and_dave_joined)

    bob.set_mode(channel, "+v", carol.nick)

    async def carol_voiced() -> bool:
        return (await _levels(alice, room_id)).get(carol_ghost) == 10

    await eventually(carol_voiced)

    old_ghost = irc_bridge.ghost(bob.nick)
    new_nick = unique("robert")
    bob.set_nick(new_nick)
    new_ghost = irc_bridge.ghost(new_nick)

    async def bob_renamed_and_still_op() -> bool:
        joined = await members()
        level = (await _levels(alice, room_id)).get(new_ghost)
        return new_ghost in joined and old_ghost not in joined and level == 50

    await eventually(bob_renamed_and_still_op)

    bob.set_topic(channel, "set on IRC")
    await alice.wait_for_event(
        room_id,
        lambda e: e["type"] == "m.room.topic" and e["content"].get("topic") == "set on IRC",
    )

    bob.set_mode(channel, "+o", nick)

    async def alice_is_op() -> bool:
        return (await _levels(alice, room_id)).get(alice.user_id) == 50

    await eventually(alice_is_op)
    await alice.set_room_topic(room_id, "set on Matrix")
    topic = await expect(bob, TopicEvent, lambda e: e.topic == "set on Matrix")
    assert topic.setter == nick and topic.channel == channel

    # A power level given on Matrix becomes the channel status it stands for, through
    # alice's (op) connection: carol's voice becomes op, and dave's 10 becomes voice.
    bot = irc_bridge.bridge.bot_intent
    levels = await bot.get_power_levels(RoomID(room_id), ignore_cache=True)
    levels.set_user_level(UserID(alice.user_id), 100)  # a room admin on Matrix
    await bot.set_power_levels(RoomID(room_id), levels)
    await alice.set_user_power_level(room_id, carol_ghost, 50)

    def status(nick_: str, char: str, adding: bool) -> Any:
        return lambda e: any(
            c.char == char and c.adding == adding and c.param == nick_ for c in e.changes
        )

    devoiced = await expect(bob, ModeEvent, status(carol.nick, "v", False))
    assert devoiced.source.nick == nick
    await expect(bob, ModeEvent, status(carol.nick, "o", True))
    await alice.set_user_power_level(room_id, dave_ghost, 10)
    await expect(bob, ModeEvent, status(dave.nick, "v", True))
    content = await alice.get_state_event(room_id, "m.room.power_levels")
    del content["users"][dave_ghost]  # back to the default level: no status
    await alice.set_power_levels(room_id, content)
    await expect(bob, ModeEvent, status(dave.nick, "v", False))

    bob.kick(channel, carol.nick, "out")
    await dave.stop("bye")

    async def carol_kicked_and_dave_quit() -> bool:
        joined = await members()
        return carol_ghost not in joined and dave_ghost not in joined

    await eventually(carol_kicked_and_dave_quit)
    for ghost in (carol_ghost, dave_ghost):
        await alice.wait_for_event(room_id, _left(ghost))
    # The topic set on Matrix came back from IRC, but was not set on Matrix again.
    topics = [
        e["content"].get("topic") for e in alice.timeline(room_id) if e["type"] == "m.room.topic"
    ]
    assert topics.count("set on Matrix") == 1

    # Leaving the room parts the channel.
    await alice.leave(room_id)
    parted = await expect(bob, PartEvent, lambda e: e.source.nick == nick)
    assert parted.channel == channel


async def test_private_chats_query_and_nick(
    irc_bridge: IRCHarness, matrix_user: Any, irc_connect: ConnFactory
) -> None:
    server = irc_bridge.server
    wanted = unique("al")
    holder = irc_connect(server.host, server.port, wanted)  # the nick is taken
    bob = irc_connect(server.host, server.port, unique("bob"))
    carol = irc_connect(server.host, server.port, unique("carol"))
    alice = await matrix_user("alice")
    await connected(holder, bob, carol)

    management = await irc_log_in(alice, irc_bridge, wanted)
    nick = f"{wanted}_"  # the fallback nick
    await wait_notice(alice, management, irc_bridge.bot, f"logged in as {nick}@{NETWORK}")

    bob.send_message(nick, "psst, a private word")
    dm = await alice.wait_for_invite(lambda invite: invite.is_direct)
    await alice.join(dm)
    bob_ghost = irc_bridge.ghost(bob.nick)
    await alice.wait_for_message(dm, sender=bob_ghost, body="psst, a private word")
    await alice.send_text(dm, "hi bob")
    private = await expect(bob, MessageEvent, _said_by(nick))
    assert (private.text, private.is_channel, private.target) == ("hi bob", False, bob.nick)

    await alice.send_text(management, f"query {carol.nick}")
    carol_dm = await alice.wait_for_invite(lambda invite: invite.is_direct)
    await alice.join(carol_dm)
    await alice.send_text(carol_dm, "hello carol")
    to_carol = await expect(carol, MessageEvent, _said_by(nick))
    assert to_carol.text == "hello carol"
    await alice.send_text(management, "query nobody4242")
    await wait_notice(alice, management, irc_bridge.bot, "Nobody uses the nick nobody4242")
    # `msg` sends from the management room; the private chat's room shows it as hers.
    await alice.send_text(management, f"msg {carol.nick} sent with msg")
    by_msg = await expect(carol, MessageEvent, _said_by(nick))
    assert (by_msg.text, by_msg.target) == ("sent with msg", carol.nick)
    await wait_notice(alice, management, irc_bridge.bot, f"Sent to {carol.nick}")
    await alice.wait_for_message(carol_dm, body="sent with msg")

    renamed = unique("alicia")
    await alice.send_text(management, f"nick {renamed}")
    await wait_notice(alice, management, irc_bridge.bot, f"You are now {renamed}")
    await alice.send_text(dm, "new name, same me")
    again = await expect(bob, MessageEvent, _said_by(renamed))
    assert again.text == "new name, same me"
    login = irc_bridge.bridge.logins[f"{NETWORK}/{wanted}"]  # type: ignore[index]
    assert login.metadata["nick"] == renamed  # a reconnect asks for the new nick
    assert login.remote_name == f"{renamed}@{NETWORK}"  # what `ping` shows


async def test_login_errors_say_what_to_do(irc_bridge: IRCHarness, matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    bot = irc_bridge.bot
    room_id = await alice.create_room(invite=[bot], is_direct=True)
    await wait_notice(alice, room_id, bot, "management room")
    await alice.send_text(room_id, "login")
    await wait_notice(alice, room_id, bot, "send your network")
    await alice.send_text(room_id, "elsewhere")
    await wait_notice(alice, room_id, bot, "Choose one of: test")
    await alice.send_text(room_id, NETWORK)
    await alice.send_text(room_id, "not a nick!")
    await wait_notice(alice, room_id, bot, "doesn't look like a valid nick")
    nick = unique("al")
    await alice.send_text(room_id, nick)
    await wait_notice(alice, room_id, bot, "send your SASL password")
    register_secret("hunter2")
    await alice.send_text(room_id, "hunter2")
    await wait_notice(alice, room_id, bot, "send your SASL account name")
    await alice.send_text(room_id, "-")
    # The test server has no SASL: the login fails and says what to do instead.
    failed = await wait_notice(alice, room_id, bot, "does not offer SASL login")
    assert "answer `-` for the password" in failed["content"]["body"]
    assert not irc_bridge.bridge.logins


@pytest.mark.both_backends
async def test_restart_reconnects_and_rejoins(
    irc_bridge: IRCHarness, matrix_user: Any, irc_connect: ConnFactory
) -> None:
    server = irc_bridge.server
    bob = irc_connect(server.host, server.port, unique("bob"))
    alice = await matrix_user("alice")
    nick, channel = unique("al"), unique("#home")
    await connected(bob)
    await _joined(bob, channel)
    management = await irc_log_in(alice, irc_bridge, nick)
    room_id = await _join_portal(alice, irc_bridge, management, channel)
    await expect(bob, JoinEvent, lambda e: e.source.nick == nick)

    # The reconnect command, then a restart of the whole bridge: both rejoin.
    await alice.send_text(management, "reconnect")
    await expect(bob, QuitEvent, lambda e: e.source.nick == nick)
    await expect(bob, JoinEvent, lambda e: e.source.nick == nick and e.channel == channel)

    await irc_bridge.bridge.stop()
    await expect(bob, QuitEvent, lambda e: e.source.nick == nick)
    async with irc_bridge.restart() as bridge:
        irc_bridge.bridge = bridge
        rejoined = await expect(bob, JoinEvent, lambda e: e.source.nick == nick)
        assert rejoined.channel == channel
        bob.send_message(channel, "welcome back")
        bob_ghost = irc_bridge.ghost(bob.nick)
        await alice.wait_for_message(room_id, sender=bob_ghost, body="welcome back")
        await alice.send_text(room_id, "glad to be back")
        back = await expect(bob, MessageEvent, _said_by(nick))
        assert back.text == "glad to be back"


async def test_operators_see_the_networks_and_their_connections(
    irc_bridge: IRCHarness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    nick = unique("al")
    management = await irc_log_in(alice, irc_bridge, nick)
    await alice.send_text(management, "networks")
    await wait_notice(alice, management, irc_bridge.bot, "needs the admin level")

    bridge = irc_bridge.bridge
    bridge.config["bridge.permissions"] = {"*": "relay", alice.user_id: "admin"}
    server = irc_bridge.server
    await alice.send_text(management, "networks")
    listing = await wait_notice(alice, management, irc_bridge.bot, "IRC networks:")
    assert (
        f"• Test IRC (`{NETWORK}`): {server.host}:{server.port} — 1 login, 1 connected "
        f"(to {server.host}:{server.port})"
    ) in listing["content"]["body"]


async def test_operators_reload_network_settings_without_a_restart(
    irc_bridge: IRCHarness, matrix_user: Any, tmp_path: Path
) -> None:
    """`networks reload` reads the config file again: a network moved to another
    server reconnects there, a new network is offered; bad settings change nothing."""
    alice = await matrix_user("alice")
    nick = unique("al")
    management = await irc_log_in(alice, irc_bridge, nick)
    bridge = irc_bridge.bridge
    bridge.config["bridge.permissions"] = {"*": "relay", alice.user_id: "admin"}
    config_file = tmp_path / "config.yaml"
    bridge.config.path = config_file

    def write(networks: list[dict[str, Any]]) -> None:
        bridge.config["network.networks"] = networks
        config_file.write_text(bridge.config.dump())

    async with HistoryNetwork() as moved:
        address = {"host": moved.host, "port": moved.port, "tls": False}
        write([{"id": NETWORK, "name": "Test IRC", "servers": [{**address, "port": 0}]}])
        await alice.send_text(management, "networks reload")
        refused = await wait_notice(alice, management, irc_bridge.bot, "Not reloaded")
        assert "servers[0].port" in refused["content"]["body"]

        write(
            [
                {"id": NETWORK, "name": "Test IRC", "servers": [address]},
                {"id": "other", "name": "Other", "servers": [address]},
            ]
        )
        await alice.send_text(management, "networks reload")
        done = await wait_notice(alice, management, irc_bridge.bot, "Reloaded the IRC settings")
        assert "New: other." in done["content"]["body"]
        assert "1 connections reconnect" in done["content"]["body"]

        async def on_the_new_server() -> bool:
            return any(peer.nick == nick for peer in moved.server.peers)

        await eventually(on_the_new_server, 30)
