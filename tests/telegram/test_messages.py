"""Messages both ways: portals, ghosts, formatting, replies, edits, deletions, reactions,
media, typing and read receipts, between the local Telegram server and Synapse."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image
from telethon import utils
from telethon.tl import functions, types

from bridgekit.testing.matrix_client import MatrixTestClient
from bridges.telegram import waveform
from tests.lottie import is_red, tgs
from tests.servers.telegram import Post, User

from .conftest import TelegramHarness, eventually, phone_login, portal_from_message, wait_notice


def png(width: int = 3, height: int = 2) -> bytes:
    """A small valid PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def _state(client: MatrixTestClient, room_id: str) -> dict[tuple[str, str], Any]:
    return {
        (e["type"], e.get("state_key", "")): e["content"]
        for e in await client.get_room_state(room_id)
    }


async def _last_post(harness: TelegramHarness, viewer: User, chat: Any, text: str) -> Post:
    async def arrived() -> bool:
        return any(p.text == text for p in harness.server.messages(viewer, chat))

    await eventually(arrived)
    return next(p for p in harness.server.messages(viewer, chat) if p.text == text)


async def test_private_chat_and_group_become_portals_with_ghosts_and_formatting(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550101", "Alice")
    bob = server.create_user("+15550102", "Bob", "Builder", username="bob")
    carol = server.create_user("+15550103", "Carol")
    server.set_profile_photo(bob, png(4, 4))
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)

    # A private message: "😀 bold" with the bold entity after an astral emoji
    # (offset 3 in UTF-16 code units, 2 in Python characters).
    server.send_message(bob, alice, "😀 bold move", entities=[types.MessageEntityBold(3, 4)])
    dm, event = await portal_from_message(matrix, telegram, "😀 bold move")
    assert event["sender"] == telegram.ghost(bob)
    assert event["content"]["formatted_body"] == "😀 <strong>bold</strong> move"
    profile = await matrix.get_profile(telegram.ghost(bob))
    assert profile["displayname"] == "Bob Builder (Telegram)"
    assert await matrix.download(profile["avatar_url"]) == png(4, 4)
    members = await matrix.get_joined_members(dm)
    assert set(members) == {matrix.user_id, telegram.ghost(bob), telegram.bot}

    # A basic group: title, about → topic, creator → high power level.
    group = server.create_group(bob, "Book club", [alice, carol])
    group.about = "We read things"
    server.send_message(
        carol,
        group,
        "see https://example.org and ask Bob",
        entities=[
            types.MessageEntityItalic(0, 3),
            types.MessageEntityUrl(4, 19),
            types.MessageEntityMentionName(32, 3, bob.id),
        ],
    )
    room, event = await portal_from_message(matrix, telegram, "see https://example.org and ask Bob")
    assert event["sender"] == telegram.ghost(carol)
    assert event["content"]["formatted_body"] == (
        '<em>see</em> <a href="https://example.org">https://example.org</a> and ask '
        f'<a href="https://matrix.to/#/{telegram.ghost(bob)}">Bob</a>'
    )
    state = await _state(matrix, room)
    assert state[("m.room.name", "")]["name"] == "Book club"
    assert state[("m.room.topic", "")]["topic"] == "We read things"
    levels = state[("m.room.power_levels", "")]["users"]
    assert levels[telegram.ghost(bob)] == 95
    members = await matrix.get_joined_members(room)
    assert {telegram.ghost(bob), telegram.ghost(carol)} <= set(members)


