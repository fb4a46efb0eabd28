"""The provisioning HTTP API: what integration managers and web front ends use to log
users in, list and end their logins, and start chats, without the bot's chat
commands.

It is served by the appservice's own HTTP server under ``PREFIX`` when
``provisioning.enabled`` is on, and documented by ``openapi.yaml`` (served at
``PREFIX/openapi.json``). Logins run the same step machine as the ``login``
command, and end in the same ``Bridge.complete_login``.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from ..config import Config, ConfigError
from .api import PREFIX, ProvisioningAPI, step_json
from .auth import Authenticator
from .errors import ProvisioningError
from .logins import LoginSessions

if TYPE_CHECKING:
    from ..bridge import Bridge

__all__ = [
    "PREFIX",
    "ProvisioningAPI",
    "ProvisioningError",
    "load_openapi",
    "setup_provisioning",
    "step_json",
    "validate_provisioning",
]

log = logging.getLogger("bridgekit.provisioning")

MIN_SECRET_LENGTH = 16


def load_openapi() -> tuple[dict[str, Any], str]:
    """The committed OpenAPI document: parsed, and as its YAML text."""
    text = resources.files("bridgekit.provisioning").joinpath("openapi.yaml").read_text()
    document = YAML(typ="safe").load(text)
    if not isinstance(document, dict):
        raise RuntimeError("bridgekit/provisioning/openapi.yaml is not a YAML mapping")
    return document, text


def validate_provisioning(config: Config) -> None:
    """Check the ``provisioning`` section; raise ``ConfigError`` naming what to fix."""
    if not config.get("provisioning.enabled"):
        return
    secret = config.get("provisioning.shared_secret") or ""
    if not isinstance(secret, str):
        raise ConfigError("config: provisioning.shared_secret must be a string.")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"config: provisioning.shared_secret is shorter than {MIN_SECRET_LENGTH} "
            "characters. Use a long random string, e.g. from `openssl rand -hex 32`."
        )
    if not secret and not config.get("provisioning.allow_openid"):
        raise ConfigError(
            "config: provisioning.enabled is on, but nobody could use the API: set "
            "provisioning.shared_secret, turn on provisioning.allow_openid, or turn "
            "provisioning off."
        )


def setup_provisioning(bridge: Bridge) -> ProvisioningAPI | None:
    """Mount the API on the appservice's HTTP app if the config enables it. Call it
    before the appservice's server starts (aiohttp freezes the app then). Raises
    ``StartupError`` for a bad ``provisioning`` section."""
    config = bridge.config
    if not config.get("provisioning.enabled"):
        return None
    try:
        validate_provisioning(config)
    except ConfigError as e:
        from ..bridge import StartupError

        raise StartupError(str(e)) from None
    secret = str(config.get("provisioning.shared_secret") or "")
    allow_openid = bool(config.get("provisioning.allow_openid"))
    timeout = float(config.get("bridge.login_timeout") or 600)
    document, text = load_openapi()
    api = ProvisioningAPI(
        bridge,
        Authenticator(bridge, secret, allow_openid),
        LoginSessions(bridge, timeout),
        document,
        text,
    )
    bridge.appservice.app.add_subapp(PREFIX, api.app())
    log.info(
        "Provisioning API at %s (shared secret %s, OpenID tokens %s)",
        PREFIX,
        "on" if secret else "off",
        "on" if allow_openid else "off",
    )
    return api
