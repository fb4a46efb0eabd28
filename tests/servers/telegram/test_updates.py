"""Catching up: getDifference and getChannelDifference after gaps and downtime."""

from __future__ import annotations

import asyncio

from telethon import TelegramClient, events
from telethon.tl import functions

from . import TelegramTestServer
from .conftest import ClientFactory, Collector


async def _texts(collector: Collector, count: int) -> list[str]:
    return [(await collector.next()).raw_text for _ in range(count)]


def _called(server: TelegramTestServer, request_type: type) -> int:
    return sum(1 for _, request in server.calls if isinstance(request, request_type))


async def test_messages_sent_while_offline_arrive_on_catch_up(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.send_message(bob, alice, "before")
    session = server.signed_in_session(alice)
    first = await make_client(session=session)
    await first.get_dialogs()
    await first.disconnect()
    assert not server.is_online(alice)

    for i in range(3):
        server.send_message(bob, alice, f"while away {i}")

    second = await make_client(session=session, catch_up=True)
    inbox = Collector()
    second.add_event_handler(inbox, events.NewMessage(incoming=True))
    assert sorted(await _texts(inbox, 3)) == [f"while away {i}" for i in range(3)]
    await inbox.assert_quiet()
    assert _called(server, functions.updates.GetDifferenceRequest) >= 1


async def test_pts_gap_is_filled_by_get_difference(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))
    before = _called(server, functions.updates.GetDifferenceRequest)

    with server.faults.withhold_updates(alice):
        server.send_message(bob, alice, "lost 1")
        server.send_message(bob, alice, "lost 2")
    assert server.faults.withheld_counts[alice.id] == 2
    server.send_message(bob, alice, "visible")

    assert sorted(await _texts(inbox, 3)) == ["lost 1", "lost 2", "visible"]
    await inbox.assert_quiet()
    assert _called(server, functions.updates.GetDifferenceRequest) == before + 1


async def test_difference_comes_in_slices(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    server.hub.difference_limit = 4
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))

    with server.faults.withhold_updates(alice):
        for i in range(10):
            server.send_message(bob, alice, f"m{i:02}")
    server.send_message(bob, alice, "m10")

    assert sorted(await _texts(inbox, 11)) == [f"m{i:02}" for i in range(11)]
    await inbox.assert_quiet()
    assert _called(server, functions.updates.GetDifferenceRequest) >= 3


async def test_channel_gap_is_filled_by_get_channel_difference(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    group = server.create_channel(bob, "Super", [alice])
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))
    server.send_message(bob, group, "seen live")
    assert (await inbox.next()).raw_text == "seen live"

    with server.faults.withhold_updates(alice):
        server.send_message(bob, group, "gap 1")
        server.send_message(bob, group, "gap 2")
    server.send_message(bob, group, "after gap")

    assert sorted(await _texts(inbox, 3)) == ["after gap", "gap 1", "gap 2"]
    await inbox.assert_quiet()
    assert _called(server, functions.updates.GetChannelDifferenceRequest) >= 1


async def test_server_side_disconnect_then_catch_up(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))

    assert server.drop_connections(alice) == 1
    server.send_message(bob, alice, "during the outage")
    for _ in range(100):
        if server.is_online(alice):
            break
        await asyncio.sleep(0.05)
    assert server.is_online(alice), "Telethon did not reconnect"
    server.send_message(bob, alice, "after the outage")

    assert sorted(await _texts(inbox, 2)) == ["after the outage", "during the outage"]
    await inbox.assert_quiet()


async def test_nothing_is_delivered_twice_across_reconnects(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    group = server.create_channel(bob, "Super", [alice])
    session = server.signed_in_session(alice)
    seen: list[str] = []

    async def record(event: events.NewMessage.Event) -> None:
        seen.append(event.raw_text)

    client = await make_client(session=session)
    await client.get_dialogs()
    client.add_event_handler(record, events.NewMessage(incoming=True))
    server.send_message(bob, alice, "dm 1")
    server.send_message(bob, group, "group 1")
    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.02)
    await client.disconnect()

    server.send_message(bob, alice, "dm 2")
    server.send_message(bob, group, "group 2")
    again = TelegramClient(session, 12345, "0123456789abcdef", catch_up=True)
    again.add_event_handler(record, events.NewMessage(incoming=True))
    await again.connect()
    try:
        for _ in range(100):
            if len(seen) >= 4:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
    finally:
        await again.disconnect()
    assert sorted(seen) == ["dm 1", "dm 2", "group 1", "group 2"]


async def test_difference_too_long_skips_to_the_present(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))

    with server.faults.withhold_updates(alice):
        server.send_message(bob, alice, "skipped")
    server.faults.difference_too_long(alice)
    server.send_message(bob, alice, "triggers the gap")
    # Telethon jumps to the server's pts: what was missed must be refetched as history.
    await inbox.assert_quiet(1.0)
    server.send_message(bob, alice, "after the jump")
    assert (await inbox.next()).raw_text == "after the jump"
    history = await client.get_messages(bob.id, limit=3)
    assert [m.raw_text for m in history] == ["after the jump", "triggers the gap", "skipped"]
