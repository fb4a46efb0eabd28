"""One client TCP connection: unencrypted key exchange, MTProto 2.0 encryption, service messages.

Incoming: every packet is decrypted with the auth key it names (``-404`` if the key
is unknown), its plaintext checked against ``msg_key``, and each message (possibly
inside ``msg_container`` or ``gzip_packed``) handled: service messages here, RPC
calls by :func:`.dispatch.dispatch`, each in its own task so a slow call does not
block pings.

Outgoing: messages are queued and flushed by one writer task; everything queued
at the same time goes out as one ``msg_container``. Content-related client
messages are acknowledged (``msgs_ack``) along with the next answer. Server ``msg_id`` values are
odd and time-based (``% 4 == 1`` for responses, ``3`` otherwise), sequence numbers
follow the content-related rule, large bodies are ``gzip_packed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telethon.extensions import BinaryReader
from telethon.tl import functions, types
from telethon.tl.core import GzipPacked, MessageContainer
from telethon.tl.tlobject import TLObject

from .crypto import aes_ige_decrypt, aes_ige_encrypt, auth_key_id, message_aes_key_iv, message_key
from .dispatch import dispatch
from .handshake import HandshakeError, KeyExchange
from .transport import PacketCodec, TransportError, detect_codec, transport_error_payload

if TYPE_CHECKING:
    from .server import TelegramTestServer

log = logging.getLogger("bridgekit.tests.telegram_server.connection")

_GZIP_THRESHOLD = 1024
_CONTAINER_LIMIT = 512 * 1024


@dataclass(eq=False)
class AuthKeyRecord:
    """A permanent auth key the server knows, and the account bound to it (if any)."""

    key: bytes
    dc_id: int
    server_salt: int
    key_id: int = 0
    created: float = field(default_factory=time.time)
    user_id: int | None = None
    # Set when the key was revoked: the 401 error every call then gets.
    revoked_error: str | None = None
    layer: int | None = None
    api_id: int | None = None
    device_model: str = ""
    app_version: str = ""
    # An account that passed the code step and still owes its 2FA password.
    password_pending_user_id: int | None = None

    def __post_init__(self) -> None:
        self.key_id = auth_key_id(self.key)


@dataclass
class _Outgoing:
    body: bytes
    content_related: bool
    response: bool


class MTProtoConnection:
    """Serves one accepted TCP connection until the client leaves or the server drops it."""

    def __init__(
        self,
        server: TelegramTestServer,
        dc_id: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.dc_id = dc_id
        self.codec: PacketCodec | None = None
        self.auth: AuthKeyRecord | None = None
        self.session_id: int | None = None
        # Set by invokeWithoutUpdates: the client does not want pushed updates here.
        self.wants_updates = True
        self._reader = reader
        self._writer = writer
        self._key_exchange: KeyExchange | None = None
        self._outbox: list[_Outgoing] = []
        self._outbox_ready = asyncio.Event()
        self._last_msg_id = 0
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._ping_disconnect: asyncio.TimerHandle | None = None
        self._pending_acks: list[int] = []
        self._ack_timer: asyncio.TimerHandle | None = None

    # -- lifecycle -------------------------------------------------------------

    async def serve(self) -> None:
        """Read and handle packets until EOF, a protocol error or :meth:`close`."""
        writer_task = asyncio.create_task(self._write_loop())
        try:
            self.codec = await detect_codec(self._reader)
            while not self._closed:
                packet = await self.codec.read_packet(self._reader)
                await self._handle_packet(packet)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (TransportError, HandshakeError) as exc:
            log.warning("closing connection: %s", exc)
        except Exception as exc:
            log.exception("connection failed")
            self.server.internal_errors.append(f"connection: {type(exc).__name__}: {exc}")
        finally:
            self._closed = True
            writer_task.cancel()
            for task in list(self._tasks):
                task.cancel()
            if self._ping_disconnect:
                self._ping_disconnect.cancel()
            if self._ack_timer:
                self._ack_timer.cancel()
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self.server.connection_closed(self)

    def close(self) -> None:
        """Drop the connection from the server side (the client sees EOF and reconnects)."""
        self._closed = True
        self._writer.transport.abort()

    @property
    def is_open(self) -> bool:
        """Whether the connection is still being served."""
        return not self._closed

    # -- sending ---------------------------------------------------------------

    def push(self, obj: Any) -> bool:
        """Send a non-response object (``Updates``...); ``False`` if there is no session yet."""
        if self._closed or self.session_id is None or self.auth is None:
            return False
        self._queue(bytes(obj), content_related=True, response=False)
        return True

    def _queue(self, body: bytes, *, content_related: bool, response: bool) -> None:
        if content_related and len(body) > _GZIP_THRESHOLD:
            packed = bytes(GzipPacked(body))
            if len(packed) < len(body):
                body = packed
        self._outbox.append(_Outgoing(body, content_related, response))
        self._outbox_ready.set()

    def send_rpc_result(self, req_msg_id: int, result: bytes) -> None:
        """Queue ``rpc_result`` for a request; large results are gzip-packed inside it."""
        if len(result) > _GZIP_THRESHOLD:
            packed = struct.pack("<I", GzipPacked.CONSTRUCTOR_ID) + TLObject.serialize_bytes(
                gzip.compress(result)
            )
            if len(packed) < len(result):
                result = packed
        body = struct.pack("<Iq", 0xF35C6D01, req_msg_id) + result
        self._outbox.append(_Outgoing(body, content_related=True, response=True))
        self._outbox_ready.set()

    def send_rpc_error(self, req_msg_id: int, code: int, message: str) -> None:
        """Queue ``rpc_result`` carrying ``rpc_error``."""
        error = bytes(types.RpcError(error_code=code, error_message=message))
        self.send_rpc_result(req_msg_id, error)

    def _new_msg_id(self, response: bool) -> int:
        now = time.time()
        msg_id = (int(now) << 32) | (int((now % 1) * (1 << 32)) & ~3)
        msg_id = max(msg_id, (self._last_msg_id & ~3) + 4)
        self._last_msg_id = msg_id
        return msg_id | (1 if response else 3)

    def _next_seq(self, content_related: bool) -> int:
        if content_related:
            self._seq += 1
            return self._seq * 2 - 1
        return self._seq * 2

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._outbox_ready.wait()
                self._outbox_ready.clear()
                while self._outbox and not self._closed:
                    # Everything queued meanwhile leaves together, in one container.
                    self._take_acks()
                    batch: list[_Outgoing] = []
                    size = 0
                    while self._outbox and (
                        not batch or size + len(self._outbox[0].body) < _CONTAINER_LIMIT
                    ):
                        item = self._outbox.pop(0)
                        batch.append(item)
                        size += len(item.body)
                    self._write_encrypted(batch)
                with contextlib.suppress(ConnectionError):
                    await self._writer.drain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("writing to the connection failed")
            self.server.internal_errors.append(f"writer: {type(exc).__name__}: {exc}")
            self.close()

    def _ack_later(self, msg_id: int) -> None:
        # Acks ride along with the next answer, or leave on their own shortly after.
        self._pending_acks.append(msg_id)
        if self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(0.05, self._flush_acks)

    def _flush_acks(self) -> None:
        self._ack_timer = None
        if self._pending_acks and not self._closed:
            self._outbox.append(self._take_acks_item())
            self._outbox_ready.set()

    def _take_acks(self) -> None:
        if self._pending_acks:
            self._outbox.insert(0, self._take_acks_item())

    def _take_acks_item(self) -> _Outgoing:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        ack = types.MsgsAck(msg_ids=self._pending_acks)
        self._pending_acks = []
        return _Outgoing(bytes(ack), content_related=False, response=False)

    def _write_encrypted(self, batch: list[_Outgoing]) -> None:
        assert self.auth is not None and self.session_id is not None and self.codec is not None
        messages = [
            struct.pack(
                "<qii",
                self._new_msg_id(item.response),
                self._next_seq(item.content_related),
                len(item.body),
            )
            + item.body
            for item in batch
        ]
        if len(messages) == 1:
            message = messages[0]
        else:
            container = struct.pack("<Ii", MessageContainer.CONSTRUCTOR_ID, len(messages))
            container += b"".join(messages)
            message = (
                struct.pack("<qii", self._new_msg_id(False), self._next_seq(False), len(container))
                + container
            )
        plain = struct.pack("<qq", self.auth.server_salt, self.session_id) + message
        plain += os.urandom(12 + (-(len(plain) + 12) % 16))
        key = self.auth.key
        msg_key = message_key(key, plain, 8)
        encrypted = aes_ige_encrypt(plain, *message_aes_key_iv(key, msg_key, 8))
        self._write_payload(struct.pack("<Q", self.auth.key_id) + msg_key + encrypted)

    def _write_payload(self, payload: bytes) -> None:
        assert self.codec is not None
        if not self._closed:
            self._writer.write(self.codec.encode_packet(payload))

    # -- receiving -------------------------------------------------------------

    async def _handle_packet(self, packet: bytes) -> None:
        if len(packet) < 8:
            raise TransportError("packet too short")
        (key_id,) = struct.unpack("<Q", packet[:8])
        if key_id == 0:
            await self._handle_plain(packet)
            return
        auth = self.server.auth_keys.get(key_id)
        if auth is None or auth.dc_id != self.dc_id:
            log.info("unknown auth key on DC %d: answering -404", self.dc_id)
            self._write_payload(transport_error_payload(404))
            await self._writer.drain()
            self.close()
            return
        msg_key, encrypted = packet[8:24], packet[24:]
        if len(encrypted) % 16:
            raise TransportError("encrypted payload is not a multiple of 16 bytes")
        plain = aes_ige_decrypt(encrypted, *message_aes_key_iv(auth.key, msg_key, 0))
        if message_key(auth.key, plain, 0) != msg_key:
            raise TransportError("msg_key mismatch")
        _salt, session_id, msg_id, seq_no, length = struct.unpack("<qqqii", plain[:32])
        if not 12 <= len(plain) - 32 - length <= 1024:
            raise TransportError("bad padding length")
        self.auth = auth
        if session_id != self.session_id:
            self.session_id = session_id
            if self.server.register_session(auth, session_id):
                self._queue(
                    bytes(
                        types.NewSessionCreated(
                            first_msg_id=msg_id,
                            unique_id=secrets.randbits(63),
                            server_salt=auth.server_salt,
                        )
                    ),
                    content_related=False,
                    response=False,
                )
        obj = BinaryReader(plain[32 : 32 + length]).tgread_object()
        self._handle_message(msg_id, seq_no, obj)

    async def _handle_plain(self, packet: bytes) -> None:
        (length,) = struct.unpack("<i", packet[16:20])
        request = BinaryReader(packet[20 : 20 + length]).tgread_object()
        if self._key_exchange is None:
            self._key_exchange = KeyExchange(self.server.rsa_key)
        response, new_key = self._key_exchange.handle(request)
        if new_key is not None:
            self.server.add_auth_key(AuthKeyRecord(new_key.key, self.dc_id, new_key.server_salt))
            self._key_exchange = None
        body = bytes(response)
        self._write_payload(struct.pack("<qqi", 0, self._new_msg_id(True), len(body)) + body)
        await self._writer.drain()

    def _handle_message(self, msg_id: int, seq_no: int, obj: Any) -> None:
        if isinstance(obj, MessageContainer):
            for inner in obj.messages:
                self._handle_message(inner.msg_id, inner.seq_no, inner.obj)
        elif isinstance(obj, GzipPacked):
            self._handle_message(msg_id, seq_no, BinaryReader(obj.data).tgread_object())
        elif isinstance(obj, types.MsgsAck | types.HttpWait | types.MsgsAllInfo):
            pass
        elif isinstance(obj, functions.PingRequest | functions.PingDelayDisconnectRequest):
            self._queue(
                bytes(types.Pong(msg_id=msg_id, ping_id=obj.ping_id)),
                content_related=False,
                response=True,
            )
            if isinstance(obj, functions.PingDelayDisconnectRequest):
                self._schedule_ping_disconnect(obj.disconnect_delay)
        elif isinstance(obj, types.MsgsStateReq | types.MsgResendReq):
            info = bytes([1] * len(obj.msg_ids)).decode("latin-1")
            self._queue(
                bytes(types.MsgsStateInfo(req_msg_id=msg_id, info=info)),
                content_related=False,
                response=True,
            )
        elif isinstance(obj, functions.DestroySessionRequest):
            self._queue(
                bytes(types.DestroySessionOk(session_id=obj.session_id)),
                content_related=False,
                response=True,
            )
        elif isinstance(obj, functions.GetFutureSaltsRequest):
            self._queue(bytes(self._future_salts(msg_id)), content_related=False, response=True)
        elif isinstance(obj, functions.DestroyAuthKeyRequest):
            assert self.auth is not None
            self.server.forget_auth_key(self.auth.key_id)
            self._queue(bytes(types.DestroyAuthKeyOk()), content_related=False, response=True)
        elif isinstance(obj, functions.RpcDropAnswerRequest):
            self._queue(bytes(types.RpcAnswerUnknown()), content_related=False, response=True)
        else:
            if seq_no % 2:
                self._ack_later(msg_id)
            task = asyncio.create_task(self._call(msg_id, obj))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _future_salts(self, msg_id: int) -> Any:
        assert self.auth is not None
        now = int(time.time())
        salt = types.FutureSalt(
            valid_since=now - 1800, valid_until=now + 1800, salt=self.auth.server_salt
        )
        return types.FutureSalts(req_msg_id=msg_id, now=now, salts=[salt])

    def _schedule_ping_disconnect(self, delay: int) -> None:
        if self._ping_disconnect:
            self._ping_disconnect.cancel()
        self._ping_disconnect = asyncio.get_running_loop().call_later(delay, self.close)

    async def _call(self, msg_id: int, request: Any) -> None:
        assert self.auth is not None
        result = await dispatch(self.server, self, self.auth, msg_id, request)
        if result is None:
            return
        if isinstance(result, tuple):
            self.send_rpc_error(msg_id, *result)
        else:
            self.send_rpc_result(msg_id, result)
