"""Downtime, dropped connections, FLOOD_WAIT and revoked sessions: nothing lost,
nothing doubled, and the bridge keeps running."""

from __future__ import annotations

from typing import Any

import pytest
from mautrix.util.async_db import Database
from telethon.tl import functions

from bridgekit.network import BridgeStateEvent, MatrixMessage
from bridgekit.testing.matrix_client import MatrixTestClient

from .conftest import (
    TelegramHarness,
    eventually,
    phone_login,
    portal_from_message,
    running_bridge,
    wait_notice,
)


async def _bodies(client: MatrixTestClient, room_id: str) -> list[str]:
    history = reversed(await client.get_messages(room_id, limit=200))
    return [
        e["content"]["body"]
        for e in history
        if e["type"] == "m.room.message" and "m.relates_to" not in e["content"]
    ]


@pytest.mark.both_backends
async def test_messages_sent_while_the_bridge_was_down_arrive_once(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550301", "Alice")
    bob = server.create_user("+15550302", "Bob")
    channel = server.create_channel(bob, "News", [alice])
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "before")
    dm, _ = await portal_from_message(matrix, telegram, "before")
    server.send_message(bob, channel, "channel before")
    room, _ = await portal_from_message(matrix, telegram, "channel before")

    await telegram.bridge.stop()
    assert not server.is_online(alice)
    for i in range(3):
        server.send_message(bob, alice, f"while down {i}")
        server.send_message(bob, channel, f"channel while down {i}")

    async with telegram.restarted():
        await matrix.wait_for_message(dm, body="while down 2", timeout=30)
        await matrix.wait_for_message(room, body="channel while down 2", timeout=30)
        server.send_message(bob, alice, "after")
        await matrix.wait_for_message(dm, body="after")
        assert await _bodies(matrix, dm) == [
            "before",
            "while down 0",
            "while down 1",
            "while down 2",
            "after",
        ]
        channel_bodies = await _bodies(matrix, room)
        assert channel_bodies[channel_bodies.index("channel before") :] == [
            "channel before",
            *(f"channel while down {i}" for i in range(3)),
        ]


