"""/metrics counts what was bridged; liveness and readiness answer; the token is enforced."""

from __future__ import annotations

from typing import Any

import aiohttp

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.synapse import SynapseServer

from .conftest import Harness, log_in


def _value(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_a_bridged_message(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str, matrix_user: Any
) -> None:
    world = LoopbackWorld()
    overrides = {"metrics.enabled": True, "metrics.token": "s3cret-metrics"}
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        base = f"http://127.0.0.1:{loopback_setup.port}"
        auth = {"Authorization": "Bearer s3cret-metrics"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/_matrix/mau/live") as response:
                assert response.status == 200
            async with http.get(f"{base}/_matrix/mau/ready") as response:
                assert response.status == 200
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 401
            async with http.get(f"{base}/metrics", headers={"Authorization": "Bearer no"}) as r:
                assert r.status == 401

            alice = await matrix_user("alice")
            await log_in(
                alice, Harness(bridge, world, loopback_setup, synapse, database_url), "alice"
            )
            world.add_account("bob", "x")
            world.add_chat("g1", "Group", ["alice", "bob"])
            await world.send_message("g1", "bob", "counted")
            room_id = await alice.wait_for_invite()
            await alice.join(room_id)
            await alice.wait_for_message(room_id, body="counted")
            await alice.send_text(room_id, "counted too")
            await world.wait_for_sent(lambda e: getattr(e, "body", None) == "counted too")
            portal = await bridge.get_portal_by_mxid(room_id)
            assert portal is not None
            await portal.queue.drain()  # the count follows the mapping row, after the send

            async with http.get(f"{base}/metrics", headers=auth) as response:
                assert response.status == 200
                text = await response.text()
        to_matrix = 'bridgekit_events_total{direction="to_matrix",type="RemoteMessage"}'
        to_network = 'bridgekit_events_total{direction="to_network",type="m.room.message"}'
        assert _value(text, to_matrix) == 1.0
        assert _value(text, to_network) == 1.0
        assert _value(text, "bridgekit_logins_connected") == 1.0
        assert 'bridgekit_event_seconds_count{direction="to_matrix"}' in text
