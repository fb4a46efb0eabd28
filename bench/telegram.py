"""The Telegram bridge: stock Telethon against the project's Telegram test server, and
a real Synapse.

``python -m bench.telegram [--n 300] [--paced-n 50]`` starts Synapse and the Telegram
test server, runs the Telegram bridge in its own thread (its CPU time is measured
apart from the driver's), logs a Matrix user in with the phone flow, and measures in
one run:

- the appservice-send ceilings (sequential, 8 in flight, paced 5/s) and the local
  user's sequential send;
- Telegram → Matrix: N messages from a Telegram user in a private chat, read by the
  Matrix user's /sync (burst, and paced 5/s);
- Matrix → Telegram: the Matrix user sends N (sequentially, and 8 in flight), timed
  when the Telegram server stores them.

It prints the table with ratios to the ceilings. The Telegram server runs on the
driver's loop: its time is the driver's, not the bridge's.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

from bridgekit.bridge import Bridge
from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer
from bridges.telegram.connector import TelegramConnector
from tests.servers.telegram import TelegramTestServer, User

from .bridge_thread import BridgeThread, CpuMeter
from .ceilings import SILENCE_TIMEOUT, ceiling_registration, matrix_ceilings, new_tag
from .common import (
    Result,
    SyncReceiver,
    base_parser,
    body,
    parse_body,
    report,
    rss_mb,
    setup_logging,
    summarize,
    table,
)

PACE = 0.2
API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"


def _overrides(server: TelegramTestServer) -> dict[str, Any]:
    return {
        "network.api_id": API_ID,
        "network.api_hash": API_HASH,
        "network.server.dc_id": server.default_dc,
        "network.server.host": server.host,
        "network.server.port": server.port,
        "network.server.rsa_public_key": server.rsa_key.public_pem,
    }


def _time_arrivals(server: TelegramTestServer, receiver: SyncReceiver, author: User) -> None:
    """File every benchmark message ``author`` posts on the server, with its time, under
    ``tg:<tag>`` (the server calls ``actions.send`` for each message it stores)."""
    original = server.actions.send

    def send(sender: User, chat: Any, **kwargs: Any) -> Any:
        result = original(sender, chat, **kwargs)
        parsed = parse_body(str(kwargs.get("text") or ""))
        if sender is author and parsed is not None:
            receiver.arrivals(f"tg:{parsed[0]}").add([parsed[1]], time.monotonic())
        return result

    server.actions.send = send  # type: ignore[method-assign]


async def _say(client: MatrixTestClient, room: str, bot: str, text: str, expect: str) -> None:
    seen = {e.get("event_id") for e in client.timeline(room)}
    await client.send_text(room, text)
    await client.wait_for_event(
        room,
        lambda e: (
            e.get("sender") == bot
            and e.get("event_id") not in seen
            and expect in e.get("content", {}).get("body", "")
        ),
        timeout=30,
    )


async def log_in(client: MatrixTestClient, bot: str, server: TelegramTestServer, me: User) -> None:
    """The phone login through the bot."""
    room = await client.create_room(invite=[bot], is_direct=True)
    await client.wait_for_event(
        room, lambda e: "management room" in e.get("content", {}).get("body", ""), timeout=30
    )
    await _say(client, room, bot, "login phone", "send your phone number")
    await _say(client, room, bot, str(me.phone), "send your login code")
    await _say(client, room, bot, server.login_code(me.phone), "Successfully logged in")


async def telegram_burst(
    name: str,
    server: TelegramTestServer,
    sender: User,
    to: User,
    receiver: SyncReceiver,
    n: int,
    pace: float | None = None,
) -> Result:
    """N messages from ``sender`` to ``to`` on Telegram, read off /sync."""
    tag = new_tag("t")
    arrivals = receiver.arrivals(tag)
    send_times: dict[int, float] = {}
    meter = CpuMeter()
    for seq in range(n):
        send_times[seq] = time.monotonic()
        server.send_message(sender, to, body(tag, seq))
        await asyncio.sleep(pace if pace else 0)  # the server pushes from this loop
    await arrivals.wait(n, SILENCE_TIMEOUT)
    return summarize(name, send_times, arrivals, cpu_seconds=meter.seconds())


async def matrix_burst(
    name: str, client: MatrixTestClient, room: str, receiver: SyncReceiver, n: int, in_flight: int
) -> Result:
    """The Matrix user sends N into ``room``; timed when Telegram stores them."""
    tag = new_tag("m")
    arrivals = receiver.arrivals(f"tg:{tag}")
    send_times: dict[int, float] = {}
    gate = asyncio.Semaphore(in_flight)

    async def one(seq: int) -> None:
        async with gate:
            send_times[seq] = time.monotonic()
            await client.send_text(room, body(tag, seq))

    meter = CpuMeter()
    await asyncio.gather(*(one(seq) for seq in range(n)))
    await arrivals.wait(n, SILENCE_TIMEOUT)
    return summarize(name, send_times, arrivals, cpu_seconds=meter.seconds())


def _by_name(results: list[Result], prefix: str) -> Result:
    return next(r for r in results if r.name.startswith(prefix))


def assess(results: list[Result]) -> dict[str, str]:
    """Each bridge row as a ratio to its ceiling."""
    seq = _by_name(results, "appservice send, sequential")
    paced = _by_name(results, "appservice send, paced")
    local = _by_name(results, "matrix local user")
    burst = _by_name(results, "Telegram → Matrix, burst")
    tg_paced = _by_name(results, "Telegram → Matrix, paced")
    m2t = _by_name(results, "Matrix → Telegram, sequential")
    return {
        burst.name: f"{burst.rate / seq.rate:.2f}x of AS sequential",
        tg_paced.name: f"{tg_paced.p50 - paced.p50:+.1f} ms p50 over AS paced",
        m2t.name: f"{m2t.rate / local.rate:.2f}x of local sequential",
    }


async def run(workdir: Path, n: int, paced_n: int) -> tuple[list[Result], str]:
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    await asyncio.to_thread(workdir.mkdir, parents=True)
    setup = BridgeSetup.new("telegram")
    ceiling = ceiling_registration()
    synapse = SynapseServer(workdir / "synapse", [setup.registration(TelegramConnector()), ceiling])
    await asyncio.to_thread(synapse.start)
    thread: BridgeThread | None = None
    receiver: SyncReceiver | None = None
    try:
        async with TelegramTestServer() as server:
            alice = server.create_user("+15551001", "Alice")
            bob = server.create_user("+15551002", "Bob")
            user_id, token = await synapse.aregister_user("alice")
            receiver = SyncReceiver(synapse.url, token)
            _time_arrivals(server, receiver, alice)
            thread = BridgeThread(
                TelegramConnector(),
                setup,
                synapse,
                f"sqlite:///{workdir / 'bridge.db'}",
                _overrides(server),
            )
            bridge: Bridge = await asyncio.to_thread(thread.start)
            bot = str(bridge.bot_mxid)
            async with MatrixTestClient(synapse.url, user_id, token) as client:
                await log_in(client, bot, server, alice)
                await receiver.start()
                opening = new_tag("w")
                server.send_message(bob, alice, body(opening, 0))
                room = await client.wait_for_invite(timeout=60)
                await client.join(room)
                await receiver.arrivals(opening).wait(1, SILENCE_TIMEOUT)
                results = await matrix_ceilings(
                    synapse,
                    ceiling["as_token"],
                    synapse.user_id("benchas_ceiling"),
                    receiver,
                    client,
                    n,
                    paced_n,
                    PACE,
                )
                results.append(
                    await telegram_burst(
                        "Telegram → Matrix, burst", server, bob, alice, receiver, n
                    )
                )
                results.append(
                    await telegram_burst(
                        f"Telegram → Matrix, paced {1 / PACE:g}/s",
                        server,
                        bob,
                        alice,
                        receiver,
                        paced_n,
                        PACE,
                    )
                )
                results.append(
                    await matrix_burst(
                        "Matrix → Telegram, sequential", client, room, receiver, n, 1
                    )
                )
                results.append(
                    await matrix_burst(
                        "Matrix → Telegram, 8 in flight", client, room, receiver, n, 8
                    )
                )
            note = (
                f"Process RSS after the run (bridge, Telegram test server, driver): "
                f"{rss_mb():.0f} MB. CPU s/1000 is the bridge thread's (and its workers')."
            )
            return results, table(results, assess(results)) + "\n\n" + note
    finally:
        if receiver is not None:
            await receiver.stop()
        if thread is not None:
            await asyncio.to_thread(thread.stop)
        await asyncio.to_thread(synapse.stop)


def main() -> None:
    """``python -m bench.telegram``."""
    parser = base_parser("The Telegram bridge against the Telegram test server, with ceilings.")
    parser.add_argument("--paced-n", type=int, default=50, help="messages in paced scenarios")
    args = parser.parse_args()
    setup_logging(args.verbose)
    results, text = asyncio.run(run(args.workdir / "telegram", args.n, args.paced_n))
    report(
        "telegram",
        f"Telegram bridge (N={args.n}, paced N={args.paced_n})",
        [text],
        results,
    )


if __name__ == "__main__":
    main()
