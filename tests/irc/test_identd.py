"""The optional ident server answers for the bridge's own IRC connections only."""

from __future__ import annotations

import asyncio
from typing import Any

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector

from .conftest import NETWORK, IRCHarness, irc_log_in, irc_overrides, unique


async def _ask(port: int, query: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(query.encode() + b"\r\n")
    answer = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return answer.decode().rstrip("\r\n")


async def test_identd_names_the_user_of_a_bridge_connection(
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    inspircd: InspIRCdServer,
    matrix_user: Any,
) -> None:
    overrides = irc_overrides(inspircd)
    overrides["network.identd"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
    connector = IRCConnector()
    async with run_bridge(connector, irc_setup, synapse, database_url, overrides) as bridge:
        harness = IRCHarness(bridge, irc_setup, synapse, database_url, inspircd)
        alice = await matrix_user("alice")
        nick = unique("al")
        await irc_log_in(alice, harness, nick)
        conn = connector.clients[f"{NETWORK}/{nick}"].conn  # type: ignore[index]
        assert conn is not None and conn.ports is not None
        local, remote = conn.ports
        port = connector.identd_port
        assert await _ask(port, f"{local} , {remote}") == (
            f"{local}, {remote} : USERID : UNIX : {conn.ident}"
        )
        assert await _ask(port, f"{local}, {remote + 1}") == (
            f"{local}, {remote + 1} : ERROR : NO-USER"
        )
        assert await _ask(port, "nonsense") == "nonsense : ERROR : INVALID-PORT"
