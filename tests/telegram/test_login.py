"""Logging in to Telegram through the bridge bot: every flow, and every way it goes wrong.

Each test runs against the local MTProto server and the session's Synapse, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from telethon.tl import functions

from .conftest import (
    TelegramHarness,
    eventually,
    open_management_room,
    phone_login,
    say,
    wait_notice,
)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 100000:05d}"


def _called(harness: TelegramHarness, request_type: type) -> int:
    return sum(1 for _, request in harness.server.calls if isinstance(request, request_type))


async def test_phone_login_with_a_wrong_code_first(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    alice = telegram.server.create_user("+15550001", "Alice", "Liddell")
    matrix = await matrix_user("alice")
    room = await open_management_room(matrix, telegram)
    await say(matrix, room, telegram, "login phone", "send your phone number")
    await say(matrix, room, telegram, "+1 555 0001", "send your login code")
    await say(
        matrix,
        room,
        telegram,
        _wrong(telegram.server.login_code(alice.phone)),
        "That code is wrong",
    )
    await say(
        matrix,
        room,
        telegram,
        telegram.server.login_code(alice.phone),
        "Successfully logged in as Alice Liddell",
    )

    login = telegram.bridge.logins[str(alice.id)]  # type: ignore[index]
    assert login.remote_name == "Alice Liddell (+15550001)"
    assert login.user_mxid == matrix.user_id
    await eventually(lambda: _online(telegram, alice))


async def _online(harness: TelegramHarness, user: Any) -> bool:
    return harness.server.is_online(user)


async def test_two_step_verification_with_a_wrong_password_first(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550002", "Alice", password="correct horse", password_hint="hay")
    matrix = await matrix_user("alice")
    room = await open_management_room(matrix, telegram)
    for answer, reply in (
        ("login phone", "send your phone number"),
        ("+15550002", "send your login code"),
    ):
        await say(matrix, room, telegram, answer, reply)
    ask = await say(
        matrix, room, telegram, server.login_code(alice.phone), "two-step verification password"
    )
    assert "(hint: hay)" in ask["content"]["body"]
    await say(matrix, room, telegram, "battery staple", "That password is wrong")
    await say(matrix, room, telegram, "correct horse", "Successfully logged in")
    assert str(alice.id) in telegram.bridge.logins
    await eventually(lambda: _online(telegram, alice))


async def test_expired_code_sends_a_new_one(telegram: TelegramHarness, matrix_user: Any) -> None:
    server = telegram.server
    alice = server.create_user("+15550003", "Alice")
    matrix = await matrix_user("alice")
    room = await open_management_room(matrix, telegram)
    for answer, reply in (
        ("login phone", "send your phone number"),
        ("+15550003", "send your login code"),
    ):
        await say(matrix, room, telegram, answer, reply)
    old = server.login_code(alice.phone)
    server.expire_login_code(alice.phone)
    await say(matrix, room, telegram, old, "That code has expired")
    await say(matrix, room, telegram, server.login_code(alice.phone), "Successfully logged in")


async def test_unregistered_number_and_flood_wait_say_what_to_do(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    matrix = await matrix_user("nobody")
    room = await open_management_room(matrix, telegram)
    for answer, reply in (
        ("login phone", "send your phone number"),
        ("+15559999", "send your login code"),
    ):
        await say(matrix, room, telegram, answer, reply)
    await say(
        matrix,
        room,
        telegram,
        server.login_code("+15559999"),
        "no Telegram account with that phone number",
    )

    server.faults.flood_wait("auth.sendCode", seconds=300)
    await say(matrix, room, telegram, "login phone", "send your phone number")
    await say(matrix, room, telegram, "+15559999", "wait 5 minutes before trying to log in again")
    assert not telegram.bridge.logins


async def test_cancel_releases_the_half_finished_login(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550004", "Alice")
    matrix = await matrix_user("alice")
    room = await open_management_room(matrix, telegram)
    for answer, reply in (
        ("login phone", "send your phone number"),
        ("+15550004", "send your login code"),
    ):
        await say(matrix, room, telegram, answer, reply)
    assert server.connections
    await say(matrix, room, telegram, "cancel", "Login cancelled")
    await eventually(lambda: _no_connections(telegram))
    assert _called(telegram, functions.auth.CancelCodeRequest) == 1
    assert "15550004" not in server.sent_codes

    # A new attempt starts from scratch and works.
    await phone_login(matrix, telegram, alice, room_id=room)


async def _no_connections(harness: TelegramHarness) -> bool:
    return not harness.server.connections


async def test_bot_token_login(telegram: TelegramHarness, matrix_user: Any) -> None:
    bot = telegram.server.create_bot("relaybot", "Relay Bot")
    matrix = await matrix_user("admin")
    room = await open_management_room(matrix, telegram)
    await say(matrix, room, telegram, "login bot", "send your bot token")
    await say(matrix, room, telegram, "123:not-a-token", "does not accept that bot token")
    await say(
        matrix,
        room,
        telegram,
        str(bot.bot_token),
        "Successfully logged in as Relay Bot (@relaybot)",
    )
    assert str(bot.id) in telegram.bridge.logins


async def test_qr_login_with_two_step_verification(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550005", "Alice", password="pw")
    matrix = await matrix_user("alice")
    room = await open_management_room(matrix, telegram)
    await matrix.send_text(room, "login qr")
    # The QR code is an image; its text fallback (the body) is the login link.
    shown = await matrix.wait_for_event(
        room,
        lambda e: (
            e.get("sender") == telegram.bot
            and "tg://login?token=" in e.get("content", {}).get("body", "")
        ),
        timeout=30,
    )
    assert shown["content"]["msgtype"] == "m.image"
    token = re.search(r"tg://login\?token=([A-Za-z0-9_-]+)", shown["content"]["body"])
    assert token is not None
    raw = base64.urlsafe_b64decode(token.group(1) + "=" * (-len(token.group(1)) % 4))
    server.accept_login_token(raw, alice)
    await wait_notice(matrix, room, telegram.bot, "two-step verification password")
    await say(matrix, room, telegram, "pw", "Successfully logged in as Alice (+15550005)")
    await eventually(lambda: _online(telegram, alice))


async def test_logout_terminates_the_telegram_session(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550006", "Alice")
    matrix = await matrix_user("alice")
    room = await phone_login(matrix, telegram, alice)
    await say(matrix, room, telegram, "logout", "Logged out of Alice (+15550006)")
    assert _called(telegram, functions.auth.LogOutRequest) == 1
    assert not [a for a in server.auth_keys.values() if a.user_id == alice.id]
    assert not telegram.bridge.logins
    await eventually(lambda: _offline(telegram, alice))


async def _offline(harness: TelegramHarness, user: Any) -> bool:
    return not harness.server.is_online(user)
