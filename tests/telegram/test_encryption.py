"""The Telegram bridge in encrypted rooms, as Element makes them by default: the
phone login in an encrypted DM with the bot (the bot must read the code typed there),
and an encrypted portal both ways, with a real E2EE Matrix client (matrix-nio)."""

from __future__ import annotations

from typing import Any

from telethon.tl import types

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.synapse import SynapseServer
from tests.servers.telegram import TelegramTestServer

from .conftest import eventually, phone_login, running_bridge
from .test_messages import png


async def test_encrypted_dm_login_and_encrypted_portal(
    synapse: SynapseServer,
    encrypted_bridge_setups: dict[str, BridgeSetup],
    database_url: str,
    tg_server: TelegramTestServer,
    encrypted_user: Any,
) -> None:
    setup = encrypted_bridge_setups["telegram"]
    async with running_bridge(synapse, setup, database_url, tg_server) as telegram:
        alice = tg_server.create_user("+15550901", "Alice")
        bob = tg_server.create_user("+15550902", "Bob")
        matrix = await encrypted_user("alice")
        await phone_login(matrix, telegram, alice)  # in an encrypted DM

        tg_server.send_message(bob, alice, "hello from Telegram")
        room_id = await matrix.wait_for_invite(timeout=30)
        await matrix.join(room_id)
        hello = await matrix.wait_for_message(
            room_id, "hello from Telegram", timeout=30, sender=telegram.ghost(bob)
        )
        assert hello["decrypted"] is True  # the portal is encrypted

        await matrix.send_text(room_id, "hello from an encrypted room")

        async def arrived() -> bool:
            return any(
                p.text == "hello from an encrypted room" and p.sender is alice
                for p in tg_server.messages(bob, alice)
            )

        await eventually(arrived)

        # An encrypted attachment reaches Telegram decrypted, as a photo.
        picture = png(6, 5)
        await matrix.send_image(room_id, picture, "image/png", "secret.png")

        async def photo() -> bool:
            return any(
                isinstance(p.media, types.MessageMediaPhoto) for p in tg_server.messages(bob, alice)
            )

        await eventually(photo)
        post = next(
            p
            for p in tg_server.messages(bob, alice)
            if isinstance(p.media, types.MessageMediaPhoto)
        )
        assert tg_server.world.files[post.media.photo.id].data == picture
