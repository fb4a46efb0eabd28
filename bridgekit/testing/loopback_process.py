"""The loopback bridge as a separate process, for crash tests (``kill -9``).

The "network" must outlive the bridge process, so its state lives in files:

- ``world.json`` (written by the test) describes accounts, chats and a *backlog*:
  remote messages the network replays to every client that connects, as real
  networks do after downtime (chathistory, getDifference, REST backfill). The core
  must bridge each of them once, however often they are replayed.
- ``journal.jsonl`` is what the network received from the bridge, one line per
  delivery attempt. Like networks with idempotency keys (Telegram's random_id,
  Discord's nonce), the network accepts one message per Matrix event ID; a repeated
  attempt is journaled as a duplicate, so a test can count them.

Run: ``python -m bridgekit.testing.loopback_process CONFIG WORLD JOURNAL``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bridgekit.bridge import Bridge
from bridgekit.config import Config
from bridgekit.network import MatrixMessage

from .loopback import LoopbackClient, LoopbackConnector, LoopbackWorld, SentEvent


class JournaledWorld(LoopbackWorld):
    """A loopback world whose received messages and backlog live in files."""

    def __init__(self, world_file: Path, journal: Path) -> None:
        super().__init__()
        spec = json.loads(world_file.read_text())
        for account in spec.get("accounts", []):
            self.add_account(**account)
        for chat in spec.get("chats", []):
            self.add_chat(**chat)
        self.backlog: list[dict[str, str]] = spec.get("backlog", [])
        self.journal = journal
        self.accepted: set[str] = set()
        if journal.exists():
            for line in journal.read_text().splitlines():
                entry = json.loads(line)
                if not entry["duplicate"]:
                    self.accepted.add(entry["event_id"])

    def record(self, sent: SentEvent) -> None:
        event = sent.event
        duplicate = event.event_id in self.accepted
        entry = {
            "event_id": event.event_id,
            "body": event.body if isinstance(event, MatrixMessage) else None,
            "duplicate": duplicate,
        }
        with self.journal.open("a") as stream:
            stream.write(json.dumps(entry) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        if not duplicate:
            self.accepted.add(event.event_id)
            super().record(sent)

    async def client_connected(self, client: LoopbackClient) -> None:
        for item in self.backlog:
            await self.send_message(
                item["chat"], item["sender"], item["text"], message_id=item["id"]
            )


async def _main(config: Config, world: JournaledWorld) -> None:
    bridge = Bridge(LoopbackConnector(world), config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await bridge.start()
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        await bridge.stop()


def main(argv: list[str] | None = None) -> None:
    args: Any = argv or sys.argv[1:]
    config_file, world_file, journal = (Path(a) for a in args)
    config = Config.load(config_file, config_file.read_text(), save=False)
    asyncio.run(_main(config, JournaledWorld(world_file, journal)))


if __name__ == "__main__":
    main()
