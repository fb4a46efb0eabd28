"""The Discord bridge in encrypted rooms, as Element makes them by default: the bot
token login in an encrypted DM with the bridge bot, and an encrypted channel portal
both ways, with a real E2EE Matrix client (matrix-nio)."""

from __future__ import annotations

from typing import Any

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.synapse import SynapseServer
from bridges.discord.connector import DiscordConnector
from tests.servers.discord import DiscordTestServer

from .conftest import DiscordHarness, build_world, logged_in, network_overrides, wait_until


async def test_encrypted_dm_login_and_encrypted_channel_portal(
    synapse: SynapseServer,
    encrypted_bridge_setups: dict[str, BridgeSetup],
    database_url: str,
    discord_server: DiscordTestServer,
    encrypted_user: Any,
) -> None:
    setup = encrypted_bridge_setups["discord"]
    world = build_world(discord_server)
    values = network_overrides(discord_server)
    connector = DiscordConnector()
    async with run_bridge(connector, setup, synapse, database_url, values) as bridge:
        harness = DiscordHarness(
            bridge, connector, discord_server, world, setup, synapse, database_url, values
        )
        alice = await encrypted_user("alice")
        await logged_in(alice, harness)  # in an encrypted DM

        discord_server.send_message(world.dalia, world.general, "hello from Discord")
        room_id = await alice.wait_for_invite(timeout=30)
        await alice.join(room_id)
        hello = await alice.wait_for_message(
            room_id, "hello from Discord", timeout=30, sender=harness.ghost(world.dalia)
        )
        assert hello["decrypted"] is True  # the portal is encrypted

        await alice.send_text(room_id, "hello from an encrypted room")
        sent = await wait_until(
            lambda: discord_server.find_messages(
                world.general, content="hello from an encrypted room"
            )
        )
        assert sent[-1].author_id == world.bot.id

        # An encrypted attachment reaches Discord decrypted.
        picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
        await alice.send_image(room_id, picture, "image/png", "secret.png")
        uploads = await wait_until(
            lambda: [
                m
                for m in discord_server.find_messages(world.general)
                if m.attachments and m.attachments[0].filename == "secret.png"
            ]
        )
        assert uploads[-1].attachments[0].data == picture
