"""The provisioning HTTP API end to end: a real HTTP client ⇄ the loopback bridge ⇄ the
real Synapse (which also vouches for OpenID tokens).

Every test that runs a bridge runs on SQLite or PostgreSQL (``database_url``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from ruamel.yaml import YAML

import bridgekit.provisioning
from bridgekit.bridge import Bridge
from bridgekit.config import ConfigError
from bridgekit.network import (
    LoginID,
)
from bridgekit.provisioning import PREFIX, ProvisioningAPI, load_openapi, validate_provisioning
from bridgekit.provisioning.auth import Authenticator
from bridgekit.provisioning.logins import LoginSessions
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer

SECRET = "prov-" + secrets.token_hex(16)
PASSWORD = "hunter2-" + secrets.token_hex(4)


class ProvisioningClient:
    """Calls the API with one set of credentials; answers (status, JSON body)."""

    def __init__(
        self, http: aiohttp.ClientSession, base: str, token: str | None, user_id: str | None
    ) -> None:
        self.http = http
        self.base = base
        self.token = token
        self.user_id = user_id

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        query = dict(params or {})
        if self.user_id is not None:
            query["user_id"] = self.user_id
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        async with self.http.request(
            method,
            self.base + path,
            json=body if data is None else None,
            data=data,
            params=query,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            assert response.content_type == "application/json", await response.text()
            return response.status, await response.json()


@dataclass
class Api:
    """A running loopback bridge with the provisioning API on."""

    bridge: Bridge
    world: LoopbackWorld
    base: str
    http: aiohttp.ClientSession

    def as_user(self, user_id: str | None, secret: str = SECRET) -> ProvisioningClient:
        """A client holding the shared secret, acting for ``user_id``."""
        return ProvisioningClient(self.http, self.base, secret, user_id)

    def with_openid(self, token: str, user_id: str | None = None) -> ProvisioningClient:
        """A client holding an OpenID token."""
        return ProvisioningClient(self.http, self.base, f"openid:{token}", user_id)

    def anonymous(self) -> ProvisioningClient:
        return ProvisioningClient(self.http, self.base, None, None)


@asynccontextmanager
async def provisioning_bridge(
    synapse: SynapseServer,
    setup: BridgeSetup,
    database_url: str,
    overrides: Mapping[str, Any] | None = None,
    connector: LoopbackConnector | None = None,
) -> AsyncIterator[Api]:
    settings: dict[str, Any] = {
        "provisioning.enabled": True,
        "provisioning.shared_secret": SECRET,
        "provisioning.allow_openid": True,
        **(overrides or {}),
    }
    connector = connector or LoopbackConnector()
    async with (
        run_bridge(connector, setup, synapse, database_url, settings) as bridge,
        aiohttp.ClientSession() as http,
    ):
        yield Api(bridge, connector.world, f"http://127.0.0.1:{setup.port}{PREFIX}", http)


@pytest.fixture
async def api(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str
) -> AsyncIterator[Api]:
    async with provisioning_bridge(synapse, loopback_setup, database_url) as running:
        yield running


async def openid_token(user: MatrixTestClient) -> str:
    """An OpenID token for ``user``, requested from Synapse as a client does."""
    path = f"/_matrix/client/v3/user/{quote(user.user_id, safe='')}/openid/request_token"
    result = await user.request("POST", path, {})
    token: str = result["access_token"]
    return token


async def log_in(client: ProvisioningClient, username: str) -> dict[str, Any]:
    """Run the loopback password flow through the API; answers the final response."""
    status, body = await client.call("POST", "/login/start/password")
    assert status == 200, body
    values = {"username": username, "password": PASSWORD}
    status, body = await client.call(
        "POST", f"/login/{body['process_id']}/input", {"values": values}
    )
    assert status == 200, body
    assert body["step"]["type"] == "complete", body
    return dict(body)


# Logging in ------------------------------------------------------------------------


async def test_login_with_code_then_list_and_logout(
    api: Api, matrix_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = await matrix_user("alice")
    api.world.add_account("alice", PASSWORD, name="Alice", code="123456")
    client = api.as_user(alice.user_id)

    status, body = await client.call("GET", "/login/flows")
    assert status == 200
    assert body == {
        "flows": [
            {
                "id": "password",
                "name": "Password",
                "description": "Log in with a username and password",
            }
        ]
    }

    status, body = await client.call("POST", "/login/start/password")
    assert status == 200, body
    process_id = body["process_id"]
    step = body["step"]
    assert (step["type"], step["step_id"]) == ("user_input", "credentials")
    assert [(f["id"], f["type"], f["secret"]) for f in step["fields"]] == [
        ("username", "username", False),
        ("password", "password", True),
    ]
    assert step["fields"][0]["pattern"] == "[a-z0-9_]+"

    status, body = await client.call("GET", f"/login/{process_id}")
    assert status == 200 and body["step"] == step

    values = {"username": "alice", "password": PASSWORD}
    status, body = await client.call("POST", f"/login/{process_id}/input", {"values": values})
    assert status == 200, body
    assert body["process_id"] == process_id
    assert (body["step"]["type"], body["step"]["step_id"]) == ("user_input", "code")
    assert [f["id"] for f in body["step"]["fields"]] == ["code"]

    status, body = await client.call(
        "POST", f"/login/{process_id}/input", {"values": {"code": "123456"}}
    )
    assert status == 200, body
    assert body["step"]["type"] == "complete"
    assert body["step"]["complete"] == {"login_id": "loopback-alice", "remote_name": "Alice"}
    assert (body["login_id"], body["remote_name"]) == ("loopback-alice", "Alice")

    login = api.bridge.logins[LoginID("loopback-alice")]
    assert login.user_mxid == alice.user_id
    assert [r.user_mxid for r in await api.bridge.logins_db.all()] == [alice.user_id]
    assert api.world.clients[LoginID("loopback-alice")].connected

    # A finished process is gone.
    status, body = await client.call("GET", f"/login/{process_id}")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")

    status, body = await client.call("GET", "/logins")
    assert status == 200
    assert body == {
        "logins": [
            {
                "login_id": "loopback-alice",
                "remote_name": "Alice",
                "state": "CONNECTED",
                "state_message": None,
            }
        ]
    }
    # Another user sees none of it and cannot log alice out.
    bob = api.as_user(f"@bob_{secrets.token_hex(3)}:{api.bridge.domain}")
    status, body = await bob.call("GET", "/logins")
    assert (status, body) == (200, {"logins": []})
    status, body = await bob.call("POST", "/logins/loopback-alice/logout")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert "loopback-alice" in api.bridge.logins

    status, body = await client.call("POST", "/logins/loopback-alice/logout")
    assert (status, body) == (200, {})
    assert api.bridge.logins == {}
    assert await api.bridge.logins_db.all() == []
    assert not api.world.clients[LoginID("loopback-alice")].connected
    status, body = await client.call("GET", "/logins")
    assert (status, body) == (200, {"logins": []})

    assert PASSWORD not in caplog.text and SECRET not in caplog.text
    assert "123456" not in caplog.text


async def test_wrong_answers_are_refused_and_the_process_stays_usable(api: Api) -> None:
    user_id = f"@carol_{secrets.token_hex(3)}:{api.bridge.domain}"
    api.world.add_account("carol", PASSWORD, name="Carol")
    client = api.as_user(user_id)
    status, body = await client.call("POST", "/login/start/password")
    assert status == 200, body
    input_path = f"/login/{body['process_id']}/input"

    status, body = await client.call(
        "POST", input_path, {"values": {"username": "carol", "password": "wrong"}}
    )
    assert (status, body["errcode"]) == (400, "IO.BRIDGEKIT.LOGIN_REJECTED")
    assert body["error"] == "Wrong username or password. Check them and try again."

    status, body = await client.call(
        "POST", input_path, {"values": {"username": "Carol!", "password": PASSWORD}}
    )
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    assert "values.username" in body["error"]
    status, body = await client.call("POST", input_path, {"values": {"username": "carol"}})
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")
    assert "values.password" in body["error"]
    status, body = await client.call("POST", input_path, data=b"{not json")
    assert (status, body["errcode"]) == (400, "M_NOT_JSON")
    status, body = await client.call("POST", input_path, {"values": "carol"})
    assert (status, body["errcode"]) == (400, "M_BAD_JSON")
    status, body = await client.call("POST", input_path.replace("/input", "/wait"))
    assert (status, body["errcode"]) == (409, "M_BAD_STATE")

    # Another user cannot use carol's process, even with the right answers.
    other = api.as_user(f"@mallory_{secrets.token_hex(3)}:{api.bridge.domain}")
    right = {"values": {"username": "carol", "password": PASSWORD}}
    status, body = await other.call("POST", input_path, right)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert api.bridge.logins == {}

    status, body = await client.call("POST", input_path, right)
    assert status == 200, body
    assert body["login_id"] == "loopback-carol"
    assert api.bridge.logins[LoginID("loopback-carol")].user_mxid == user_id

    # A cancelled process is gone.
    status, body = await client.call("POST", "/login/start/password")
    process_id = body["process_id"]
    status, body = await client.call("DELETE", f"/login/{process_id}")
    assert (status, body) == (200, {})
    status, body = await client.call("POST", f"/login/{process_id}/input", right)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    status, body = await client.call("POST", "/login/start/nope")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert "password" in body["error"]


async def test_display_and_wait_login(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str
) -> None:
    connector = LoopbackConnector(qr_login=True)
    async with provisioning_bridge(
        synapse, loopback_setup, database_url, connector=connector
    ) as api:
        api.world.add_account("kim", PASSWORD, name="Kim")
        client = api.as_user(f"@kim_{secrets.token_hex(3)}:{api.bridge.domain}")
        status, body = await client.call("GET", "/login/flows")
        assert [flow["id"] for flow in body["flows"]] == ["password", "qr"]

        status, body = await client.call("POST", "/login/start/qr")
        assert status == 200, body
        process_id = body["process_id"]
        assert body["step"]["type"] == "display_and_wait"
        assert body["step"]["display"] == {"type": "qr", "data": "loopback://qr/1"}
        assert body["step"]["fields"] == []

        waiting = asyncio.create_task(client.call("POST", f"/login/{process_id}/wait"))
        await asyncio.sleep(0.2)
        status, body = await client.call("POST", f"/login/{process_id}/wait")
        assert (status, body["errcode"]) == (409, "M_BAD_STATE")
        status, body = await client.call("POST", f"/login/{process_id}/input", {"values": {}})
        assert (status, body["errcode"]) == (409, "M_BAD_STATE")
        assert not waiting.done()

        await connector.scans.put("kim")
        status, body = await waiting
        assert status == 200, body
        assert (body["step"]["type"], body["login_id"]) == ("complete", "loopback-kim")
        assert api.bridge.logins[LoginID("loopback-kim")].remote_name == "Kim"

        # Cancelling a process answers the request that waits for it.
        status, body = await client.call("POST", "/login/start/qr")
        process_id = body["process_id"]
        waiting = asyncio.create_task(client.call("POST", f"/login/{process_id}/wait"))
        await asyncio.sleep(0.2)
        status, body = await client.call("DELETE", f"/login/{process_id}")
        assert (status, body) == (200, {})
        status, body = await waiting
        assert (status, body["errcode"]) == (410, "IO.BRIDGEKIT.LOGIN_CANCELLED")
        assert [p.cancelled for p in connector.qr_processes] == [False, True]

        # Stopping the bridge ends a process that a request still waits for. The waiting
        # request has its own HTTP session: the fixture's closes before the bridge stops.
        status, body = await client.call("POST", "/login/start/qr")
        process_id = body["process_id"]
        own_http = aiohttp.ClientSession()
        waiter = ProvisioningClient(own_http, api.base, client.token, client.user_id)
        waiting = asyncio.create_task(waiter.call("POST", f"/login/{process_id}/wait"))
        await asyncio.sleep(0.2)
    try:
        status, body = await waiting
        assert (status, body["errcode"]) == (410, "IO.BRIDGEKIT.LOGIN_CANCELLED")
        assert connector.qr_processes[-1].cancelled
    finally:
        await own_http.close()


# Authentication ---------------------------------------------------------------------


async def test_openid_token_of_a_real_user(
    api: Api, matrix_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dave = await matrix_user("dave")
    token = await openid_token(dave)
    api.world.add_account("dave", PASSWORD, name="Dave")
    client = api.with_openid(token)

    result = await log_in(client, "dave")
    assert result["login_id"] == "loopback-dave"
    assert api.bridge.logins[LoginID("loopback-dave")].user_mxid == dave.user_id
    status, body = await client.call("GET", "/logins")
    assert status == 200 and [x["login_id"] for x in body["logins"]] == ["loopback-dave"]
    # Naming itself is fine; naming someone else is not.
    status, body = await api.with_openid(token, dave.user_id).call("GET", "/logins")
    assert status == 200 and len(body["logins"]) == 1
    status, body = await api.with_openid(token, f"@admin:{api.bridge.domain}").call(
        "GET", "/logins"
    )
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")

    status, body = await api.with_openid("not-a-real-token").call("GET", "/logins")
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    status, body = await api.with_openid("").call("GET", "/logins")
    assert (status, body["errcode"]) == (401, "M_MISSING_TOKEN")
    assert token not in caplog.text and PASSWORD not in caplog.text


async def test_requests_without_the_right_credentials_are_refused(
    api: Api, matrix_user: Any
) -> None:
    erin = await matrix_user("erin")
    anonymous = api.anonymous()
    status, body = await anonymous.call("GET", "/logins")
    assert (status, body["errcode"]) == (401, "M_MISSING_TOKEN")
    status, body = await anonymous.call("POST", "/login/start/password")
    assert (status, body["errcode"]) == (401, "M_MISSING_TOKEN")
    status, body = await api.as_user(erin.user_id, secret=SECRET + "x").call("GET", "/logins")
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    # An access token of the user is not an OpenID token, nor the shared secret.
    status, body = await api.as_user(erin.user_id, secret=erin.access_token).call("GET", "/logins")
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    status, body = await api.as_user(None).call("GET", "/logins")
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")
    status, body = await api.as_user("erin").call("GET", "/logins")
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")

    # Relay level ("*" in the test config) may not log in; nor may the bridge's own bot.
    api.world.add_account("frank", PASSWORD)
    relay_user = api.as_user("@frank:elsewhere.test")
    status, body = await relay_user.call("POST", "/login/start/password")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    assert "relay" in body["error"]
    status, body = await relay_user.call("GET", "/login/flows")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    status, body = await api.as_user(str(api.bridge.bot_mxid)).call("GET", "/logins")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    assert api.bridge.logins == {}

    status, body = await api.as_user(erin.user_id).call("GET", "/no/such/thing")
    assert (status, body["errcode"]) == (404, "M_UNRECOGNIZED")
    async with api.http.options(
        api.base + "/logins", headers={"Origin": "https://front.example"}
    ) as response:
        assert response.status == 204
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


async def test_the_config_decides_what_is_accepted(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str, matrix_user: Any
) -> None:
    gina = await matrix_user("gina")
    token = await openid_token(gina)
    no_openid = {"provisioning.allow_openid": False}
    async with provisioning_bridge(synapse, loopback_setup, database_url, no_openid) as api:
        status, body = await api.with_openid(token).call("GET", "/logins")
        assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")
        status, body = await api.as_user(gina.user_id).call("GET", "/logins")
        assert status == 200
    no_secret = {"provisioning.shared_secret": ""}
    async with provisioning_bridge(synapse, loopback_setup, database_url, no_secret) as api:
        status, body = await api.as_user(gina.user_id, secret="").call("GET", "/logins")
        assert (status, body["errcode"]) == (401, "M_MISSING_TOKEN")
        status, body = await api.as_user(gina.user_id, secret=SECRET).call("GET", "/logins")
        assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")
        status, body = await api.with_openid(token).call("GET", "/logins")
        assert status == 200
    off = {"provisioning.enabled": False}
    async with provisioning_bridge(synapse, loopback_setup, database_url, off) as api:
        headers = {"Authorization": f"Bearer {SECRET}"}
        async with api.http.get(
            api.base + "/logins", params={"user_id": gina.user_id}, headers=headers
        ) as response:
            assert response.status == 404
        async with api.http.get(api.base + "/openapi.json") as response:
            assert response.status == 404


def test_a_weak_or_useless_provisioning_config_is_refused(loopback_setup: BridgeSetup) -> None:
    def config(**values: Any) -> Any:
        overrides = {f"provisioning.{key}": value for key, value in values.items()}
        return loopback_setup.config(LoopbackConnector(), overrides=overrides)

    with pytest.raises(ConfigError, match="shorter than 16"):
        validate_provisioning(config(enabled=True, shared_secret="short"))
    with pytest.raises(ConfigError, match="nobody could use the API"):
        validate_provisioning(config(enabled=True, shared_secret="", allow_openid=False))
    validate_provisioning(config(enabled=False, shared_secret="short"))
    validate_provisioning(config(enabled=True, shared_secret="", allow_openid=True))


async def test_an_idle_login_process_expires(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str
) -> None:
    overrides = {"bridge.login_timeout": 0.3}
    async with provisioning_bridge(synapse, loopback_setup, database_url, overrides) as api:
        client = api.as_user(f"@hank_{secrets.token_hex(3)}:{api.bridge.domain}")
        status, body = await client.call("POST", "/login/start/password")
        assert status == 200
        process_id = body["process_id"]
        await asyncio.sleep(1.0)
        status, body = await client.call("GET", f"/login/{process_id}")
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


# Finding people and starting chats --------------------------------------------------


async def test_resolve_and_start_chat(api: Api, matrix_user: Any) -> None:
    ivy = await matrix_user("ivy")
    client = api.as_user(ivy.user_id)
    status, body = await client.call("GET", "/resolve/jack")
    assert (status, body["errcode"]) == (400, "IO.BRIDGEKIT.NOT_LOGGED_IN")

    api.world.add_account("ivy", PASSWORD, name="Ivy")
    api.world.add_account("jack", "x", name="Jack")
    await log_in(client, "ivy")
    jack_ghost = api.bridge.ghost_mxid("jack")  # type: ignore[arg-type]

    status, body = await client.call("GET", "/resolve/jack")
    assert status == 200, body
    assert body == {
        "id": "jack",
        "name": "Jack",
        "identifiers": ["loopback:jack"],
        "mxid": jack_ghost,
        "room_id": None,
    }
    status, body = await client.call("GET", "/resolve/nobody")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    status, body = await client.call("GET", "/resolve/ivy")
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    assert body["error"] == "That is your own account."
    status, body = await client.call("GET", "/resolve/jack", params={"login_id": "nope"})
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")

    status, body = await client.call("POST", "/start-chat/jack")
    assert status == 200, body
    assert body["just_created"] is True and body["mxid"] == jack_ghost
    room_id = body["room_id"]
    assert room_id.startswith("!")
    assert await ivy.wait_for_invite() == room_id
    await ivy.join(room_id)
    assert jack_ghost in await ivy.get_joined_members(room_id)

    status, body = await client.call("POST", "/start-chat/jack")
    assert status == 200, body
    assert (body["room_id"], body["just_created"]) == (room_id, False)


async def test_bridge_and_unbridge_an_existing_room(api: Api, matrix_user: Any) -> None:
    ivy, mallory = await matrix_user("ivy"), await matrix_user("mallory")
    client, other = api.as_user(ivy.user_id), api.as_user(mallory.user_id)
    bot = str(api.bridge.bot_mxid)
    room = await ivy.create_room(name="Our room")
    path = f"/rooms/{quote(room, safe='')}"
    status, body = await client.call("POST", path + "/bridge", {"chat_id": "g1"})
    assert (status, body["errcode"]) == (400, "IO.BRIDGEKIT.NOT_LOGGED_IN")

    api.world.add_account("ivy", PASSWORD, name="Ivy")
    api.world.add_account("mallory", PASSWORD, name="Mallory")
    api.world.add_account("jack", "x", name="Jack")
    api.world.add_chat("g1", "Remote Group", ["ivy", "jack", "mallory"])
    await log_in(client, "ivy")
    await log_in(other, "mallory")

    status, body = await client.call("POST", path + "/bridge", {"chat": "g1"})
    assert (status, body["errcode"]) == (400, "M_BAD_JSON")
    status, body = await client.call("POST", "/rooms/nonsense/bridge", {"chat_id": "g1"})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    status, body = await client.call("POST", path + "/bridge", {"chat_id": "g1"})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    assert f"Invite {bot}" in body["error"]

    await ivy.invite(room, bot)
    await ivy.invite(room, mallory.user_id)
    await mallory.join(room)
    status, body = await client.call("POST", path + "/bridge", {"chat_id": "g1"})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    assert "I need power level 100 in this room" in body["error"]
    await ivy.set_user_power_level(room, bot, 100)
    status, body = await other.call("POST", path + "/bridge", {"chat_id": "g1"})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    assert "Only an admin of this room" in body["error"]
    status, body = await client.call("POST", path + "/bridge", {"chat_id": "nosuch"})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")

    status, body = await client.call("POST", path + "/bridge", {"chat_id": "g1"})
    assert status == 200, body
    bridged = {
        "room_id": room,
        "bridged": True,
        "portal": {"id": "g1", "receiver": None, "name": "Remote Group"},
    }
    assert body == bridged
    assert await client.call("GET", path) == (200, bridged)
    await api.world.send_message("g1", "jack", "into the bridged room")
    await ivy.wait_for_message(
        room, sender=api.bridge.ghost_mxid("jack"), body="into the bridged room"
    )  # type: ignore[arg-type]
    status, body = await client.call("POST", path + "/bridge", {"chat_id": "g1"})
    assert (status, body["errcode"]) == (409, "M_BAD_STATE")

    status, body = await other.call("DELETE", path + "/bridge")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    status, body = await client.call("DELETE", path + "/bridge")
    assert (status, body) == (200, {"room_id": room, "bridged": False, "portal": None})
    assert (await client.call("GET", path))[1]["bridged"] is False
    status, body = await client.call("DELETE", path + "/bridge")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


# The OpenAPI document ----------------------------------------------------------------


async def test_openapi_document_is_served_and_matches_the_routes(api: Api) -> None:
    committed_path = Path(bridgekit.provisioning.__file__).parent / "openapi.yaml"
    committed_text = committed_path.read_text()
    committed = YAML(typ="safe").load(committed_text)

    anonymous = api.anonymous()
    status, served = await anonymous.call("GET", "/openapi.json")
    assert status == 200
    assert served == committed
    async with api.http.get(api.base + "/openapi.yaml") as response:
        assert response.status == 200
        assert await response.text() == committed_text

    assert committed["openapi"].startswith("3.1")
    assert committed["servers"] == [{"url": PREFIX}]
    documented = {
        (method.upper(), path)
        for path, operations in committed["paths"].items()
        for method in operations
        if method != "parameters"
    }
    document, text = load_openapi()
    app = ProvisioningAPI(
        api.bridge,
        Authenticator(api.bridge, SECRET, True),
        LoginSessions(api.bridge, 60),
        document,
        text,
    ).app()
    routed = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method not in ("HEAD", "*") and route.resource is not None
    }
    assert routed == documented
