"""The operator-facing files agree with the code and with each other.

There is no container engine on the build machines, so the images are not built here;
these checks catch what silently breaks them (a renamed extra, a moved file, a service
name that no longer matches the registration's URL), and keep the annotated
registration and the homeserver lines in the docs equal to what the code writes and
what the test kit's Synapse runs with.
"""

from __future__ import annotations

import importlib.util
import os
import re
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bridgekit.config import Config, example_config
from bridgekit.registration import generate_tokens, registration_from_config
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector

ROOT = Path(__file__).resolve().parents[2]
BRIDGES = ("irc", "telegram", "discord")
PORT = 29300


def _yaml(text: str) -> Any:
    return YAML(typ="safe").load(text)


def _yaml_blocks(markdown: Path, containing: str) -> list[Any]:
    """The YAML code blocks of a Markdown file that mention ``containing`` (blocks
    inside list items are indented)."""
    blocks = re.findall(r"^( *)```yaml\n(.*?)\n\1```$", markdown.read_text(), re.M | re.S)
    return [_yaml(textwrap.dedent(block)) for _, block in blocks if containing in block]


@pytest.mark.parametrize("network", BRIDGES)
def test_each_bridge_image_installs_its_extras_and_runs_the_entrypoint(network: str) -> None:
    dockerfile = ROOT / "bridges" / network / "Dockerfile"
    text = dockerfile.read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]

    installed = re.search(r'pip install --no-cache-dir "\.\[([a-z0-9,]+)\]"', text)
    assert installed is not None
    assert installed.group(1).split(",") == [network, "postgres", "e2ee"]
    assert all(extra in extras for extra in installed.group(1).split(","))
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}"
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert final_stage.startswith("python:3.11-slim\n")
    assert re.search(r"^USER bridgekit$", final_stage, re.M)
    assert re.search(r"^VOLUME /data$", final_stage, re.M)
    assert f"BRIDGEKIT_NETWORK={network} " in final_stage
    assert f"EXPOSE {PORT}" in final_stage
    assert "COPY docker/entrypoint.sh /usr/local/bin/bridgekit-entrypoint" in final_stage
    assert 'ENTRYPOINT ["/usr/local/bin/bridgekit-entrypoint"]' in final_stage
    # The entrypoint runs `python -m bridges.<network>`.
    assert importlib.util.find_spec(f"bridges.{network}.__main__") is not None


def test_the_entrypoint_is_executable() -> None:
    assert os.access(ROOT / "docker" / "entrypoint.sh", os.X_OK)


def test_compose_wires_each_bridge_to_synapse_and_its_database() -> None:
    compose = _yaml((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    databases = compose["configs"]["bridge-databases"]["content"]

    assert set(services) == {"postgres", "synapse", *BRIDGES}
    synapse_mounts = services["synapse"]["volumes"]
    for network in BRIDGES:
        bridge = services[network]
        assert (ROOT / bridge["build"]["context"] / bridge["build"]["dockerfile"]).is_file()
        assert bridge["build"]["dockerfile"] == f"bridges/{network}/Dockerfile"
        assert f"./data/{network}:/data" in bridge["volumes"]
        assert f"./data/{network}:/bridges/{network}:ro" in synapse_mounts
        env = bridge["environment"]
        # Synapse reaches the bridge by its service name, on the image's port.
        assert env["BRIDGEKIT__APPSERVICE__ADDRESS"] == f"http://{network}:{PORT}"
        assert env["BRIDGEKIT__HOMESERVER__ADDRESS"] == "http://synapse:8008"
        assert env["BRIDGEKIT__DATABASE__URL"].endswith(f"@postgres/{network}")
        assert f"CREATE DATABASE {network};" in databases
        assert set(bridge["depends_on"]) == {"postgres", "synapse"}
        assert bridge["networks"] == services["synapse"]["networks"]


def test_the_docs_homeserver_lines_match_compose_and_the_kits_synapse() -> None:
    kit = SynapseServer(ROOT / "unused").homeserver_config()["experimental_features"]
    (install_lines,) = _yaml_blocks(ROOT / "docs" / "install.md", "app_service_config_files")

    assert install_lines["app_service_config_files"] == [
        f"/bridges/{network}/registration.yaml" for network in BRIDGES
    ]
    assert install_lines["experimental_features"] == kit
    for doc in ("synapse.md", "encryption.md"):
        (lines,) = _yaml_blocks(ROOT / "docs" / doc, "experimental_features")
        assert lines["experimental_features"] == kit, doc


def test_the_annotated_registration_is_what_dash_g_writes() -> None:
    example = _yaml((ROOT / "registration.yaml.example").read_text())
    connector = IRCConnector()
    config = Config.from_text(
        example_config("irc", connector.name.display_name, PORT, connector.example_config)
    )
    config["homeserver.domain"] = "example.org"
    config["appservice.address"] = f"http://irc:{PORT}"
    for flag in ("allow", "appservice", "msc4190"):
        config[f"encryption.{flag}"] = True
    generate_tokens(config)
    written = registration_from_config(config)

    assert list(example) == list(written)
    secrets = ("as_token", "hs_token", "sender_localpart")
    assert {k: v for k, v in example.items() if k not in secrets} == {
        k: v for k, v in written.items() if k not in secrets
    }
    assert re.fullmatch(r"_bk_[0-9a-f]{24}", example["sender_localpart"])
    assert re.fullmatch(r"_bk_[0-9a-f]{24}", written["sender_localpart"])
