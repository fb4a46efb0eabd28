"""The gateway as a user account: one websocket that survives drops.

HELLO → IDENTIFY (the user token, a browser's properties, no intents: user sessions
get every event of their account) → READY with the private channels. Heartbeats go
out every ``heartbeat_interval``; a heartbeat that was never acknowledged means a
dead connection, which is closed and RESUMEd. After a drop the session is RESUMEd at
READY's ``resume_gateway_url`` and Discord replays what was missed; when it cannot
be resumed (INVALID_SESSION, close 4007/4009) the client IDENTIFYs anew. Reconnects
wait with exponential backoff and jitter; close 4004 (the token was refused) stops
for good with ``TokenRefused``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any

import aiohttp
import yarl

from .models import ConnectionLost, GatewayEvent, parse_dispatch
from .rest import USER_AGENT, TokenRefused

log = logging.getLogger("bridgekit.discord.useraccount.gateway")

EventHandler = Callable[[GatewayEvent], Awaitable[None]]

#: What a browser tab of Discord's web client says about itself.
PROPERTIES = {
    "os": "Linux",
    "browser": "Chrome",
    "device": "",
    "system_locale": "en-US",
    "browser_user_agent": USER_AGENT,
    "browser_version": "126.0",
    "os_version": "",
    "referrer": "",
    "referring_domain": "",
    "release_channel": "stable",
}


class Op(IntEnum):
    """Gateway opcodes the client uses."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    RESUME = 6
    RECONNECT = 7
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


#: Close codes after which the session cannot be resumed (invalid seq, timed out).
_SESSION_LOST = frozenset({4007, 4009})
#: Close codes that no retry can fix (besides 4004, the token).
_FATAL = frozenset({4010, 4011, 4012, 4013, 4014})
#: The close code the client uses to leave a session resumable.
_RESUMABLE_CLOSE = 4000


