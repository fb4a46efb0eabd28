"""The container entrypoint (docker/entrypoint.sh), run as a plain script in a temp dir.

There is no container engine on the build machines, so these tests run the script the
way the image does (``ENTRYPOINT``), with ``BRIDGEKIT_DATA`` standing in for the
``/data`` volume and the loopback network standing in for a bundled bridge.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bridgekit.testing.synapse import SynapseServer, free_port

ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "entrypoint.sh"
LOOPBACK = f"{sys.executable} -m bridgekit.cli --network loopback"


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEKIT")}
    env.update(
        BRIDGEKIT_DATA=str(data),
        BRIDGEKIT_PYTHON=sys.executable,
        BRIDGEKIT_COMMAND=LOOPBACK,
    )
    env.update(extra)
    return env


def _start(env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Run from another directory: the script must work in the data directory itself.
    return subprocess.run(
        [str(ENTRYPOINT)], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def _set_domain(config: Path, domain: str) -> None:
    """What the operator does in an editor after the first start."""
    text = config.read_text()
    assert "domain: example.org" in text
    config.write_text(text.replace("domain: example.org", f"domain: {domain}", 1))


def test_first_start_writes_a_private_config_and_names_the_overrides(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    secret_url = "postgres://bridge:s3cret-pw@db/bridge"
    result = _start(_env(data, BRIDGEKIT__DATABASE__URL=secret_url), tmp_path)

    assert result.returncode == 0, result.stderr
    config = data / "config.yaml"
    assert _load(config)["appservice"]["bot"]["username"] == "loopbackbot"
    assert config.stat().st_mode & 0o777 == 0o600
    assert not (data / "registration.yaml").exists()
    assert "Step 1 of 3" in result.stdout
    assert "BRIDGEKIT__DATABASE__URL" in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_second_start_refuses_the_example_server_name(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert _start(_env(data), tmp_path).returncode == 0

    result = _start(_env(data), tmp_path)

    assert result.returncode == 1
    assert "homeserver.domain" in result.stderr
    assert not (data / "registration.yaml").exists()


def test_second_start_writes_a_registration_with_the_configs_tokens(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = _env(data, BRIDGEKIT__APPSERVICE__ADDRESS="http://loopback-bridge:29300")
    assert _start(env, tmp_path).returncode == 0
    _set_domain(data / "config.yaml", "chat.example.net")

    result = _start(env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Step 2 of 3" in result.stdout
    registration_file = data / "registration.yaml"
    assert registration_file.stat().st_mode & 0o777 == 0o644
    registration = _load(registration_file)
    appservice = _load(data / "config.yaml")["appservice"]
    assert registration["as_token"] == appservice["as_token"] != "generate"
    assert registration["hs_token"] == appservice["hs_token"] != "generate"
    assert registration["sender_localpart"] == appservice["sender_localpart"]
    assert registration["url"] == "http://loopback-bridge:29300"
    regexes = [ns["regex"] for ns in registration["namespaces"]["users"]]
    assert regexes == [r"@loopbackbot:chat\.example\.net", r"@loopback_.+:chat\.example\.net"]


def _bot_displayname(synapse: SynapseServer, bot: str) -> str:
    url = f"{synapse.url}/_matrix/client/v3/profile/{urllib.parse.quote(bot)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(json.load(response)["displayname"])


def _wait_for_line(log: Path, process: subprocess.Popen[bytes], text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise AssertionError(f"the bridge exited ({process.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} within 60 s:\n{log.read_text()}")
        time.sleep(0.1)


def test_third_start_runs_the_bridge_until_stopped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    env = _env(
        data,
        BRIDGEKIT__APPSERVICE__ADDRESS=f"http://127.0.0.1:{port}",
        BRIDGEKIT__APPSERVICE__PORT=str(port),
        # A relative SQLite path: the file must land in the data directory.
        BRIDGEKIT__DATABASE__URL="sqlite:bridge.db",
    )
    assert _start(env, tmp_path).returncode == 0
    _set_domain(data / "config.yaml", "bridgekit.test")
    assert _start(env, tmp_path).returncode == 0
    synapse = SynapseServer(tmp_path / "synapse", [_load(data / "registration.yaml")])
    synapse.start()
    log = tmp_path / "bridge.log"
    env["BRIDGEKIT__HOMESERVER__ADDRESS"] = synapse.url
    try:
        # Arguments reach the bridge: the checks pass, both directions included.
        check = subprocess.run(
            [str(ENTRYPOINT), "--check-config"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "registration matches the config" in check.stdout
        with log.open("wb") as output:
            bridge = subprocess.Popen(
                [str(ENTRYPOINT)],
                env=env,
                cwd=tmp_path,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            # "ready" comes after the homeserver accepted the as_token and pinged the
            # bridge back at its address with the hs_token.
            _wait_for_line(log, bridge, "Bridge loopback is ready")
            name = _bot_displayname(synapse, "@loopbackbot:bridgekit.test")
            assert name == "Loopback bridge bot"
            # The script replaced itself with the bridge, so the signal reaches Python.
            bridge.send_signal(signal.SIGTERM)
            assert bridge.wait(timeout=30) == 0, log.read_text()
        finally:
            if bridge.poll() is None:
                bridge.kill()
                bridge.wait()
    finally:
        synapse.stop()
    assert (data / "bridge.db").stat().st_size > 0


def test_without_a_network_it_says_what_to_set(tmp_path: Path) -> None:
    env = _env(tmp_path)
    del env["BRIDGEKIT_COMMAND"]

    result = _start(env, tmp_path)

    assert result.returncode == 1
    assert "BRIDGEKIT_NETWORK" in result.stderr
    assert not (tmp_path / "config.yaml").exists()
