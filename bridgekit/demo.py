"""A local demo: a throw-away homeserver and a bridge you can talk to from any Matrix client.

``./run.sh demo`` starts Synapse on 127.0.0.1 (in ``.demo/``), the loopback bridge
on SQLite, a demo Matrix user, and a remote "echo" user on the loopback network who
answers every message. ``--check`` instead sends a message each way and exits 0 only
if both arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import sys
from pathlib import Path

from .network import MatrixMessage
from .testing.bridge import BridgeSetup, run_bridge
from .testing.loopback import LoopbackConnector, LoopbackWorld
from .testing.matrix_client import MatrixTestClient
from .testing.synapse import SynapseServer

log = logging.getLogger("bridgekit.demo")

DEMO_USER, DEMO_PASSWORD = "demo", "demo"


def _world() -> LoopbackWorld:
    world = LoopbackWorld()
    world.add_account(DEMO_USER, DEMO_PASSWORD, name="Demo")
    world.add_account("echo", "-", name="Echo")
    world.add_chat("lobby", "Loopback lobby", [DEMO_USER, "echo"], topic="Say something!")
    return world


async def _echo(world: LoopbackWorld) -> None:
    """The remote user "echo" answers every message the bridge delivers."""
    answered = 0
    while True:
        count = answered
        await world.wait_for_sent(lambda _, count=count: len(world.sent) > count, timeout=3600)
        new, answered = world.sent[answered:], len(world.sent)
        for sent in new:
            if isinstance(sent.event, MatrixMessage):
                await world.send_message("lobby", "echo", f"You said: {sent.event.body}")


async def _check(client: MatrixTestClient, bot: str, world: LoopbackWorld) -> bool:
    room = await client.create_room(invite=[bot], is_direct=True)
    await client.wait_for_message(room, sender=bot)
    for answer in ("login", DEMO_USER, DEMO_PASSWORD):
        await client.send_text(room, answer)
    await client.wait_for_event(
        room, lambda e: "Successfully logged in" in e.get("content", {}).get("body", "")
    )
    await world.send_message("lobby", "echo", "hello from the network")
    portal = await client.wait_for_invite()
    await client.join(portal)
    await client.wait_for_message(portal, body="hello from the network")
    print("network → Matrix: arrived")
    await client.send_text(portal, "hello from Matrix")
    await world.wait_for_sent(
        lambda e: isinstance(e, MatrixMessage) and e.body == "hello from Matrix"
    )
    print("Matrix → network: arrived")
    return True


def _fresh_dir(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)


async def run(workdir: Path, check: bool) -> int:
    await asyncio.to_thread(_fresh_dir, workdir)
    world = _world()
    connector = LoopbackConnector(world)
    setup = BridgeSetup.new("loopback")
    synapse = SynapseServer(workdir / "synapse", [setup.registration(connector)])
    await asyncio.to_thread(synapse.start)
    try:
        async with run_bridge(
            connector, setup, synapse, f"sqlite:///{workdir / 'bridge.db'}"
        ) as bridge:
            user_id, token = await synapse.aregister_user(DEMO_USER, DEMO_PASSWORD)
            bot = str(bridge.bot_mxid)
            if check:
                async with MatrixTestClient(synapse.url, user_id, token) as client:
                    ok = await asyncio.wait_for(_check(client, bot, world), 60)
                return 0 if ok else 1
            print(
                f"\nbridgekit demo is running.\n"
                f"  Homeserver: {synapse.url}\n"
                f"  Log in with a Matrix client as {DEMO_USER} / {DEMO_PASSWORD}\n"
                f"  Start a direct chat with {bot}, send `login`, then answer\n"
                f"  username `{DEMO_USER}` and password `{DEMO_PASSWORD}`.\n"
                f"  The remote user Echo answers everything you write in the lobby.\n"
                f"Press Ctrl+C to stop.\n"
            )
            await world.send_message("lobby", "echo", "Welcome to the loopback lobby!")
            await _echo(world)
    finally:
        await asyncio.to_thread(synapse.stop)
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
