"""Logging in to IRC: pick a network, a nick and (optionally) a SASL password.

The steps: network and nick; the server (only for a custom server); a SASL password,
``-`` for none; the SASL account when it differs from the nick. Then the bridge
connects, and the login completes once the server has registered the connection
(a nick in use is replaced by a fallback nick on the way). The live connection is
handed to the login's client, so the user is not connected twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from bridgekit.network import (
    InputField,
    InputFieldType,
    LoginError,
    LoginID,
    LoginProcess,
    LoginStep,
    UserInputLogin,
)

from . import ids
from .protocol import (
    ConnectedEvent,
    DisconnectedEvent,
    FatalErrorEvent,
    FatalReason,
    IRCConnection,
    NotConnectedError,
)
from .settings import CUSTOM_NETWORK, NetworkSettings

if TYPE_CHECKING:
    from .connector import IRCConnector

log = logging.getLogger("bridgekit.irc.login")

#: What a user answers to skip an optional question (Matrix clients send no empty messages).
SKIP = "-"
NICK_PATTERN = r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}\-]{0,31}"
_HOST_PATTERN = r"[A-Za-z0-9.-]+"
# Registration may wait for ident and DNS look-ups, and InspIRCd for its next tick.
_REGISTRATION_TIMEOUT = 60.0


class IRCLogin(LoginProcess, UserInputLogin):
    """One user's login to an IRC network (the ``irc`` flow)."""

    def __init__(self, connector: IRCConnector, user_mxid: str) -> None:
        self.connector = connector
        self.user_mxid = user_mxid
        self._stage = "network"
        self._network: NetworkSettings | None = None
        self._custom = False
        self._nick = ""
        self._password = ""
        self._conn: IRCConnection | None = None

    async def start(self) -> LoginStep:
        settings = self.connector.settings
        options = list(settings.networks)
        if settings.allow_custom_servers:
            options.append(CUSTOM_NETWORK)
        if not options:
            raise LoginError(
                "This bridge offers no IRC networks yet: ask its operator to add one.", fatal=True
            )
        custom = (
            f" (`{CUSTOM_NETWORK}`: a server of your choice)" if CUSTOM_NETWORK in options else ""
        )
        return LoginStep.user_input(
            "network",
            "Connect to an IRC network.",
            InputField(
                "network",
                "network",
                InputFieldType.SELECT,
                description=f"the IRC network to connect to{custom}",
                options=tuple(options),
            ),
            InputField(
                "nick", "nick", InputFieldType.USERNAME, "your IRC nickname", pattern=NICK_PATTERN
            ),
        )

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        if self._stage == "network":
            return self._take_network(values)
        if self._stage == "server":
            return self._take_server(values)
        if self._stage == "password":
            self._password = "" if values["password"] == SKIP else values["password"]
            if not self._password:
                return await self._connect(None)
            self._stage = "account"
            return LoginStep.user_input(
                "account",
                "",
                InputField(
                    "account",
                    "SASL account name",
                    description=f"send `{SKIP}` if it is your nick, {self._nick}",
                ),
            )
        account = values["account"].strip()
        return await self._connect(self._nick if account in ("", SKIP) else account)

    def _take_network(self, values: dict[str, str]) -> LoginStep:
        self._nick = values["nick"]
        if values["network"] == CUSTOM_NETWORK:
            self._custom = True
            self._stage = "server"
            return LoginStep.user_input(
                "server",
                "Which server?",
                InputField(
                    "host", "server's host name", InputFieldType.DOMAIN, pattern=_HOST_PATTERN
                ),
                InputField("port", "port", description="usually 6697 with TLS", pattern=r"\d{1,5}"),
                InputField("tls", "TLS choice", InputFieldType.SELECT, options=("yes", "no")),
            )
        self._network = self.connector.settings.networks[values["network"]]
        return self._password_step()

    def _take_server(self, values: dict[str, str]) -> LoginStep:
        port = int(values["port"])
        if not 0 < port < 65536:
            raise LoginError(f"{port} is not a port number; ports go from 1 to 65535.")
        self._network = self.connector.settings.custom_network(
            values["host"], port, values["tls"] == "yes"
        )
        return self._password_step()

    def _password_step(self) -> LoginStep:
        self._stage = "password"
        return LoginStep.user_input(
            "password",
            "",
            InputField(
                "password",
                "SASL password",
                InputFieldType.PASSWORD,
                description=f"of your registered nick; send `{SKIP}` to connect without one",
            ),
        )

    async def _connect(self, account: str | None) -> LoginStep:
        network = self._network
        assert network is not None
        sasl = {"username": account, "password": self._password} if account else None
        conn = IRCConnection(network.connection_config(self._nick, self.user_mxid, sasl))
        self._check_free(ids.login_id(network.id, conn.casefold(self._nick)), network)
        self._conn = conn
        conn.start()
        try:
            await self._registered(conn, network)
            # The server's CASEMAPPING is known now, and decides the ID for good.
            login_id = ids.login_id(network.id, conn.casefold(self._nick))
            self._check_free(login_id, network)
        except BaseException:
            self._conn = None
            await conn.stop(grace=0)
            raise
        self.connector.hand_over(login_id, conn)
        self._conn = None
        metadata: dict[str, Any] = {
            "network": network.id,
            "nick": conn.nick,
            "sasl": sasl,
            "channels": [],
        }
        if self._custom:
            server = network.servers[0]
            metadata["server"] = {"host": server.host, "port": server.port, "tls": server.tls}
        log.info("%s connected to %s as %s", self.user_mxid, network.id, conn.nick)
        return LoginStep.done(login_id, f"{conn.nick}@{network.id}", metadata)

    def _check_free(self, login_id: str, network: NetworkSettings) -> None:
        """One bridge login per network and nick: refuse a second one."""
        existing = self.connector.bridge.get_login(LoginID(login_id))
        if existing is not None:
            whose = "You are" if existing.user_mxid == self.user_mxid else "Another user is"
            raise LoginError(
                f"{whose} already connected to {network.name} as {self._nick} through this "
                "bridge. Log that login out first, or choose another nick.",
                fatal=True,
            )

    async def _registered(self, conn: IRCConnection, network: NetworkSettings) -> None:
        """Wait until the server registers ``conn``; raise ``LoginError`` saying why not.
        Every server of the network gets one try before the login gives up."""
        failures = 0
        try:
            async with asyncio.timeout(_REGISTRATION_TIMEOUT):
                while True:
                    event = await conn.next_event()
                    if isinstance(event, ConnectedEvent):
                        return
                    if isinstance(event, FatalErrorEvent):
                        raise LoginError(_fatal_text(event, network), fatal=True)
                    if isinstance(event, DisconnectedEvent):
                        failures += 1
                        if failures >= len(network.servers):
                            raise LoginError(
                                f"Could not connect to {network.name}: {event.reason}. "
                                "Try again later, or ask the bridge's operator.",
                                fatal=True,
                            )
        except TimeoutError:
            raise LoginError(
                f"{network.name} did not let the bridge in within "
                f"{_REGISTRATION_TIMEOUT:.0f} seconds. Try again later.",
                fatal=True,
            ) from None
        except NotConnectedError as e:
            raise LoginError(f"The connection to {network.name} stopped: {e}.", fatal=True) from e

    async def cancel(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.stop(grace=0)


def _fatal_text(event: FatalErrorEvent, network: NetworkSettings) -> str:
    if event.reason in (FatalReason.SASL_FAILED, FatalReason.BAD_PASSWORD):
        return (
            f"{network.name} refused the SASL login ({event.message}). Check the account "
            "and password, then send `login` again."
        )
    if event.reason == FatalReason.SASL_UNAVAILABLE:
        return (
            f"{network.name} does not offer SASL login ({event.message}). Send `login` again "
            f"and answer `{SKIP}` for the password."
        )
    if event.reason == FatalReason.NICK_UNAVAILABLE:
        return f"{network.name} accepted none of the nicks tried ({event.message}). Choose another."
    if event.reason == FatalReason.TLS_ERROR:
        return (
            f"The TLS certificate of {network.name} was rejected ({event.message}). "
            "Ask the bridge's operator."
        )
    return f"{network.name} refused the connection: {event.message}."
