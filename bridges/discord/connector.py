"""The Discord network plugin: bot logins bridge guild channels; user-token logins
(only when the operator allows them) bridge a person's DMs and group DMs."""

from __future__ import annotations

import logging
from typing import Any

from bridgekit.network import (
    BridgeHandle,
    LoginFlow,
    LoginHandle,
    LoginID,
    LoginProcess,
    NetworkClient,
    NetworkCommand,
    NetworkConnector,
    NetworkName,
)

from . import guilds
from .client import DiscordClient
from .dms import UserLoginClient
from .login import BOT_FLOW, USER_FLOW, BotTokenLogin, UserLoginOff, UserTokenLogin
from .settings import DiscordSettings, Endpoints, example_config

log = logging.getLogger("bridgekit.discord")


class DiscordConnector(NetworkConnector):
    """The Discord bridge, on discord.py.

    A bot login (its token) bridges guilds: their text channels are shared portals
    (one room however many logins see the channel), grouped under their guild. A user
    login (``user_login: true`` only) bridges its account's DMs and group DMs, each a
    portal of its own (see ``dms``).
    """

    name = NetworkName("Discord", "discord", url="https://discord.com")
    example_config = example_config()

    def __init__(self) -> None:
        self.settings = DiscordSettings()
        self.clients: dict[LoginID, DiscordClient] = {}
        self.user_clients: dict[LoginID, UserLoginClient] = {}
        self._previous_endpoints: Endpoints | None = None

    def load_config(self, section: dict[str, Any]) -> None:
        self.config = section
        self.settings = DiscordSettings.from_config(section)

    async def start(self, bridge: BridgeHandle) -> None:
        self.bridge = bridge
        self._previous_endpoints = Endpoints.current()
        endpoints = self.settings.endpoints()
        endpoints.apply()
        if self.settings.api_base or self.settings.gateway_url:
            log.info("Using Discord at %s / %s", endpoints.api_base, endpoints.gateway_url)

    async def stop(self) -> None:
        if self._previous_endpoints is not None:
            self._previous_endpoints.apply()
            self._previous_endpoints = None

    def get_commands(self) -> list[NetworkCommand]:
        return guilds.commands(self)

    def get_login_flows(self) -> list[LoginFlow]:
        return [BOT_FLOW, USER_FLOW] if self.settings.user_login else [BOT_FLOW]

    async def create_login(self, user_mxid: str, flow_id: str) -> LoginProcess:
        if flow_id == USER_FLOW.id:
            if not self.settings.user_login:
                return UserLoginOff()
            return UserTokenLogin(self.settings.endpoints().api_base)
        return BotTokenLogin(user_login=self.settings.user_login)

    async def load_user_login(self, login: LoginHandle) -> NetworkClient:
        if login.metadata.get("kind") == "user":
            user_client = UserLoginClient(login, self)
            self.user_clients[login.id] = user_client
            return user_client
        client = DiscordClient(login, self)
        self.clients[login.id] = client
        return client
