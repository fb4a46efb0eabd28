"""Files and media: assembling uploaded parts, turning ``InputMedia`` into ``MessageMedia``.

Uploads follow Telegram's rules closely enough to catch client bugs: parts are at
most 512 KiB, ``InputFile.parts`` must match what was uploaded, and a missing part
is ``FILE_PART_<n>_MISSING``. Photos are stored as uploaded (no re-encoding) with
one size, type ``x``, whose dimensions are read from the PNG/JPEG/GIF header.
"""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from telethon.tl import types

from . import render
from .rpc import bad_request
from .world import StoredFile, User, World

MAX_PART_SIZE = 512 * 1024


@dataclass
class PendingUpload:
    """Parts of one ``file_id`` uploaded so far."""

    parts: dict[int, bytes] = field(default_factory=dict)
    total_parts: int | None = None


class Uploads:
    """Upload parts per (account, file_id), assembled when a message uses them."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, int], PendingUpload] = {}

    def save_part(
        self, user: User, file_id: int, part: int, data: bytes, total: int | None = None
    ) -> None:
        """Store one part (``upload.saveFilePart`` / ``upload.saveBigFilePart``)."""
        if len(data) > MAX_PART_SIZE:
            raise bad_request("FILE_PART_TOO_BIG")
        if part < 0 or (total is not None and part >= total):
            raise bad_request("FILE_PART_INVALID")
        pending = self._pending.setdefault((user.id, file_id), PendingUpload())
        pending.parts[part] = data
        if total is not None:
            pending.total_parts = total

    def assemble(self, user: User, input_file: Any) -> bytes:
        """The bytes of an ``InputFile``/``InputFileBig``; consumes the upload."""
        key = (user.id, input_file.id)
        pending = self._pending.get(key)
        if pending is None:
            raise bad_request("FILE_PARTS_INVALID")
        for index in range(input_file.parts):
            if index not in pending.parts:
                raise bad_request(f"FILE_PART_{index}_MISSING")
        if len(pending.parts) != input_file.parts:
            raise bad_request("FILE_PARTS_INVALID")
        data = b"".join(pending.parts[i] for i in range(input_file.parts))
        checksum = getattr(input_file, "md5_checksum", "")
        if checksum and hashlib.md5(data).hexdigest() != checksum:
            raise bad_request("MD5_CHECKSUM_INVALID")
        del self._pending[key]
        return data


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG, GIF or JPEG header; ``(0, 0)`` if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                break
            marker = data[pos + 1]
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return w, h
            pos += 2 + length
    return 0, 0


def store_photo(
    world: World, data: bytes, mime_type: str = "image/jpeg", dc_id: int = 2
) -> StoredFile:
    """Keep image bytes as a photo stored in DC ``dc_id``."""
    width, height = image_size(data)
    return world.add_file(data, mime_type, "photo", width=width, height=height, dc_id=dc_id)


def store_document(
    world: World,
    data: bytes,
    mime_type: str,
    attributes: list[Any],
    file_name: str | None = None,
    dc_id: int = 2,
) -> StoredFile:
    """Keep file bytes as a document, adding a file name attribute if there is none."""
    attributes = list(attributes)
    if file_name and not any(isinstance(a, types.DocumentAttributeFilename) for a in attributes):
        attributes.append(types.DocumentAttributeFilename(file_name=file_name))
    mime_type = mime_type or "application/octet-stream"
    return world.add_file(data, mime_type, "document", attributes=attributes, dc_id=dc_id)


def document_media(stored: StoredFile, spoiler: bool = False) -> Any:
    """``messageMediaDocument`` with the voice/video/round flags its attributes imply."""
    voice = any(isinstance(a, types.DocumentAttributeAudio) and a.voice for a in stored.attributes)
    video_attr = next(
        (a for a in stored.attributes if isinstance(a, types.DocumentAttributeVideo)), None
    )
    return types.MessageMediaDocument(
        document=render.document_of(stored),
        voice=voice or None,
        video=(video_attr is not None) or None,
        round=bool(video_attr and video_attr.round_message) or None,
        spoiler=spoiler or None,
    )


def _stored(world: World, file_id: int, access_hash: int, kind: str) -> StoredFile:
    stored = world.files.get(file_id)
    if stored is None or stored.access_hash != access_hash or stored.kind != kind:
        raise bad_request("MEDIA_INVALID")
    return stored


def media_from_input(world: World, uploads: Uploads, user: User, media: Any, dc_id: int = 2) -> Any:
    """Turn the ``InputMedia`` of ``messages.sendMedia`` into the ``MessageMedia`` stored.

    Uploaded files are stored in ``dc_id``, the DC of the uploading connection.
    """
    if isinstance(media, types.InputMediaUploadedPhoto):
        data = uploads.assemble(user, media.file)
        mime = mimetypes.guess_type(media.file.name)[0] or "image/jpeg"
        return types.MessageMediaPhoto(
            photo=render.photo_of(store_photo(world, data, mime, dc_id)), spoiler=media.spoiler
        )
    if isinstance(media, types.InputMediaUploadedDocument):
        data = uploads.assemble(user, media.file)
        stored = store_document(
            world, data, media.mime_type, media.attributes, media.file.name, dc_id
        )
        return document_media(stored, bool(media.spoiler))
    if isinstance(media, types.InputMediaPhoto):
        if not isinstance(media.id, types.InputPhoto):
            raise bad_request("MEDIA_INVALID")
        stored = _stored(world, media.id.id, media.id.access_hash, "photo")
        return types.MessageMediaPhoto(photo=render.photo_of(stored), spoiler=media.spoiler)
    if isinstance(media, types.InputMediaDocument):
        if not isinstance(media.id, types.InputDocument):
            raise bad_request("MEDIA_INVALID")
        stored = _stored(world, media.id.id, media.id.access_hash, "document")
        return document_media(stored, bool(media.spoiler))
    if isinstance(media, types.InputMediaGeoPoint):
        point = media.geo_point
        return types.MessageMediaGeo(
            geo=types.GeoPoint(long=point.long, lat=point.lat, access_hash=secrets.randbits(63))
        )
    if isinstance(media, types.InputMediaContact):
        contact = world.user_by_phone(media.phone_number)
        return types.MessageMediaContact(
            phone_number=media.phone_number,
            first_name=media.first_name,
            last_name=media.last_name,
            vcard=media.vcard,
            user_id=contact.id if contact else 0,
        )
    if isinstance(media, types.InputMediaDice):
        faces = 64 if media.emoticon == "🎰" else 6
        return types.MessageMediaDice(value=secrets.randbelow(faces) + 1, emoticon=media.emoticon)
    if isinstance(media, types.InputMediaPoll):
        poll = media.poll
        poll.id = secrets.randbits(63)
        return types.MessageMediaPoll(poll=poll, results=types.PollResults())
    raise bad_request("MEDIA_INVALID")
