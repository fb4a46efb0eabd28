"""A local IRC bridge demo: a throw-away Synapse, a local InspIRCd and the IRC bridge.

``./run.sh demo`` starts all three on 127.0.0.1 (state in ``.demo/``), creates a
Matrix user, and prints how to connect a Matrix client and an IRC client. With
``--check`` it instead logs in through the bridge bot, joins a channel, sends one
message each way between Matrix and a real IRC client, and exits 0 only if both
arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer

from .connector import IRCConnector
from .protocol import (
    ChannelSyncedEvent,
    ConnectionConfig,
    IRCConnection,
    MessageEvent,
    ServerAddress,
)

DEMO_USER, DEMO_PASSWORD = "demo", "demo"
CHANNEL = "#demo"


def _fresh_dir(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)


def _network(server: InspIRCdServer) -> dict[str, Any]:
    return {
        "network.networks": [
            {
                "id": "demo",
                "name": "Demo IRC",
                "servers": [{"host": server.host, "port": server.port, "tls": False}],
            }
        ]
    }


async def _say(client: MatrixTestClient, room: str, text: str, bot: str, expect: str) -> None:
    await client.send_text(room, text)
    await client.wait_for_event(
        room,
        lambda e: e.get("sender") == bot and expect in e.get("content", {}).get("body", ""),
        timeout=30,
    )


async def _check(client: MatrixTestClient, bot: str, server: InspIRCdServer) -> None:
    room = await client.create_room(invite=[bot], is_direct=True)
    await client.wait_for_message(room, sender=bot, timeout=30)
    await _say(client, room, "login", bot, "network")
    await _say(client, room, "demo", bot, "nick")
    await _say(client, room, "matrixdemo", bot, "SASL password")
    await _say(client, room, "-", bot, "Successfully logged in")

    friend = IRCConnection(
        ConnectionConfig(
            servers=(ServerAddress(server.host, server.port, tls=False),), nick="ircfriend"
        )
    )
    friend.start()
    try:
        await asyncio.wait_for(friend.wait_connected(), 30)
        friend.join(CHANNEL)
        await client.send_text(room, f"join {CHANNEL}")
        portal = await client.wait_for_invite(timeout=30)
        await client.join(portal)

        async def friend_sees(text: str) -> None:
            while True:
                event = await friend.next_event()
                if isinstance(event, MessageEvent) and event.text == text:
                    return

        async def friend_joined() -> None:
            while True:
                event = await friend.next_event()
                if isinstance(event, ChannelSyncedEvent):
                    return

        await asyncio.wait_for(friend_joined(), 30)
        friend.send_message(CHANNEL, "hello from IRC")
        await client.wait_for_message(portal, body="hello from IRC", timeout=30)
        print("IRC → Matrix: arrived")
        await client.send_text(portal, "hello from Matrix")
        await asyncio.wait_for(friend_sees("hello from Matrix"), 30)
        print("Matrix → IRC: arrived")
    finally:
        await friend.stop(grace=1.0)


async def run(workdir: Path, check: bool) -> int:
    await asyncio.to_thread(_fresh_dir, workdir)
    irc = InspIRCdServer(workdir / "ircd")
    await asyncio.to_thread(irc.start)
    connector = IRCConnector()
    setup = BridgeSetup.new("irc")
    synapse = SynapseServer(workdir / "synapse", [setup.registration(connector)])
    try:
        await asyncio.to_thread(synapse.start)
        async with run_bridge(
            connector, setup, synapse, f"sqlite:///{workdir / 'bridge.db'}", _network(irc)
        ) as bridge:
            user_id, token = await synapse.aregister_user(DEMO_USER, DEMO_PASSWORD)
            bot = str(bridge.bot_mxid)
            if check:
                async with MatrixTestClient(synapse.url, user_id, token) as client:
                    await _check(client, bot, irc)
                return 0
            print(
                "\nThe bridgekit IRC demo is running.\n"
                f"  Matrix homeserver: {synapse.url}  (log in as {DEMO_USER} / {DEMO_PASSWORD})\n"
                f"  IRC server:        {irc.host}:{irc.port}  (no TLS)\n"
                f"In your Matrix client, start a direct chat with {bot} and send `login`;\n"
                "answer network `demo`, any nick, and `-` for the password. Then send\n"
                f"`join {CHANNEL}` and accept the invite. Connect an IRC client to the IRC\n"
                f"server, join {CHANNEL}, and talk to yourself across the bridge.\n"
                "Press Ctrl+C to stop.\n",
                flush=True,
            )
            await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(synapse.stop)
        await asyncio.to_thread(irc.stop)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="send one message each way, exit")
    parser.add_argument("--dir", type=Path, default=Path(".demo"), help="where to keep state")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # `kill` stops the demo like Ctrl+C does: its servers are stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        code = asyncio.run(run(args.dir.resolve(), args.check))
    except KeyboardInterrupt:
        code = 0
    except TimeoutError:
        print("demo check failed: a message did not arrive in time", file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
