"""`join`: a Telegram chat joined by invite link or public username gets its portal."""

from __future__ import annotations

from typing import Any

from .conftest import TelegramHarness, phone_login, say


async def test_join_by_invite_link_and_by_username(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550801", "Alice")
    bob = server.create_user("+15550802", "Bob")
    private = server.create_channel(bob, "Private club")
    link = server.invite_link(private, bob)
    matrix = await matrix_user("alice")
    room = await phone_login(matrix, telegram, alice)

    await say(matrix, room, telegram, "join", "Usage: `join <invite link>`")
    await say(matrix, room, telegram, "join https://t.me/+nosuchinvite", "not valid")
    await say(matrix, room, telegram, "join not a link", "Usage: `join <invite link>`")
    await say(matrix, room, telegram, f"join {link}", "Joined Private club")
    assert alice.id in private.members
    portal = await matrix.wait_for_invite(timeout=30)
    await matrix.join(portal)
    server.send_message(bob, private, "welcome, Alice")
    await matrix.wait_for_message(portal, body="welcome, Alice", timeout=30)

    public = server.create_channel(bob, "Open forum")
    public.username = "openforum"
    await say(matrix, room, telegram, "join @openforum", "Joined Open forum")
    assert alice.id in public.members
    await say(matrix, room, telegram, "join @nobodyhere", "Nobody on Telegram has the username")
