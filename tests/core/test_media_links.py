"""Public links to Matrix media, served by the bridge itself (the homeserver serves
media only to authenticated users): a network that sends links gets one that works,
only links the bridge signed are served, and active content is never served inline."""

from __future__ import annotations

import io
from typing import Any

import aiohttp

from bridgekit.network import MatrixMessage
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.synapse import SynapseServer

from .conftest import Harness, log_in

PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 300


async def _sent_media(harness: Harness, alice: Any, room_id: str, data: bytes, **kw: Any) -> Any:
    await alice.send_media(room_id, data, **kw)
    sent = await harness.world.wait_for_sent(
        lambda e: isinstance(e, MatrixMessage) and e.media is not None and e.body == kw["filename"]
    )
    assert isinstance(sent.event, MatrixMessage) and sent.event.media is not None
    return sent.event.media


async def test_media_links_are_served_by_the_bridge(
    synapse: SynapseServer,
    loopback_setup: BridgeSetup,
    database_url: str,
    matrix_user: Any,
) -> None:
    base = f"http://127.0.0.1:{loopback_setup.port}"
    world = LoopbackWorld()
    overrides = {"bridge.public_media_url": base + "/"}
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        harness = Harness(bridge, world, loopback_setup, synapse, database_url)
        alice = await matrix_user("alice")
        await log_in(alice, harness, "alice")
        world.add_account("bob", "x")
        world.add_chat("g1", "Group", ["alice", "bob"])
        await world.send_message("g1", "bob", "hello")
        room_id = await alice.wait_for_invite()
        await alice.join(room_id)

        media = await _sent_media(
            harness, alice, room_id, PICTURE, content_type="image/png", filename="cat pic.png"
        )
        assert media.public_url is not None
        assert media.public_url.startswith(base + "/_bridgekit/media/")
        assert media.public_url.endswith("/cat%20pic.png")
        page = await _sent_media(
            harness,
            alice,
            room_id,
            b"<script>alert(1)</script>",
            content_type="text/html",
            filename="page.html",
        )

        async with aiohttp.ClientSession() as http:
            async with http.get(media.public_url) as response:
                assert response.status == 200
                assert await response.read() == PICTURE
                assert response.headers["Content-Type"] == "image/png"
                assert response.headers["Content-Disposition"].startswith("inline;")
                assert response.headers["X-Content-Type-Options"] == "nosniff"

            # HTML from a Matrix user must not run on the bridge's address.
            async with http.get(page.public_url) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/octet-stream"
                assert response.headers["Content-Disposition"].startswith("attachment;")
                assert "sandbox" in response.headers["Content-Security-Policy"]

            # A link the bridge did not sign, or to another file, is not served.
            server, media_id, signature = media.public_url.split("/")[-4:-1]
            forged = f"{base}/_bridgekit/media/{server}/{media_id}/{signature[:-2]}AA"
            async with http.get(forged) as response:
                assert response.status == 404
            other = page.url.rsplit("/", 1)[1]
            async with http.get(f"{base}/_bridgekit/media/{server}/{other}/{signature}") as r:
                assert r.status == 404
            # A signed link to a file the homeserver does not have.
            missing = bridge.public_media_url(f"mxc://{server}/NoSuchMediaHere")
            assert missing is not None
            async with http.get(missing) as response:
                assert response.status == 404


async def test_media_over_the_size_limit_is_refused_while_downloading(
    synapse: SynapseServer, loopback_setup: BridgeSetup, database_url: str, matrix_user: Any
) -> None:
    import pytest

    from bridgekit.network.content import MediaTooLarge

    world = LoopbackWorld()
    overrides = {"bridge.max_media_size": 1000}
    async with run_bridge(
        LoopbackConnector(world), loopback_setup, synapse, database_url, overrides
    ) as bridge:
        alice = await matrix_user("alice")
        mxc = await alice.upload(PICTURE, "image/png", "big.png")
        out = io.BytesIO()
        with pytest.raises(MediaTooLarge):
            await bridge.fetch_media(mxc, None, 1000, "big.png", out)
        # It stopped at the limit: what it had read is not more than that.
        assert len(out.getvalue()) <= 1000
        small = await alice.upload(b"tiny", "text/plain", "small.txt")
        out = io.BytesIO()
        assert await bridge.fetch_media(small, None, 1000, "small.txt", out) == 4
        assert out.getvalue() == b"tiny"
