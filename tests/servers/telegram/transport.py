"""MTProto TCP transports, server side: framing of packets on a byte stream.

The transport is detected from the first bytes a client sends
(https://core.telegram.org/mtproto/mtproto-transports):

- ``0xef``: Abridged (length in 4-byte words, 1 or 4 bytes of header);
- ``0xeeeeeeee``: Intermediate (4-byte length);
- ``0xdddddddd``: Padded intermediate (4-byte length, 0-15 random padding bytes);
- anything else: Full (length, sequence number, CRC32).

Obfuscated transports (a 64-byte random header) are not supported.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from typing import ClassVar


class TransportError(Exception):
    """The peer sent bytes that do not form a valid packet; the connection is dropped."""


class PacketCodec:
    """Reads and writes packets of one transport on one connection."""

    name: ClassVar[str] = "abstract"

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        """Read one packet's payload; raises ``asyncio.IncompleteReadError`` at EOF."""
        raise NotImplementedError

    def encode_packet(self, payload: bytes) -> bytes:
        """Frame one payload for sending."""
        raise NotImplementedError


class AbridgedCodec(PacketCodec):
    """Abridged: one length byte (in words) or ``0x7f`` + three length bytes."""

    name = "abridged"

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        length = (await reader.readexactly(1))[0]
        if length >= 0x7F:
            length = int.from_bytes(await reader.readexactly(3), "little")
        return await reader.readexactly(length * 4)

    def encode_packet(self, payload: bytes) -> bytes:
        words = len(payload) // 4
        if words < 0x7F:
            return bytes([words]) + payload
        return b"\x7f" + words.to_bytes(3, "little") + payload


class IntermediateCodec(PacketCodec):
    """Intermediate: a 4-byte little-endian length before every packet."""

    name = "intermediate"

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        (length,) = struct.unpack("<i", await reader.readexactly(4))
        if length <= 0 or length > 16 * 1024 * 1024:
            raise TransportError(f"bad intermediate packet length {length}")
        return await reader.readexactly(length)

    def encode_packet(self, payload: bytes) -> bytes:
        return struct.pack("<i", len(payload)) + payload


class PaddedIntermediateCodec(IntermediateCodec):
    """Padded intermediate: like intermediate, with random padding the reader strips."""

    name = "padded-intermediate"

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        packet = await super().read_packet(reader)
        # MTProto payloads are multiples of 4 bytes: anything beyond is padding.
        return packet[: len(packet) - len(packet) % 4]

    def encode_packet(self, payload: bytes) -> bytes:
        return super().encode_packet(payload + os.urandom(os.urandom(1)[0] % 4))


class FullCodec(PacketCodec):
    """Full: length, per-direction sequence number, payload, CRC32."""

    name = "full"

    def __init__(self, first_length: bytes) -> None:
        self._pending_length: bytes | None = first_length
        self._recv_seq = 0
        self._send_seq = 0

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        if self._pending_length is not None:
            head, self._pending_length = self._pending_length, None
        else:
            head = await reader.readexactly(4)
        (length,) = struct.unpack("<i", head)
        if length < 12 or length > 16 * 1024 * 1024:
            raise TransportError(f"bad full packet length {length}")
        rest = await reader.readexactly(length - 4)
        (seq,) = struct.unpack("<i", rest[:4])
        (crc,) = struct.unpack("<I", rest[-4:])
        if zlib.crc32(head + rest[:-4]) != crc:
            raise TransportError("bad CRC32 in full transport packet")
        if seq != self._recv_seq:
            raise TransportError(f"full transport sequence {seq}, expected {self._recv_seq}")
        self._recv_seq += 1
        return rest[4:-4]

    def encode_packet(self, payload: bytes) -> bytes:
        body = struct.pack("<ii", len(payload) + 12, self._send_seq) + payload
        self._send_seq += 1
        return body + struct.pack("<I", zlib.crc32(body))


async def detect_codec(reader: asyncio.StreamReader) -> PacketCodec:
    """Read the transport tag (or the start of the first Full packet) and pick a codec."""
    first = await reader.readexactly(1)
    if first == b"\xef":
        return AbridgedCodec()
    head = first + await reader.readexactly(3)
    if head == b"\xee\xee\xee\xee":
        return IntermediateCodec()
    if head == b"\xdd\xdd\xdd\xdd":
        return PaddedIntermediateCodec()
    return FullCodec(head)


def transport_error_payload(code: int) -> bytes:
    """The 4-byte payload a server sends instead of a message, e.g. -404 (unknown auth key)."""
    return struct.pack("<i", -code)
