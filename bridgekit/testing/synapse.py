"""A real Synapse homeserver, run as a subprocess for tests.

Synapse reads appservice registrations only at start-up, so everything a test session
needs (every bridge's registration, with its port and tokens already decided) must be
handed to :class:`SynapseServer` before :meth:`SynapseServer.start`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import importlib.util
import json
import logging
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from ruamel.yaml import YAML

__all__ = [
    "SynapseError",
    "SynapseNotInstalledError",
    "SynapseServer",
    "free_port",
    "synapse_available",
]

log = logging.getLogger("bridgekit.testing.synapse")

# Tests create users, rooms and messages far faster than any person: without these
# limits Synapse answers 429 in the middle of a test.
_GENEROUS = {"per_second": 1000, "burst_count": 10000}
_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _GENEROUS,
    "rc_registration": _GENEROUS,
    "rc_registration_token_validity": _GENEROUS,
    "rc_login": {"address": _GENEROUS, "account": _GENEROUS, "failed_attempts": _GENEROUS},
    "rc_admin_redaction": _GENEROUS,
    "rc_joins": {"local": _GENEROUS, "remote": _GENEROUS},
    "rc_joins_per_room": _GENEROUS,
    "rc_key_requests": _GENEROUS,
    "rc_3pid_validation": _GENEROUS,
    "rc_invites": {"per_room": _GENEROUS, "per_user": _GENEROUS, "per_issuer": _GENEROUS},
    "rc_third_party_invite": _GENEROUS,
    "rc_media_create": _GENEROUS,
    "rc_presence": {"per_user": _GENEROUS},
    "rc_delayed_event_mgmt": _GENEROUS,
    "rc_room_creation": _GENEROUS,
    "rc_reports": _GENEROUS,
    "rc_user_directory": _GENEROUS,
    "rc_profile": _GENEROUS,
}

_LOG_FORMAT = "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"

INSTALL_HINT = "matrix-synapse is not installed: pip install 'bridgekit[test]'"


class SynapseError(RuntimeError):
    """Synapse failed to start, or its admin API refused a request."""


class SynapseNotInstalledError(SynapseError):
    """The ``synapse`` package cannot be imported by this interpreter."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The port is only probably free by the time it is used; that is good enough for
    loopback test servers started right after.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into a copy of ``base``; nested mappings merge, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _dump_yaml(data: Any, path: Path) -> None:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def _plain(data: Any) -> Any:
    """Turn mappings and sequences into plain dicts and lists so YAML can dump them."""
    if isinstance(data, Mapping):
        return {str(key): _plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(value) for value in data]
    return data