async def test_a_dropped_connection_catches_up_what_it_missed(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550311", "Alice")
    bob = server.create_user("+15550312", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "first")
    dm, _ = await portal_from_message(matrix, telegram, "first")

    # Updates that never reach the client, then the connection drops: Telethon
    # reconnects, and the bridge asks Telegram for the difference at once.
    with server.faults.withhold_updates(alice):
        server.send_message(bob, alice, "missed 1")
        server.send_message(bob, alice, "missed 2")
    assert server.drop_connections(alice) >= 1
    await matrix.wait_for_message(dm, body="missed 2", timeout=30)
    server.send_message(bob, alice, "after")
    await matrix.wait_for_message(dm, body="after")
    assert await _bodies(matrix, dm) == ["first", "missed 1", "missed 2", "after"]


async def test_flood_wait_on_send_delays_one_chat_only_and_tells_the_user(
    synapse: Any, telegram_setup: Any, database_url: str, tg_server: Any, matrix_user: Any
) -> None:
    server = tg_server
    settings = {"flood_wait": {"notify_after": 1, "max_wait": 60}}
    async with running_bridge(
        synapse, telegram_setup, database_url, server, **settings
    ) as telegram:
        alice = server.create_user("+15550321", "Alice")
        bob = server.create_user("+15550322", "Bob")
        carol = server.create_user("+15550323", "Carol")
        matrix = await matrix_user("alice")
        management = await phone_login(matrix, telegram, alice)
        server.send_message(bob, alice, "hi from bob")
        bob_dm, _ = await portal_from_message(matrix, telegram, "hi from bob")
        server.send_message(carol, alice, "hi from carol")
        carol_dm, _ = await portal_from_message(matrix, telegram, "hi from carol")

        server.faults.flood_wait("messages.sendMessage", seconds=5, times=1, user=alice)
        await matrix.send_text(bob_dm, "slowed down")
        await wait_notice(matrix, management, telegram.bot, "your message will be sent in 5")
        await matrix.send_text(carol_dm, "not held up")
        await eventually(lambda: _has(server, carol, alice, "not held up"))
        assert not _sync_has(server, bob, alice, "slowed down")
        await eventually(lambda: _has(server, bob, alice, "slowed down"), timeout=30)
        assert [p.text for p in server.messages(bob, alice)].count("slowed down") == 1


async def _has(server: Any, viewer: Any, chat: Any, text: str) -> bool:
    return _sync_has(server, viewer, chat, text)


def _sync_has(server: Any, viewer: Any, chat: Any, text: str) -> bool:
    return any(p.text == text for p in server.messages(viewer, chat))


async def test_revoked_session_logs_out_and_the_bridge_keeps_running(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550331", "Alice")
    bob = server.create_user("+15550332", "Bob")
    carol = server.create_user("+15550333", "Carol")
    alice_mx = await matrix_user("alice")
    bob_mx = await matrix_user("bob")
    management = await phone_login(alice_mx, telegram, alice)
    await phone_login(bob_mx, telegram, bob)
    server.send_message(carol, alice, "hello alice")
    dm, _ = await portal_from_message(alice_mx, telegram, "hello alice")

    server.revoke_sessions(alice, "AUTH_KEY_UNREGISTERED", nudge=True)
    notice = await wait_notice(alice_mx, management, telegram.bot, "stopped working")
    assert "Telegram ended this session" in notice["content"]["body"]
    assert "Send `login` to log in again" in notice["content"]["body"]
    login = telegram.bridge.logins[str(alice.id)]  # type: ignore[index]
    assert login.state == BridgeStateEvent.LOGGED_OUT
    assert not login.client.is_logged_in()

    await alice_mx.send_text(dm, "are you there?")
    await wait_notice(alice_mx, dm, telegram.bot, "Your Telegram session has ended")
    assert not _sync_has(server, carol, alice, "are you there?")

    # Bob's login is unaffected.
    server.send_message(carol, bob, "hello bob")
    await portal_from_message(bob_mx, telegram, "hello bob")


@pytest.mark.both_backends
async def test_updates_replayed_after_a_crash_are_not_bridged_twice(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550341", "Alice")
    bob = server.create_user("+15550342", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "one")
    dm, _ = await portal_from_message(matrix, telegram, "one")
    await telegram.bridge.stop()
    saved = await _account_update_state(telegram.database_url)

    async with telegram.restarted():
        server.send_message(bob, alice, "two")
        await matrix.wait_for_message(dm, body="two")
    # As if the bridge had crashed before it saved its update state: after the
    # restart Telegram hands over "two" again.
    await _account_update_state(telegram.database_url, replace=saved)
    async with telegram.restarted():
        server.send_message(bob, alice, "three")
        await matrix.wait_for_message(dm, body="three")
        assert await _bodies(matrix, dm) == ["one", "two", "three"]
    replayed_from = [
        r.pts for _, r in server.calls if isinstance(r, functions.updates.GetDifferenceRequest)
    ]
    assert saved[0] in replayed_from


async def _account_update_state(
    database_url: str, replace: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The stored (pts, date) of the account; with ``replace``, overwrite them first."""
    db = Database.create(database_url)
    await db.start()
    try:
        if replace is not None:
            await db.execute(
                "UPDATE telegram_update_state SET pts=$1, date=$2 WHERE entity_id=0", *replace
            )
        row = await db.fetchrow("SELECT pts, date FROM telegram_update_state WHERE entity_id=0")
        assert row is not None
        return int(row["pts"]), int(row["date"])
    finally:
        await db.stop()


async def test_flood_wait_at_start_up_is_waited_out(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550351", "Alice")
    bob = server.create_user("+15550352", "Bob")
    matrix = await matrix_user("alice")
    management = await phone_login(matrix, telegram, alice)
    await telegram.bridge.stop()

    server.faults.flood_wait("updates.getState", seconds=2, times=1, user=alice)
    async with telegram.restarted() as bridge:
        server.send_message(bob, alice, "after the wait")
        await portal_from_message(matrix, telegram, "after the wait")
        login = bridge.logins[str(alice.id)]  # type: ignore[index]
        assert login.state == BridgeStateEvent.CONNECTED
    bodies = [e["content"].get("body", "") for e in matrix.timeline(management)]
    assert not [b for b in bodies if "stopped working" in b]


async def test_a_matrix_message_sent_again_after_a_crash_is_not_doubled(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550351", "Alice")
    bob = server.create_user("+15550352", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "hi")
    dm, _ = await portal_from_message(matrix, telegram, "hi")
    event_id = await matrix.send_text(dm, "only once")

    def mine() -> list[Any]:
        return [p for p in server.messages(bob, alice) if p.text == "only once"]

    async def arrived() -> bool:
        return bool(mine())

    await eventually(arrived)
    record = await telegram.bridge.messages_db.by_mxid(event_id)
    assert record is not None
    # After a crash between Telegram taking the message and the bridge noting it, the
    # homeserver offers the event again, and the core hands it to the network again.
    portal = await telegram.bridge.portal_of_room(dm)
    assert portal is not None
    login = next(iter(telegram.bridge.logins.values()))
    again = MatrixMessage(
        portal=portal,
        event_id=event_id,
        sender_mxid=matrix.user_id,
        login_id=login.id,
        msgtype="m.text",
        body="only once",
    )
    response = await login.client.handle_matrix_message(again)
    assert response.id == record.id  # the same Telegram message, found again
    assert len(mine()) == 1


async def test_a_chat_missing_from_the_saved_session_is_found_again(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550361", "Alice")
    bob = server.create_user("+15550362", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "hi")
    dm, _ = await portal_from_message(matrix, telegram, "hi")
    await telegram.bridge.stop()
    # As after a crash before the session's entities were saved: Bob's access hash
    # is not in the database.
    db = Database.create(telegram.database_url)
    await db.start()
    try:
        await db.execute("DELETE FROM telegram_entity WHERE id=$1", bob.id)
    finally:
        await db.stop()

    async with telegram.restarted():
        await matrix.send_text(dm, "still reaches Bob")

        async def arrived() -> bool:
            return any(p.text == "still reaches Bob" for p in server.messages(bob, alice))

        await eventually(arrived)
    notices = [e for e in matrix.timeline(dm) if e["content"].get("msgtype") == "m.notice"]
    assert notices == []


async def test_the_user_hears_when_telegram_will_not_send_what_was_missed(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    """After long downtime Telegram may answer the catch-up with differenceTooLong
    and send nothing of what was missed; the user is told rather than left guessing."""
    server = telegram.server
    alice = server.create_user("+15550331", "Alice")
    bob = server.create_user("+15550332", "Bob")
    matrix = await matrix_user("alice")
    management = await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "first")
    dm, _ = await portal_from_message(matrix, telegram, "first")
    await telegram.bridge.stop()
    server.send_message(bob, alice, "lost in the gap")
    server.faults.difference_too_long(alice)
    async with telegram.restarted():
        await wait_notice(matrix, management, telegram.bot, "Too much happened on Telegram")
        server.send_message(bob, alice, "after")
        await matrix.wait_for_message(dm, body="after")
