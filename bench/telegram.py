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

from .bridge_thread import BridgeThread
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
    table,
)
from .scenarios import by_name, matrix_burst, say, server_burst

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


async def log_in(client: MatrixTestClient, bot: str, server: TelegramTestServer, me: User) -> None:
    """The phone login through the bot."""
    room = await client.create_room(invite=[bot], is_direct=True)
    await client.wait_for_event(
        room, lambda e: "management room" in e.get("content", {}).get("body", ""), timeout=30
    )
    await say(client, room, bot, "login phone", "send your phone number")
    await say(client, room, bot, str(me.phone), "send your login code")
    await say(client, room, bot, server.login_code(me.phone), "Successfully logged in")


def assess(results: list[Result]) -> dict[str, str]:
    """Each bridge row as a ratio to its ceiling."""
    seq = by_name(results, "appservice send, sequential")
    paced = by_name(results, "appservice send, paced")
    local = by_name(results, "matrix local user")
    burst = by_name(results, "Telegram → Matrix, burst")
    tg_paced = by_name(results, "Telegram → Matrix, paced")
    m2t = by_name(results, "Matrix → Telegram, sequential")
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

                def from_bob(text: str) -> object:
                    return server.send_message(bob, alice, text)

                def to_telegram(tag: str) -> str:
                    return f"tg:{tag}"

                paced = f"Telegram → Matrix, paced {1 / PACE:g}/s"
                results += [
                    await server_burst("Telegram → Matrix, burst", from_bob, receiver, n),
                    await server_burst(paced, from_bob, receiver, paced_n, PACE),
                    await matrix_burst(
                        "Matrix → Telegram, sequential", client, room, receiver, n, 1, to_telegram
                    ),
                    await matrix_burst(
                        "Matrix → Telegram, 8 in flight", client, room, receiver, n, 8, to_telegram
                    ),
                ]
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