class GatewayRefused(Exception):
    """Discord closed the gateway with a code that retrying cannot fix."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the gateway closed with code {code}")
        self.code = code


class UserGateway:
    """A user account's gateway connection. :meth:`run` keeps it up until
    :meth:`stop`; events go to ``on_event`` in the order Discord sent them."""

    def __init__(
        self,
        url: str,
        token: str,
        on_event: EventHandler,
        *,
        first_retry: float = 1.0,
        max_retry: float = 120.0,
    ) -> None:
        self.url = url
        self._token = token
        self._on_event = on_event
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.session_id: str | None = None
        self.resume_url: str | None = None
        self.seq: int | None = None
        self._stopping = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._acked = True
        self._live = False
        self._pause = 0.0

    async def run(self) -> None:
        """Connect, and reconnect after every drop, until :meth:`stop`. Raises
        ``TokenRefused`` (close 4004) or ``GatewayRefused`` (another fatal close)."""
        delay = self.first_retry
        async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as http:
            while not self._stopping.is_set():
                self._live = False
                try:
                    reason = await self._connect_once(http)
                except (aiohttp.ClientError, OSError, TimeoutError) as e:
                    reason = f"{type(e).__name__}: {e}"
                if self._stopping.is_set():
                    return
                if self._live:
                    delay = self.first_retry
                await self._emit(ConnectionLost(reason))
                wait = max(delay * random.uniform(0.5, 1.5), self._pause)
                self._pause = 0.0
                log.info("Gateway connection lost (%s); reconnecting in %.1f s", reason, wait)
                try:
                    await asyncio.wait_for(self._stopping.wait(), wait)
                    return
                except TimeoutError:
                    delay = min(delay * 2, self.max_retry)

    async def stop(self) -> None:
        """Close the connection (ending the session) and make :meth:`run` return."""
        self._stopping.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close(code=1000)

    # One connection ----------------------------------------------------------------

    async def _connect_once(self, http: aiohttp.ClientSession) -> str:
        """One socket from connect to close; returns why it ended."""
        resuming = self.session_id is not None and self.resume_url is not None
        base = yarl.URL(self.resume_url if resuming and self.resume_url else self.url)
        url = base.with_query(v="10", encoding="json")
        async with http.ws_connect(url, max_msg_size=0, autoping=True) as ws:
            self._ws = ws
            hello = await ws.receive(timeout=30)
            interval = _hello_interval(hello)
            if interval is None:
                return "no HELLO from the gateway"
            self._acked = True
            if resuming:
                await self._send(
                    ws,
                    Op.RESUME,
                    {"token": self._token, "session_id": self.session_id, "seq": self.seq},
                )
            else:
                self.seq = None
                await self._send(ws, Op.IDENTIFY, self._identify())
            beat = asyncio.create_task(self._heartbeat(ws, interval))
            try:
                await self._read(ws)
            finally:
                beat.cancel()
                self._ws = None
            code = ws.close_code
        if self._stopping.is_set():
            return "stopped"
        if code == 4004:
            raise TokenRefused()
        if code in _FATAL:
            raise GatewayRefused(code)
        if code in _SESSION_LOST:
            self.session_id = None
        return f"closed with code {code}"

    def _identify(self) -> dict[str, Any]:
        return {
            "token": self._token,
            "properties": PROPERTIES,
            "presence": {"status": "online", "since": 0, "activities": [], "afk": True},
            "compress": False,
        }

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                payload = json.loads(frame.data)
                op = int(payload["op"])
            except (ValueError, KeyError, TypeError):
                log.warning("Undecodable gateway frame ignored")
                continue
            if op == Op.DISPATCH:
                await self._dispatch(payload)
            elif op == Op.HEARTBEAT:
                await self._send(ws, Op.HEARTBEAT, self.seq)
            elif op == Op.HEARTBEAT_ACK:
                self._acked = True
            elif op == Op.RECONNECT:
                await ws.close(code=_RESUMABLE_CLOSE)
            elif op == Op.INVALID_SESSION:
                if not payload.get("d"):
                    self.session_id = None
                # Discord asks for a random pause of 1 to 5 s before identifying again.
                self._pause = random.uniform(1.0, 5.0)
                await ws.close(code=_RESUMABLE_CLOSE)

    async def _dispatch(self, payload: dict[str, Any]) -> None:
        if isinstance(payload.get("s"), int):
            self.seq = payload["s"]
        name = str(payload.get("t") or "")
        data = payload.get("d")
        if name == "READY" and isinstance(data, dict):
            self.session_id = str(data.get("session_id"))
            self.resume_url = data.get("resume_gateway_url") or self.url
        if name in ("READY", "RESUMED"):
            self._live = True
            log.info("Gateway session %s", "started" if name == "READY" else "resumed")
        try:
            event = parse_dispatch(name, data)
        except (KeyError, ValueError, TypeError):
            log.warning("Malformed %s dispatch ignored", name)
            return
        if event is not None:
            await self._emit(event)

    async def _emit(self, event: GatewayEvent) -> None:
        try:
            await self._on_event(event)
        except Exception:
            # One event the bridge could not handle must not cost the connection.
            log.exception("Handling %s failed", type(event).__name__)

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        await asyncio.sleep(interval * random.random())
        while not ws.closed:
            if not self._acked:
                log.warning("No heartbeat acknowledgement; reconnecting")
                await ws.close(code=_RESUMABLE_CLOSE)
                return
            self._acked = False
            await self._send(ws, Op.HEARTBEAT, self.seq)
            await asyncio.sleep(interval)

    @staticmethod
    async def _send(ws: aiohttp.ClientWebSocketResponse, op: Op, data: Any) -> None:
        await ws.send_str(json.dumps({"op": int(op), "d": data}))


def _hello_interval(frame: aiohttp.WSMessage) -> float | None:
    """The heartbeat interval of a HELLO frame, in seconds."""
    if frame.type != aiohttp.WSMsgType.TEXT:
        return None
    try:
        payload = json.loads(frame.data)
        if payload.get("op") != Op.HELLO:
            return None
        return float(payload["d"]["heartbeat_interval"]) / 1000
    except (ValueError, KeyError, TypeError):
        return None


__all__ = ["GatewayRefused", "UserGateway"]
