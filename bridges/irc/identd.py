"""An ident server (RFC 1413) for networks that want one.

Some IRC networks ask the connecting host, on TCP port 113, which local user owns the
connection, and refuse or mark connections without an answer. The bridge can answer
for its own connections: a query ``<local port>, <remote port>`` that matches one of
its logins' connections gets that connection's user name; anything else gets
``NO-USER``. Port 113 needs privileges; run it on a high port and forward 113 to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterable

from .protocol import IRCConnection

log = logging.getLogger("bridgekit.irc.identd")

_QUERY = re.compile(r"^\s*(\d{1,5})\s*,\s*(\d{1,5})\s*$")
_MAX_QUERY = 1000


class Identd:
    """Answers ident queries about the connections ``connections()`` lists."""

    def __init__(self, connections: Callable[[], Iterable[IRCConnection]]) -> None:
        self.connections = connections
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: any free port); returns the port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("Ident server listening on %s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def answer(self, query: str) -> str:
        """The reply line to one query line (without CR LF)."""
        match = _QUERY.match(query)
        if match is None:
            return f"{query.strip()[:40]} : ERROR : INVALID-PORT"
        local, remote = int(match.group(1)), int(match.group(2))
        for conn in self.connections():
            if conn.connected and conn.ports == (local, remote):
                return f"{local}, {remote} : USERID : UNIX : {conn.ident}"
        return f"{local}, {remote} : ERROR : NO-USER"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                line = await reader.readline()
            if line and len(line) <= _MAX_QUERY:
                writer.write(self.answer(line.decode(errors="replace")).encode() + b"\r\n")
                await writer.drain()
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
