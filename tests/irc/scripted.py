"""A scripted IRC server for what InspIRCd cannot show: SASL, fatal replies, chathistory,
TLS client certificates, silent servers. Each accepted connection runs a test's script
against a :class:`Peer` that reads and writes real IRC lines."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable

import irctokens

Script = Callable[["Peer"], Awaitable[None]]


class Peer:
    """One client connection as the server sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[irctokens.Line] = []
        self.nick = "*"

    async def line(self, timeout: float = 5.0) -> irctokens.Line:
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.reader.readuntil(b"\n")
                text = raw.decode().rstrip("\r\n")
                if text:
                    line = irctokens.tokenise(text)
                    self.received.append(line)
                    return line

    async def until(self, command: str, timeout: float = 5.0) -> irctokens.Line:
        while True:
            line = await self.line(timeout)
            if line.command == command:
                return line
            if line.command == "NICK":
                self.nick = line.params[0]

    def send(self, *lines: str) -> None:
        for text in lines:
            self.writer.write(text.encode() + b"\r\n")

    async def negotiate(self, caps: str = "server-time batch", ack: bool = True) -> None:
        """Answer CAP LS with ``caps`` and ACK (or NAK) what the client requests."""
        await self.until("CAP")
        self.send(f":srv CAP * LS :{caps}")
        while True:
            line = await self.line()
            if line.command == "NICK":
                self.nick = line.params[0]
            if line.command == "CAP" and line.params[0] == "REQ":
                verdict = "ACK" if ack else "NAK"
                self.send(f":srv CAP {self.nick} {verdict} :{line.params[1]}")
            if line.command == "CAP" and line.params[0] == "END":
                return
            if line.command == "AUTHENTICATE":
                return  # the script continues the SASL exchange

    def welcome(self, isupport: str = "CHANTYPES=# NETWORK=Scripted") -> None:
        self.send(
            f":srv 001 {self.nick} :Welcome",
            f":srv 005 {self.nick} {isupport} :are supported",
            f":srv 376 {self.nick} :End of MOTD",
        )

    async def closed(self, timeout: float = 5.0) -> None:
        """Wait until the client QUITs or closes the connection (or ``timeout``)."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            async with asyncio.timeout(timeout):
                while (await self.line(timeout)).command != "QUIT":
                    pass


class ScriptedServer:
    """Listens on 127.0.0.1 and runs ``script`` for every connection."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self.peers:
            peer.writer.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        self.peers.append(peer)
        try:
            await self.script(peer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as e:  # surfaced by the test through .errors
            self.errors.append(e)
        finally:
            writer.close()
