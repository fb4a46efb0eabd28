"""--check-config names each thing that stops a bridge from working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bridgekit.config import Config
from bridgekit.db.errors import explain_database_error
from bridgekit.doctor import Check, run_checks
from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.loopback import LoopbackConnector
from bridgekit.testing.synapse import SynapseServer, free_port
from bridges.irc.connector import IRCConnector


def _setup_files(
    tmp_path: Path, setup: BridgeSetup, synapse: SynapseServer, **overrides: object
) -> tuple[Config, Path]:
    connector = LoopbackConnector()
    config = setup.config(
        connector, homeserver_url=synapse.url, database_url=f"sqlite:///{tmp_path / 'b.db'}"
    )
    registration = tmp_path / "registration.yaml"
    with registration.open("w") as stream:
        YAML().dump(setup.registration(connector), stream)
    for path, value in overrides.items():
        config[path.replace("__", ".")] = value
    return config, registration


def _failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


async def test_a_healthy_setup_passes_every_check(
    tmp_path: Path, loopback_setup: BridgeSetup, synapse: SynapseServer
) -> None:
    config, registration = _setup_files(tmp_path, loopback_setup, synapse)
    checks = await run_checks(config, registration)
    assert [c.name for c in checks] == [
        "config is valid",
        "registration matches the config",
        "database is reachable",
        "the bridge can reach the homeserver",
        "the homeserver knows the bridge's registration",
        "the homeserver can reach the bridge",
    ]
    assert not _failed(checks), [str(c) for c in checks]


async def test_a_missing_field_is_named(
    tmp_path: Path, loopback_setup: BridgeSetup, synapse: SynapseServer
) -> None:
    config, registration = _setup_files(tmp_path, loopback_setup, synapse, homeserver__domain="")
    [check] = await run_checks(config, registration)
    assert not check.ok and "homeserver.domain is missing" in check.advice


async def test_a_wrong_token_is_named(
    tmp_path: Path, loopback_setup: BridgeSetup, synapse: SynapseServer
) -> None:
    config, registration = _setup_files(
        tmp_path, loopback_setup, synapse, appservice__as_token="not-the-token"
    )
    failed = _failed(await run_checks(config, registration))
    assert [c.name for c in failed] == [
        "registration matches the config",
        "the homeserver knows the bridge's registration",
    ]
    assert "different as_token" in failed[0].advice
    assert "rejected the as_token" in failed[1].advice


async def test_an_unreachable_homeserver_is_named(
    tmp_path: Path, loopback_setup: BridgeSetup, synapse: SynapseServer
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    config, registration = _setup_files(
        tmp_path, loopback_setup, synapse, homeserver__address=nowhere
    )
    failed = _failed(await run_checks(config, registration))
    assert [c.name for c in failed] == ["the bridge can reach the homeserver"]
    assert nowhere in failed[0].advice and "homeserver.address" in failed[0].advice


async def test_a_homeserver_that_cannot_reach_the_bridge_is_named(
    tmp_path: Path, loopback_setup: BridgeSetup, synapse: SynapseServer
) -> None:
    # The bridge would listen on another port than the registration's URL names.
    config, registration = _setup_files(
        tmp_path, loopback_setup, synapse, appservice__port=free_port()
    )
    failed = _failed(await run_checks(config, registration))
    assert [c.name for c in failed] == ["the homeserver can reach the bridge"]
    assert "could not reach" in failed[0].advice


def test_check_config_from_the_command_line(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "bridgekit.cli", "--network", "loopback"]
    subprocess.run(run, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    subprocess.run([*run, "-g"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    result = subprocess.run(
        [*run, "--check-config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    # The example config points at a homeserver that is not there.
    assert result.returncode == 1
    assert "[ok  ] config is valid" in result.stdout
    assert "[ok  ] registration matches the config" in result.stdout
    assert "[FAIL] the bridge can reach the homeserver" in result.stdout


async def test_the_network_section_and_the_encryption_libraries_are_checked(
    tmp_path: Path,
    loopback_setup: BridgeSetup,
    synapse: SynapseServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, registration = _setup_files(tmp_path, loopback_setup, synapse)
    config["network"] = {"networks": [{"id": "Bad_ID", "servers": [{"host": "h"}]}]}
    [check] = await run_checks(config, registration, IRCConnector())
    assert not check.ok and "network section" in check.advice and "networks[0].id" in check.advice

    config, registration = _setup_files(tmp_path, loopback_setup, synapse, encryption__allow=True)
    checks = await run_checks(config, registration, LoopbackConnector())
    assert [c.ok for c in checks if c.name == "encryption libraries are installed"] == [True]
    monkeypatch.setitem(sys.modules, "olm", None)  # as if the e2ee extra were missing
    failed = _failed(await run_checks(config, registration, LoopbackConnector()))
    assert [c.name for c in failed] == ["encryption libraries are installed"]
    assert "e2ee" in failed[0].advice


def test_postgres_without_its_driver_is_explained() -> None:
    error = RuntimeError("Unknown database scheme postgres. Perhaps you forgot to install asyncpg?")
    explanation = explain_database_error(error)
    assert explanation is not None and "`postgres` extra" in explanation
