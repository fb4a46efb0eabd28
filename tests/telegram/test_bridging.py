"""`bridge <chat>` into an existing Matrix room, naming the Telegram chat as a user
would: by its title, its public link, or a Bot API style ID."""

from __future__ import annotations

from typing import Any

from bridgekit.testing.matrix_client import MatrixTestClient

from .conftest import TelegramHarness, eventually, phone_login, wait_notice


async def _room_for_the_bot(matrix: MatrixTestClient, telegram: TelegramHarness, name: str) -> str:
    room = await matrix.create_room(invite=[telegram.bot], name=name)
    await matrix.wait_for_event(
        room,
        lambda e: (
            e["type"] == "m.room.member"
            and e["state_key"] == telegram.bot
            and e["content"]["membership"] == "join"
        ),
    )
    await matrix.set_user_power_level(room, telegram.bot, 100)
    return room


async def test_bridge_an_existing_room_by_title_link_or_id(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550711", "Alice")
    bob = server.create_user("+15550712", "Bob")
    club = server.create_group(bob, "Book Club", [alice])
    server.create_channel(bob, "Daily News", [alice], username="dailynews")
    twins = [server.create_group(bob, "Twins", [alice]) for _ in range(2)]
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    prefix = telegram.bridge.commands.prefix

    by_title = await _room_for_the_bot(matrix, telegram, "Our club")
    await matrix.send_text(by_title, f"{prefix} bridge book club")
    await wait_notice(matrix, by_title, telegram.bot, "now bridged to Book Club on Telegram")
    server.send_message(bob, club, "into the old room")
    await matrix.wait_for_message(by_title, body="into the old room", sender=telegram.ghost(bob))

    by_link = await _room_for_the_bot(matrix, telegram, "News")
    await matrix.send_text(by_link, f"{prefix} bridge https://t.me/dailynews")
    await wait_notice(matrix, by_link, telegram.bot, "now bridged to Daily News on Telegram")

    ambiguous = await _room_for_the_bot(matrix, telegram, "Which one")
    await matrix.send_text(ambiguous, f"{prefix} bridge Twins")
    await wait_notice(matrix, ambiguous, telegram.bot, "2 of your chats are called “Twins”")
    await matrix.send_text(ambiguous, f"{prefix} bridge -{twins[1].id}")
    await wait_notice(matrix, ambiguous, telegram.bot, "now bridged to Twins on Telegram")
    server.send_message(bob, twins[1], "the second twin")
    await matrix.wait_for_message(ambiguous, body="the second twin")

    nowhere = await _room_for_the_bot(matrix, telegram, "Nothing")
    await matrix.send_text(nowhere, f"{prefix} bridge No Such Chat")
    await wait_notice(matrix, nowhere, telegram.bot, "Cannot bridge `No Such Chat`")


async def test_create_a_telegram_group_from_a_matrix_room(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550721", "Alice")
    bob = server.create_user("+15550722", "Bob")
    carol = server.create_user("+15550723", "Carol")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    for person in (bob, carol):  # private chats first: their ghosts, their access hashes
        server.send_message(person, alice, f"hi from {person.first_name}")
        dm = await matrix.wait_for_invite(timeout=30)
        await matrix.join(dm)
    prefix = telegram.bridge.commands.prefix

    room = await matrix.create_room(
        invite=[telegram.bot, telegram.ghost(bob), telegram.ghost(carol)], name="Reading"
    )
    await matrix.wait_for_event(
        room,
        lambda e: (
            e["type"] == "m.room.member"
            and e["state_key"] == telegram.bot
            and e["content"]["membership"] == "join"
        ),
    )
    await matrix.set_user_power_level(room, telegram.bot, 100)
    await matrix.send_text(room, f"{prefix} create-group Book Circle")
    await wait_notice(matrix, room, telegram.bot, "Created the Telegram group Book Circle")

    group = next(g for g in server.world.groups.values() if g.title == "Book Circle")
    assert set(group.members) == {alice.id, bob.id, carol.id}
    await matrix.send_text(room, "first words")

    async def said() -> bool:
        return any(p.text == "first words" for p in server.messages(bob, group))

    await eventually(said)
    server.send_message(carol, group, "hello circle")
    await matrix.wait_for_message(room, body="hello circle", sender=telegram.ghost(carol))
