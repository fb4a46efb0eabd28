"""``--check-config``: find what stops a bridge from working, and say how to fix it.

Each check prints one line: what was checked, and on failure what to do. The most
common failure in every bridge's issue tracker — a homeserver that cannot reach the
bridge — is checked for real: the homeserver is asked to ping the bridge's address
(a stand-in listener answers when the bridge is not running).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from mautrix.util.async_db import Database
from ruamel.yaml import YAML

from .config import Config, ConfigError, validate
from .db.errors import explain_database_error
from .network.connector import NetworkConnector
from .registration import registration_from_config

log = logging.getLogger("bridgekit.doctor")

TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(slots=True)
class Check:
    """One check's outcome; ``advice`` says what to do when it failed."""

    name: str
    ok: bool
    advice: str = ""

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"[{mark}] {self.name}" + ("" if self.ok else f"\n       → {self.advice}")


async def run_checks(
    config: Config, registration_path: Path | None, connector: NetworkConnector | None = None
) -> list[Check]:
    """Run every check that can run; later checks are skipped when the config is invalid.
    With ``connector`` its ``network:`` section is checked as the bridge would."""
    try:
        validate(config)
        if connector is not None:
            try:
                connector.load_config(dict(config.get("network") or {}))
            except ValueError as e:
                raise ConfigError(f"The network section of the config is wrong: {e}") from e
    except ConfigError as e:
        return [Check("config is valid", False, str(e))]
    checks = [Check("config is valid", True)]
    if config.get("encryption.allow"):
        checks.append(_check_encryption_libraries())
    checks.append(_check_registration(config, registration_path))
    checks.append(await _check_database(config))
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        reachable = await _check_homeserver(session, config)
        checks.append(reachable)
        if reachable.ok:
            token = await _check_token(session, config)
            checks.append(token)
            if token.ok:
                checks.append(await _check_homeserver_reaches_bridge(session, config))
    return checks


def _check_registration(config: Config, path: Path | None) -> Check:
    name = "registration matches the config"
    if path is None or not path.exists():
        return Check(name, False, f"No registration file at {path}: run the bridge with -g.")
    data: Any = YAML(typ="safe").load(path.read_text())
    expected = registration_from_config(config)
    for key in ("id", "url", "as_token", "hs_token", "sender_localpart"):
        if not isinstance(data, dict) or data.get(key) != expected[key]:
            return Check(
                name,
                False,
                f"{path} has a different {key} than the config. Generate it again with -g, "
                "give the new file to the homeserver and restart the homeserver.",
            )
    if data.get("namespaces") != expected["namespaces"]:
        return Check(name, False, f"The user namespaces in {path} are out of date: run -g again.")
    return Check(name, True)


def _check_encryption_libraries() -> Check:
    name = "encryption libraries are installed"
    try:
        import olm  # noqa: F401
    except ImportError:
        return Check(
            name,
            False,
            "encryption.allow is on, but python-olm is missing: install the `e2ee` extra "
            "(pip install '.[e2ee]'), or turn encryption.allow off.",
        )
    return Check(name, True)


async def _check_database(config: Config) -> Check:
    url = str(config["database.url"])
    db: Database | None = None
    try:
        db = Database.create(url)
        await db.start()
        await db.fetchval("SELECT 1")
    except Exception as e:
        shown = url.split("@")[-1] if "@" in url else url
        explanation = explain_database_error(e) or (
            f"Could not open the database: {type(e).__name__}: {e}. "
            "Check database.url, that the server runs and the user may connect."
        )
        return Check("database is reachable", False, f"{shown}: {explanation}")
    finally:
        try:
            if db is not None:
                await db.stop()
        except Exception:
            log.debug("Closing the database failed", exc_info=True)
    return Check("database is reachable", True)


async def _check_homeserver(session: aiohttp.ClientSession, config: Config) -> Check:
    address = str(config["homeserver.address"]).rstrip("/")
    name = "the bridge can reach the homeserver"
    try:
        async with session.get(f"{address}/_matrix/client/versions") as response:
            if response.status == 200:
                return Check(name, True)
            return Check(
                name,
                False,
                f"{address} answered HTTP {response.status}: is homeserver.address the "
                "homeserver's client API?",
            )
    except (aiohttp.ClientError, TimeoutError) as e:
        return Check(name, False, f"Cannot connect to {address} ({e}). Check homeserver.address.")


async def _check_token(session: aiohttp.ClientSession, config: Config) -> Check:
    address = str(config["homeserver.address"]).rstrip("/")
    headers = {"Authorization": f"Bearer {config['appservice.as_token']}"}
    name = "the homeserver knows the bridge's registration"
    # Without user_id the as_token acts as the appservice's own sender user, which
    # exists as soon as the homeserver loaded the registration.
    async with session.get(
        f"{address}/_matrix/client/v3/account/whoami", headers=headers
    ) as response:
        if response.status == 200:
            return Check(name, True)
        body = await response.json(content_type=None)
        errcode = body.get("errcode") if isinstance(body, dict) else None
        return Check(
            name,
            False,
            f"The homeserver rejected the as_token ({errcode or response.status}). Add "
            "registration.yaml to app_service_config_files in homeserver.yaml and restart "
            "the homeserver; if you ran -g since, give it the new file.",
        )


async def _check_homeserver_reaches_bridge(session: aiohttp.ClientSession, config: Config) -> Check:
    name = "the homeserver can reach the bridge"
    hs_token = str(config["appservice.hs_token"])
    listener = await _stand_in_listener(config, hs_token)
    try:
        address = str(config["homeserver.address"]).rstrip("/")
        headers = {"Authorization": f"Bearer {config['appservice.as_token']}"}
        url = f"{address}/_matrix/client/v1/appservice/{config['appservice.id']}/ping"
        async with session.post(url, json={}, headers=headers) as response:
            if response.status == 200:
                return Check(name, True)
            body = await response.json(content_type=None)
            error = body.get("error", "") if isinstance(body, dict) else ""
            return Check(
                name,
                False,
                f"The homeserver could not reach {config['appservice.address']} ({error}). "
                "appservice.address must be an address the homeserver can connect to (in "
                "containers: the bridge's service name, not localhost), and the bridge must "
                "listen on it (appservice.hostname 0.0.0.0 in a container, appservice.port).",
            )
    finally:
        if listener is not None:
            await listener()


async def _stand_in_listener(config: Config, hs_token: str) -> Callable[[], Awaitable[None]] | None:
    """Listen where the bridge would, to answer the homeserver's ping (unless the
    bridge already runs there). Returns a function that stops it."""

    async def ping(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {hs_token}":
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/_matrix/app/v1/ping", ping)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, str(config["appservice.hostname"]), int(config["appservice.port"])
        )
        await site.start()
    except OSError:
        await runner.cleanup()
        return None  # something (the bridge itself, presumably) listens there already
    return runner.cleanup
