"""Uploads and downloads: bytes must survive the round trip exactly."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from telethon import errors, events, types
from telethon.tl import functions

from . import TelegramTestServer
from .conftest import ClientFactory, Collector


def make_png(width: int, height: int) -> bytes:
    """A valid grey PNG without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_document_upload_and_download_round_trip(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    server.add_contact(alice, bob)
    server.add_contact(bob, alice)
    data = os.urandom(700 * 1024 + 123)
    sender = await make_client(alice)
    receiver = await make_client(bob)
    await receiver.get_dialogs()
    inbox = Collector()
    receiver.add_event_handler(inbox, events.NewMessage(incoming=True))

    file = io.BytesIO(data)
    file.name = "report.bin"
    await sender.send_file(bob.id, file, caption="the report", force_document=True)

    [post] = server.messages(bob, alice)
    assert post.text == "the report"
    stored = server.world.files[post.media.document.id]
    assert stored.data == data
    event = await inbox.next()
    assert event.file.name == "report.bin" and event.file.size == len(data)
    assert await receiver.download_media(event.message, file=bytes) == data


async def test_photo_from_a_simulated_user(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    png = make_png(40, 30)
    client = await make_client(alice)
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))

    server.send_message(bob, alice, "look", media=server.upload_photo(png, "image/png"))
    event = await inbox.next()

    assert isinstance(event.media, types.MessageMediaPhoto)
    assert (event.file.width, event.file.height) == (40, 30)
    assert await client.download_media(event.message, file=bytes) == png


async def test_photo_upload_from_the_client(
    server: TelegramTestServer, make_client: ClientFactory, tmp_path: Path
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    path = tmp_path / "pic.png"
    path.write_bytes(make_png(8, 8))
    client = await make_client(alice)

    sent = await client.send_file("bobby", path)

    assert isinstance(sent.media, types.MessageMediaPhoto)
    [post] = server.messages(bob, alice)
    stored = server.world.files[post.media.photo.id]
    # Telethon may re-encode the picture before upload; what was stored comes back.
    assert stored.kind == "photo" and len(stored.data) > 0
    assert await client.download_media(sent, file=bytes) == stored.data


async def test_voice_note_attributes_survive(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    client = await make_client(alice)
    audio = io.BytesIO(os.urandom(5000))
    audio.name = "voice.ogg"

    await client.send_file(
        "bobby",
        audio,
        voice_note=True,
        attributes=[types.DocumentAttributeAudio(duration=3, voice=True, waveform=b"\x01\x02")],
    )

    [post] = server.messages(bob, alice)
    assert post.media.voice
    [attr] = [
        a for a in post.media.document.attributes if isinstance(a, types.DocumentAttributeAudio)
    ]
    assert attr.duration == 3 and attr.waveform == b"\x01\x02"


async def test_expired_file_reference(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    document = server.upload_document(b"abc" * 100, "text/plain", file_name="a.txt")
    server.send_message(bob, alice, "file", media=document)
    server.send_message(bob, alice, "photo", media=server.upload_photo(make_png(4, 4)))
    server.add_contact(alice, bob)
    client = await make_client(alice)
    photo_msg, doc_msg = await client.get_messages(bob.id, limit=2)

    server.expire_file_references()
    # Telethon refetches the message for documents by itself...
    calls_before = len(server.calls)
    assert await client.download_media(doc_msg, file=bytes) == b"abc" * 100
    assert any(
        isinstance(r, functions.messages.GetMessagesRequest) for _, r in server.calls[calls_before:]
    )
    # ...but not for photos: the caller must fetch the message again.
    with pytest.raises(errors.FileReferenceExpiredError):
        await client.download_media(photo_msg, file=bytes)
    [fresh] = await client.get_messages(bob.id, ids=[photo_msg.id])
    assert await client.download_media(fresh, file=bytes) == make_png(4, 4)


@pytest.mark.slow
async def test_big_file_uses_save_big_file_part(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob", username="bobby")
    data = os.urandom(10 * 1024 * 1024 + 5)
    client = await make_client(alice)
    file = io.BytesIO(data)
    file.name = "big.bin"

    sent = await client.send_file("bobby", file, force_document=True)

    assert any(isinstance(r, functions.upload.SaveBigFilePartRequest) for _, r in server.calls)
    [post] = server.messages(bob, alice)
    assert post.media.document.size == len(data)
    downloaded = await client.download_media(sent, file=bytes)
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(data).digest()
