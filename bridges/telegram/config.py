"""The Telegram bridge's config section (``network:``), read into typed settings.

The shipped example is ``example-config.yaml`` beside this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


def example_config() -> str:
    """The Telegram network's section of the example config, as YAML text."""
    return resources.files("bridges.telegram").joinpath("example-config.yaml").read_text()


@dataclass(frozen=True, slots=True)
class ServerOverride:
    """A Telegram server other than production: a test DC or a local test server."""

    dc_id: int
    host: str
    port: int
    rsa_public_key: str = ""


@dataclass(frozen=True, slots=True)
class FloodWaitSettings:
    """How FLOOD_WAIT answers to sends are handled (seconds)."""

    notify_after: float = 30
    max_wait: float = 900


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """The validated ``network:`` section."""

    api_id: int
    api_hash: str
    server: ServerOverride | None = None
    device_model: str = "bridgekit"
    flood_wait: FloodWaitSettings = field(default_factory=FloodWaitSettings)
    sync_limit: int = 30

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> TelegramSettings:
        """Read the ``network:`` section; raise ``ValueError`` naming the bad field."""
        api_id = _int(section, "api_id", minimum=1, hint="get one at https://my.telegram.org/apps")
        api_hash = section.get("api_hash")
        if not isinstance(api_hash, str) or not api_hash.strip():
            raise ValueError(
                "network.api_hash is empty: copy your application's api_hash from "
                "https://my.telegram.org/apps."
            )
        flood = section.get("flood_wait") or {}
        if not isinstance(flood, Mapping):
            raise ValueError("network.flood_wait must be a mapping (notify_after, max_wait).")
        return cls(
            api_id=api_id,
            api_hash=api_hash.strip(),
            server=_server(section.get("server")),
            device_model=str(section.get("device_model") or "bridgekit"),
            flood_wait=FloodWaitSettings(
                notify_after=_number(flood, "flood_wait.notify_after", 30),
                max_wait=_number(flood, "flood_wait.max_wait", 900),
            ),
            sync_limit=_int(section, "sync_limit", minimum=1, default=30),
        )


def _server(value: Any) -> ServerOverride | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("network.server must be a mapping (dc_id, host, port, rsa_public_key).")
    dc_id = _int(value, "dc_id", minimum=0, default=0, prefix="network.server.")
    if dc_id == 0:
        return None
    host = str(value.get("host") or "").strip()
    if not host:
        raise ValueError(f"network.server.host is empty: give the host of data center {dc_id}.")
    port = _int(value, "port", minimum=1, default=443, prefix="network.server.")
    if port > 65535:
        raise ValueError(f"network.server.port must be at most 65535, not {port}.")
    pem = str(value.get("rsa_public_key") or "").strip()
    if pem and not re.search(r"-----BEGIN (RSA )?PUBLIC KEY-----", pem):
        raise ValueError(
            "network.server.rsa_public_key must be a PEM public key "
            "(-----BEGIN RSA PUBLIC KEY----- ...), or empty."
        )
    return ServerOverride(dc_id, host, port, pem)


def _int(
    section: Mapping[str, Any],
    key: str,
    *,
    minimum: int,
    default: int | None = None,
    hint: str = "",
    prefix: str = "network.",
) -> int:
    value = section.get(key, default)
    if value is None or isinstance(value, bool):
        value = default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{prefix}{key} must be a whole number, not {value!r}.") from None
    if number < minimum:
        extra = f": {hint}" if hint else ""
        raise ValueError(f"{prefix}{key} must be at least {minimum}, not {number}{extra}.")
    return number


def _number(section: Mapping[str, Any], name: str, default: float) -> float:
    value = section.get(name.rsplit(".", 1)[-1], default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"network.{name} must be a number of seconds, not {value!r}.") from None
    if number < 0:
        raise ValueError(f"network.{name} must not be negative.")
    return number
