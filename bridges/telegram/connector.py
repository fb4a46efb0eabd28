"""The Telegram network plugin: config, tables, login flows and clients."""

from __future__ import annotations

import logging
from typing import Any

from telethon.crypto import rsa

from bridgekit.network import (
    BridgeHandle,
    LoginFlow,
    LoginHandle,
    LoginProcess,
    NetworkClient,
    NetworkCommand,
    NetworkConnector,
    NetworkName,
    RemoteUserID,
)

from .client import TelegramNetworkClient
from .commands import commands
from .config import TelegramSettings, example_config
from .echoes import EditEchoes
from .formatting import MentionMapper
from .login import BotLogin, PhoneLogin, QrLogin
from .migration import Migrations
from .store import TelegramStore

log = logging.getLogger("bridgekit.telegram")


class TelegramConnector(NetworkConnector):
    """Telegram, through Telethon (MTProto)."""

    name = NetworkName("Telegram", "telegram", url="https://telegram.org")
    example_config = example_config()

    def __init__(self) -> None:
        self._settings: TelegramSettings | None = None
        self._store: TelegramStore | None = None
        self._migrations: Migrations | None = None
        self.mentions = MentionMapper()
        self.edit_echoes = EditEchoes()
        #: The running network client of each login, by login ID.
        self.clients: dict[str, TelegramNetworkClient] = {}

    def load_config(self, section: dict[str, Any]) -> None:
        self.config = section
        self._settings = TelegramSettings.parse(section)

    async def start(self, bridge: BridgeHandle) -> None:
        self.bridge = bridge
        if self._settings is None:
            self.load_config(dict(bridge.network_config))
        server = self.settings.server
        if server is not None and server.rsa_public_key:
            rsa.add_key(server.rsa_public_key, old=False)
        if server is not None:
            log.info("Using Telegram server DC %s at %s:%s", server.dc_id, server.host, server.port)
        self._store = TelegramStore(bridge.database)
        await self._store.upgrade()
        self._migrations = Migrations(self._store)
        await self._migrations.load()
        self.mentions = MentionMapper(
            to_mxid=lambda telegram_id: bridge.ghost_mxid(RemoteUserID(str(telegram_id))),
            from_mxid=lambda mxid: _telegram_user(bridge.ghost_id(mxid)),
        )

    @property
    def settings(self) -> TelegramSettings:
        if self._settings is None:
            raise RuntimeError("the Telegram connector has no config")
        return self._settings

    @property
    def store(self) -> TelegramStore:
        if self._store is None:
            raise RuntimeError("the Telegram connector was not started")
        return self._store

    @property
    def migrations(self) -> Migrations:
        if self._migrations is None:
            raise RuntimeError("the Telegram connector was not started")
        return self._migrations

    def get_login_flows(self) -> list[LoginFlow]:
        return [
            LoginFlow("phone", "Phone number", "log in with your phone number and a code"),
            LoginFlow(
                "qr", "QR code", "scan a QR code with a Telegram app where you are logged in"
            ),
            LoginFlow("bot", "Bot token", "log in as a bot (for relaying)"),
        ]

    async def create_login(self, user_mxid: str, flow_id: str) -> LoginProcess:
        settings = self.settings
        if flow_id == "qr":
            return QrLogin(settings)
        if flow_id == "bot":
            return BotLogin(settings)
        return PhoneLogin(settings)

    async def load_user_login(self, login: LoginHandle) -> NetworkClient:
        client = TelegramNetworkClient(login, self)
        self.clients[login.id] = client
        return client

    def get_commands(self) -> list[NetworkCommand]:
        return commands(self)


def _telegram_user(remote: RemoteUserID | None) -> int | None:
    if remote is None or not remote.isdigit():
        return None
    return int(remote)
