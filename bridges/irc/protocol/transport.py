"""Opening the byte stream to a server: TCP, optionally through SOCKS, optionally TLS."""

from __future__ import annotations

import asyncio
import logging
import ssl

from python_socks.async_.asyncio import Proxy

from .config import ConnectionConfig, ServerAddress

log = logging.getLogger("bridgekit.irc.protocol.transport")

# A single IRC line is at most 8191 bytes of tags plus 512; anything longer without a
# newline is a broken or hostile server, and the reader must not buffer it forever.
STREAM_LIMIT = 64 * 1024


def tls_context(config: ConnectionConfig) -> ssl.SSLContext:
    """The TLS context for ``config``: system CAs (plus ``tls_ca_file``) and hostname
    checks unless ``tls_verify`` is off, and the client certificate if there is one."""
    context = ssl.create_default_context(cafile=config.tls_ca_file)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.client_cert is not None:
        context.load_cert_chain(config.client_cert.certfile, config.client_cert.keyfile)
    return context


async def open_stream(
    config: ConnectionConfig, server: ServerAddress
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``server`` as ``config`` says, within ``config.connect_timeout``.

    Raises ``OSError`` (including ``ssl.SSLError`` and ``TimeoutError``) or a
    ``python_socks`` error when the connection cannot be made.
    """
    context = tls_context(config) if server.tls else None
    server_hostname = server.host if server.tls else None
    async with asyncio.timeout(config.connect_timeout):
        if config.proxy:
            proxy = Proxy.from_url(config.proxy, rdns=True)
            sock = await proxy.connect(server.host, server.port)
            return await asyncio.open_connection(
                sock=sock, ssl=context, server_hostname=server_hostname, limit=STREAM_LIMIT
            )
        return await asyncio.open_connection(
            server.host,
            server.port,
            ssl=context,
            server_hostname=server_hostname,
            limit=STREAM_LIMIT,
        )
