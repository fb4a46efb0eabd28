"""Pointing a stock discord.py at the test server, and running a client in a test.

discord.py keeps its endpoints in class attributes: ``discord.http.Route.BASE`` (REST,
a ``str``), ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (a ``yarl.URL``) and
``discord.asset.Asset.BASE`` (CDN, a ``str``). :func:`use_test_server` swaps them and
restores the previous values on exit. Webhooks made with
``discord.Webhook.partial(id, token, session=...)`` follow ``Route.BASE`` too
(``Webhook.from_url`` only accepts discord.com URLs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import discord
import yarl
from discord.asset import Asset
from discord.gateway import DiscordWebSocket
from discord.http import Route

from .server import DiscordTestServer


@contextlib.contextmanager
def use_test_server(server: DiscordTestServer) -> Iterator[None]:
    """Point every discord.py client in this process at ``server`` while inside."""
    saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY, Asset.BASE)
    Route.BASE = server.api_url
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
    Asset.BASE = server.base_url
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY, Asset.BASE = saved


@contextlib.asynccontextmanager
async def running_client(
    client: discord.Client, token: str, *, ready_within: float = 10.0
) -> AsyncIterator[discord.Client]:
    """Start ``client`` with ``token``, wait for ``on_ready``, close it on exit.

    If the client fails before it is ready (bad token, 4014...) its exception is
    raised here, so ``pytest.raises(discord.PrivilegedIntentsRequired)`` works.
    """
    task = asyncio.create_task(client.start(token))
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=ready_within, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()
            raise RuntimeError("discord client stopped before it was ready")
        if ready not in done:
            raise TimeoutError(f"discord client not ready within {ready_within}s")
        yield client
    finally:
        ready.cancel()
        if not client.is_closed():
            await client.close()
        if not task.done():
            try:
                await asyncio.wait_for(task, 5.0)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        elif not task.cancelled():
            task.exception()