class SynapseServer:
    """One Synapse process serving the client-server API on a free 127.0.0.1 port.

    ``registrations`` are appservice registrations as plain dicts in the registration
    file format (``id``, ``url``, ``as_token``, ``hs_token``, ``sender_localpart``,
    ``namespaces``, ...). Each is written to a YAML file in ``workdir`` and loaded by
    Synapse at start-up. ``extra_config`` is merged (nested mappings recursively) over
    the generated ``homeserver.yaml``.

    The server is not started by the constructor: call :meth:`start` (or use the
    object as a context manager) and :meth:`stop` when done.
    """

    def __init__(
        self,
        workdir: Path,
        registrations: Sequence[Mapping[str, Any]] = (),
        server_name: str = "bridgekit.test",
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.registrations = [_plain(reg) for reg in registrations]
        self._server_name = server_name
        self._extra_config = dict(extra_config or {})
        self.port = free_port()
        self.shared_secret = secrets.token_hex(16)
        self._process: subprocess.Popen[bytes] | None = None
        self._stdout: Any = None

    @property
    def url(self) -> str:
        """Base URL of the client-server API, e.g. ``http://127.0.0.1:8448``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The homeserver's process ID while it runs (benchmarks read its CPU time)."""
        return self._process.pid if self._process is not None else None

    @property
    def server_name(self) -> str:
        """The homeserver's name: the part after the colon in user IDs."""
        return self._server_name

    @property
    def log_path(self) -> Path:
        """Synapse's own log file (the place to look when a test fails)."""
        return self.workdir / "homeserver.log"

    @property
    def stdout_path(self) -> Path:
        """Synapse's stdout and stderr: configuration errors end up here, not in the log."""
        return self.workdir / "homeserver.stdout"

    @property
    def running(self) -> bool:
        """True while the Synapse process is alive."""
        return self._process is not None and self._process.poll() is None

    def user_id(self, localpart: str) -> str:
        """The full Matrix user ID of ``localpart`` on this server."""
        return f"@{localpart}:{self._server_name}"

    def homeserver_config(self) -> dict[str, Any]:
        """The ``homeserver.yaml`` contents :meth:`start` writes."""
        registration_files = [
            str(self.workdir / f"registration-{index}.yaml")
            for index in range(len(self.registrations))
        ]
        config: dict[str, Any] = {
            "server_name": self._server_name,
            "public_baseurl": self.url + "/",
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # openid: the userinfo endpoint that checks OpenID tokens (provisioning).
                    "resources": [{"names": ["client", "openid"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.workdir / "homeserver.db")},
            },
            "log_config": str(self.workdir / "log_config.yaml"),
            "media_store_path": str(self.workdir / "media_store"),
            "signing_key_path": str(self.workdir / "signing.key"),
            "report_stats": False,
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "enable_registration": False,
            "bcrypt_rounds": 4,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "max_upload_size": "50M",
            "presence": {"enabled": True},
            "enable_metrics": False,
            "app_service_config_files": registration_files,
            "experimental_features": {
                "msc2409_to_device_messages_enabled": True,
                "msc3202_transaction_extensions": True,
            },
            **copy.deepcopy(_RATE_LIMITS),
        }
        return _deep_merge(config, self._extra_config)

    def _log_config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "formatters": {"precise": {"format": _LOG_FORMAT}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "loggers": {
                # DEBUG on this logger would write access tokens into the log.
                "synapse.storage.SQL": {"level": "INFO"},
                "twisted": {"level": "WARNING"},
            },
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    def write_config(self) -> Path:
        """Write ``homeserver.yaml``, the log config and the registrations; return the config."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for index, registration in enumerate(self.registrations):
            _dump_yaml(registration, self.workdir / f"registration-{index}.yaml")
        _dump_yaml(self._log_config(), self.workdir / "log_config.yaml")
        config_path = self.workdir / "homeserver.yaml"
        _dump_yaml(self.homeserver_config(), config_path)
        return config_path

    def start(self, timeout: float = 60.0) -> None:
        """Start Synapse and block until its client API answers.

        Raises :class:`SynapseNotInstalledError` when the ``synapse`` package is
        missing, and :class:`SynapseError` (with the tail of the logs) when the
        process exits or does not answer within ``timeout`` seconds.
        """
        if self.running:
            return
        if importlib.util.find_spec("synapse") is None:
            raise SynapseNotInstalledError(INSTALL_HINT)
        config_path = self.write_config()
        self._stdout = self.stdout_path.open("ab")
        started = time.monotonic()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config_path)],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
        )
        deadline = started + timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._close_stdout()
                self._process = None
                raise SynapseError(f"Synapse exited with status {code}\n{self.log_tail()}")
            if self._answers():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise SynapseError(
                    f"Synapse did not answer on {self.url} within {timeout:.0f} s\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)
        log.info(
            "Synapse %s up on %s in %.1f s (workdir %s)",
            self._server_name,
            self.url,
            time.monotonic() - started,
            self.workdir,
        )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_matrix/client/versions", timeout=1) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Synapse: SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("Synapse ignored SIGTERM for %.0f s; killing it", timeout)
                process.kill()
                process.wait()
        self._close_stdout()

    def _close_stdout(self) -> None:
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of Synapse's stdout and of its log file."""
        parts = []
        for path in (self.stdout_path, self.log_path):
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
                parts.append(f"--- {path} (last {lines} lines) ---")
                parts.extend(text[-lines:])
        return "\n".join(parts) if parts else "(Synapse wrote no log)"

    def __enter__(self) -> SynapseServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _registration_body(
        self, nonce: str, localpart: str, password: str, admin: bool
    ) -> dict[str, Any]:
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode())
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        return {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }

    def register_user(
        self, localpart: str, password: str | None = None, admin: bool = False
    ) -> tuple[str, str]:
        """Create a user through the shared-secret admin API; return (user_id, access_token).

        Blocking, so it also works from synchronous fixtures. A random password is used
        when none is given.
        """
        password = password or secrets.token_urlsafe(12)
        endpoint = self.url + "/_synapse/admin/v1/register"
        nonce = self._sync_json("GET", endpoint, None)["nonce"]
        body = self._registration_body(nonce, localpart, password, admin)
        result = self._sync_json("POST", endpoint, body)
        return result["user_id"], result["access_token"]

    async def aregister_user(
        self, localpart: str, password: str | None = None, admin: bool = False
    ) -> tuple[str, str]:
        """Like :meth:`register_user`, without blocking the event loop."""
        password = password or secrets.token_urlsafe(12)
        endpoint = self.url + "/_synapse/admin/v1/register"
        async with aiohttp.ClientSession() as session:
            async with session.get(endpoint) as resp:
                nonce = self._parse_admin_response(resp.status, await resp.read())["nonce"]
            body = self._registration_body(nonce, localpart, password, admin)
            async with session.post(endpoint, json=body) as resp:
                result = self._parse_admin_response(resp.status, await resp.read())
        return result["user_id"], result["access_token"]

    def _sync_json(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        return self._parse_admin_response(status, raw)

    @staticmethod
    def _parse_admin_response(status: int, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        if status != 200 or not isinstance(data, dict):
            raise SynapseError(
                f"user registration failed: HTTP {status} "
                f"{data.get('errcode', '') if isinstance(data, dict) else ''} "
                f"{data.get('error', raw[:200]) if isinstance(data, dict) else raw[:200]!r}"
            )
        return data

    def __repr__(self) -> str:
        return f"<SynapseServer {self._server_name} at {self.url} in {self.workdir}>"


def synapse_available() -> bool:
    """True when this interpreter can run Synapse."""
    return importlib.util.find_spec("synapse") is not None
