"""End-to-bridge encryption's cost: the same bursts into a plaintext portal and into an
encrypted one, read and sent by a real E2EE client (matrix-nio).

``python -m bench.encryption [--n 300]`` starts Synapse and runs the loopback bridge
twice (in its own thread): once with new portals plaintext, once with them encrypted
(appservice-mode encryption). In each run the nio client logs in through the bot and
measures:

- network → Matrix: N remote messages into one portal, timed until the client has
  them all (decrypted where encrypted);
- Matrix → network: the client sends N, one at a time (encrypting each in the
  encrypted portal), timed until the loopback network has them all.

It prints msgs/s for both runs and the encrypted/plaintext ratio (target ≥ 0.8x).
Only throughput is taken: the client's own decryption and encryption are part of it,
as they are for a user.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from bridgekit.bridge import Bridge
from bridgekit.network import MatrixMessage
from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.encrypted_client import EncryptedTestClient
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld
from bridgekit.testing.synapse import SynapseServer

from .bridge_thread import BridgeThread
from .common import base_parser, setup_logging

TARGET = 0.8


async def _log_in(client: EncryptedTestClient, bot: str, encrypted: bool) -> None:
    room = await client.create_room(invite=[bot], is_direct=True, encrypted=encrypted)

    async def answer(expect: str) -> None:
        await client.wait_for_message(room, lambda e: expect in e["content"].get("body", ""), 60)

    await answer("management room")
    for text, expect in (
        ("login", "send your username"),
        ("alice", "send your password"),
        ("hunter2", "Successfully logged in"),
    ):
        await client.send_text(room, text)
        await answer(expect)


def _count(client: EncryptedTestClient, room: str, prefix: str) -> int:
    return sum(
        1
        for e in client.timeline(room)
        if e.get("type") == "m.room.message"
        and str(e.get("content", {}).get("body", "")).startswith(prefix)
    )


async def _until(check: object, what: str, timeout: float = 300) -> float:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def one_run(
    workdir: Path, synapse: SynapseServer, setup: BridgeSetup, encrypted: bool, n: int
) -> tuple[float, float]:
    """(network → Matrix msgs/s, Matrix → network msgs/s) with portals encrypted or not."""
    world = LoopbackWorld()
    world.add_account("alice", "hunter2")
    world.add_account("bob", "x")
    world.add_chat("g1", "Bench", ["alice", "bob"])
    label = "encrypted" if encrypted else "plaintext"
    thread = BridgeThread(
        LoopbackConnector(world), setup, synapse, f"sqlite:///{workdir / (label + '.db')}"
    )
    bridge: Bridge = await asyncio.to_thread(thread.start)
    client = await EncryptedTestClient.create(synapse, "alice")
    try:
        await _log_in(client, str(bridge.bot_mxid), encrypted)
        await thread.call(world.send_message("g1", "bob", "open"))
        room = await client.wait_for_invite(timeout=60)
        await client.join(room)
        await client.wait_for_message(room, "open", 60)

        async def remote_burst() -> None:
            for seq in range(n):
                await world.send_message("g1", "bob", f"r{seq}")

        began = time.monotonic()
        await thread.call(remote_burst())
        ended = await _until(lambda: _count(client, room, "r") >= n, "remote burst")
        to_matrix = n / (ended - began)

        def received() -> int:
            return sum(
                1
                for sent in list(world.sent)
                if isinstance(sent.event, MatrixMessage) and sent.event.body.startswith("m")
            )

        began = time.monotonic()
        for seq in range(n):
            await client.send_text(room, f"m{seq}")
        ended = await _until(lambda: received() >= n, "Matrix burst")
        to_network = n / (ended - began)
        return to_matrix, to_network
    finally:
        await client.close()
        await asyncio.to_thread(thread.stop)


async def run(workdir: Path, n: int) -> str:
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    await asyncio.to_thread(workdir.mkdir, parents=True)
    common = {"encryption.allow": True, "encryption.appservice": True}
    plain = BridgeSetup.new("loopback", appservice_id="lbplain", settings=common)
    secret = BridgeSetup.new(
        "loopback", appservice_id="lbenc", settings={**common, "encryption.default": True}
    )
    placeholder = LoopbackConnector()
    synapse = SynapseServer(
        workdir / "synapse", [plain.registration(placeholder), secret.registration(placeholder)]
    )
    await asyncio.to_thread(synapse.start)
    try:
        plaintext = await one_run(workdir, synapse, plain, False, n)
        encrypted = await one_run(workdir, synapse, secret, True, n)
    finally:
        await asyncio.to_thread(synapse.stop)
    rows = [
        "| direction | plaintext msgs/s | encrypted msgs/s | encrypted / plaintext |",
        "|---|---|---|---|",
    ]
    verdicts = []
    for name, p, e in (
        ("network → Matrix", plaintext[0], encrypted[0]),
        ("Matrix → network", plaintext[1], encrypted[1]),
    ):
        rows.append(f"| {name} | {p:.1f} | {e:.1f} | {e / p:.2f}x |")
        verdicts.append(e / p >= TARGET)
    verdict = "met" if all(verdicts) else "**not met**"
    return "\n".join(rows) + f"\n\nTarget: encrypted ≥ {TARGET:g}x plaintext — {verdict}."


def main() -> None:
    """``python -m bench.encryption``."""
    parser = base_parser("Encrypted vs plaintext portals, read and sent by a nio client.")
    args = parser.parse_args()
    setup_logging(args.verbose)
    text = asyncio.run(run(args.workdir / "encryption", args.n))
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = f"# Encrypted vs plaintext portals (N={args.n})\n\nMeasured {stamp}.\n\n{text}\n"
    print(report)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "encryption.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
