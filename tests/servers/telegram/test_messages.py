"""Messages both ways between stock Telethon and simulated users."""

from __future__ import annotations

import pytest
from telethon import TelegramClient, errors, events, types
from telethon.tl import functions

from . import TelegramTestServer
from .conftest import ClientFactory, Collector


async def test_client_message_reaches_the_model_with_per_box_ids(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    server.send_message(alice, alice, "note to self")  # Alice's box now has one more message
    client = await make_client(alice)

    sent = await client.send_message("bobby", "**hi** bob", parse_mode="md")

    [post] = server.messages(bob, alice)
    assert post.text == "hi bob" and post.sender is alice
    assert [type(e) for e in post.entities] == [types.MessageEntityBold]
    assert (post.entities[0].offset, post.entities[0].length) == (0, 2)
    # Each account numbers private messages in its own box.
    assert sent.id == post.id_for(alice) == 2
    assert post.id_for(bob) == 1


async def test_incoming_message_event_with_entities(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.add_contact(alice, bob)
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))

    text = "😀 bold and link"
    entities = [
        types.MessageEntityBold(offset=3, length=4),  # UTF-16: the emoji counts as 2
        types.MessageEntityTextUrl(offset=12, length=4, url="https://example.org"),
    ]
    server.send_message(bob, alice, text, entities=entities)
    event = await inbox.next()

    assert event.raw_text == text
    assert event.sender_id == bob.id and event.is_private
    assert event.message.entities == entities
    assert (await event.get_sender()).first_name == "Bob"


