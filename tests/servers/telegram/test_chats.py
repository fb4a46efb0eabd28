"""People, groups and channels: lookups, full info, members, membership changes."""

from __future__ import annotations

import pytest
from telethon import errors, events, types
from telethon.tl import functions

from . import TelegramTestServer
from .conftest import ClientFactory, Collector
from .test_files import make_png


async def test_users_lookup_and_full_info(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", "Builder", username="bob_builds", about="Can do")
    server.create_user("+15550003", "Bobby", "Tables")
    server.set_profile_photo(bob, make_png(16, 16))
    client = await make_client(alice)

    entity = await client.get_entity("@bob_builds")
    assert (entity.id, entity.first_name, entity.last_name) == (bob.id, "Bob", "Builder")
    assert entity.phone is None  # not a contact
    full = await client(functions.users.GetFullUserRequest(entity))
    assert full.full_user.about == "Can do"
    assert await client.download_profile_photo(entity, file=bytes) == make_png(16, 16)

    found = await client(functions.contacts.SearchRequest(q="bob", limit=10))
    found_ids = {p.user_id for p in found.my_results + found.results}
    assert {server.world.users[i].first_name for i in found_ids} == {"Bob", "Bobby"}
    with_phone = await client(functions.contacts.ResolvePhoneRequest(phone="15550003"))
    assert server.world.users[with_phone.peer.user_id].first_name == "Bobby"
    with pytest.raises((ValueError, errors.UsernameNotOccupiedError)):
        await client.get_entity("@nobody_here")


async def test_group_info_and_members(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    carol = server.create_user("+15550003", "Carol")
    group = server.create_group(bob, "Basic", [alice, carol])
    supergroup = server.create_channel(bob, "Super", [alice, carol], about="about text")
    client = await make_client(alice)
    await client.get_dialogs()

    full = await client(functions.messages.GetFullChatRequest(chat_id=group.id))
    assert {p.user_id for p in full.full_chat.participants.participants} == {
        alice.id,
        bob.id,
        carol.id,
    }
    assert isinstance(full.full_chat.participants.participants[0], types.ChatParticipantCreator)

    channel_id = int(f"-100{supergroup.id}")
    full = await client(functions.channels.GetFullChannelRequest(channel_id))
    assert full.full_chat.about == "about text" and full.full_chat.participants_count == 3
    members = await client.get_participants(channel_id)
    assert {m.id for m in members} == {alice.id, bob.id, carol.id}
    admins = await client.get_participants(channel_id, filter=types.ChannelParticipantsAdmins())
    assert [m.id for m in admins] == [bob.id]


async def test_membership_and_title_changes_arrive_as_chat_actions(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    carol = server.create_user("+15550003", "Carol")
    supergroup = server.create_channel(bob, "Super", [alice])
    client = await make_client(alice)
    await client.get_dialogs()
    actions = Collector()
    client.add_event_handler(actions, events.ChatAction())

    server.add_members(supergroup, [carol], bob)
    event = await actions.next()
    assert event.user_joined or event.user_added
    assert event.user_id == carol.id

    server.edit_title(supergroup, "Renamed", bob)
    event = await actions.next()
    assert event.new_title == "Renamed"

    server.remove_member(supergroup, carol, by=bob)
    event = await actions.next()
    assert event.user_kicked and event.user_id == carol.id
    assert carol.id not in supergroup.members


async def test_client_creates_and_manages_chats(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    client = await make_client(alice)
    bob_entity = await client.get_input_entity("bobby")

    created = await client(functions.messages.CreateChatRequest(users=[bob_entity], title="Mine"))
    [group] = created.updates.chats
    assert server.world.groups[group.id].members.keys() == {alice.id, bob.id}

    result = await client(
        functions.channels.CreateChannelRequest(title="Forum", about="", megagroup=True, forum=True)
    )
    [channel] = result.chats
    model = server.world.channels[channel.id]
    assert model.forum and model.creator_id == alice.id
    await client(functions.channels.InviteToChannelRequest(channel, [bob_entity]))
    assert bob.id in model.members

    topic_updates = await client(
        functions.messages.CreateForumTopicRequest(peer=channel, title="Ideas")
    )
    assert any(t.title == "Ideas" for t in model.topics.values())
    assert topic_updates.updates

    await client(functions.channels.LeaveChannelRequest(channel))
    assert alice.id not in model.members


async def test_join_public_channel_and_read_it(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    news = server.create_channel(bob, "News", megagroup=False, username="news_channel")
    post = server.send_message(bob, news, "headline")
    client = await make_client(alice)

    channel = await client.get_entity("news_channel")
    assert channel.broadcast and channel.left
    await client(functions.channels.JoinChannelRequest(channel))
    assert alice.id in news.members
    [message] = await client.get_messages(channel, limit=1)
    assert message.raw_text == "headline" and message.post

    await client.send_read_acknowledge(channel, max_id=message.id)
    assert alice.read_inbox[("channel", news.id)] == post.id_for(alice)


async def test_pins_and_presence(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.add_contact(alice, bob)
    note = server.send_message(bob, alice, "pin me")
    client = await make_client(alice)
    await client.get_dialogs()
    raw, presence = Collector(), Collector()
    client.add_event_handler(raw, events.Raw(types.UpdatePinnedMessages))
    client.add_event_handler(presence, events.UserUpdate())

    server.pin_message(note, by=bob)
    update = await raw.next()
    assert update.pinned and update.messages == [note.id_for(alice)]
    [pinned] = await client.get_messages(bob.id, ids=[note.id_for(alice)])
    assert pinned.pinned and pinned.raw_text == "pin me"
    [service] = await client.get_messages(bob.id, limit=1)
    assert isinstance(service.action, types.MessageActionPinMessage)
    assert service.reply_to.reply_to_msg_id == pinned.id

    server.set_online(bob)
    event = await presence.next()
    assert event.user_id == bob.id and event.online


async def test_photo_change_topic_edit_and_group_upgrade(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    group = server.create_group(bob, "Basic", [alice])
    forum = server.create_channel(bob, "Forum", [alice], forum=True)
    topic = server.create_topic(forum, bob, "Old name")
    client = await make_client(alice)
    await client.get_dialogs()
    actions, raw = Collector(), Collector()
    client.add_event_handler(actions, events.ChatAction())
    client.add_event_handler(
        raw, events.Raw((types.UpdateNewMessage, types.UpdateNewChannelMessage))
    )

    server.set_chat_photo(group, make_png(10, 10), bob)
    event = await actions.next()
    assert event.new_photo and event.chat_id == -group.id
    assert await client.download_media(event.photo, file=bytes) == make_png(10, 10)
    await raw.next()

    server.edit_topic(forum, topic, bob, title="New name")
    event = await raw.next()
    assert isinstance(event.message.action, types.MessageActionTopicEdit)
    assert event.message.reply_to.reply_to_msg_id == topic.id
    by_id = await client(
        functions.messages.GetForumTopicsByIDRequest(peer=int(f"-100{forum.id}"), topics=[topic.id])
    )
    assert [t.title for t in by_id.topics] == ["New name"]

    supergroup = server.upgrade_group(group, bob)
    migrate_to = await raw.next()
    migrate_from = await raw.next()
    assert migrate_to.message.action.channel_id == supergroup.id
    assert migrate_from.message.action.chat_id == group.id
    assert migrate_from.message.peer_id.channel_id == supergroup.id
    assert supergroup.members.keys() == {alice.id, bob.id}
    full = await client(functions.channels.GetFullChannelRequest(supergroup.id))
    assert full.full_chat.migrated_from_chat_id == group.id
    assert full.full_chat.migrated_from_max_id == migrate_to.message.id
    with pytest.raises(errors.ChatWriteForbiddenError):
        await client.send_message(-group.id, "too late")


async def test_join_by_invite_link(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    private = server.create_channel(bob, "Private", about="members only")
    link = server.invite_link(private, bob)
    invite_hash = link.rsplit("+", 1)[-1]
    client = await make_client(alice)

    preview = await client(functions.messages.CheckChatInviteRequest(hash=invite_hash))
    assert isinstance(preview, types.ChatInvite)
    assert (preview.title, preview.participants_count, preview.megagroup) == ("Private", 1, True)
    result = await client(functions.messages.ImportChatInviteRequest(hash=invite_hash))
    assert alice.id in private.members
    assert any(getattr(c, "id", None) == private.id for c in result.chats)
    joined = server.messages(bob, private)[-1]
    assert isinstance(joined.action, types.MessageActionChatJoinedByLink)
    assert joined.sender is alice

    again = await client(functions.messages.CheckChatInviteRequest(hash=invite_hash))
    assert isinstance(again, types.ChatInviteAlready)
    with pytest.raises(errors.UserAlreadyParticipantError):
        await client(functions.messages.ImportChatInviteRequest(hash=invite_hash))
    with pytest.raises(errors.InviteHashInvalidError):
        await client(functions.messages.CheckChatInviteRequest(hash="nope"))


async def test_edit_chat_about_in_groups_and_admin_only_in_channels(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    group = server.create_group(bob, "Basic", [alice])
    supergroup = server.create_channel(bob, "Super", [alice], about="old")
    client = await make_client(alice)
    await client.get_dialogs()

    group_peer = await client.get_input_entity(types.PeerChat(group.id))
    assert await client(functions.messages.EditChatAboutRequest(group_peer, "new about"))
    full = await client(functions.messages.GetFullChatRequest(chat_id=group.id))
    assert full.full_chat.about == "new about"
    with pytest.raises(errors.ChatAboutNotModifiedError):
        await client(functions.messages.EditChatAboutRequest(group_peer, "new about"))

    channel_peer = await client.get_input_entity(types.PeerChannel(supergroup.id))
    with pytest.raises(errors.ChatAdminRequiredError):
        await client(functions.messages.EditChatAboutRequest(channel_peer, "mine now"))
    assert supergroup.about == "old"


async def test_an_admin_sees_itself_as_admin_among_the_participants(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    supergroup = server.create_channel(bob, "Super", [alice])
    supergroup.members[alice.id].admin = True
    client = await make_client(alice)
    await client.get_dialogs()

    participants = await client.get_participants(types.PeerChannel(supergroup.id))
    me = next(p.participant for p in participants if p.id == alice.id)
    assert isinstance(me, types.ChannelParticipantAdmin)
    assert me.is_self and me.inviter_id == bob.id
