"""The IRC network plugin: bouncer-style connections for Matrix users.

Each login is one Matrix user's own connection to an IRC network; the user's channels
and private chats become portal rooms of their own. Networks in operator mode share
their channels as public rooms instead (:mod:`shared`). ``example-config.yaml`` beside
this module documents the settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from bridgekit.network import (
    AliasResolving,
    BridgeHandle,
    LoginFlow,
    LoginHandle,
    LoginID,
    LoginProcess,
    NetworkClient,
    NetworkCommand,
    NetworkConnector,
    NetworkName,
    PublicChat,
)

from .client import IRCClient
from .commands import network_commands
from .identd import Identd
from .login import IRCLogin
from .protocol import IRCConnection
from .settings import IRCSettings, NetworkSettings, example_section
from .shared import SharedChannels

log = logging.getLogger("bridgekit.irc")

FLOW_ID = "irc"


class IRCConnector(NetworkConnector, AliasResolving):
    """The IRC network: one instance per bridge process."""

    name = NetworkName("IRC", "irc", url="https://ircv3.net/")
    example_config = example_section()

    def __init__(self) -> None:
        self.settings = IRCSettings(networks={})
        self._handed_over: dict[LoginID, IRCConnection] = {}
        #: The client of every loaded login (commands find theirs here).
        self.clients: dict[LoginID, IRCClient] = {}
        self.identd: Identd | None = None
        #: The port the ident server listens on (when it is on).
        self.identd_port = 0
        #: Operator mode of the networks that share their channels.
        self.shared = SharedChannels(self)

    def load_config(self, section: dict[str, Any]) -> None:
        super().load_config(section)
        self.settings = IRCSettings.parse(section)

    def get_commands(self) -> list[NetworkCommand]:
        return network_commands(self)

    async def start(self, bridge: BridgeHandle) -> None:
        await super().start(bridge)
        if self.settings.identd is not None:
            self.identd = Identd(self._connections)
            self.identd_port = await self.identd.start(*self.settings.identd)

    async def logins_loaded(self) -> None:
        await self.shared.open_relays()
        self.shared.start_idle_watch()

    async def resolve_alias(self, name: str) -> PublicChat | None:
        """``AliasResolving``: ``<network>_<#channel>`` of a network in operator mode."""
        return await self.shared.resolve_alias(name)

    def _connections(self) -> list[IRCConnection]:
        live = [c.conn for c in self.clients.values() if c.conn is not None]
        return [*live, *self._handed_over.values()]

    async def stop(self) -> None:
        await self.shared.stop()
        if self.identd is not None:
            await self.identd.stop()
        pending, self._handed_over = self._handed_over, {}
        await asyncio.gather(*(conn.stop(grace=0) for conn in pending.values()))

    def get_login_flows(self) -> list[LoginFlow]:
        return [
            LoginFlow(FLOW_ID, "IRC network", "Connect to an IRC network with a nick (and SASL)")
        ]

    async def create_login(self, user_mxid: str, flow_id: str) -> LoginProcess:
        return IRCLogin(self, user_mxid)

    def hand_over(self, login_id: LoginID, conn: IRCConnection) -> None:
        """Keep the registered connection of a login that just completed, for its
        client (``load_user_login`` follows right after)."""
        self._handed_over[login_id] = conn

    def network_of(self, metadata: Mapping[str, Any]) -> NetworkSettings | None:
        """The settings of a login's network: a configured one, or the custom server
        the user gave; ``None`` when the network is no longer configured."""
        server = metadata.get("server")
        if isinstance(server, Mapping):
            return self.settings.custom_network(
                str(server["host"]), int(server["port"]), bool(server["tls"])
            )
        return self.settings.networks.get(str(metadata.get("network", "")))

    async def load_user_login(self, login: LoginHandle) -> NetworkClient:
        conn = self._handed_over.pop(login.id, None)
        client = IRCClient(login, self, self.network_of(login.metadata), conn)
        self.clients[login.id] = client
        return client

    def forget(self, client: IRCClient) -> None:
        """A client was disconnected for good (logout, replaced, shutdown)."""
        if self.clients.get(client.login.id) is client:
            del self.clients[client.login.id]

    def clients_of(self, user_mxid: str) -> list[IRCClient]:
        """The clients of one Matrix user's logins."""
        return [c for c in self.clients.values() if c.login.user_mxid == user_mxid]
