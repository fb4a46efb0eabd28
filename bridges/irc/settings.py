"""The IRC bridge's config section (``network:``), read into typed settings.

The shipped example is ``example-config.yaml`` beside this module. ``networks`` is a
YAML list on purpose: the core merges an operator's config into the example key by
key, and a list is replaced as a whole, so the example's network does not linger in
the config of an operator who lists their own networks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .certs import certificate_file
from .protocol import (
    ClientCertificate,
    ConnectionConfig,
    FloodControl,
    ReconnectPolicy,
    SaslCredentials,
    ServerAddress,
)

#: The login's network answer that asks for a server of the user's own choice.
CUSTOM_NETWORK = "custom"

_NETWORK_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_DEFAULT_LEVELS = {"~": 90, "&": 75, "@": 50, "%": 25, "+": 10}


def example_section() -> str:
    """The IRC network's section of the example config, as YAML text."""
    return resources.files("bridges.irc").joinpath("example-config.yaml").read_text()


@dataclass(frozen=True, slots=True)
class SharedSettings:
    """Operator mode of a network: its channels are public rooms shared by everyone."""

    #: The nick of the bridge's own connection, which bridges the shared channels.
    relay_nick: str
    #: The nick template of the connections the bridge opens for Matrix users who
    #: speak in a shared channel (``{displayname}``, ``{localpart}``); empty: such
    #: users are relayed through the bridge's connection instead.
    puppet_nick: str
    #: How long bridging an existing room waits for a channel operator's consent.
    consent_timeout: float = 300.0
    #: Puppets that have not spoken for this many hours quit (0: never); the next
    #: message of their user brings them back.
    puppet_idle_hours: float = 0.0


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """One IRC network users may connect to. ``id`` names it in login and user IDs."""

    id: str
    name: str
    servers: tuple[ServerAddress, ...]
    verify_tls: bool = True
    flood: FloodControl = field(default_factory=FloodControl)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    #: A SOCKS or HTTP proxy to reach the network through (``socks5://host:port``).
    proxy: str | None = field(default=None, repr=False)
    #: Operator mode (``None``: bouncer mode only).
    shared: SharedSettings | None = None

    def connection_config(
        self,
        nick: str,
        realname: str,
        sasl: Mapping[str, Any] | None = None,
        channels: tuple[tuple[str, str | None], ...] = (),
        client_cert: str | None = None,
    ) -> ConnectionConfig:
        """The protocol client's config for a user of this network. ``sasl`` is the
        login's stored ``{"username", "password"}`` (SASL PLAIN) or
        ``{"mechanism": "EXTERNAL"}``, ``channels`` the channels to join after every
        registration, ``client_cert`` the login's certificate (PEM) for CertFP."""
        credentials = None
        if sasl and sasl.get("mechanism") == "EXTERNAL" and client_cert:
            credentials = SaslCredentials("EXTERNAL")
        elif sasl and sasl.get("password"):
            credentials = SaslCredentials(
                "PLAIN", str(sasl.get("username") or nick), str(sasl.get("password") or "")
            )
        return ConnectionConfig(
            servers=self.servers,
            nick=nick,
            realname=realname,
            sasl=credentials,
            client_cert=ClientCertificate(certificate_file(client_cert)) if client_cert else None,
            tls_verify=self.verify_tls,
            proxy=self.proxy,
            flood=self.flood,
            reconnect=self.reconnect,
            channels=channels,
        )


