"""Fault injection as a client experiences it."""

from __future__ import annotations

import asyncio
import time

import pytest
from telethon import errors
from telethon.tl import functions

from . import TelegramTestServer
from .conftest import ClientFactory


async def test_flood_wait_is_raised_over_the_threshold(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    client = await make_client(alice, flood_sleep_threshold=0)
    await client.get_input_entity("bobby")
    server.faults.flood_wait("messages.sendMessage", seconds=1)

    with pytest.raises(errors.FloodWaitError) as caught:
        await client.send_message("bobby", "too fast")
    assert caught.value.seconds == 1
    assert server.messages(bob, alice) == []

    # Telethon itself refuses the same request until the wait is over.
    await asyncio.sleep(1.1)
    await client.send_message("bobby", "later")
    assert [p.text for p in server.messages(bob, alice)] == ["later"]


async def test_flood_wait_is_slept_under_the_threshold(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    client = await make_client(alice, flood_sleep_threshold=60)
    await client.get_input_entity("bobby")
    server.faults.flood_wait(functions.messages.SendMessageRequest, seconds=1, user=alice)

    started = time.monotonic()
    await client.send_message("bobby", "patient")
    assert time.monotonic() - started >= 1
    assert [p.text for p in server.messages(bob, alice)] == ["patient"]


async def test_any_rpc_error_can_be_injected(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    group = server.create_channel(bob, "Super", [alice])
    client = await make_client(alice)
    await client.get_dialogs()
    server.faults.fail("messages.getHistory", "CHANNEL_PRIVATE", times=2)

    for _ in range(2):
        with pytest.raises(errors.ChannelPrivateError):
            await client.get_messages(int(f"-100{group.id}"), limit=5)
    history = await client.get_messages(int(f"-100{group.id}"), limit=5)
    assert [type(m.action).__name__ for m in history] == [
        "MessageActionChatAddUser",
        "MessageActionChannelCreate",
    ]


async def test_dropped_connection_makes_telethon_resend(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    client = await make_client(alice)
    await client.get_input_entity("bobby")
    server.faults.drop_connection_on("messages.sendMessage")

    await asyncio.wait_for(client.send_message("bobby", "persistent"), 10)
    assert [p.text for p in server.messages(bob, alice)] == ["persistent"]


async def test_a_slow_call_does_not_block_others(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(alice)
    server.faults.delay("updates.getState", 0.5)

    slow = asyncio.create_task(client(functions.updates.GetStateRequest()))
    await asyncio.sleep(0.05)
    assert (await client.get_me()).id == alice.id
    assert not slow.done()
    assert (await slow).pts == alice.box.pts


async def test_revoked_session_ends_the_update_loop(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    client = await make_client(alice)
    await client.get_dialogs()

    server.revoke_sessions(alice, "SESSION_REVOKED")
    with server.faults.withhold_updates(alice):
        server.send_message(bob, alice, "gap")
    server.send_message(bob, alice, "triggers getDifference")

    # Telethon's update loop hits 401 on getDifference and disconnects with that error.
    with pytest.raises((errors.AuthKeyError, errors.UnauthorizedError)):
        await asyncio.wait_for(client.run_until_disconnected(), 5)


async def test_nudged_revocation_is_noticed_at_once(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(alice)
    await client.get_dialogs()

    server.revoke_sessions(alice, nudge=True)
    with pytest.raises(errors.AuthKeyUnregisteredError):
        await asyncio.wait_for(client.run_until_disconnected(), 5)
