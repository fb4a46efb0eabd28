"""Fixtures for the Telegram test server's own tests: a server and Telethon clients on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from telethon import TelegramClient
from telethon.sessions.abstract import Session

from . import TelegramTestServer, User

ClientFactory = Callable[..., Awaitable[TelegramClient]]


@pytest.fixture
async def server() -> AsyncIterator[TelegramTestServer]:
    """A started server; fails the test if any RPC crashed inside it."""
    async with TelegramTestServer() as srv:
        yield srv
        assert srv.internal_errors == []


@pytest.fixture
async def make_client(server: TelegramTestServer) -> AsyncIterator[ClientFactory]:
    """Create connected Telethon clients (disconnected again after the test).

    ``await make_client()`` gives an anonymous client, ``await make_client(user)`` one
    already signed in as ``user``; extra keyword arguments go to ``TelegramClient``.
    """
    clients: list[TelegramClient] = []

    async def factory(
        user: User | None = None, session: Session | None = None, **kwargs: Any
    ) -> TelegramClient:
        if session is None:
            session = server.signed_in_session(user) if user else server.new_session()
        kwargs.setdefault("receive_updates", True)
        client = TelegramClient(session, 12345, "0123456789abcdef", **kwargs)
        clients.append(client)
        await client.connect()
        return client

    yield factory
    for client in clients:
        await client.disconnect()


class Collector:
    """Collects what a Telethon event handler receives; ``await next()`` takes one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def __call__(self, event: Any) -> None:
        self.queue.put_nowait(event)

    async def next(self, timeout: float = 5.0) -> Any:
        """The next event, or ``TimeoutError`` after ``timeout`` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def assert_quiet(self, seconds: float = 0.3) -> None:
        """Fail if an event arrives within ``seconds``."""
        await asyncio.sleep(seconds)
        assert self.queue.empty(), f"unexpected event {self.queue.get_nowait()!r}"