async def test_reply_edit_delete_and_reaction_events(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.add_contact(alice, bob)
    client = await make_client(alice)
    await client.get_dialogs()
    new, edited, deleted, raw = Collector(), Collector(), Collector(), Collector()
    client.add_event_handler(new, events.NewMessage(incoming=True))
    client.add_event_handler(edited, events.MessageEdited())
    client.add_event_handler(deleted, events.MessageDeleted())
    client.add_event_handler(raw, events.Raw(types.UpdateMessageReactions))

    mine = await client.send_message(bob.id, "question?")
    post = server.messages(bob, alice)[-1]
    answer = server.send_message(bob, alice, "answer", reply_to=post)
    event = await new.next()
    assert event.reply_to_msg_id == mine.id

    server.edit_message(answer, "better answer")
    assert (await edited.next()).raw_text == "better answer"

    server.react(bob, post, "👍")
    update = await raw.next()
    assert update.msg_id == mine.id
    assert update.reactions.results[0].reaction.emoticon == "👍"

    server.delete_messages([answer])
    assert (await deleted.next()).deleted_ids == [event.id]
    assert server.messages(alice, bob) == [post]


async def test_client_edit_delete_react_reach_the_other_side(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.add_contact(alice, bob)
    client = await make_client(alice)
    bobs = await make_client(bob)
    await bobs.get_dialogs()
    edited, deleted = Collector(), Collector()
    bobs.add_event_handler(edited, events.MessageEdited())
    bobs.add_event_handler(deleted, events.MessageDeleted())

    msg = await client.send_message(bob.id, "typo")
    await client.edit_message(bob.id, msg.id, "fixed")
    assert (await edited.next()).raw_text == "fixed"
    with_theirs = server.messages(bob, alice)[-1]
    assert with_theirs.text == "fixed" and with_theirs.edit_date is not None

    with_theirs_id = with_theirs.id_for(bob)
    await client(
        functions.messages.SendReactionRequest(
            peer=bob.id, msg_id=msg.id, reaction=[types.ReactionEmoji(emoticon="❤")]
        )
    )
    assert with_theirs.reactions[alice.id][0] == "❤"

    await client.delete_messages(bob.id, [msg.id])
    assert (await deleted.next()).deleted_ids == [with_theirs_id]
    assert server.messages(bob, alice) == []


async def test_not_modified_and_bad_entities_are_rejected(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.add_contact(alice, bob)
    client = await make_client(alice)
    await client.get_dialogs()
    msg = await client.send_message(bob.id, "same")

    with pytest.raises(errors.MessageNotModifiedError):
        await client.edit_message(bob.id, msg.id, "same")
    # "😀x" is 3 UTF-16 code units: an entity at offset 2 of length 2 overflows.
    with pytest.raises(errors.EntityBoundsInvalidError):
        await client.send_message(
            bob.id, "😀x", formatting_entities=[types.MessageEntityBold(offset=2, length=2)]
        )


async def test_group_and_channel_messages(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    group = server.create_group(bob, "Basic", [alice])
    supergroup = server.create_channel(bob, "Super", [alice])
    channel = server.create_channel(bob, "News", [alice], megagroup=False)
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))

    server.send_message(bob, group, "in group")
    event = await inbox.next()
    assert (event.raw_text, event.chat_id, event.sender_id) == ("in group", -group.id, bob.id)

    server.send_message(bob, supergroup, "in supergroup")
    event = await inbox.next()
    assert event.raw_text == "in supergroup" and event.is_group and event.sender_id == bob.id
    assert event.chat_id == int(f"-100{supergroup.id}")

    server.send_message(bob, channel, "in channel")
    event = await inbox.next()
    assert event.raw_text == "in channel" and event.is_channel and event.message.post

    sent = await client.send_message(int(f"-100{supergroup.id}"), "from alice")
    assert server.messages(bob, supergroup)[-1].text == "from alice"
    assert sent.id == server.messages(bob, supergroup)[-1].id_for(bob)
    with pytest.raises(errors.ChatAdminRequiredError):
        await client.send_message(int(f"-100{channel.id}"), "not an admin")


async def test_history_and_dialogs(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    carol = server.create_user("+15550003", "Carol")
    for i in range(25):
        server.send_message(bob, alice, f"bob {i}")
    server.send_message(carol, alice, "carol last")
    client = await make_client(alice)

    dialogs = await client.get_dialogs()
    assert [d.name for d in dialogs] == ["Carol", "Bob"]
    assert dialogs[1].unread_count == 25 and dialogs[1].message.raw_text == "bob 24"

    history = await client.get_messages(bob.id, limit=None)
    assert [m.raw_text for m in history] == [f"bob {i}" for i in reversed(range(25))]
    page = await client.get_messages(bob.id, limit=5, offset_id=history[9].id)
    assert [m.raw_text for m in page] == [f"bob {i}" for i in range(14, 9, -1)]
    oldest_first = await client.get_messages(bob.id, limit=3, reverse=True)
    assert [m.raw_text for m in oldest_first] == ["bob 0", "bob 1", "bob 2"]
    [by_id] = await client.get_messages(bob.id, ids=[history[0].id])
    assert by_id.raw_text == "bob 24"


async def test_read_receipts_and_typing(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.add_contact(alice, bob)
    client = await make_client(alice)
    await client.get_dialogs()
    reads, typing = Collector(), Collector()
    client.add_event_handler(reads, events.MessageRead(inbox=False))
    client.add_event_handler(typing, events.UserUpdate())

    msg = await client.send_message(bob.id, "read me")
    server.read_history(bob, alice)
    event = await reads.next()
    assert event.max_id == msg.id and event.outbox

    server.set_typing(bob, alice)
    event = await typing.next()
    assert event.user_id == bob.id and event.typing

    posts = server.messages(bob, alice)
    await client.send_read_acknowledge(bob.id, max_id=msg.id)
    assert alice.read_inbox[("user", bob.id)] == msg.id
    assert posts[-1].id_for(alice) == msg.id


async def test_forum_topics(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    forum = server.create_channel(bob, "Forum", [alice], forum=True)
    topic = server.create_topic(forum, bob, "Releases")
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))

    server.send_message(bob, forum, "v1.0 is out", topic=topic)
    event = await inbox.next()
    assert event.reply_to.forum_topic and event.reply_to.reply_to_msg_id == topic.id

    result = await client(
        functions.messages.GetForumTopicsRequest(
            peer=int(f"-100{forum.id}"), offset_date=None, offset_id=0, offset_topic=0, limit=10
        )
    )
    assert {t.title for t in result.topics} == {"General", "Releases"}
    await client.send_message(int(f"-100{forum.id}"), "thanks", reply_to=topic.id)
    last = server.messages(bob, forum)[-1]
    assert last.topic is topic and last.reply_to is None


async def test_short_updates_mode(make_client: ClientFactory) -> None:
    async with TelegramTestServer(short_updates=True) as server:
        alice = server.create_user("+15550001", "Alice")
        bob = server.create_user("+15550002", "Bob")
        group = server.create_group(bob, "Basic", [alice])
        server.add_contact(alice, bob)
        client = TelegramClient(server.signed_in_session(alice), 12345, "0123456789abcdef")
        await client.connect()
        try:
            await client.get_dialogs()
            inbox = Collector()
            client.add_event_handler(inbox, events.NewMessage(incoming=True))
            calls = len(server.calls)

            server.send_message(bob, alice, "short dm")
            server.send_message(bob, group, "short group")
            first, second = await inbox.next(), await inbox.next()
            assert (first.raw_text, first.sender_id) == ("short dm", bob.id)
            assert (second.raw_text, second.chat_id) == ("short group", -group.id)
            sent = await client.send_message(bob.id, "reply")
            assert sent.id == server.messages(alice, bob)[-1].id_for(alice)
            # No gap was detected: short updates do not advance seq.
            assert not any(
                isinstance(r, functions.updates.GetDifferenceRequest)
                for _, r in server.calls[calls:]
            )
        finally:
            await client.disconnect()
        assert server.internal_errors == []


async def test_forwarding_keeps_the_origin(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    carol = server.create_user("+15550003", "Carol", username="carol")
    news = server.create_channel(bob, "News", [alice], megagroup=False)
    server.send_message(bob, alice, "from bob")
    server.send_message(bob, news, "from the channel")
    client = await make_client(alice)
    dialogs = {d.name: d for d in await client.get_dialogs()}

    await client.forward_messages("carol", dialogs["Bob"].message)
    await client.forward_messages("carol", dialogs["News"].message)

    from_bob, from_news = server.messages(carol, alice)
    assert from_bob.text == "from bob" and from_bob.fwd_from.from_id.user_id == bob.id
    assert from_news.fwd_from.from_id.channel_id == news.id
    assert from_news.fwd_from.channel_post == dialogs["News"].message.id


async def test_client_actions_in_a_supergroup(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    group = server.create_channel(bob, "Super", [alice], available_reactions=["👍"])
    chat_id = int(f"-100{group.id}")
    alices = await make_client(alice)
    bobs = await make_client(bob)
    await alices.get_dialogs()
    await bobs.get_dialogs()
    typing, deleted, edited = Collector(), Collector(), Collector()
    bobs.add_event_handler(typing, events.UserUpdate())
    bobs.add_event_handler(deleted, events.MessageDeleted())
    bobs.add_event_handler(edited, events.MessageEdited())

    async with alices.action(chat_id, "typing"):
        event = await typing.next()
    assert event.user_id == alice.id and event.typing and event.chat_id == chat_id

    msg = await alices.send_message(chat_id, "hello group")
    await alices.edit_message(chat_id, msg.id, "hello, group")
    assert (await edited.next()).raw_text == "hello, group"

    with pytest.raises(errors.ReactionInvalidError):
        await alices(
            functions.messages.SendReactionRequest(
                peer=chat_id, msg_id=msg.id, reaction=[types.ReactionEmoji(emoticon="❤")]
            )
        )
    await alices(
        functions.messages.SendReactionRequest(
            peer=chat_id, msg_id=msg.id, reaction=[types.ReactionEmoji(emoticon="👍")]
        )
    )
    assert server.messages(bob, group)[-1].reactions[alice.id][0] == "👍"

    await alices.delete_messages(chat_id, [msg.id])
    event = await deleted.next()
    assert event.deleted_ids == [msg.id] and event.chat_id == chat_id
    assert all(p.text != "hello, group" for p in server.messages(bob, group))