@dataclass(frozen=True, slots=True)
class IRCSettings:
    """The validated ``network:`` section."""

    networks: dict[str, NetworkSettings]
    allow_custom_servers: bool = False
    flood: FloodControl = field(default_factory=FloodControl)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    power_levels: dict[str, int] = field(default_factory=lambda: dict(_DEFAULT_LEVELS))
    max_lines: int = 5
    backfill_limit: int = 100
    #: Where the ident server listens (host, port), or ``None`` when it is off.
    identd: tuple[str, int] | None = None

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> IRCSettings:
        """Read the ``network:`` section; raise ``ValueError`` naming the bad field."""
        flood = _flood(section.get("flood"), "network.flood", FloodControl())
        reconnect = _reconnect(section.get("reconnect"), "network.reconnect", ReconnectPolicy())
        raw_networks = section.get("networks") or []
        if not isinstance(raw_networks, Sequence) or isinstance(raw_networks, str):
            raise ValueError("config: network.networks must be a list of networks.")
        networks: dict[str, NetworkSettings] = {}
        for index, raw in enumerate(raw_networks):
            network = _network(raw, f"network.networks[{index}]", flood, reconnect)
            if network.id in networks or network.id == CUSTOM_NETWORK:
                raise ValueError(
                    f"config: network.networks[{index}].id {network.id!r} is used twice "
                    f"(or is the reserved word {CUSTOM_NETWORK!r}); give each network its own."
                )
            networks[network.id] = network
        levels = section.get("power_levels")
        power_levels = dict(_DEFAULT_LEVELS)
        if levels is not None:
            if not isinstance(levels, Mapping):
                raise ValueError(
                    'config: network.power_levels must map prefixes to levels, "@": 50'
                )
            for symbol, level in levels.items():
                if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < 100:
                    raise ValueError(
                        f"config: network.power_levels[{symbol!r}] is {level!r}; use a number "
                        "from 0 to 99 (the bot keeps 100)."
                    )
                power_levels[str(symbol)] = level
        return cls(
            networks=networks,
            allow_custom_servers=bool(section.get("allow_custom_servers", False)),
            flood=flood,
            reconnect=reconnect,
            power_levels=power_levels,
            max_lines=_count(section, "max_lines", 5, minimum=1),
            backfill_limit=_count(section, "backfill_limit", 100, minimum=0),
            identd=_identd(section.get("identd")),
        )

    def level_of(self, prefixes: str) -> int:
        """The power level of a member holding the status ``prefixes`` (``"@+"``)."""
        return max((self.power_levels.get(symbol, 0) for symbol in prefixes), default=0)

    def status_for(self, level: int, offered: str) -> str | None:
        """The status symbol (of those the server ``offered``) that a Matrix power
        level stands for: the highest one whose level it reaches; ``None`` for none."""
        reached = [s for s in offered if s in self.power_levels and self.power_levels[s] <= level]
        return max(reached, key=lambda s: self.power_levels[s], default=None)

    def custom_network(self, host: str, port: int, tls: bool) -> NetworkSettings:
        """Settings for a server a user named at login (its host is its network ID)."""
        host = host.lower()
        return NetworkSettings(
            host, host, (ServerAddress(host, port, tls),), True, self.flood, self.reconnect
        )


def _network(
    raw: Any, where: str, default_flood: FloodControl, default_reconnect: ReconnectPolicy
) -> NetworkSettings:
    if not isinstance(raw, Mapping):
        raise ValueError(f"config: {where} must be a mapping with id, name and servers.")
    network_id = raw.get("id")
    if not isinstance(network_id, str) or not _NETWORK_ID_RE.match(network_id):
        raise ValueError(
            f"config: {where}.id is {network_id!r}; use lowercase letters, digits, dots and "
            "dashes, e.g. libera."
        )
    raw_servers = raw.get("servers")
    if not isinstance(raw_servers, Sequence) or isinstance(raw_servers, str) or not raw_servers:
        raise ValueError(f"config: {where}.servers must list at least one server (host, port).")
    servers = tuple(
        _server(server, f"{where}.servers[{i}]") for i, server in enumerate(raw_servers)
    )
    return NetworkSettings(
        id=network_id,
        name=str(raw.get("name") or network_id),
        servers=servers,
        verify_tls=bool(raw.get("verify_tls", True)),
        flood=_flood(raw.get("flood"), f"{where}.flood", default_flood),
        reconnect=_reconnect(raw.get("reconnect"), f"{where}.reconnect", default_reconnect),
        proxy=_proxy(raw.get("proxy"), f"{where}.proxy"),
        shared=_shared(raw.get("shared_channels"), f"{where}.shared_channels"),
    )


_NICK_RE = re.compile(r"^[A-Za-z\[\]\\`^{}|_][A-Za-z0-9\[\]\\`^{}|_-]*$")


