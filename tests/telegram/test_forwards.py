"""Forwarded messages get a "Forwarded from" header; pins become notices that reply to
the pinned message, and the room's pinned events follow pins and unpins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telethon.tl import types

from bridgekit.testing.matrix_client import MatrixRequestError

from .conftest import TelegramHarness, eventually, phone_login, portal_from_message


async def test_forwards_say_where_they_came_from_and_pins_reply_to_the_message(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550501", "Alice")
    bob = server.create_user("+15550502", "Bob")
    carol = server.create_user("+15550503", "Carol", "Seedling")
    news = server.create_channel(carol, "Daily News", [], megagroup=False)
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)

    server.send_message(bob, alice, "hello first")
    dm, _ = await portal_from_message(matrix, telegram, "hello first")

    # From a user: the name is a pill of their ghost, the text is quoted.
    server.send_message(
        bob,
        alice,
        "seeds are cheap",
        entities=[types.MessageEntityBold(0, 5)],
        fwd_from=types.MessageFwdHeader(date=datetime.now(UTC), from_id=types.PeerUser(carol.id)),
    )
    event = await matrix.wait_for_message(
        dm, body="Forwarded from Carol Seedling:\n> seeds are cheap"
    )
    ghost = telegram.ghost(carol)
    assert event["content"]["formatted_body"] == (
        f'Forwarded from <a href="https://matrix.to/#/{ghost}">Carol Seedling</a>:'
        "<blockquote><strong>seeds</strong> are cheap</blockquote>"
    )

    # From someone who hides their account: only the name Telegram gives.
    server.send_message(
        bob,
        alice,
        "two\nlines",
        fwd_from=types.MessageFwdHeader(date=datetime.now(UTC), from_name="Dave <Hidden>"),
    )
    event = await matrix.wait_for_message(dm, body="Forwarded from Dave <Hidden>:\n> two\n> lines")
    assert event["content"]["formatted_body"] == (
        "Forwarded from Dave &lt;Hidden&gt;:<blockquote>two<br>lines</blockquote>"
    )

    # From a channel post with a signature.
    server.send_message(
        bob,
        alice,
        "big news",
        fwd_from=types.MessageFwdHeader(
            date=datetime.now(UTC),
            from_id=types.PeerChannel(news.id),
            channel_post=7,
            post_author="Ed",
        ),
    )
    await matrix.wait_for_message(dm, body="Forwarded from Daily News (Ed):\n> big news")

    # A pin: a notice from the pinner, replying to the pinned message.
    pinned = server.send_message(bob, alice, "pin me")
    pinned_event = await matrix.wait_for_message(dm, body="pin me")
    server.pin_message(pinned, bob)
    notice = await matrix.wait_for_event(
        dm,
        lambda e: (
            e.get("content", {}).get("msgtype") == "m.notice"
            and e["content"].get("body") == "pinned a message"
        ),
        timeout=30,
    )
    assert notice["sender"] == telegram.ghost(bob)
    in_reply_to = notice["content"]["m.relates_to"]["m.in_reply_to"]
    assert in_reply_to["event_id"] == pinned_event["event_id"]

    # The room's pinned events follow pins and unpins.
    async def pinned_events() -> list[str]:
        try:
            state = await matrix.get_state_event(dm, "m.room.pinned_events")
        except MatrixRequestError:
            return []
        return list(state.get("pinned", []))

    async def pinned_is(expected: list[str]) -> bool:
        return await pinned_events() == expected

    await eventually(lambda: pinned_is([pinned_event["event_id"]]))
    second = server.send_message(bob, alice, "pin me too")
    second_event = await matrix.wait_for_message(dm, body="pin me too")
    server.pin_message(second, bob)
    await eventually(lambda: pinned_is([pinned_event["event_id"], second_event["event_id"]]))
    server.pin_message(pinned, bob, unpin=True)
    await eventually(lambda: pinned_is([second_event["event_id"]]))


async def test_pins_made_on_matrix_reach_telegram(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550761", "Alice")
    bob = server.create_user("+15550762", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    post = server.send_message(bob, alice, "pin this from Matrix")
    dm, event = await portal_from_message(matrix, telegram, "pin this from Matrix")

    async def pinned_on_telegram(expected: bool) -> bool:
        return post.pinned is expected

    await matrix.send_state(dm, "m.room.pinned_events", {"pinned": [event["event_id"]]})
    await eventually(lambda: pinned_on_telegram(True))
    await matrix.send_state(dm, "m.room.pinned_events", {"pinned": []})
    await eventually(lambda: pinned_on_telegram(False))
