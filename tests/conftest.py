"""Suite-wide fixtures.

The whole test suite shares ONE Synapse (the ``synapse`` fixture of the bridgekit
test kit), and Synapse reads appservice registrations only at start-up. So every
appservice registration any test of the suite needs is listed in
``bridgekit_registrations`` below, with its port and tokens decided before Synapse
starts.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

import pytest

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.loopback import LoopbackConnector
from bridgekit.testing.synapse import free_port
from bridges.discord.connector import DiscordConnector
from bridges.irc.connector import IRCConnector
from bridges.telegram.connector import TelegramConnector


class KitAppservice(NamedTuple):
    """An appservice registration together with the port its HTTP server must use."""

    registration: dict[str, Any]
    port: int

    @property
    def as_token(self) -> str:
        return str(self.registration["as_token"])

    @property
    def hs_token(self) -> str:
        return str(self.registration["hs_token"])


def _registration(appservice_id: str, user_prefix: str, port: int) -> dict[str, Any]:
    return {
        "id": appservice_id,
        "url": f"http://127.0.0.1:{port}",
        "as_token": secrets.token_urlsafe(24),
        "hs_token": secrets.token_urlsafe(24),
        # The sender_localpart user cannot /sync on Synapse: keep it a random name
        # outside the namespace and give tests their own bot inside it.
        "sender_localpart": f"as_{secrets.token_hex(6)}",
        "namespaces": {
            "users": [{"exclusive": True, "regex": f"@{user_prefix}.*"}],
            "aliases": [],
            "rooms": [],
        },
        "rate_limited": False,
        "receive_ephemeral": True,
        "de.sorunome.msc2409.push_ephemeral": True,
        "org.matrix.msc3202": True,
    }


@pytest.fixture(scope="session")
def kit_appservice() -> KitAppservice:
    """The appservice that tests/kit uses to prove transactions reach an appservice."""
    port = free_port()
    return KitAppservice(_registration("kit-test", "kittest_", port), port)


@pytest.fixture(scope="session")
def double_puppet_registration() -> dict[str, Any]:
    """An appservice whose token may act as any local user: the appservice-token way of
    double puppeting. It has no URL, so the homeserver never sends it anything."""
    registration = _registration("doublepuppet", "", 0)
    registration["url"] = None
    registration["namespaces"]["users"] = [{"exclusive": False, "regex": r"@.*:bridgekit\.test"}]
    return registration


@pytest.fixture(scope="session")
def loopback_setup() -> BridgeSetup:
    """Tokens and port of the loopback bridge that the core's tests run."""
    return BridgeSetup.new("loopback")


@pytest.fixture(scope="session")
def irc_setup() -> BridgeSetup:
    """Tokens and port of the IRC bridge that tests/irc runs (with the room alias
    namespace of shared channels)."""
    return BridgeSetup.new("irc", settings={"appservice.alias_prefix": "irc_"})


@pytest.fixture(scope="session")
def telegram_setup() -> BridgeSetup:
    """Tokens and port of the Telegram bridge that tests/telegram runs."""
    return BridgeSetup.new("telegram")


@pytest.fixture(scope="session")
def discord_setup() -> BridgeSetup:
    """Tokens and port of the Discord bridge that tests/discord runs."""
    return BridgeSetup.new("discord")


E2EE_MODES = ("appservice", "sync")


@pytest.fixture(scope="session")
def encrypted_loopback_setups() -> dict[str, BridgeSetup]:
    """Loopback bridges with encryption on, one per delivery mode (each its own
    appservice: the registration differs)."""
    common = {"encryption.allow": True, "encryption.default": True}
    return {
        "appservice": BridgeSetup.new(
            "loopback",
            appservice_id="lbas",
            settings={**common, "encryption.appservice": True},
        ),
        "sync": BridgeSetup.new("loopback", appservice_id="lbsync", settings=common),
        "msc4190": BridgeSetup.new(
            "loopback",
            appservice_id="lbmsc",
            settings={**common, "encryption.appservice": True, "encryption.msc4190": True},
        ),
    }


@pytest.fixture(scope="session")
def encrypted_bridge_setups() -> dict[str, BridgeSetup]:
    """The bundled bridges with encryption on and new portals encrypted (appservice
    delivery), as an operator following docs/encryption.md runs them."""
    settings = {
        "encryption.allow": True,
        "encryption.default": True,
        "encryption.appservice": True,
    }
    return {
        network: BridgeSetup.new(network, appservice_id=f"{network}e2ee", settings=settings)
        for network in ("irc", "telegram", "discord")
    }


@pytest.fixture(scope="session")
def bridgekit_registrations(
    kit_appservice: KitAppservice,
    loopback_setup: BridgeSetup,
    encrypted_loopback_setups: dict[str, BridgeSetup],
    double_puppet_registration: dict[str, Any],
    irc_setup: BridgeSetup,
    discord_setup: BridgeSetup,
    telegram_setup: BridgeSetup,
    encrypted_bridge_setups: dict[str, BridgeSetup],
) -> list[Mapping[str, Any]]:
    """Every appservice registration of the suite (see the module docstring)."""
    connector = LoopbackConnector()
    return [
        kit_appservice.registration,
        double_puppet_registration,
        loopback_setup.registration(connector),
        *(setup.registration(connector) for setup in encrypted_loopback_setups.values()),
        irc_setup.registration(IRCConnector()),
        discord_setup.registration(DiscordConnector()),
        telegram_setup.registration(TelegramConnector()),
        encrypted_bridge_setups["irc"].registration(IRCConnector()),
        encrypted_bridge_setups["telegram"].registration(TelegramConnector()),
        encrypted_bridge_setups["discord"].registration(DiscordConnector()),
    ]