def _shared(raw: Any, where: str) -> SharedSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError(f"config: {where} must be a mapping (enabled, relay_nick, puppet_nick).")
    if not raw.get("enabled"):
        return None
    relay_nick = raw.get("relay_nick", "matrixbridge")
    if not isinstance(relay_nick, str) or not _NICK_RE.match(relay_nick):
        raise ValueError(
            f"config: {where}.relay_nick is {relay_nick!r}; use an IRC nick, e.g. matrixbridge."
        )
    puppet_nick = raw.get("puppet_nick", "{displayname}[m]")
    if not isinstance(puppet_nick, str):
        raise ValueError(f'config: {where}.puppet_nick must be text, e.g. "{{displayname}}[m]".')
    if puppet_nick:
        try:
            sample = puppet_nick.format(displayname="x", localpart="x")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"config: {where}.puppet_nick {puppet_nick!r} is not a template with "
                "{displayname} or {localpart} (and no other {...})."
            ) from e
        if sample == puppet_nick:
            raise ValueError(
                f"config: {where}.puppet_nick must contain {{displayname}} or {{localpart}}, "
                "or be empty to relay everyone through relay_nick."
            )
    timeout = raw.get("consent_timeout", 300)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ValueError(f"config: {where}.consent_timeout is {timeout!r}; use seconds, e.g. 300.")
    idle = raw.get("puppet_idle_hours", 0)
    if not isinstance(idle, int | float) or isinstance(idle, bool) or idle < 0:
        raise ValueError(
            f"config: {where}.puppet_idle_hours is {idle!r}; use hours (0 keeps them), e.g. 24."
        )
    return SharedSettings(relay_nick, puppet_nick, float(timeout), float(idle))


_PROXY = re.compile(r"^(socks4|socks5|http)://([^:@/]+(:[^@/]*)?@)?[^/:@]+:\d{1,5}/?$")


def _proxy(raw: Any, where: str) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _PROXY.match(raw):
        raise ValueError(
            f"config: {where} must be a proxy URL such as socks5://127.0.0.1:1080 "
            "(socks4, socks5 or http; user:password@ before the host if needed)."
        )
    return raw


def _server(raw: Any, where: str) -> ServerAddress:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("host"), str) or not raw["host"]:
        raise ValueError(f"config: {where} needs a host, e.g. host: irc.libera.chat")
    tls = bool(raw.get("tls", True))
    port = raw.get("port", 6697 if tls else 6667)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"config: {where}.port is {port!r}; use a port number, e.g. 6697.")
    return ServerAddress(raw["host"], port, tls)


def _flood(raw: Any, where: str, default: FloodControl) -> FloodControl:
    if raw is None:
        return default
    if not isinstance(raw, Mapping):
        raise ValueError(f"config: {where} must be a mapping with enabled, burst and interval.")
    try:
        return FloodControl(
            burst=int(raw.get("burst", default.burst)),
            interval=float(raw.get("interval", default.interval)),
            enabled=bool(raw.get("enabled", default.enabled)),
        )
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"config: {where} is invalid ({e}); burst is a whole number >= 1 and interval a "
            "number of seconds >= 0."
        ) from e


def _reconnect(raw: Any, where: str, default: ReconnectPolicy) -> ReconnectPolicy:
    if raw is None:
        return default
    if not isinstance(raw, Mapping):
        raise ValueError(f"config: {where} must be a mapping with initial_delay and max_delay.")
    try:
        initial = float(raw.get("initial_delay", default.initial_delay))
        maximum = float(raw.get("max_delay", default.max_delay))
    except (TypeError, ValueError) as e:
        raise ValueError(f"config: {where} is invalid ({e}); use numbers of seconds.") from e
    if not 0 < initial <= maximum:
        raise ValueError(
            f"config: {where} needs 0 < initial_delay <= max_delay (seconds), e.g. "
            "initial_delay: 2, max_delay: 300."
        )
    return ReconnectPolicy(
        initial_delay=initial, max_delay=maximum, factor=default.factor, jitter=default.jitter
    )


def _count(section: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"config: network.{key} is {value!r}; use a whole number >= {minimum}.")
    return value


def _identd(raw: Any) -> tuple[str, int] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError("config: network.identd must be a mapping (enabled, host, port).")
    if not raw.get("enabled"):
        return None
    port = raw.get("port", 113)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"config: network.identd.port is {port!r}; use a TCP port number.")
    return str(raw.get("host") or "0.0.0.0"), port
