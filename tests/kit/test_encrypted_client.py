"""The test kit's E2EE client (matrix-nio) really encrypts: two of them exchange text and
encrypted images in an encrypted room, both ways, while the homeserver only ever sees
``m.room.encrypted`` events and ciphertext media."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from typing import Any

import nio

from bridgekit.testing.encrypted_client import EncryptedTestClient
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer

_MEGOLM = "m.megolm.v1.aes-sha2"
# Test images are this PNG signature plus random bytes: enough for the homeserver,
# and random so that equal bytes after decryption cannot be a coincidence.
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def _raw_event(
    synapse: SynapseServer, client: EncryptedTestClient, room_id: str, event_id: str
) -> dict[str, Any]:
    """The event exactly as the homeserver stores it, fetched without any decryption."""
    async with MatrixTestClient(synapse.url, client.user_id, client.access_token) as raw:
        return await raw.get_event(room_id, event_id)


async def _exchange(
    synapse: SynapseServer, sender: EncryptedTestClient, receiver: EncryptedTestClient, room_id: str
) -> None:
    """``sender`` sends text and an image; ``receiver`` decrypts both; the server saw neither."""
    text = f"secret {secrets.token_hex(6)}"
    image = _PNG_MAGIC + os.urandom(3000)
    text_id = await sender.send_text(room_id, text, html=f"<b>{text}</b>")
    image_id = await sender.send_image(room_id, image, "image/png", "secret.png")

    got_text = await receiver.wait_for_message(room_id, text, sender=sender.user_id)
    assert got_text["event_id"] == text_id
    assert got_text["decrypted"] is True
    assert got_text["content"]["formatted_body"] == f"<b>{text}</b>"

    got_image = await receiver.wait_for_message(room_id, lambda e: e["event_id"] == image_id)
    content = got_image["content"]
    assert got_image["decrypted"] is True
    assert content["msgtype"] == "m.image"
    assert content["info"] == {"mimetype": "image/png", "size": len(image)}
    assert "url" not in content
    assert content["file"]["v"] == "v2"
    assert await receiver.download_decrypted(content) == image
    stored_media = await receiver.download(content["file"]["url"])
    assert len(stored_media) == len(image)
    assert stored_media != image

    for event_id in (text_id, image_id):
        wire = await _raw_event(synapse, receiver, room_id, event_id)
        assert wire["type"] == "m.room.encrypted"
        assert wire["content"]["algorithm"] == _MEGOLM
        assert wire["content"]["device_id"] == sender.device_id
        serialized = json.dumps(wire)
        assert text not in serialized
        assert content["file"]["key"]["k"] not in serialized


async def test_encrypted_text_and_image_both_ways(
    synapse: SynapseServer, encrypted_user: Any
) -> None:
    alice = await encrypted_user("alice")
    bob = await encrypted_user("bob")

    room_id = await alice.create_room(invite=[bob.user_id], name="secret room")
    assert await bob.wait_for_invite(inviter=alice.user_id) == room_id
    await bob.join(room_id)

    # Alice sends at once: her own sync may not have seen Bob join yet, which is the
    # race the client must handle (a session shared without Bob's device would leave
    # him unable to decrypt and this test timing out).
    await _exchange(synapse, alice, bob, room_id)
    await _exchange(synapse, bob, alice, room_id)
    assert alice.undecryptable() == []
    assert bob.undecryptable() == []


class _SyncStall:
    """Holds back a client's processing of sync responses while other requests go on.

    nio applies a sync response (members, device lists, room keys) inside
    ``receive_response``; delaying that call reproduces, every time, a client whose
    sync lags behind what already happened on the server.
    """

    def __init__(self, client: EncryptedTestClient) -> None:
        self._nio = client.nio_client
        self._apply = client.nio_client.receive_response
        self._released = asyncio.Event()

    async def _held_back(self, response: Any) -> None:
        if isinstance(response, nio.SyncResponse):
            await self._released.wait()
        await self._apply(response)

    def __enter__(self) -> None:
        self._nio.receive_response = self._held_back

    def __exit__(self, *exc_info: object) -> None:
        del self._nio.receive_response
        self._released.set()


async def test_member_joining_behind_the_senders_sync_reads_the_next_message(
    encrypted_user: Any,
) -> None:
    alice = await encrypted_user("alice")
    bob = await encrypted_user("bob")
    carol = await encrypted_user("carol")
    room_id = await alice.create_room(invite=[bob.user_id])
    await bob.join(room_id)
    await alice.send_text(room_id, "before carol")
    await bob.wait_for_message(room_id, "before carol")

    # Alice's Megolm session is shared with Bob only (nio shares with invited members
    # too, so Carol is invited only now). Carol is invited and joins while Alice's
    # sync is held back, so Alice's nio still believes the room is Alice and Bob:
    # sending with that session would leave Carol unable to decrypt.
    with _SyncStall(alice):
        await alice.invite(room_id, carol.user_id)
        await carol.join(await carol.wait_for_invite(inviter=alice.user_id))
        after_id = await alice.send_text(room_id, "after carol")

    received = await carol.wait_for_message(room_id, "after carol", sender=alice.user_id)
    assert received["event_id"] == after_id
    assert received["decrypted"] is True
    assert (await bob.wait_for_message(room_id, "after carol"))["decrypted"] is True


async def test_unencrypted_room_stays_plain(synapse: SynapseServer, encrypted_user: Any) -> None:
    alice = await encrypted_user("alice")
    bob = await encrypted_user("bob")
    room_id = await alice.create_room(invite=[bob.user_id], encrypted=False)
    await bob.join(room_id)
    image = _PNG_MAGIC + os.urandom(500)

    text_id = await alice.send_text(room_id, "in the clear")
    image_id = await alice.send_image(room_id, image, "image/png", "plain.png")

    got_text = await bob.wait_for_message(room_id, "in the clear")
    assert got_text["decrypted"] is False
    got_image = await bob.wait_for_message(room_id, lambda e: e["event_id"] == image_id)
    assert "file" not in got_image["content"]
    assert await bob.download_decrypted(got_image["content"]) == image
    wire = await _raw_event(synapse, bob, room_id, text_id)
    assert wire["type"] == "m.room.message"
    assert wire["content"]["body"] == "in the clear"
