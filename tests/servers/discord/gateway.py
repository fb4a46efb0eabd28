"""The gateway websocket: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, dispatch
fan-out with intents, RESUME with replay, INVALID_SESSION, close codes, and the gateway
faults (dropped socket, forced close, RECONNECT, rejected intents, withheld ACKs).

Frames are JSON text, or zlib-stream compressed binary when the client asks for
``compress=zlib-stream`` (discord.py does, and accepts either).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any

from aiohttp import WSMsgType, web

from . import wire
from .entities import Account
from .events import Disconnect, Event, WorldSignal, content_visible, strip_message_content
from .gateway_session import GatewayConnection, GatewayRecord, GatewaySession
from .protocol import (
    ALL_INTENTS,
    PRIVILEGED_INTENTS,
    CloseCode,
    Intents,
    OpCode,
    application_flags_for,
)
from .world import World

log = logging.getLogger("bridgekit.testserver.discord.gateway")

#: Client close codes after which Discord forgets the session (no RESUME possible).
_SESSION_ENDING_CLOSES = frozenset({1000, 1001})
#: Server close codes that end the session: fatal ones and "session timed out".
_SESSION_ENDING_SERVER_CLOSES = frozenset({1000, 1001, 4004, 4009, 4010, 4011, 4012, 4013, 4014})


class Gateway:
    """Serves gateway websockets for a :class:`World` and fans its events out.

    ``heartbeat_interval`` is in seconds (HELLO carries milliseconds).
    ``identify_interval`` > 0 enforces max_concurrency 1: an IDENTIFY sooner than that
    after the account's previous one gets INVALID_SESSION, as on Discord.
    ``session_start_limit`` IDENTIFYs are allowed per account; the next one resets the
    bot's token and closes with 4004, which is what Discord does to identify storms.
    ``client_frame_limit`` frames per ``client_frame_window`` seconds, else 4008.
    """

    def __init__(
        self,
        world: World,
        *,
        heartbeat_interval: float = 41.25,
        buffer_size: int = 2000,
        resume_window: float | None = None,
        identify_interval: float = 0.0,
        session_start_limit: int = 1000,
        client_frame_limit: int = 120,
        client_frame_window: float = 60.0,
    ) -> None:
        self.world = world
        self.heartbeat_interval = heartbeat_interval
        self.buffer_size = buffer_size
        self.resume_window = resume_window
        self.identify_interval = identify_interval
        self.session_start_limit = session_start_limit
        self.client_frame_limit = client_frame_limit
        self.client_frame_window = client_frame_window
        self.public_url = "ws://127.0.0.1/gateway"
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()
        self.records: list[GatewayRecord] = []
        self.identify_times: dict[int, list[float]] = {}
        self.resume_path = "/gateway/resume"
        self._reject_next_identify: list[int] = []
        self._changed = asyncio.Event()
        world.subscribe(self._on_world_signal)

    # -- records and waiting ----------------------------------------------------------

    def _record(self, record: GatewayRecord) -> None:
        self.records.append(record)
        log.info(
            "%s account=%s session=%s code=%s replayed=%s",
            record.kind,
            record.account_id,
            record.session_id,
            record.code,
            record.replayed,
        )
        self._changed.set()
        self._changed = asyncio.Event()

    def records_of(self, kind: str, account: Account | None = None) -> list[GatewayRecord]:
        """Records of ``kind`` (for ``account`` if given), oldest first."""
        return [
            r
            for r in self.records
            if r.kind == kind and (account is None or r.account_id == account.id)
        ]

    async def wait_for_record(
        self,
        kind: str,
        account: Account | None = None,
        *,
        count: int = 1,
        within: float = 10.0,
    ) -> GatewayRecord:
        """Wait until ``count`` records of ``kind`` exist; return the ``count``-th.

        Raises :class:`TimeoutError` after ``within`` seconds.
        """
        async with asyncio.timeout(within):
            while True:
                found = self.records_of(kind, account)
                if len(found) >= count:
                    return found[count - 1]
                await self._changed.wait()

    def sessions_of(self, account: Account, *, live: bool = True) -> list[GatewaySession]:
        """Sessions of ``account`` (only not-invalidated ones if ``live``)."""
        return [
            s
            for s in self.sessions.values()
            if s.account.id == account.id and not (live and s.invalidated)
        ]

    def connections_of(self, account: Account | None) -> list[GatewayConnection]:
        """Open connections with a session of ``account`` (all if ``None``)."""
        return [
            c
            for c in self.connections
            if c.session is not None and (account is None or c.session.account.id == account.id)
        ]

    # -- fan-out ----------------------------------------------------------------------

    def _on_world_signal(self, signal: WorldSignal) -> None:
        if isinstance(signal, Disconnect):
            for session in self.sessions_of(self.world.account(signal.account_id)):
                self._invalidate(session)
                if session.connection is not None:
                    session.connection.close(signal.code, signal.reason)
            return
        self._fan_out(signal)

    def _event_guild(self, event: Event) -> int | None:
        if event.guild_id is not None:
            return event.guild_id
        if event.channel_id is not None and event.channel_id in self.world.channels:
            return self.world.channels[event.channel_id].guild_id
        return None

    def _fan_out(self, event: Event) -> None:
        guild_id = self._event_guild(event)
        for session in list(self.sessions.values()):
            if session.invalidated or not session.in_shard(guild_id):
                continue
            account = session.account
            if event.intent and not session.intents & event.intent:
                continue
            if not self.world.receives(account, event):
                continue
            data = event.render(account, session.intents)
            if event.content_author_id is not None and not content_visible(
                receiver_id=account.id,
                receiver_is_bot=account.bot,
                has_message_content=bool(session.intents & Intents.MESSAGE_CONTENT),
                author_id=event.content_author_id,
                mentions=event.content_mentions,
                in_guild=guild_id is not None,
            ):
                data = strip_message_content(data)
            session.dispatch(event.name, data)

    def _invalidate(self, session: GatewaySession) -> None:
        session.invalidated = True
        account = session.account
        if not self.sessions_of(account) and account.presence.status != "offline":
            self.world.set_presence(account, "offline")

    # -- websocket handler ------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``/gateway`` and the resume URL."""
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=4096 * 1024)
        await ws.prepare(request)
        compress = request.query.get("compress") == "zlib-stream"
        conn = GatewayConnection(ws, request, compress)
        self.connections.add(conn)
        self._record(GatewayRecord("connect", path=request.path))
        writer = asyncio.create_task(conn.writer())
        try:
            version = request.query.get("v", "10")
            if version not in ("9", "10"):
                conn.close(CloseCode.INVALID_API_VERSION, "Invalid API version")
            elif request.query.get("encoding", "json") != "json":
                conn.close(CloseCode.DECODE_ERROR, "Only JSON encoding is supported")
            else:
                conn.send(OpCode.HELLO, {"heartbeat_interval": int(self.heartbeat_interval * 1000)})
                await self._read_loop(conn)
        finally:
            self._connection_ended(conn)
            if not writer.done():
                conn.close(1000)
                try:
                    await asyncio.wait_for(writer, 3.0)
                except (TimeoutError, asyncio.CancelledError):
                    writer.cancel()
        return ws

    def _connection_ended(self, conn: GatewayConnection) -> None:
        self.connections.discard(conn)
        session = conn.session
        if session is None:
            return
        if session.connection is conn:
            session.connection = None
            session.disconnected_at = time.monotonic()
        if conn.closed_by_server is not None:
            return
        # Closed by the client or lost: Discord ends the session only on 1000/1001.
        code = conn.ws.close_code
        self._record(
            GatewayRecord("disconnected", session.account.id, session.session_id, conn.path, code)
        )
        if code in _SESSION_ENDING_CLOSES and not session.invalidated:
            self._invalidate(session)

    async def _read_loop(self, conn: GatewayConnection) -> None:
        async for msg in conn.ws:
            if msg.type == WSMsgType.BINARY:
                conn.close(CloseCode.DECODE_ERROR, "Binary frames are not accepted")
                return
            if msg.type != WSMsgType.TEXT:
                continue
            if not conn.count_frame(self.client_frame_limit, self.client_frame_window):
                conn.close(CloseCode.RATE_LIMITED, "You are being rate limited.")
                return
            try:
                frame = json.loads(msg.data)
                raw_op = frame["op"]
            except (ValueError, KeyError, TypeError):
                conn.close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
                return
            try:
                op = OpCode(raw_op)
            except ValueError:
                conn.close(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")
                return
            conn.received_ops.append(int(op))
            if not self._handle_frame(conn, op, frame.get("d")):
                return

    def _handle_frame(self, conn: GatewayConnection, op: OpCode, data: Any) -> bool:
        """Handle one client frame; False once the connection is being closed."""
        if op == OpCode.HEARTBEAT:
            if conn.ack_heartbeats:
                conn.send(OpCode.HEARTBEAT_ACK, None)
            return True
        if op == OpCode.IDENTIFY:
            return self._identify(conn, data or {})
        if op == OpCode.RESUME:
            return self._resume(conn, data or {})
        if conn.session is None:
            conn.close(CloseCode.NOT_AUTHENTICATED, "Not authenticated.")
            return False
        if op == OpCode.PRESENCE_UPDATE:
            self._presence(conn.session, data or {})
            return True
        if op == OpCode.REQUEST_GUILD_MEMBERS:
            self._request_members(conn.session, data or {})
            return True
        if op == OpCode.VOICE_STATE_UPDATE:
            return True
        conn.close(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")
        return False

    # -- identify and resume ----------------------------------------------------------

    def _reject(
        self, conn: GatewayConnection, code: CloseCode, reason: str, account: Account | None
    ) -> bool:
        account_id = account.id if account is not None else None
        self._record(GatewayRecord("closed", account_id, path=conn.path, code=int(code)))
        conn.close(code, reason)
        return False

    def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> bool:
        if conn.session is not None:
            return self._reject(
                conn,
                CloseCode.ALREADY_AUTHENTICATED,
                "Already authenticated.",
                conn.session.account,
            )
        account = self.world.account_by_token(str(data.get("token", "")))
        if account is None:
            return self._reject(
                conn, CloseCode.AUTHENTICATION_FAILED, "Authentication failed.", None
            )
        if self._reject_next_identify:
            code = self._reject_next_identify.pop(0)
            return self._reject(conn, CloseCode(code), "Rejected by fault injection.", account)
        intents = data.get("intents")
        if not account.bot:
            intents = ALL_INTENTS if intents is None else int(intents)
        elif not isinstance(intents, int) or intents & ~ALL_INTENTS:
            return self._reject(conn, CloseCode.INVALID_INTENTS, "Invalid intent(s).", account)
        elif intents & PRIVILEGED_INTENTS:
            app = self.world.application_of(account)
            enabled = app.privileged_intents if app else 0
            if intents & PRIVILEGED_INTENTS & ~enabled:
                return self._reject(
                    conn, CloseCode.DISALLOWED_INTENTS, "Disallowed intent(s).", account
                )
        shard = data.get("shard")
        if shard is not None:
            try:
                shard_id, count = int(shard[0]), int(shard[1])
            except (TypeError, ValueError, IndexError):
                shard_id, count = -1, 0
            if count < 1 or not 0 <= shard_id < count:
                return self._reject(conn, CloseCode.INVALID_SHARD, "Invalid shard.", account)
        now = time.monotonic()
        previous = self.identify_times.setdefault(account.id, [])
        if len(previous) >= self.session_start_limit:
            log.warning("account %s exceeded its session start limit; resetting token", account.id)
            self._record(GatewayRecord("closed", account.id, path=conn.path, code=4004))
            self.world.reset_token(account)
            conn.close(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
            return False
        if previous and self.identify_interval and now - previous[-1] < self.identify_interval:
            self._record(GatewayRecord("invalid_session", account.id, path=conn.path))
            conn.send(OpCode.INVALID_SESSION, False)
            return True
        previous.append(now)
        session = GatewaySession(
            secrets.token_hex(16),
            account,
            int(intents),
            (shard_id, count) if shard is not None else None,
            self.buffer_size,
        )
        self.sessions[session.session_id] = session
        session.connection = conn
        conn.session = session
        properties = data.get("properties")
        self._record(
            GatewayRecord(
                "identify",
                account.id,
                session.session_id,
                conn.path,
                intents=int(intents),
                properties=dict(properties) if isinstance(properties, dict) else None,
            )
        )
        self._send_ready(session)
        presence = data.get("presence") or {}
        self.world.set_presence(
            account, presence.get("status") or "online", activities=presence.get("activities")
        )
        return True

    def _send_ready(self, session: GatewaySession) -> None:
        account = session.account
        guilds = [g for g in self.world.guilds_of(account) if session.in_shard(g.id)]
        app = self.world.application_of(account)
        ready: dict[str, Any] = {
            "v": 10,
            "user": wire.current_user(account),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.public_url.rsplit("/gateway", 1)[0] + self.resume_path,
            "private_channels": (
                []
                if account.bot
                else [
                    wire.channel(self.world, ch) for ch in self.world.private_channels_of(account)
                ]
            ),
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": ["local"],
            "auth": {},
            "_trace": ['["bridgekit-discord-testserver",{"micros":0}]'],
        }
        if app is not None:
            ready["application"] = {
                "id": str(app.id),
                "flags": application_flags_for(app.privileged_intents),
            }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        session.dispatch("READY", ready)
        if session.intents & Intents.GUILDS:
            for guild in guilds:
                session.dispatch(
                    "GUILD_CREATE",
                    wire.guild_create(self.world, guild, account, session.intents),
                )

    def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> bool:
        account = self.world.account_by_token(str(data.get("token", "")))
        if account is None:
            return self._reject(
                conn, CloseCode.AUTHENTICATION_FAILED, "Authentication failed.", None
            )
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        replay = None
        if (
            session is not None
            and not session.invalidated
            and session.account.id == account.id
            and isinstance(seq, int)
        ):
            expired = (
                self.resume_window is not None
                and session.disconnected_at is not None
                and time.monotonic() - session.disconnected_at > self.resume_window
            )
            replay = None if expired else session.replay_after(seq)
        if session is None or replay is None:
            if session is not None and session.account.id == account.id:
                self._invalidate(session)
            self._record(
                GatewayRecord("resume_failed", account.id, str(data.get("session_id")), conn.path)
            )
            conn.send(OpCode.INVALID_SESSION, False)
            return True
        if session.connection is not None and session.connection is not conn:
            session.connection.close(CloseCode.UNKNOWN_ERROR, "Session resumed elsewhere.")
        session.connection = conn
        session.disconnected_at = None
        conn.session = session
        for frame in replay:
            conn.send_raw(frame)
        self._record(
            GatewayRecord("resume", account.id, session.session_id, conn.path, replayed=len(replay))
        )
        session.dispatch("RESUMED", {"_trace": ['["bridgekit-discord-testserver"]']})
        return True

    # -- other client ops -------------------------------------------------------------

    def _presence(self, session: GatewaySession, data: dict[str, Any]) -> None:
        status = data.get("status") or "online"
        if status == "invisible":
            status = "offline"
        self.world.set_presence(session.account, status, activities=data.get("activities"))

    def _request_members(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild_ids = data.get("guild_id")
        if not isinstance(guild_ids, list):
            guild_ids = [guild_ids]
        query = data.get("query")
        user_ids = {int(u) for u in data.get("user_ids") or []}
        limit = int(data.get("limit") or 0)
        may_list = bool(session.intents & Intents.GUILD_MEMBERS)
        for raw_gid in guild_ids:
            guild = self.world.guilds.get(int(raw_gid))
            if guild is None or session.account.id not in guild.members:
                continue
            members = list(guild.members.values())
            if user_ids:
                members = [m for m in members if m.user_id in user_ids]
            elif query:
                members = [
                    m
                    for m in members
                    if self.world.accounts[m.user_id].username.lower().startswith(query.lower())
                ]
            elif not may_list:
                members = []
            if limit:
                members = members[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": [wire.member(self.world, m) for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [str(u) for u in user_ids if u not in guild.members],
            }
            if data.get("presences") and session.intents & Intents.GUILD_PRESENCES:
                chunk["presences"] = [
                    wire.presence(self.world.accounts[m.user_id], None) for m in members
                ]
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # -- faults -----------------------------------------------------------------------

    def _targets(self, account: Account | None) -> list[GatewayConnection]:
        targets = self.connections_of(account)
        if not targets:
            raise LookupError("no connected gateway session for that account")
        return targets

    def drop(self, account: Account | None = None) -> None:
        """Cut the TCP connection(s) of ``account`` without a close frame (network loss).
        The session stays resumable; dispatches until the RESUME are buffered."""
        for conn in self._targets(account):
            session = conn.session
            assert session is not None
            session.connection = None
            session.disconnected_at = time.monotonic()
            self._record(GatewayRecord("dropped", session.account.id, session.session_id))
            conn.abort()

    def close(self, account: Account | None, code: int, reason: str = "") -> None:
        """Close the connection(s) of ``account`` with ``code`` (4000 and 4009 ask the
        client to reconnect; 4004 and 4010-4014 are fatal). 4009 ends the session."""
        for conn in self._targets(account):
            session = conn.session
            assert session is not None
            session.connection = None
            session.disconnected_at = time.monotonic()
            if code in _SESSION_ENDING_SERVER_CLOSES:
                self._invalidate(session)
            self._record(GatewayRecord("closed", session.account.id, session.session_id, code=code))
            conn.close(code, reason)

    def request_reconnect(self, account: Account | None = None) -> None:
        """Send op 7 RECONNECT: the client should close and RESUME."""
        for conn in self._targets(account):
            assert conn.session is not None
            self._record(
                GatewayRecord("reconnect", conn.session.account.id, conn.session.session_id)
            )
            conn.send(OpCode.RECONNECT, None)

    def invalidate_session(
        self, account: Account | None = None, *, resumable: bool = False
    ) -> None:
        """Send op 9 INVALID_SESSION; unless ``resumable`` the session is gone and the
        client must IDENTIFY anew."""
        for conn in self._targets(account):
            session = conn.session
            assert session is not None
            if not resumable:
                self._invalidate(session)
            self._record(GatewayRecord("invalid_session", session.account.id, session.session_id))
            conn.send(OpCode.INVALID_SESSION, resumable)

    def reject_next_identify(
        self, code: int = CloseCode.DISALLOWED_INTENTS, times: int = 1
    ) -> None:
        """Close the next ``times`` IDENTIFYs with ``code`` (default 4014)."""
        self._reject_next_identify.extend([int(code)] * times)

    def withhold_heartbeat_acks(
        self, account: Account | None = None, withhold: bool = True
    ) -> None:
        """Stop (or resume) answering heartbeats, making the connection look zombied."""
        for conn in self._targets(account):
            conn.ack_heartbeats = not withhold

    async def shutdown(self) -> None:
        """Close every connection with 1001 (going away)."""
        for conn in list(self.connections):
            conn.close(1001, "Server shutting down")
        for _ in range(50):
            if not self.connections:
                return
            await asyncio.sleep(0.02)
