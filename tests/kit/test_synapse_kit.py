"""The Synapse half of the test kit works: users talk, media round-trips, and an
appservice listed in ``bridgekit_registrations`` receives transactions."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bridgekit.testing.matrix_client import MatrixRequestError, MatrixTestClient
from bridgekit.testing.synapse import SynapseServer
from tests.conftest import KitAppservice


async def test_two_users_exchange_text_and_html(synapse: SynapseServer, matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")

    room_id = await alice.create_room(invite=[bob.user_id], name="kit room")
    invited = await bob.wait_for_invite(lambda invite: invite.inviter == alice.user_id)
    assert invited == room_id
    await bob.join(room_id)

    plain_id = await bob.send_text(room_id, "hello alice")
    html_id = await bob.send_text(room_id, "hi *there*", html="hi <em>there</em>")

    plain = await alice.wait_for_event(room_id, lambda e: e.get("event_id") == plain_id)
    assert plain["sender"] == bob.user_id
    assert plain["room_id"] == room_id
    assert plain["content"] == {"msgtype": "m.text", "body": "hello alice"}
    html = await alice.wait_for_message(room_id, sender=bob.user_id, body="hi *there*")
    assert html["event_id"] == html_id
    assert html["content"]["format"] == "org.matrix.custom.html"
    assert html["content"]["formatted_body"] == "hi <em>there</em>"

    members = await alice.get_joined_members(room_id)
    assert set(members) == {alice.user_id, bob.user_id}
    assert (await bob.get_state_event(room_id, "m.room.name"))["name"] == "kit room"


async def test_media_round_trip(matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    data = os.urandom(70_000)

    mxc = await alice.upload(data, "application/octet-stream", "blob.bin")

    assert mxc.startswith("mxc://")
    assert await alice.download(mxc) == data


async def test_server_errors_carry_errcode(matrix_user: Any) -> None:
    alice = await matrix_user("alice")
    with pytest.raises(MatrixRequestError) as raised:
        await alice.join("!doesnotexist:bridgekit.test")
    assert raised.value.errcode in ("M_NOT_FOUND", "M_UNKNOWN", "M_FORBIDDEN")
    assert raised.value.status >= 400


class _TransactionSink:
    """A minimal appservice HTTP server that records the events pushed to it."""

    def __init__(self, hs_token: str) -> None:
        self.hs_token = hs_token
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self.arrived = asyncio.Event()

    async def transaction(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.hs_token}":
            self.rejected += 1
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        body = await request.json()
        self.events.extend(body.get("events", []))
        self.arrived.set()
        self.arrived = asyncio.Event()
        return web.json_response({})

    async def wait_for(self, event_id: str) -> dict[str, Any]:
        while True:
            for event in self.events:
                if event.get("event_id") == event_id:
                    return event
            await self.arrived.wait()


@pytest.fixture
async def transaction_sink(kit_appservice: KitAppservice) -> AsyncIterator[_TransactionSink]:
    sink = _TransactionSink(kit_appservice.hs_token)
    app = web.Application()
    app.router.add_put("/_matrix/app/v1/transactions/{txn_id}", sink.transaction)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", kit_appservice.port)
    await site.start()
    try:
        yield sink
    finally:
        await runner.cleanup()


async def test_appservice_receives_transaction(
    synapse: SynapseServer,
    matrix_user: Any,
    kit_appservice: KitAppservice,
    transaction_sink: _TransactionSink,
) -> None:
    # The sink is listening before anything can be sent to it: Synapse backs off for
    # a long time from an appservice it could not reach.
    bot_id = synapse.user_id(f"kittest_bot_{secrets.token_hex(3)}")
    bot = MatrixTestClient(synapse.url, bot_id, kit_appservice.as_token, as_appservice=True)
    try:
        await bot.register_appservice_user()
        alice = await matrix_user("alice")
        room_id = await alice.create_room(invite=[bot_id])
        await bot.join(room_id)

        text = f"to the appservice {secrets.token_hex(4)}"
        event_id = await alice.send_text(room_id, text)

        async with asyncio.timeout(15):
            pushed = await transaction_sink.wait_for(event_id)
        assert pushed["sender"] == alice.user_id
        assert pushed["room_id"] == room_id
        assert pushed["content"]["body"] == text
        assert transaction_sink.rejected == 0
    finally:
        await bot.close()