async def test_matrix_text_reply_edit_delete_and_reaction_reach_telegram(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550111", "Alice")
    bob = server.create_user("+15550112", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    first = server.send_message(bob, alice, "hi Alice")
    dm, hi = await portal_from_message(matrix, telegram, "hi Alice")

    html = '<strong>bold</strong> 🎉 <em>it</em> <a href="https://example.org">link</a>'
    sent_id = await matrix.send_text(dm, "bold 🎉 it link", html=html, reply_to=hi["event_id"])
    post = await _last_post(telegram, bob, alice, "bold 🎉 it link")
    assert post.sender is alice
    assert post.reply_to is first
    assert [(type(e).__name__, e.offset, e.length) for e in post.entities] == [
        ("MessageEntityBold", 0, 4),
        ("MessageEntityItalic", 8, 2),
        ("MessageEntityTextUrl", 11, 4),
    ]

    await matrix.edit(dm, sent_id, "edited text", html="<u>edited</u> text")
    await eventually(lambda: _text_is(post, "edited text"))
    assert [type(e).__name__ for e in post.entities] == ["MessageEntityUnderline"]

    await matrix.send_typing(dm, True)
    await eventually(lambda: _typing_sent(telegram, alice))
    await matrix.send_receipt(dm, hi["event_id"])
    await eventually(lambda: _read_up_to(alice, bob, first.id_for(alice)))

    await matrix.react(dm, hi["event_id"], "👍")
    await eventually(lambda: _reacted(first, alice, "👍"))

    await matrix.redact(dm, sent_id)
    await eventually(lambda: _gone(telegram, bob, alice, post))

    # Telegram's echoes of these changes are not bridged back as new events.
    await matrix.send_text(dm, "sync point")
    await _last_post(telegram, bob, alice, "sync point")
    server.send_message(bob, alice, "after the echoes")
    await matrix.wait_for_message(dm, body="after the echoes")
    timeline = matrix.timeline(dm)
    edits = [
        e for e in timeline if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
    ]
    assert len(edits) == 1
    reactions = [e for e in timeline if e["type"] == "m.reaction"]
    assert len(reactions) == 1 and reactions[0]["sender"] == matrix.user_id


async def _typing_sent(harness: TelegramHarness, user: User) -> bool:
    return any(
        user_id == user.id
        and isinstance(request, functions.messages.SetTypingRequest)
        and isinstance(request.action, types.SendMessageTypingAction)
        for user_id, request in harness.server.calls
    )


async def _read_up_to(reader: User, chat: User, message_id: int) -> bool:
    return reader.read_inbox.get(("user", chat.id), 0) >= message_id


async def _text_is(post: Post, text: str) -> bool:
    return post.text == text


async def _reacted(post: Post, user: User, emoji: str) -> bool:
    return post.reactions.get(user.id, ("",))[0] == emoji


async def _gone(harness: TelegramHarness, viewer: User, chat: Any, post: Post) -> bool:
    return post not in harness.server.messages(viewer, chat)


async def test_telegram_edits_deletions_reactions_typing_and_reads_reach_matrix(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550121", "Alice")
    bob = server.create_user("+15550122", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    post = server.send_message(bob, alice, "original")
    dm, original = await portal_from_message(matrix, telegram, "original")
    ghost = telegram.ghost(bob)

    server.edit_message(post, "changed", entities=[types.MessageEntityStrike(0, 7)])
    edit = await matrix.wait_for_event(
        dm, lambda e: e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
    )
    assert edit["sender"] == ghost
    assert edit["content"]["m.relates_to"]["event_id"] == original["event_id"]
    assert edit["content"]["m.new_content"]["formatted_body"] == "<del>changed</del>"

    server.react(bob, post, "❤")
    reaction = await matrix.wait_for_event(dm, lambda e: e["type"] == "m.reaction")
    assert reaction["sender"] == ghost
    assert reaction["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": original["event_id"],
        "key": "❤",
    }
    server.react(bob, post, None)
    await matrix.wait_for_event(
        dm, lambda e: e["type"] == "m.room.redaction" and e["redacts"] == reaction["event_id"]
    )

    server.set_typing(bob, alice)
    await matrix.wait_for_ephemeral(
        dm, lambda e: e["type"] == "m.typing" and ghost in e["content"]["user_ids"]
    )

    mine = await matrix.send_text(dm, "read me")
    await _last_post(telegram, bob, alice, "read me")
    server.read_history(bob, alice)
    await matrix.wait_for_ephemeral(
        dm,
        lambda e: (
            e["type"] == "m.receipt" and ghost in e["content"].get(mine, {}).get("m.read", {})
        ),
    )

    server.delete_messages([post])
    await matrix.wait_for_event(
        dm, lambda e: e["type"] == "m.room.redaction" and e["redacts"] == original["event_id"]
    )


async def test_photos_both_ways_and_oversized_files_become_a_notice(
    synapse: Any, telegram_setup: Any, database_url: str, tg_server: Any, matrix_user: Any
) -> None:
    from .conftest import running_bridge

    server = tg_server
    image = png(3, 2)
    async with running_bridge(
        synapse, telegram_setup, database_url, server, core={"bridge.max_media_size": 4096}
    ) as telegram:
        alice = server.create_user("+15550131", "Alice")
        bob = server.create_user("+15550132", "Bob")
        matrix = await matrix_user("alice")
        await phone_login(matrix, telegram, alice)

        server.send_message(bob, alice, "a caption", media=server.upload_photo(image, "image/png"))
        dm, event = await portal_from_message(matrix, telegram, "a caption")
        content = event["content"]
        assert content["msgtype"] == "m.image"
        assert content["filename"] == "photo.png"
        assert content["info"]["mimetype"] == "image/png"
        assert (content["info"]["w"], content["info"]["h"]) == (3, 2)
        assert await matrix.download(content["url"]) == image

        big = server.upload_document(b"x" * 5000, "application/pdf", file_name="report.pdf")
        server.send_message(bob, alice, "", media=big)
        notice = await matrix.wait_for_event(
            dm, lambda e: "report.pdf" in e["content"].get("body", "")
        )
        assert notice["content"]["msgtype"] == "m.notice"
        assert "The file report.pdf is" in notice["content"]["body"]

        upload = png(5, 4)
        await matrix.send_media(dm, upload, "image/png", "dot.png", caption="from Matrix")
        post = await _last_post(telegram, bob, alice, "from Matrix")
        assert isinstance(post.media, types.MessageMediaPhoto)
        assert server.world.files[post.media.photo.id].data == upload

        # A file keeps its name, even one that would not do as a path on disk.
        notes = b"%PDF-1.4 " + bytes(range(256)) * 8
        await matrix.send_media(dm, notes, "application/pdf", "../Q3/notes.pdf", caption="notes")
        post = await _last_post(telegram, bob, alice, "notes")
        assert isinstance(post.media, types.MessageMediaDocument)
        document = post.media.document
        assert document.mime_type == "application/pdf"
        names = [
            a.file_name
            for a in document.attributes
            if isinstance(a, types.DocumentAttributeFilename)
        ]
        assert names == ["../Q3/notes.pdf"]
        assert server.world.files[document.id].data == notes


async def test_start_chat_by_username_or_phone_and_search(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    from .conftest import say

    server = telegram.server
    alice = server.create_user("+15550141", "Alice")
    bob = server.create_user("+15550142", "Bob", "Marley", username="bobmarley")
    robert = server.create_user("+15550143", "Robert", username="bobby_r")
    carol = server.create_user("+15550144", "Carol")
    server.add_contact(alice, robert)
    server.add_contact(alice, carol)
    matrix = await matrix_user("alice")
    management = await phone_login(matrix, telegram, alice)

    contacts = await say(matrix, management, telegram, "list-contacts", "Contacts of")
    lines = contacts["content"]["body"].split("\n")[1:]
    assert [line.split(" (")[0] for line in lines] == ["• Carol", "• Robert"]

    found = await say(matrix, management, telegram, "search bob", "telegram:@bobmarley")
    assert "Robert (telegram:@bobby_r" in found["content"]["body"]
    await say(matrix, management, telegram, "start-chat @nobody_here", "Nobody on")
    await say(matrix, management, telegram, "start-chat t.me/bobmarley", "Started a chat with")
    dm = await matrix.wait_for_invite(timeout=30)
    await matrix.join(dm)
    await matrix.send_text(dm, "hello via start-chat")
    post = await _last_post(telegram, bob, alice, "hello via start-chat")
    assert post.sender is alice
    await say(matrix, management, telegram, "start-chat +1 555 0142", "You already have a chat")


async def test_title_and_member_changes_and_refused_reactions(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    from .conftest import wait_notice

    server = telegram.server
    alice = server.create_user("+15550151", "Alice")
    bob = server.create_user("+15550152", "Bob")
    dave = server.create_user("+15550153", "Dave")
    group = server.create_channel(bob, "Old title", [alice], available_reactions=["👍"])
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, group, "welcome")
    room, welcome = await portal_from_message(matrix, telegram, "welcome")

    server.edit_title(group, "New title", bob)
    await matrix.wait_for_event(
        room, lambda e: e["type"] == "m.room.name" and e["content"].get("name") == "New title"
    )
    server.add_members(group, [dave], bob)
    await matrix.wait_for_event(
        room,
        lambda e: (
            e["type"] == "m.room.member"
            and e.get("state_key") == telegram.ghost(dave)
            and e["content"].get("membership") == "join"
        ),
    )

    await matrix.react(room, welcome["event_id"], "🎉")
    await wait_notice(matrix, room, telegram.bot, "does not allow that reaction")
    await matrix.react(room, welcome["event_id"], "👍")
    post = next(p for p in server.messages(bob, group) if p.text == "welcome")
    await eventually(lambda: _reacted(post, alice, "👍"))


async def test_presence_reaches_the_ghost(telegram: TelegramHarness, matrix_user: Any) -> None:
    server = telegram.server
    alice = server.create_user("+15550161", "Alice")
    bob = server.create_user("+15550162", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "hi")
    await portal_from_message(matrix, telegram, "hi")
    ghost = telegram.ghost(bob)

    async def presence_is(state: str) -> bool:
        path = f"/_matrix/client/v3/presence/{ghost}/status"
        found = await matrix.request("GET", path)
        return found.get("presence") == state

    server.set_online(bob)
    await eventually(lambda: presence_is("online"))
    server.set_online(bob, False)
    await eventually(lambda: presence_is("offline"))


async def test_voice_notes_keep_their_waveform_both_ways_and_gifs_loop(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550151", "Alice")
    bob = server.create_user("+15550152", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "listen to this")
    dm, _ = await portal_from_message(matrix, telegram, "listen to this")

    # Telegram → Matrix: a voice message with its length and waveform.
    levels = bytes([0, 31, 16, 8, 31, 4, 0, 12])
    audio = types.DocumentAttributeAudio(3, voice=True, waveform=utils.encode_waveform(levels))
    server.send_message(
        bob, alice, "", media=server.upload_document(b"OggS-voice", "audio/ogg", attributes=[audio])
    )
    voice = await matrix.wait_for_event(
        dm, lambda e: e["content"].get("msgtype") == "m.audio", timeout=30
    )
    content = voice["content"]
    assert "org.matrix.msc3245.voice" in content
    assert content["org.matrix.msc1767.audio"] == {
        "duration": 3000,
        "waveform": [round(v * 1024 / 31) for v in levels],
    }
    assert await matrix.download(content["url"]) == b"OggS-voice"

    # Telegram → Matrix: a GIF is a silent looping video.
    gif = server.upload_document(
        b"mp4-gif",
        "video/mp4",
        file_name="fun.mp4",
        attributes=[types.DocumentAttributeAnimated(), types.DocumentAttributeVideo(2, 32, 24)],
    )
    server.send_message(bob, alice, "", media=gif)
    looped = await matrix.wait_for_event(dm, lambda e: e["content"].get("fi.mau.gif"), timeout=30)
    assert looped["content"]["msgtype"] == "m.video"
    assert looped["content"]["info"]["fi.mau.loop"] is True

    # Matrix → Telegram: a voice message becomes a voice note with the same shape.
    mxc = await matrix.upload(b"OggS-reply", "audio/ogg", "reply.ogg")
    await matrix.send_event(
        dm,
        "m.room.message",
        {
            "msgtype": "m.audio",
            "body": "Voice message",
            "url": mxc,
            "info": {"mimetype": "audio/ogg", "size": 10, "duration": 4200},
            "org.matrix.msc3245.voice": {},
            "org.matrix.msc1767.audio": {"duration": 4200, "waveform": [0, 1024, 512, 2000, -5]},
        },
    )

    def voice_notes_from_alice() -> list[Post]:
        return [
            p
            for p in server.messages(bob, alice)
            if p.sender is alice and isinstance(p.media, types.MessageMediaDocument)
        ]

    async def voice_note_arrived() -> bool:
        return bool(voice_notes_from_alice())

    await eventually(voice_note_arrived)
    post = voice_notes_from_alice()[0]
    assert post.media.voice
    sent = next(
        a for a in post.media.document.attributes if isinstance(a, types.DocumentAttributeAudio)
    )
    assert (sent.voice, sent.duration) == (True, 4)
    # (5 levels take 4 bytes, which hold a sixth, empty one.)
    assert waveform.unpack(sent.waveform) == [0, 31, 16, 31, 0, 0]
    assert server.world.files[post.media.document.id].data == b"OggS-reply"


def _sticker(emoji: str) -> list[Any]:
    return [
        types.DocumentAttributeSticker(alt=emoji, stickerset=types.InputStickerSetEmpty()),
        types.DocumentAttributeImageSize(512, 512),
    ]


async def test_stickers_static_animated_and_video_play_on_matrix(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550161", "Alice")
    bob = server.create_user("+15550162", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "stickers coming")
    dm, _ = await portal_from_message(matrix, telegram, "stickers coming")

    def send(data: bytes, mime: str, name: str, attributes: list[Any]) -> None:
        document = server.upload_document(data, mime, file_name=name, attributes=attributes)
        server.send_message(bob, alice, "", media=document)

    # An animated (.tgs) sticker becomes an animated WebP that clients play.
    send(tgs(), "application/x-tgsticker", "AnimatedSticker.tgs", _sticker("🎉"))
    animated = await matrix.wait_for_event(dm, lambda e: e["type"] == "m.sticker", timeout=30)
    assert animated["content"]["body"] == "🎉"
    assert animated["content"]["info"]["mimetype"] == "image/webp"
    image = Image.open(io.BytesIO(await matrix.download(animated["content"]["url"])))
    assert image.format == "WEBP" and image.n_frames > 10
    first = image.convert("RGBA")
    image.seek(image.n_frames - 1)
    last = image.convert("RGBA")
    # The square starts on the left and ends on the right (lossy WebP: about red).
    assert is_red(first.getpixel((64, 128))) and not is_red(first.getpixel((192, 128)))
    assert is_red(last.getpixel((192, 128))) and not is_red(last.getpixel((64, 128)))

    # A static sticker is an m.sticker as it is; a video sticker plays like a GIF.
    static = png(8, 8)
    send(static, "image/webp", "sticker.webp", _sticker("👍"))
    plain = await matrix.wait_for_event(
        dm, lambda e: e["type"] == "m.sticker" and e["content"]["body"] == "👍", timeout=30
    )
    assert await matrix.download(plain["content"]["url"]) == static
    video = [*_sticker("🎬"), types.DocumentAttributeVideo(3, 512, 512)]
    send(b"\x1aE\xdf\xa3webm", "video/webm", "sticker.webm", video)
    looping = await matrix.wait_for_event(dm, lambda e: e["content"].get("fi.mau.gif"), timeout=30)
    assert looping["type"] == "m.room.message" and looping["content"]["msgtype"] == "m.video"

    # A broken .tgs arrives as the file it is, not as a broken image.
    send(b"not gzip", "application/x-tgsticker", "Broken.tgs", _sticker("💥"))
    broken = await matrix.wait_for_event(
        dm, lambda e: e["content"].get("msgtype") == "m.file", timeout=30
    )
    assert await matrix.download(broken["content"]["url"]) == b"not gzip"


async def test_calls_and_other_service_messages_become_notices(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550171", "Alice")
    bob = server.create_user("+15550172", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "calling you")
    dm, _ = await portal_from_message(matrix, telegram, "calling you")

    missed = types.PhoneCallDiscardReasonMissed()
    for action in (
        types.MessageActionPhoneCall(call_id=1, reason=missed),
        types.MessageActionPhoneCall(call_id=2, duration=125, video=True),
        types.MessageActionScreenshotTaken(),
        types.MessageActionHistoryClear(),  # nothing to say: not bridged
        types.MessageActionSetMessagesTTL(period=86400),
    ):
        server.actions.send(bob, alice, action=action)
    server.send_message(bob, alice, "after the calls")
    await matrix.wait_for_message(dm, body="after the calls")
    notices = [
        (e["sender"], e["content"]["body"])
        for e in matrix.timeline(dm)
        if e["content"].get("msgtype") == "m.notice"
    ]
    ghost = telegram.ghost(bob)
    assert notices == [
        (ghost, "missed call"),
        (ghost, "video call (2 min)"),
        (ghost, "took a screenshot"),
        (ghost, "set messages to auto-delete after 1 d"),
    ]


async def test_a_matrix_location_becomes_a_telegram_location(
    telegram: TelegramHarness, matrix_user: Any
) -> None:
    server = telegram.server
    alice = server.create_user("+15550181", "Alice")
    bob = server.create_user("+15550182", "Bob")
    matrix = await matrix_user("alice")
    await phone_login(matrix, telegram, alice)
    server.send_message(bob, alice, "where are you?")
    dm, _ = await portal_from_message(matrix, telegram, "where are you?")

    location = {"msgtype": "m.location", "body": "Here", "geo_uri": "geo:52.52,13.405;u=20"}
    await matrix.send_event(dm, "m.room.message", location)

    def geo_posts() -> list[Post]:
        return [
            p
            for p in server.messages(bob, alice)
            if p.sender is alice and isinstance(p.media, types.MessageMediaGeo)
        ]

    async def arrived() -> bool:
        return bool(geo_posts())

    await eventually(arrived)
    point = geo_posts()[0].media.geo
    assert (point.lat, point.long) == (52.52, 13.405)

    await matrix.send_event(dm, "m.room.message", {**location, "geo_uri": "geo:200,13"})
    await wait_notice(matrix, dm, telegram.bot, "This location is not on Earth")
