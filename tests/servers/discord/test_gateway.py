"""Gateway behaviour with a stock discord.py: privileged intents (4014), bad and reset
tokens (401 / 4004), RESUME after a dropped socket or a 4000 close with replay of what
was missed, RECONNECT, INVALID_SESSION, heartbeats and presence."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import discord
import pytest

from . import CloseCode, DiscordTestServer, Intents, running_client
from .conftest import Scene

ClientFactory = Callable[..., discord.Client]


async def test_disallowed_privileged_intent_closes_with_4014(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    server.set_privileged_intents(scene.app, Intents.GUILD_MEMBERS)
    client = make_client()
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(client, scene.bot.token):
            pass
    [closed] = server.gateway.records_of("closed", scene.bot)
    assert closed.code == CloseCode.DISALLOWED_INTENTS
    assert server.gateway.records_of("identify", scene.bot) == []


async def test_injected_intent_rejection(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    server.faults.reject_intents()
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(make_client(), scene.bot.token):
            pass
    async with running_client(make_client(), scene.bot.token) as client:
        assert client.get_guild(scene.guild.id) is not None


async def test_bad_token_is_a_login_failure(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    with pytest.raises(discord.LoginFailure):
        async with running_client(make_client(), "not-a-real-token"):
            pass
    [request] = server.requests_to("/users/@me")
    assert request.status == 401
    assert server.gateway.records_of("connect") == []


async def test_token_reset_closes_the_gateway_with_4004(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    task = asyncio.create_task(client.start(scene.bot.token))
    await asyncio.wait_for(client.wait_until_ready(), 10)
    old_token = scene.bot.token
    new_token = server.reset_token(scene.bot)
    with pytest.raises(discord.ConnectionClosed) as closed:
        await asyncio.wait_for(task, 10)
    assert closed.value.code == CloseCode.AUTHENTICATION_FAILED
    assert new_token != old_token and server.account_by_token(old_token) is None
    assert client.is_closed()


async def test_dropped_socket_resumes_and_replays_missed_dispatches(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        seen: list[str] = []
        resumed = asyncio.Event()

        @client.event
        async def on_message(message: discord.Message) -> None:
            seen.append(message.content)

        @client.event
        async def on_resumed() -> None:
            resumed.set()

        server.faults.drop_gateway(scene.bot)
        server.send_message(scene.alice, scene.general, "sent while disconnected")
        record = await server.gateway.wait_for_record("resume", scene.bot)
        await asyncio.wait_for(resumed.wait(), 10)
        assert record.path == server.gateway.resume_path
        assert record.replayed >= 1
        assert seen == ["sent while disconnected"]
        assert len(server.gateway.records_of("identify", scene.bot)) == 1

        server.send_message(scene.alice, scene.general, "after the resume")
        await client.wait_for("message", timeout=5)
        assert seen == ["sent while disconnected", "after the resume"]


async def test_close_4000_and_reconnect_op_resume(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        server.faults.close_gateway(scene.bot, CloseCode.UNKNOWN_ERROR)
        server.send_message(scene.alice, scene.general, "during 4000")
        msg = await client.wait_for("message", timeout=10)
        assert msg.content == "during 4000"
        await server.gateway.wait_for_record("resume", scene.bot)

        server.faults.request_reconnect(scene.bot)
        await server.gateway.wait_for_record("resume", scene.bot, count=2)
        assert len(server.gateway.records_of("identify", scene.bot)) == 1


async def test_invalid_session_makes_the_client_identify_again(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        first = server.gateway.sessions_of(scene.bot)[0].session_id
        server.faults.invalidate_session(scene.bot)
        await server.gateway.wait_for_record("identify", scene.bot, count=2)
        await asyncio.sleep(0.3)
        [session] = server.gateway.sessions_of(scene.bot)
        assert session.session_id != first
        server.send_message(scene.alice, scene.general, "new session")
        msg = await client.wait_for("message", timeout=5)
        assert msg.content == "new session"


async def test_resume_of_an_ended_session_is_refused(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client()
    async with running_client(client, scene.bot.token):
        server.faults.close_gateway(scene.bot, CloseCode.SESSION_TIMED_OUT)
        await server.gateway.wait_for_record("identify", scene.bot, count=2)
        assert server.gateway.records_of("resume", scene.bot) == []


async def test_heartbeats_and_presence(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    server.set_privileged_intents(
        scene.app, Intents.MESSAGE_CONTENT | Intents.GUILD_MEMBERS | Intents.GUILD_PRESENCES
    )
    intents = discord.Intents.default()
    intents.members = intents.presences = intents.message_content = True
    client = make_client(intents)
    async with running_client(client, scene.bot.token):
        assert math.isfinite(client.latency)
        assert scene.bot.presence.status == "online"
        await client.change_presence(status=discord.Status.dnd, activity=discord.Game("bridging"))
        for _ in range(50):
            if scene.bot.presence.status == "dnd":
                break
            await asyncio.sleep(0.05)
        assert scene.bot.presence.status == "dnd"
        assert scene.bot.presence.activities[0]["name"] == "bridging"

        server.set_presence(scene.alice, "idle", activities=[{"name": "chess", "type": 0}])
        _, after = await client.wait_for("presence_update", timeout=5)
        assert after.id == scene.alice.id and after.status == discord.Status.idle
        assert after.activity is not None and after.activity.name == "chess"


async def test_zombied_connection_is_restarted_and_resumed(
    server: DiscordTestServer, scene: Scene, make_client: ClientFactory
) -> None:
    client = make_client(heartbeat_timeout=1.5)
    async with running_client(client, scene.bot.token):
        server.faults.withhold_heartbeat_acks(scene.bot)
        record = await server.gateway.wait_for_record("resume", scene.bot)
        assert record.path == server.gateway.resume_path
        disconnected = server.gateway.records_of("disconnected", scene.bot)
        assert [r.code for r in disconnected] == [4000]
        server.send_message(scene.alice, scene.general, "alive again")
        msg = await client.wait_for("message", timeout=5)
        assert msg.content == "alive again"
