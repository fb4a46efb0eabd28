"""The Discord bridge's config section (``network:``), read into typed settings, and
where discord.py connects.

The shipped example is ``example-config.yaml`` beside this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import discord
import yarl
from discord.asset import Asset
from discord.gateway import DiscordWebSocket
from discord.http import Route


def example_config() -> str:
    """The Discord network's section of the example config, as YAML text."""
    return resources.files("bridges.discord").joinpath("example-config.yaml").read_text()


class GuildMode(StrEnum):
    """How much of a guild is bridged."""

    NOTHING = "nothing"
    ON_MESSAGE = "on-message"
    EVERYTHING = "everything"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where discord.py talks to: REST base, gateway and CDN."""

    api_base: str
    gateway_url: str
    cdn_url: str

    @classmethod
    def current(cls) -> Endpoints:
        """The endpoints discord.py uses right now."""
        return cls(Route.BASE, str(DiscordWebSocket.DEFAULT_GATEWAY), Asset.BASE)

    def apply(self) -> None:
        """Point every discord.py client of this process here. discord.py keeps its
        endpoints in class attributes; one network runs per process, so that is safe."""
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        Asset.BASE = self.cdn_url


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """The validated ``network:`` section."""

    api_base: str | None = None
    gateway_url: str | None = None
    cdn_url: str | None = None
    default_guild_mode: GuildMode = GuildMode.ON_MESSAGE
    channel_name_template: str = "#{name}"
    initial_members: int = 50
    relay_webhooks: bool = True
    max_upload_size: int = 10 * 1024 * 1024
    backfill_limit: int = 50
    user_login: bool = False
    #: A ghost's name in guild channel rooms (see ``members``); empty: the global name.
    member_name_template: str = ""

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> DiscordSettings:
        """Read the section; raise ``ValueError`` naming the field on a bad value."""
        return cls(
            api_base=_url(section, "api_base", ("http://", "https://")),
            gateway_url=_url(section, "gateway_url", ("ws://", "wss://")),
            cdn_url=_url(section, "cdn_url", ("http://", "https://")),
            default_guild_mode=_mode(section.get("default_guild_mode", "on-message")),
            channel_name_template=_template(section),
            initial_members=_count(section, "initial_members", 50),
            relay_webhooks=_flag(section, "relay_webhooks", True),
            max_upload_size=_count(section, "max_upload_size", 10 * 1024 * 1024),
            backfill_limit=_count(section, "backfill_limit", 50),
            user_login=_flag(section, "user_login", False),
            member_name_template=_member_template(section),
        )

    def endpoints(self) -> Endpoints:
        """discord.py's endpoints with this config's overrides applied."""
        default = Endpoints.current()
        return Endpoints(
            (self.api_base or default.api_base).rstrip("/"),
            self.gateway_url or default.gateway_url,
            (self.cdn_url or default.cdn_url).rstrip("/"),
        )


def _url(section: Mapping[str, Any], key: str, schemes: tuple[str, ...]) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(schemes):
        raise ValueError(f"network.{key} must be a URL starting with {' or '.join(schemes)}")
    return value


def _mode(value: Any) -> GuildMode:
    try:
        return GuildMode(str(value))
    except ValueError:
        options = ", ".join(m.value for m in GuildMode)
        raise ValueError(f"network.default_guild_mode must be one of {options}") from None


def _template(section: Mapping[str, Any]) -> str:
    value = section.get("channel_name_template", "#{name}")
    if not isinstance(value, str) or "{name}" not in value:
        raise ValueError("network.channel_name_template must be text containing {name}")
    return value


def _member_template(section: Mapping[str, Any]) -> str:
    from .members import FIELDS

    value = section.get("member_name_template") or ""
    fields = ", ".join("{" + f + "}" for f in FIELDS)
    if not isinstance(value, str):
        raise ValueError(f"network.member_name_template must be text with {fields}")
    try:
        value.format(**dict.fromkeys(FIELDS, ""))
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(
            f"network.member_name_template {value!r} may only use {fields} ({e})"
        ) from None
    return value


def _count(section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"network.{key} must be a whole number, 0 or more")
    return value


def _flag(section: Mapping[str, Any], key: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"network.{key} must be true or false")
    return value


def gateway_intents() -> discord.Intents:
    """The gateway intents the bridge asks for: the defaults (no presences) plus the
    two privileged ones it needs to see message text and members."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    return intents
