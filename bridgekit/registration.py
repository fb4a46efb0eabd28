"""The appservice registration: what the homeserver needs to know about the bridge."""

from __future__ import annotations

import re
import secrets
from typing import Any

from .config import Config


def generate_tokens(config: Config) -> None:
    """Put fresh random tokens and a random sender localpart into ``config``.

    The sender localpart is random on purpose: the homeserver's appservice sender
    user cannot ``/sync``, so the bot users talk to is a separate, namespaced user.
    """
    config["appservice.as_token"] = secrets.token_urlsafe(48)
    config["appservice.hs_token"] = secrets.token_urlsafe(48)
    config["appservice.sender_localpart"] = "_bk_" + secrets.token_hex(12)


def registration_from_config(config: Config) -> dict[str, Any]:
    """The registration dict (to be written as YAML) for ``config``'s tokens and names."""
    domain = re.escape(config["homeserver.domain"])
    ghost = config["appservice.ghost_username_template"].replace("{userid}", ".+")
    ghost_regex = "@" + re.escape(ghost).replace(re.escape(".+"), ".+") + f":{domain}"
    bot_regex = "@" + re.escape(config["appservice.bot.username"]) + f":{domain}"
    alias_prefix = str(config.get("appservice.alias_prefix") or "")
    alias_regex = "#" + re.escape(alias_prefix) + f".+:{domain}"
    registration: dict[str, Any] = {
        "id": config["appservice.id"],
        "url": config["appservice.address"],
        "as_token": config["appservice.as_token"],
        "hs_token": config["appservice.hs_token"],
        "sender_localpart": config["appservice.sender_localpart"],
        "rate_limited": False,
        "namespaces": {
            "users": [
                {"regex": bot_regex, "exclusive": True},
                {"regex": ghost_regex, "exclusive": True},
            ],
            "aliases": [{"regex": alias_regex, "exclusive": True}] if alias_prefix else [],
            "rooms": [],
        },
    }
    ephemeral = bool(config.get("appservice.ephemeral_events", True))
    if config.get("encryption.allow") and config.get("encryption.appservice"):
        ephemeral = True
        registration["org.matrix.msc3202"] = True
    if ephemeral:
        registration["receive_ephemeral"] = True
        registration["de.sorunome.msc2409.push_ephemeral"] = True
    if config.get("encryption.allow") and config.get("encryption.msc4190"):
        registration["io.element.msc4190"] = True
    return registration
