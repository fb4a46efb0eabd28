"""Bad input gets a clear error and harms nothing; secrets never reach the logs."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from bridgekit.network import MatrixMessage
from bridgekit.testing.bridge import BridgeSetup

from .conftest import Harness, log_in


def _txn_url(setup: BridgeSetup, txn: str) -> str:
    return f"http://127.0.0.1:{setup.port}/_matrix/app/v1/transactions/{txn}"


async def test_transactions_without_the_right_token_or_with_bad_json_are_refused(
    loopback: Harness,
) -> None:
    setup = loopback.setup
    body = {
        "events": [
            {
                "type": "m.room.message",
                "event_id": "$x",
                "room_id": "!r:x",
                "sender": "@a:x",
                "content": {"body": "hi", "msgtype": "m.text"},
            }
        ]
    }
    async with aiohttp.ClientSession() as http:
        async with http.put(_txn_url(setup, "t1"), json=body) as response:
            assert response.status in (401, 403)
        wrong = {"Authorization": "Bearer not-the-hs-token"}
        async with http.put(_txn_url(setup, "t2"), json=body, headers=wrong) as response:
            assert response.status in (401, 403)
        right = {"Authorization": f"Bearer {setup.hs_token}", "Content-Type": "application/json"}
        async with http.put(_txn_url(setup, "t3"), data=b"{not json", headers=right) as response:
            assert response.status == 400
            assert (await response.json())["errcode"] == "M_NOT_JSON"
        async with http.put(_txn_url(setup, "t4"), json={"no": "events"}, headers=right) as r:
            assert r.status == 400
    assert await loopback.bridge.db.fetchval("SELECT COUNT(*) FROM matrix_inbox") == 0


async def test_malformed_events_are_skipped_and_the_rest_is_handled(
    loopback: Harness, matrix_user: Any
) -> None:
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice")
    loopback.world.add_account("bob", "x")
    loopback.world.add_chat("g1", "Group", ["alice", "bob"])
    await loopback.world.send_message("g1", "bob", "hi")
    room_id = await alice.wait_for_invite()
    await alice.join(room_id)
    await alice.wait_for_message(room_id, body="hi")

    good = {
        "type": "m.room.message",
        "event_id": "$good-event",
        "room_id": room_id,
        "sender": alice.user_id,
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "the good one"},
    }
    events = [
        "not an event",
        {"type": "m.room.message"},  # no IDs
        {
            "type": "m.room.message",
            "event_id": "$bad",
            "room_id": room_id,
            "sender": alice.user_id,
            "content": "content must be an object",
        },
        good,
    ]
    headers = {"Authorization": f"Bearer {loopback.setup.hs_token}"}
    async with aiohttp.ClientSession() as http:
        url = _txn_url(loopback.setup, "mixed-1")
        async with http.put(url, json={"events": events}, headers=headers) as response:
            assert response.status == 200
    sent = await loopback.world.wait_for_sent(
        lambda e: isinstance(e, MatrixMessage) and e.body == "the good one"
    )
    assert sent.event.event_id == "$good-event"


async def test_no_secret_reaches_the_logs(
    loopback: Harness, matrix_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = await matrix_user("alice")
    await log_in(alice, loopback, "alice", code="918273")  # password "hunter2"
    secrets = [
        "hunter2",
        "918273",
        loopback.setup.as_token,
        loopback.setup.hs_token,
        alice.access_token,
    ]
    text = caplog.text
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"secrets in the logs: {leaked}"
    assert "ran login" in text  # the log was captured at all
