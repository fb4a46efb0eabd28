"""Fixtures of the Telegram tests: the local MTProto server, and the Telegram bridge
running against it and the session's Synapse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from bridgekit.bridge import Bridge
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.secrets import register_secret
from bridgekit.testing.synapse import SynapseServer
from bridgekit.testing.wait import eventually
from bridges.telegram.connector import TelegramConnector
from tests.servers.telegram import TelegramTestServer, User

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def tg_server() -> AsyncIterator[TelegramTestServer]:
    """A started Telegram test server; fails the test if an RPC crashed inside it."""
    async with TelegramTestServer() as server:
        yield server
        assert server.internal_errors == []


def telegram_overrides(server: TelegramTestServer, **extra: Any) -> dict[str, Any]:
    """Config values that point the bridge at ``server``."""
    values: dict[str, Any] = {
        "network.api_id": API_ID,
        "network.api_hash": API_HASH,
        "network.server.dc_id": server.default_dc,
        "network.server.host": server.host,
        "network.server.port": server.port,
        "network.server.rsa_public_key": server.rsa_key.public_pem,
    }
    values.update({f"network.{key}": value for key, value in extra.items()})
    return values


class TelegramSide(Protocol):
    """What the login helpers need: the bridge's bot and the Telegram server (a
    ``TelegramHarness``, or a bridge running in a child process)."""

    @property
    def bot(self) -> str: ...

    @property
    def server(self) -> TelegramTestServer: ...

    async def connected(self, user: User) -> bool:
        """Whether the bridge's login of ``user`` is connected."""
        ...


@dataclass
class TelegramHarness:
    """A running Telegram bridge, the Telegram server it talks to, and how to restart it."""

    bridge: Bridge
    server: TelegramTestServer
    setup: BridgeSetup
    synapse: SynapseServer
    database_url: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def bot(self) -> str:
        return str(self.bridge.bot_mxid)

    def ghost(self, user: User) -> str:
        return self.bridge.ghost_mxid(str(user.id))  # type: ignore[arg-type]

    async def connected(self, user: User) -> bool:
        login = self.bridge.logins.get(str(user.id))  # type: ignore[call-overload]
        return login is not None and login.state.value == "CONNECTED"

    @asynccontextmanager
    async def restarted(self) -> AsyncIterator[Bridge]:
        """Stop the bridge (if running) and run a new one on the same database."""
        await self.bridge.stop()
        async with run_bridge(
            TelegramConnector(), self.setup, self.synapse, self.database_url, self.overrides
        ) as bridge:
            self.bridge = bridge
            yield bridge


@asynccontextmanager
async def running_bridge(
    synapse: SynapseServer,
    setup: BridgeSetup,
    database_url: str,
    server: TelegramTestServer,
    core: dict[str, Any] | None = None,
    **extra: Any,
) -> AsyncIterator[TelegramHarness]:
    """The Telegram bridge with extra ``network.*`` settings (and core settings by their
    full key in ``core``)."""
    overrides = {**telegram_overrides(server, **extra), **(core or {})}
    async with run_bridge(TelegramConnector(), setup, synapse, database_url, overrides) as bridge:
        yield TelegramHarness(bridge, server, setup, synapse, database_url, overrides)


@pytest.fixture
async def telegram(
    synapse: SynapseServer,
    telegram_setup: BridgeSetup,
    database_url: str,
    tg_server: TelegramTestServer,
) -> AsyncIterator[TelegramHarness]:
    """The Telegram bridge against the test server, on SQLite or PostgreSQL."""
    async with running_bridge(synapse, telegram_setup, database_url, tg_server) as harness:
        yield harness


async def wait_notice(
    client: MatrixTestClient,
    room_id: str,
    sender: str,
    text: str,
    *,
    not_in: set[str] = frozenset(),  # type: ignore[assignment]
) -> Any:
    """Wait for a notice from ``sender`` that contains ``text`` (and whose event ID is
    not in ``not_in``)."""

    def matches(event: Any) -> bool:
        content = event.get("content", {})
        return (
            event.get("sender") == sender
            and event.get("event_id") not in not_in
            and content.get("msgtype") == "m.notice"
            and text in content.get("body", "")
        )

    return await client.wait_for_event(room_id, matches, timeout=60)


async def say(
    client: MatrixTestClient, room_id: str, harness: TelegramSide, text: str, expect: str
) -> Any:
    """Send ``text`` to the bot and wait for its *new* notice containing ``expect``."""
    seen = {str(e.get("event_id")) for e in client.timeline(room_id)}
    await client.send_text(room_id, text)
    return await wait_notice(client, room_id, harness.bot, expect, not_in=seen)


async def open_management_room(client: MatrixTestClient, harness: TelegramSide) -> str:
    """A DM with the bot, as Element makes it; returns once the bot said hello."""
    room_id = await client.create_room(invite=[harness.bot], is_direct=True)
    await wait_notice(client, room_id, harness.bot, "management room")
    return room_id


async def phone_login(
    client: MatrixTestClient,
    harness: TelegramSide,
    user: User,
    *,
    password: str | None = None,
    room_id: str | None = None,
) -> str:
    """Log ``user`` in through the bot with phone and code (and 2FA password); returns
    the management room."""
    server = harness.server
    room_id = room_id or await open_management_room(client, harness)
    await say(client, room_id, harness, "login phone", "send your phone number")
    await say(client, room_id, harness, str(user.phone), "send your login code")
    code = server.login_code(user.phone)
    if password is not None:
        register_secret(password)
        await say(client, room_id, harness, code, "two-step verification password")
        await say(client, room_id, harness, password, "Successfully logged in")
    else:
        await say(client, room_id, harness, code, "Successfully logged in")
    await eventually(lambda: harness.connected(user))
    return room_id


async def portal_from_message(
    client: MatrixTestClient, harness: TelegramSide, text: str
) -> tuple[str, dict[str, Any]]:
    """Accept the invite a remote message caused, and return the room and the message."""
    room_id = await client.wait_for_invite(timeout=30)
    await client.join(room_id)
    event = await client.wait_for_message(room_id, body=text, timeout=30)
    return room_id, event
