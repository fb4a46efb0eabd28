"""Running a bridge in a test against the test kit's Synapse.

Synapse reads registrations only at start-up, so a bridge under test gets its
tokens and port once per session (``BridgeSetup``), its registration is listed in
``bridgekit_registrations``, and each test starts a fresh bridge with its own
database on that port (``run_bridge``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from ..bridge import Bridge
from ..config import Config, example_config, validate
from ..network.connector import NetworkConnector
from ..registration import registration_from_config
from .secrets import register_secret
from .synapse import SynapseServer, free_port

TEST_DOMAIN = "bridgekit.test"


@dataclass(frozen=True, slots=True)
class BridgeSetup:
    """A bridge's tokens, port and names, fixed for a test session."""

    appservice_id: str
    port: int
    as_token: str
    hs_token: str
    sender_localpart: str
    domain: str = TEST_DOMAIN
    settings: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def new(
        cls,
        network_id: str,
        domain: str = TEST_DOMAIN,
        *,
        appservice_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> BridgeSetup:
        """A setup with fresh tokens and port. ``appservice_id`` (default: the network
        ID) names the bot and ghosts too, so one network can run as several bridges
        in a session (say, with and without encryption). ``settings`` are config
        values every bridge of this setup gets (they shape the registration)."""
        values = dict(settings or {})
        if appservice_id is not None:
            values.setdefault("appservice.bot.username", f"{appservice_id}bot")
            values.setdefault("appservice.ghost_username_template", f"{appservice_id}_{{userid}}")
        as_token, hs_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        register_secret(as_token)
        register_secret(hs_token)
        return cls(
            appservice_id or network_id,
            free_port(),
            as_token,
            hs_token,
            "_bk_" + secrets.token_hex(8),
            domain,
            tuple(values.items()),
        )

    def config(
        self,
        connector: NetworkConnector,
        *,
        homeserver_url: str = "http://127.0.0.1:1",
        database_url: str = "sqlite::memory:",
        overrides: Mapping[str, Any] | None = None,
    ) -> Config:
        """A validated config for this bridge (the connector's example, filled in)."""
        text = example_config(
            connector.name.network_id,
            connector.name.display_name,
            self.port,
            connector.example_config,
        )
        config = Config.from_text(text)
        values: dict[str, Any] = {
            "homeserver.address": homeserver_url,
            "homeserver.domain": self.domain,
            "appservice.port": self.port,
            "appservice.address": f"http://127.0.0.1:{self.port}",
            "appservice.id": self.appservice_id,
            "appservice.as_token": self.as_token,
            "appservice.hs_token": self.hs_token,
            "appservice.sender_localpart": self.sender_localpart,
            "database.url": database_url,
            "bridge.permissions": {
                "*": "relay",
                self.domain: "user",
                f"@admin:{self.domain}": "admin",
            },
        }
        values.update(self.settings)
        values.update(overrides or {})
        for path, value in values.items():
            config[path] = value
        validate(config)
        return config

    def registration(self, connector: NetworkConnector) -> dict[str, Any]:
        """The registration the bridge's own generator writes for this setup."""
        return registration_from_config(self.config(connector))


@asynccontextmanager
async def run_bridge(
    connector: NetworkConnector,
    setup: BridgeSetup,
    synapse: SynapseServer,
    database_url: str,
    overrides: Mapping[str, Any] | None = None,
) -> AsyncIterator[Bridge]:
    """Start a bridge against ``synapse`` and stop it afterwards."""
    config = setup.config(
        connector, homeserver_url=synapse.url, database_url=database_url, overrides=overrides
    )
    bridge = Bridge(connector, config)
    try:
        await bridge.start()
        yield bridge
    finally:
        await bridge.stop()
