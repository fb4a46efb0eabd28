"""Settings of one IRC connection: where to connect, who to be, how to behave."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from .sendqueue import FloodControl

#: IRCv3 capabilities requested whenever the server offers them.
WANTED_CAPS: frozenset[str] = frozenset(
    {
        "account-notify",
        "account-tag",
        "away-notify",
        "batch",
        "cap-notify",
        "chghost",
        "draft/chathistory",
        "draft/relaymsg",
        "echo-message",
        "extended-join",
        "invite-notify",
        "labeled-response",
        "message-tags",
        "multi-prefix",
        "sasl",
        "server-time",
        "setname",
        "userhost-in-names",
    }
)


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """One server of a network. ``tls`` is on by default (port 6697)."""

    host: str
    port: int = 6697
    tls: bool = True

    def __str__(self) -> str:
        return f"{self.host}:{'+' if self.tls else ''}{self.port}"


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A TLS client certificate (PEM) for CertFP; ``keyfile`` may be omitted when the
    key is in ``certfile``."""

    certfile: str
    keyfile: str | None = None


@dataclass(frozen=True, slots=True)
class SaslCredentials:
    """SASL login. ``PLAIN`` needs ``username`` and ``password``; ``EXTERNAL`` uses the
    client certificate (and ``username``, if set, as the authorization identity)."""

    mechanism: Literal["PLAIN", "EXTERNAL"] = "PLAIN"
    username: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Delays between connection attempts: ``initial_delay * factor**attempt`` capped at
    ``max_delay``, minus up to ``jitter`` (a fraction) of it at random so that many
    connections dropped by one netsplit do not all come back in the same second."""

    initial_delay: float = 2.0
    max_delay: float = 300.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before attempt number ``attempt`` (0-based) after a failure."""
        base = min(self.max_delay, self.initial_delay * self.factor ** min(attempt, 64))
        return base * (1 - self.jitter * (rng or random).random())


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """Everything an :class:`~bridges.irc.protocol.connection.IRCConnection` needs.

    ``servers`` are tried in rotation. ``password`` is the server password (PASS),
    ``proxy`` a ``socks5://[user:pass@]host:port`` URL. ``tls_verify=False`` turns off
    certificate checks for this connection only; ``tls_ca_file`` adds a CA to trust.
    ``channels`` are joined after every registration (name, key) on top of the channels
    joined at runtime. ``ping_interval`` is the idle time after which we send a PING,
    ``ping_timeout`` how long we then wait for any data before reconnecting.
    """

    servers: tuple[ServerAddress, ...]
    nick: str
    username: str | None = None
    realname: str | None = None
    password: str | None = field(default=None, repr=False)
    sasl: SaslCredentials | None = None
    client_cert: ClientCertificate | None = None
    tls_verify: bool = True
    tls_ca_file: str | None = None
    proxy: str | None = field(default=None, repr=False)
    caps: frozenset[str] = WANTED_CAPS
    flood: FloodControl = field(default_factory=FloodControl)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    ping_interval: float = 60.0
    ping_timeout: float = 60.0
    connect_timeout: float = 30.0
    registration_timeout: float = 60.0
    channels: tuple[tuple[str, str | None], ...] = ()
    version_reply: str | None = "bridgekit"
    quit_message: str = "bridgekit"
    max_nick_attempts: int = 8

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("an IRC connection needs at least one server")
        if not self.nick or " " in self.nick:
            raise ValueError(f"invalid nick {self.nick!r}")
        if self.sasl and self.sasl.mechanism == "EXTERNAL" and not self.client_cert:
            raise ValueError("SASL EXTERNAL needs a client certificate")
