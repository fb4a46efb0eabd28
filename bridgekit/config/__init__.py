"""The bridge's config file: the shipped example, merged with the operator's values.

On every start the example config (core sections plus the network's section) is the
base; every value the operator set is copied over it, and the result is written back.
So a new option appears in the operator's file with its comment after an upgrade,
and nothing they set is lost. Environment variables ``BRIDGEKIT__SECTION__KEY``
override single values (for containers).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

ENV_PREFIX = "BRIDGEKIT__"

# Sections whose keys are the operator's own (not a fixed schema): copied whole.
FREE_FORM = ("bridge.permissions", "double_puppet.secrets")

_yaml = YAML()
_yaml.indent(mapping=4, sequence=4, offset=2)


class ConfigError(ValueError):
    """A config value is missing or wrong. The message names the field and what to do."""


def example_config(
    network_id: str, network_name: str, default_port: int, network_section: str
) -> str:
    """The full example config of a bridge, as YAML text."""
    core = resources.files("bridgekit.config").joinpath("example-config.yaml").read_text()
    core = (
        core.replace("NETWORK_NAME", network_name)
        .replace("NETWORK_ID", network_id)
        .replace("PORT", str(default_port))
    )
    section = network_section.strip("\n")
    if section:
        indented = "\n".join(
            ("    " + line) if line.strip() else "" for line in section.split("\n")
        )
        core += f"\n# Settings of the {network_name} network.\nnetwork:\n{indented}\n"
    else:
        core += "\nnetwork: {}\n"
    return core


def _load(text: str) -> CommentedMap:
    data = _yaml.load(text)
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError("The config file must be a YAML mapping (key: value lines).")
    return data


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and path not in FREE_FORM:
            yield from _leaves(value, f"{path}.")
        else:
            yield path


def _get(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _set(data: CommentedMap, path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), Mapping):
            node[part] = CommentedMap()
        node = node[part]
    node[parts[-1]] = value


class Config:
    """A loaded config. Read values with ``config["section.key"]``."""

    def __init__(self, data: CommentedMap, path: Path | None = None) -> None:
        self.data = data
        self.path = path
        #: Settings of the operator's file that the bridge does not know (misspelled,
        #: or removed in this version): left out of the merged config.
        self.unknown: list[str] = []

    @classmethod
    def load(cls, path: Path, example: str, *, save: bool = True) -> Config:
        """Read ``path``, merge it into ``example`` and (with ``save``) write the merged
        result back. Raises ``FileNotFoundError`` if the file does not exist."""
        user = _load(path.read_text())
        merged, unknown = merge(_load(example), user)
        config = cls(merged, path)
        config.unknown = unknown
        if save and merged != user:
            config.save()
        return config

    @classmethod
    def from_text(cls, text: str) -> Config:
        """A config from YAML text (no file behind it)."""
        return cls(_load(text))

    def save(self) -> None:
        """Write the config back to its file atomically."""
        if self.path is None:
            return
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(self.dump())
        os.replace(tmp, self.path)

    def dump(self) -> str:
        """The config as YAML text."""
        out = io.StringIO()
        _yaml.dump(self.data, out)
        return out.getvalue()

    def apply_env(self, environ: Mapping[str, str]) -> list[str]:
        """Apply ``BRIDGEKIT__A__B=value`` overrides; returns the paths overridden."""
        applied = []
        for name, raw in environ.items():
            if not name.startswith(ENV_PREFIX):
                continue
            path = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            _set(self.data, path, YAML(typ="safe").load(raw) if raw else "")
            applied.append(path)
        return applied

    def __getitem__(self, path: str) -> Any:
        found, value = _get(self.data, path)
        if not found:
            raise KeyError(path)
        return value

    def get(self, path: str, default: Any = None) -> Any:
        """The value at ``path``, or ``default``."""
        found, value = _get(self.data, path)
        return value if found else default

    def __setitem__(self, path: str, value: Any) -> None:
        _set(self.data, path, value)


def merge(base: CommentedMap, user: Mapping[str, Any]) -> tuple[CommentedMap, list[str]]:
    """Copy every value of ``user`` that ``base`` has a place for onto ``base``; keys
    under ``network`` and the free-form sections are copied even if ``base`` lacks them.
    Returns ``base`` and the paths of ``user`` that had no place (left out)."""
    unknown = []
    for path in _leaves(user):
        in_base, _ = _get(base, path)
        if in_base or path.startswith("network.") or path in FREE_FORM:
            _set(base, path, _get(user, path)[1])
        else:
            unknown.append(path)
    return base, unknown


_LOCALPART = re.compile(r"^[a-z0-9._=\-/]+$")


def validate(config: Config) -> None:
    """Check the core sections and raise ``ConfigError`` naming the first bad field."""

    def need(path: str, kind: type | tuple[type, ...], what: str) -> Any:
        found, value = _get(config.data, path)
        if not found or value is None or value == "":
            raise ConfigError(f"config: {path} is missing. Set it to {what}.")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"config: {path} is {value!r}, but must be {what}.")
        return value

    address = need("homeserver.address", str, "the homeserver's URL, e.g. http://synapse:8008")
    if not address.startswith(("http://", "https://")):
        raise ConfigError(
            f"config: homeserver.address is {address!r}; it must start with http:// or https://"
        )
    need("homeserver.domain", str, "your homeserver's server name, e.g. example.org")
    need("appservice.address", str, "the URL at which the homeserver reaches the bridge")
    port = need("appservice.port", int, "a TCP port number, e.g. 29300")
    if not 0 < port < 65536:
        raise ConfigError(f"config: appservice.port is {port}; it must be between 1 and 65535.")
    need("appservice.hostname", str, "the address to listen on, e.g. 127.0.0.1 or 0.0.0.0")
    need("appservice.id", str, "a unique ID for this appservice, e.g. telegram")
    bot = need("appservice.bot.username", str, "the bot's localpart, e.g. telegrambot")
    if not _LOCALPART.match(bot):
        raise ConfigError(
            f"config: appservice.bot.username {bot!r} is not a valid Matrix localpart "
            "(lowercase letters, digits and ._=-/ only)."
        )
    template = need("appservice.ghost_username_template", str, "a template with {userid}")
    if "{userid}" not in template:
        raise ConfigError("config: appservice.ghost_username_template must contain {userid}.")
    alias_prefix = config.get("appservice.alias_prefix") or ""
    if not isinstance(alias_prefix, str) or (alias_prefix and not _LOCALPART.match(alias_prefix)):
        raise ConfigError(
            f"config: appservice.alias_prefix {alias_prefix!r} must be empty or the start of a "
            "room alias (lowercase letters, digits and ._=-/ only), e.g. irc_"
        )
    need("database.url", str, "sqlite:file.db or postgres://user:pass@host/db")
    if not str(config["database.url"]).startswith(("sqlite:", "postgres:", "postgresql:")):
        raise ConfigError(
            "config: database.url must start with sqlite: or postgres:// "
            f"(it is {config['database.url']!r})."
        )
    size = need("bridge.max_media_size", int, "a number of bytes, e.g. 52428800")
    if size <= 0:
        raise ConfigError("config: bridge.max_media_size must be a positive number of bytes.")
    perms = need("bridge.permissions", Mapping, 'a mapping like {"example.org": "user"}')
    for key, level in perms.items():
        if level not in ("relay", "user", "admin", "block"):
            raise ConfigError(
                f"config: bridge.permissions[{key!r}] is {level!r}; "
                "use one of relay, user, admin, block."
            )
    for token in ("appservice.as_token", "appservice.hs_token"):
        if config.get(token) in (None, "", "generate"):
            raise ConfigError(
                f"config: {token} is not set. Generate the registration first "
                "(run the bridge with -g), then give registration.yaml to the homeserver."
            )
