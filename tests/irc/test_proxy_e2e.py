"""A network configured with a SOCKS5 proxy is reached through it, and a bad proxy
setting is refused with a message that says what to write."""

from __future__ import annotations

from typing import Any

import pytest

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector
from bridges.irc.settings import IRCSettings

from .conftest import IRCHarness, irc_log_in, irc_overrides, unique
from .test_transport import Socks5Proxy


async def test_a_network_is_reached_through_its_socks5_proxy(
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    inspircd: InspIRCdServer,
    matrix_user: Any,
) -> None:
    async with Socks5Proxy() as proxy:
        overrides = irc_overrides(inspircd)
        overrides["network.networks"][0]["proxy"] = f"socks5://127.0.0.1:{proxy.port}"
        async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as b:
            harness = IRCHarness(b, irc_setup, synapse, database_url, inspircd)
            alice = await matrix_user("alice")
            await irc_log_in(alice, harness, unique("al"))
        assert (inspircd.host, inspircd.port) in proxy.destinations


@pytest.mark.parametrize("bad", ["127.0.0.1:1080", "ftp://proxy:21", "socks5://no-port", 5])
def test_a_bad_proxy_setting_says_what_to_write(bad: Any) -> None:
    section = {"networks": [{"id": "n", "servers": [{"host": "irc.example"}], "proxy": bad}]}
    with pytest.raises(ValueError, match=r"networks\[0\]\.proxy must be a proxy URL"):
        IRCSettings.parse(section)
