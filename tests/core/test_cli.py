"""The command line: first run writes a config, -g writes a registration Synapse accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from bridgekit.config import Config, ConfigError, validate
from bridgekit.testing.synapse import SynapseServer


def _cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridgekit.cli", "--network", "loopback", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_first_run_writes_config_then_g_writes_registration(tmp_path: Path) -> None:
    first = _cli(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Wrote an example config" in first.stdout
    config_text = (tmp_path / "config.yaml").read_text()
    assert "loopbackbot" in config_text and "network:" in config_text

    second = _cli(tmp_path, "-g")
    assert second.returncode == 0, second.stderr
    registration = YAML(typ="safe").load((tmp_path / "registration.yaml").read_text())
    config = YAML(typ="safe").load((tmp_path / "config.yaml").read_text())
    assert registration["as_token"] == config["appservice"]["as_token"]
    assert registration["hs_token"] == config["appservice"]["hs_token"]
    assert len(registration["as_token"]) >= 40
    assert registration["rate_limited"] is False
    regexes = [ns["regex"] for ns in registration["namespaces"]["users"]]
    assert regexes == [r"@loopbackbot:example\.org", r"@loopback_.+:example\.org"]
    # The example's placeholder server name is pointed out; a real one is not.
    assert "homeserver.domain is still example.org" in second.stdout
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config_file.read_text().replace("domain: example.org", "domain: my.hs"))
    third = _cli(tmp_path, "-g")
    assert third.returncode == 0, third.stderr
    assert "homeserver.domain is still" not in third.stdout

    # The homeserver accepts the generated registration.
    synapse = SynapseServer(tmp_path / "hs", [registration], server_name="example.org")
    synapse.start()
    try:
        assert "Loaded application service" in synapse.log_path.read_text()
    finally:
        synapse.stop()


def test_g_keeps_environment_values_out_of_the_config_file(tmp_path: Path) -> None:
    assert _cli(tmp_path).returncode == 0
    env = {
        "BRIDGEKIT__APPSERVICE__ADDRESS": "http://bridge.internal:29999",
        "BRIDGEKIT__DATABASE__URL": "postgres://irc:s3cret-from-env@db/irc",
    }
    generated = _cli(tmp_path, "-g", env=env)
    assert generated.returncode == 0, generated.stderr
    config_text = (tmp_path / "config.yaml").read_text()
    assert "s3cret-from-env" not in config_text and "bridge.internal" not in config_text
    config = YAML(typ="safe").load(config_text)
    registration = YAML(typ="safe").load((tmp_path / "registration.yaml").read_text())
    # The registration is the bridge's view: the environment's address, the file's tokens.
    assert registration["url"] == "http://bridge.internal:29999"
    assert registration["as_token"] == config["appservice"]["as_token"]


def test_unknown_network_is_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridgekit.cli", "--network", "pigeon"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "No network plugin named 'pigeon'" in result.stderr
    assert "loopback" in result.stderr


def test_validation_names_the_bad_field() -> None:
    config = Config.from_text("homeserver: {address: 'synapse:8008', domain: example.org}\n")
    try:
        validate(config)
    except ConfigError as e:
        assert "homeserver.address" in str(e) and "http://" in str(e)
    else:
        raise AssertionError("a homeserver address without a scheme was accepted")


def test_a_failed_start_explains_itself_and_exits(tmp_path: Path) -> None:
    """Nothing listens at homeserver.address: the bridge says so and exits non-zero
    (it used to hang with the database open, so a supervisor never restarted it)."""
    assert _cli(tmp_path).returncode == 0
    config_file = tmp_path / "config.yaml"
    text = config_file.read_text().replace("domain: example.org", "domain: my.hs")
    config_file.write_text(text.replace("http://127.0.0.1:8008", "http://127.0.0.1:9"))
    assert _cli(tmp_path, "-g").returncode == 0
    assert config_file.stat().st_mode & 0o077 == 0  # it holds the tokens now
    started = _cli(tmp_path)
    assert started.returncode != 0
    assert "The bridge could not start: Cannot reach the homeserver at http://127.0.0.1:9" in (
        started.stderr
    )
    assert "Traceback" not in started.stderr
