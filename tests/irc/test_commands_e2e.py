"""The IRC bridge's own commands end to end (InspIRCd, the bridge, Synapse): whois,
topic, mode and kick, in the management room and with the prefix in a portal room.
Every test runs on SQLite or PostgreSQL (``database_url``)."""

from __future__ import annotations

from typing import Any

from bridgekit.testing.matrix_client import MatrixTestClient
from bridges.irc.protocol import ChannelSyncedEvent, IRCConnection, JoinEvent, KickEvent, TopicEvent

from .conftest import ConnFactory, IRCHarness, connected, eventually, expect, irc_log_in, unique

PREFIX = "!irc"


async def _joined(conn: IRCConnection, channel: str) -> None:
    conn.join(channel)
    await expect(conn, ChannelSyncedEvent, lambda e: e.channel == channel)


async def _answer(client: MatrixTestClient, harness: IRCHarness, room_id: str, command: str) -> str:
    """Send a command and return the bot's next notice in that room."""
    seen = {e.get("event_id") for e in client.timeline(room_id)}
    await client.send_text(room_id, command)

    def new_notice(event: Any) -> bool:
        return (
            event.get("sender") == harness.bot
            and event.get("content", {}).get("msgtype") == "m.notice"
            and event.get("event_id") not in seen
        )

    event = await client.wait_for_event(room_id, new_notice)
    return str(event["content"]["body"])


async def _portal(
    client: MatrixTestClient, harness: IRCHarness, management: str, channel: str
) -> str:
    await client.send_text(management, f"join {channel}")
    room_id: str = await client.wait_for_invite(lambda invite: invite.name == channel)
    await client.join(room_id)
    return room_id


async def _level(client: MatrixTestClient, room_id: str, mxid: str) -> int | None:
    content = await client.get_state_event(room_id, "m.room.power_levels")
    level = content.get("users", {}).get(mxid)
    return int(level) if level is not None else None


async def test_whois_topic_mode_and_kick(
    irc_bridge: IRCHarness, matrix_user: Any, irc_connect: ConnFactory
) -> None:
    server = irc_bridge.server
    bob = irc_connect(server.host, server.port, unique("bob"), realname="Bob Builder")
    carol = irc_connect(server.host, server.port, unique("carol"))
    alice = await matrix_user("alice")
    nick, mine, his = unique("al"), unique("#mine"), unique("#his")
    await connected(bob, carol)
    await _joined(bob, his)  # bob founds #his and is its op
    management = await irc_log_in(alice, irc_bridge, nick)

    # whois: what the server tells about a nick, or that nobody has it.
    whois = await _answer(alice, irc_bridge, management, f"whois {bob.nick}")
    assert whois.startswith(f"{bob.nick} is {bob.nick}!")
    assert "(Bob Builder)" in whois and f"channels: @{his}" in whois
    nobody = await _answer(alice, irc_bridge, management, "whois nobody4242")
    assert nobody == "Nobody uses the nick nobody4242 on Test IRC right now."

    # alice founds #mine (she is its op); bob and carol join.
    room_id = await _portal(alice, irc_bridge, management, mine)
    await _joined(bob, mine)
    await _joined(carol, mine)
    carol_ghost = irc_bridge.ghost(carol.nick)

    async def carol_in_room() -> bool:
        return carol_ghost in await alice.get_joined_members(room_id)

    await eventually(carol_in_room)

    # topic: set in the portal room (on IRC and in the room), then shown.
    answer = await _answer(alice, irc_bridge, room_id, f"{PREFIX} topic fresh words")
    assert answer == f"Set the topic of {mine}."
    topic = await expect(bob, TopicEvent, lambda e: e.channel == mine)
    assert (topic.topic, topic.setter) == ("fresh words", nick)
    await alice.wait_for_event(
        room_id,
        lambda e: e["type"] == "m.room.topic" and e["content"].get("topic") == "fresh words",
    )
    shown = await _answer(alice, irc_bridge, management, f"topic {mine}")
    assert shown == f"The topic of {mine}: fresh words"

    # mode: voice carol; her ghost gets the voice level.
    changed = await _answer(alice, irc_bridge, room_id, f"{PREFIX} mode +v {carol.nick}")
    assert changed == f"Modes of {mine} changed: +v {carol.nick}."

    async def carol_voiced() -> bool:
        return await _level(alice, room_id, carol_ghost) == 10

    await eventually(carol_voiced)
    modes = await _answer(alice, irc_bridge, management, f"mode {mine}")
    assert modes.startswith(f"Modes of {mine}: +")

    # kick: carol is kicked on IRC (with the reason) and her ghost leaves the room.
    kicked = await _answer(alice, irc_bridge, room_id, f"{PREFIX} kick {carol.nick} be nice")
    assert kicked == f"Kicked {carol.nick} from {mine}."
    kick = await expect(carol, KickEvent, lambda e: e.is_self)
    assert (kick.channel, kick.reason, kick.source.nick) == (mine, "be nice", nick)

    async def carol_gone() -> bool:
        return carol_ghost not in await alice.get_joined_members(room_id)

    await eventually(carol_gone)

    # In #his alice is no op: the server's refusal is the answer, and bob stays.
    await _portal(alice, irc_bridge, management, his)
    await expect(bob, JoinEvent, lambda e: e.source.nick == nick and e.channel == his)
    refused = await _answer(alice, irc_bridge, management, f"kick {his} {bob.nick}")
    assert refused.startswith(f"Test IRC refused to kick {bob.nick}:")
    assert "channel op" in refused
    refused_topic = await _answer(alice, irc_bridge, management, f"topic {his} mine now")
    assert refused_topic.startswith("Test IRC refused the topic:")
