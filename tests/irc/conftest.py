"""Fixtures of the IRC tests: protocol connections that are always stopped, and the
IRC bridge running against the session's InspIRCd and Synapse."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pytest

from bridgekit.bridge import Bridge
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer
from bridgekit.testing.wait import eventually as eventually  # re-exported for the suite
from bridges.irc import ids
from bridges.irc.connector import IRCConnector
from bridges.irc.protocol import (
    ConnectionConfig,
    FloodControl,
    IRCConnection,
    IRCEvent,
    ReconnectPolicy,
    ServerAddress,
)

E = TypeVar("E", bound=IRCEvent)

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A nick or channel name no other test uses (nicks stay under NICKLEN)."""
    return f"{prefix}{next(_counter)}{secrets.token_hex(2)}"


async def expect(
    conn: IRCConnection,
    kind: type[E],
    predicate: Callable[[E], bool] = lambda _: True,
    timeout: float = 10.0,
) -> E:
    """Read events from ``conn`` until one of ``kind`` matches ``predicate``."""
    async with asyncio.timeout(timeout):
        while True:
            event = await conn.next_event()
            if isinstance(event, kind) and predicate(event):
                return event


class ConnFactory(Protocol):
    def __call__(self, host: str, port: int, nick: str, **kwargs: Any) -> IRCConnection: ...


@pytest.fixture
async def irc_connect() -> AsyncIterator[ConnFactory]:
    """Create and start IRCConnections (plain TCP, fast reconnects, no flood pacing
    unless ``flood=`` says otherwise); all are stopped when the test ends."""
    connections: list[IRCConnection] = []

    def factory(host: str, port: int, nick: str, **kwargs: Any) -> IRCConnection:
        tls = kwargs.pop("tls", False)
        kwargs.setdefault("flood", FloodControl(enabled=False))
        kwargs.setdefault("reconnect", ReconnectPolicy(initial_delay=0.1, max_delay=0.5))
        config = ConnectionConfig(
            servers=(ServerAddress(host, port, tls=tls),), nick=nick, **kwargs
        )
        conn = IRCConnection(config)
        conn.start()
        connections.append(conn)
        return conn

    yield factory
    await asyncio.gather(*(conn.stop(grace=1.0) for conn in connections))


async def connected(*conns: IRCConnection, timeout: float = 10.0) -> None:
    """Wait until every connection is registered (concurrently: InspIRCd registers
    clients once a second)."""
    async with asyncio.timeout(timeout):
        await asyncio.gather(*(conn.wait_connected() for conn in conns))


# The IRC bridge end to end: InspIRCd ⇄ bridge ⇄ Synapse ⇄ a Matrix test user.

NETWORK = "test"
#: The bridge's ``public_media_url`` in the tests: links to uploads start with it.
PUBLIC_MEDIA = "https://media.bridgekit.test"


