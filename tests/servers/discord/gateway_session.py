"""Gateway sessions and connections.

A *session* is what IDENTIFY creates and RESUME continues: an account, its intents, a
sequence counter and a buffer of the dispatches it was sent. It outlives its websocket
*connection*, so dispatches that happen while the client is disconnected are numbered
and buffered, and a RESUME replays everything after the client's last sequence number.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .entities import Account
from .protocol import OpCode


@dataclass
class GatewayRecord:
    """One thing that happened on the gateway, for tests to assert on.

    ``kind`` is ``connect``, ``identify``, ``resume``, ``resume_failed``,
    ``invalid_session``, ``closed`` (by the server, ``code`` set), ``disconnected``
    (by the client or network, ``code`` as seen), ``dropped`` (fault) or ``reconnect``.
    """

    kind: str
    account_id: int | None = None
    session_id: str | None = None
    path: str = ""
    code: int | None = None
    replayed: int = 0
    intents: int | None = None
    properties: dict[str, Any] | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Close:
    code: int
    reason: str


class GatewayConnection:
    """One websocket. Frames go out through a queue so their order is the order in
    which they were produced, whatever the coroutine that produced them."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, compress: bool) -> None:
        self.ws = ws
        self.path = request.path
        self.transport = request.transport
        self.session: GatewaySession | None = None
        self.ack_heartbeats = True
        self.received_ops: list[int] = []
        self._compressor = zlib.compressobj() if compress else None
        self._outbox: asyncio.Queue[str | _Close] = asyncio.Queue()
        self._recent_frames: deque[float] = deque()
        self.closed_by_server: int | None = None

    def send(self, op: OpCode, data: Any) -> None:
        """Queue a non-dispatch frame (HELLO, HEARTBEAT_ACK, INVALID_SESSION...)."""
        self.send_raw(json.dumps({"op": int(op), "d": data, "s": None, "t": None}))

    def send_raw(self, frame: str) -> None:
        """Queue an already encoded frame."""
        self._outbox.put_nowait(frame)

    def close(self, code: int, reason: str = "") -> None:
        """Queue a close with ``code`` after the frames already queued."""
        if self.closed_by_server is None:
            self.closed_by_server = code
        self._outbox.put_nowait(_Close(code, reason))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a network failure)."""
        if self.transport is not None:
            self.transport.abort()

    def count_frame(self, limit: int, window: float) -> bool:
        """Record a received frame; False if the client exceeded ``limit`` per ``window``."""
        now = time.monotonic()
        self._recent_frames.append(now)
        while self._recent_frames and self._recent_frames[0] < now - window:
            self._recent_frames.popleft()
        return len(self._recent_frames) <= limit

    async def writer(self) -> None:
        """Send queued frames until a close is queued or the socket goes away."""
        while True:
            item = await self._outbox.get()
            if isinstance(item, _Close):
                await self.ws.close(code=item.code, message=item.reason.encode())
                return
            if self.ws.closed:
                return
            try:
                if self._compressor is not None:
                    data = self._compressor.compress(item.encode())
                    data += self._compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return


class GatewaySession:
    """An identified session: sequence numbers, the replay buffer, and maybe a socket.

    ``shard`` is ``(shard_id, shard_count)``; the session then only receives events of
    guilds with ``(guild_id >> 22) % shard_count == shard_id`` (DMs go to shard 0).
    """

    def __init__(
        self,
        session_id: str,
        account: Account,
        intents: int,
        shard: tuple[int, int] | None,
        buffer_size: int,
    ) -> None:
        self.session_id = session_id
        self.account = account
        self.intents = intents
        self.shard = shard
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=buffer_size)
        self.connection: GatewayConnection | None = None
        self.invalidated = False
        self.disconnected_at: float | None = None
        self.dispatched: list[tuple[int, str, dict[str, Any]]] = []

    def in_shard(self, guild_id: int | None) -> bool:
        """Whether events of ``guild_id`` (None: DMs) belong to this session's shard."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id

    def dispatch(self, name: str, data: dict[str, Any]) -> int:
        """Number, buffer and (if connected) send a dispatch; return its sequence."""
        self.seq += 1
        frame = json.dumps({"op": int(OpCode.DISPATCH), "t": name, "s": self.seq, "d": data})
        self.buffer.append((self.seq, frame))
        self.dispatched.append((self.seq, name, data))
        if self.connection is not None:
            self.connection.send_raw(frame)
        return self.seq

    def replay_after(self, seq: int) -> list[str] | None:
        """Buffered frames after ``seq``, or None if some were already evicted."""
        if seq > self.seq:
            return None
        if seq < self.seq and (not self.buffer or self.buffer[0][0] > seq + 1):
            return None
        return [frame for s, frame in self.buffer if s > seq]
