"""Bot login against the local Discord server: the token is checked, refused tokens
and missing privileged intents are explained, and the invite link is shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from bridgekit.network import BridgeStateEvent
from tests.servers.discord import DiscordTestServer, Intents

from .conftest import DiscordHarness, build_world, log_in, wait_notice, wait_until


async def test_bot_login_connects_and_shows_the_invite_link(
    discord: DiscordHarness, matrix_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, world = discord.server, discord.world
    server.remove_member(world.guild, world.bot)  # a fresh bot is in no server yet
    alice = await matrix_user("alice")
    room_id = await log_in(alice, discord, world.bot.token)
    await wait_notice(alice, room_id, discord.bot, "Successfully logged in as Bridge")
    invite = await wait_notice(alice, room_id, discord.bot, "Invite it with")
    body = invite["content"]["body"]
    assert f"client_id={world.app.id}" in body
    assert "permissions=" in body and "scope=bot" in body

    login = discord.bridge.logins[str(world.bot.id)]  # type: ignore[index]
    assert login.metadata["token"] == world.bot.token
    await wait_until(lambda: login.state == BridgeStateEvent.CONNECTED)
    identify = server.gateway.records_of("identify", world.bot)
    assert len(identify) == 1
    # The token travelled to Discord but never into a log line of the bridge or of
    # discord.py (the database driver's own DEBUG lines are out of the bridge's hands).
    leaks = [
        r.name
        for r in caplog.records
        if world.bot.token in r.getMessage() and not r.name.startswith("aiosqlite")
    ]
    assert not leaks


async def test_login_refuses_a_wrong_token_and_names_missing_intents(
    discord_server: DiscordTestServer, make_discord_bridge: Callable[..., Any], matrix_user: Any
) -> None:
    world = build_world(discord_server, intents=Intents.GUILD_MEMBERS)
    async with make_discord_bridge(discord_server, world) as harness:
        alice = await matrix_user("alice")
        room_id = await log_in(alice, harness, "x" * 30 + ".not-a-real-token")
        await wait_notice(alice, room_id, harness.bot, "Discord refused the bot token")

        await alice.send_text(room_id, world.bot.token)
        refusal = await wait_notice(alice, room_id, harness.bot, "Privileged Gateway Intents")
        assert "Message Content Intent" in refusal["content"]["body"]
        assert "Server Members Intent" not in refusal["content"]["body"]
        assert f"/applications/{world.app.id}/bot" in refusal["content"]["body"]
        assert not harness.bridge.logins

        discord_server.set_privileged_intents(
            world.app, Intents.MESSAGE_CONTENT | Intents.GUILD_MEMBERS
        )
        await alice.send_text(room_id, world.bot.token)
        await wait_notice(alice, room_id, harness.bot, "Successfully logged in")


async def test_gateway_refusals_stop_the_login_with_a_message(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    server.faults.reject_intents(times=1)
    room_id = await log_in(alice, discord, world.bot.token)
    notice = await wait_notice(alice, room_id, discord.bot, "stopped working")
    assert "Privileged Gateway Intents" in notice["content"]["body"]
    login = discord.bridge.logins[str(world.bot.id)]  # type: ignore[index]
    assert login.state == BridgeStateEvent.BAD_CREDENTIALS
    # Refused means refused: no retry loop that would look like an identify storm.
    await wait_until(lambda: not discord.client.running)
    closes = [r.code for r in server.gateway.records if r.kind == "closed"]
    assert closes == [4014]
    assert len(server.gateway.records_of("connect")) == 1


async def test_a_token_reset_on_discord_stops_the_login(
    discord: DiscordHarness, matrix_user: Any
) -> None:
    server, world = discord.server, discord.world
    alice = await matrix_user("alice")
    room_id = await log_in(alice, discord, world.bot.token)
    await wait_notice(alice, room_id, discord.bot, "Successfully logged in")
    await wait_until(lambda: discord.client.discord and discord.client.discord.is_ready())

    server.reset_token(world.bot)  # the gateway closes with 4004
    notice = await wait_notice(alice, room_id, discord.bot, "stopped working")
    assert "Discord refused the bot token" in notice["content"]["body"]
    await wait_until(lambda: not discord.client.running)
    assert not discord.client.is_logged_in()
    assert len(server.gateway.records_of("identify", world.bot)) == 1