class IRCServer(Protocol):
    """Where an IRC server of a test listens (InspIRCd or a scripted one)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


def irc_overrides(server: IRCServer) -> dict[str, Any]:
    """Config values that point the bridge's one network at ``server``, send without
    flood pacing, reconnect within a second, and upload Matrix messages longer than
    three IRC lines."""
    return {
        "network.networks": [
            {
                "id": NETWORK,
                "name": "Test IRC",
                "servers": [{"host": server.host, "port": server.port, "tls": False}],
            }
        ],
        "network.flood": {"enabled": False, "burst": 5, "interval": 0.0},
        "network.reconnect": {"initial_delay": 0.2, "max_delay": 1.0},
        "network.max_lines": 3,
        "bridge.public_media_url": PUBLIC_MEDIA,
    }


@dataclass
class IRCHarness:
    """A running IRC bridge, its IRC server, and what it takes to start it again."""

    bridge: Bridge
    setup: BridgeSetup
    synapse: SynapseServer
    database_url: str
    server: IRCServer

    @property
    def bot(self) -> str:
        return str(self.bridge.bot_mxid)

    def ghost(self, nick: str) -> str:
        """The ghost of an IRC nick (the test nicks fold like ``str.lower``)."""
        return self.bridge.ghost_mxid(ids.user_id(NETWORK, nick.lower()))

    def restart(self) -> AbstractAsyncContextManager[Bridge]:
        """A fresh bridge on the same database (stop the old one first)."""
        return run_bridge(
            IRCConnector(), self.setup, self.synapse, self.database_url, irc_overrides(self.server)
        )


@pytest.fixture
async def irc_bridge(
    synapse: SynapseServer, irc_setup: BridgeSetup, database_url: str, inspircd: InspIRCdServer
) -> AsyncIterator[IRCHarness]:
    """The IRC bridge, configured for the session's InspIRCd, on a fresh database."""
    async with run_bridge(
        IRCConnector(), irc_setup, synapse, database_url, irc_overrides(inspircd)
    ) as bridge:
        yield IRCHarness(bridge, irc_setup, synapse, database_url, inspircd)


BridgeFactory = Callable[[IRCServer], AbstractAsyncContextManager[IRCHarness]]


@pytest.fixture
def irc_bridge_for(
    synapse: SynapseServer, irc_setup: BridgeSetup, database_url: str
) -> BridgeFactory:
    """Run the IRC bridge against another IRC server than the session's:
    ``async with irc_bridge_for(server) as harness``."""

    @asynccontextmanager
    async def start(server: IRCServer) -> AsyncIterator[IRCHarness]:
        async with run_bridge(
            IRCConnector(), irc_setup, synapse, database_url, irc_overrides(server)
        ) as bridge:
            yield IRCHarness(bridge, irc_setup, synapse, database_url, server)

    return start


async def ping_state(client: MatrixTestClient, harness: IRCHarness, room_id: str) -> str:
    """Send ``ping`` to the bot and return the state it reports for the only login."""
    seen = {e.get("event_id") for e in client.timeline(room_id)}
    await client.send_text(room_id, "ping")

    def answer(event: Any) -> bool:
        content = event.get("content", {})
        return (
            event.get("sender") == harness.bot
            and content.get("msgtype") == "m.notice"
            and f"({NETWORK}/" in content.get("body", "")
            and event.get("event_id") not in seen
        )

    event = await client.wait_for_event(room_id, answer)
    return str(event["content"]["body"]).rsplit(": ", 1)[-1]


async def wait_notice(client: MatrixTestClient, room_id: str, sender: str, text: str) -> Any:
    """Wait for a notice from ``sender`` that contains ``text``."""

    def matches(event: Any) -> bool:
        content = event.get("content", {})
        return (
            event.get("sender") == sender
            and content.get("msgtype") == "m.notice"
            and text in content.get("body", "")
        )

    # Generous: the suite shares one homeserver, which may first replay transactions an
    # earlier test's bridge (same registration) did not take before it stopped, and
    # Synapse can hold an event queued during that replay until the next one comes.
    return await client.wait_for_event(room_id, matches, timeout=60)


async def irc_log_in(client: MatrixTestClient, harness: IRCHarness, nick: str) -> str:
    """Log ``client`` in to the test network as ``nick`` through the bot (no SASL);
    returns the management room."""
    bot = harness.bot
    room_id = await client.create_room(invite=[bot], is_direct=True)
    await wait_notice(client, room_id, bot, "management room")
    await client.send_text(room_id, "login")
    await wait_notice(client, room_id, bot, "send your network")
    await client.send_text(room_id, NETWORK)
    await wait_notice(client, room_id, bot, "send your nick")
    await client.send_text(room_id, nick)
    await wait_notice(client, room_id, bot, "send your SASL password")
    await client.send_text(room_id, "-")
    await wait_notice(client, room_id, bot, "Successfully logged in")
    return room_id
