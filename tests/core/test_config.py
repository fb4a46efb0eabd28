"""Config loading: example merged into the operator's file, env overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridgekit.config import Config, ConfigError, example_config, validate
from bridgekit.registration import generate_tokens, registration_from_config

EXAMPLE = example_config("loopback", "Loopback", 29300, "setting: 1\nnested:\n    key: value\n")


def _valid(config: Config) -> Config:
    generate_tokens(config)
    return config


def test_upgrade_keeps_operator_values_and_adds_new_options(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "homeserver:\n    address: https://matrix.example.net\n    domain: example.net\n"
        "bridge:\n    permissions:\n        '@me:example.net': admin\n"
        "network:\n    setting: 5\n    extra_key: kept\n"
        "homeservr:\n    address: typo\n"
    )
    config = Config.load(path, EXAMPLE)
    assert config.unknown == ["homeservr.address"]  # reported, and left out
    assert config["homeserver.address"] == "https://matrix.example.net"
    assert config["bridge.permissions"] == {"@me:example.net": "admin"}  # replaced whole
    assert config["network.setting"] == 5 and config["network.extra_key"] == "kept"
    assert config["network.nested.key"] == "value"  # new option from the example
    assert config["bridge.max_media_size"] == 52428800
    written = path.read_text()
    assert "# Largest media file bridged" in written  # comments come along
    assert "https://matrix.example.net" in written


def test_environment_overrides_single_values() -> None:
    config = Config.from_text(EXAMPLE)
    applied = config.apply_env(
        {
            "BRIDGEKIT__APPSERVICE__PORT": "8080",
            "BRIDGEKIT__BRIDGE__RELAY__ENABLED": "true",
            "UNRELATED": "x",
        }
    )
    assert sorted(applied) == ["appservice.port", "bridge.relay.enabled"]
    assert config["appservice.port"] == 8080 and config["bridge.relay.enabled"] is True


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("homeserver.domain", "", "homeserver.domain is missing"),
        ("homeserver.address", "matrix:8008", "must start with http:// or https://"),
        ("appservice.port", "29300", "appservice.port is '29300', but must be a TCP port"),
        ("appservice.port", 70000, "between 1 and 65535"),
        ("appservice.bot.username", "Bridge Bot", "not a valid Matrix localpart"),
        ("appservice.ghost_username_template", "loopback_", "must contain {userid}"),
        ("database.url", "mysql://x", "must start with sqlite: or postgres://"),
        ("bridge.permissions", {"*": "superuser"}, "use one of relay, user, admin, block"),
        ("appservice.as_token", "generate", "Generate the registration first"),
        ("appservice.alias_prefix", "IRC #", "alias_prefix 'IRC #' must be empty or"),
    ],
)
def test_validation_names_the_field_and_the_fix(path: str, value: object, message: str) -> None:
    config = _valid(Config.from_text(EXAMPLE))
    validate(config)
    config[path] = value
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        validate(config)


def test_registration_has_every_field_the_encryption_mode_needs() -> None:
    config = _valid(Config.from_text(EXAMPLE))
    plain = registration_from_config(config)
    assert plain["receive_ephemeral"] is True and "org.matrix.msc3202" not in plain
    assert plain["sender_localpart"] != config["appservice.bot.username"]
    config["encryption.allow"] = True
    config["encryption.appservice"] = True
    config["encryption.msc4190"] = True
    encrypted = registration_from_config(config)
    assert encrypted["org.matrix.msc3202"] is True
    assert encrypted["de.sorunome.msc2409.push_ephemeral"] is True
    assert encrypted["io.element.msc4190"] is True


def test_the_registration_claims_room_aliases_only_with_a_prefix() -> None:
    config = _valid(Config.from_text(EXAMPLE))
    assert registration_from_config(config)["namespaces"]["aliases"] == []
    config["appservice.alias_prefix"] = "irc_"
    aliases = registration_from_config(config)["namespaces"]["aliases"]
    assert aliases == [{"regex": r"#irc_.+:example\.org", "exclusive": True}]
