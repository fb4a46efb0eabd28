"""The Discord bridge: stock discord.py against the project's Discord test server (REST
and gateway), and a real Synapse.

``python -m bench.discord [--n 300] [--paced-n 50]`` starts Synapse and the Discord
test server, runs the Discord bridge in its own thread (its CPU time is measured
apart from the driver's), logs a Matrix user in with a bot token, and measures in one
run:

- the appservice-send ceilings (sequential, 8 in flight, paced 5/s) and the local
  user's sequential send;
- Discord → Matrix: N messages from a Discord user in a channel, read by the Matrix
  user's /sync (burst, and paced 5/s);
- Matrix → Discord: the Matrix user sends N (sequentially, and 8 in flight), timed
  when the Discord server stores them.

The test server's rate limits are generous (1,000 requests a second per route), so
the Matrix → Discord rows measure the bridge, not Discord's limit of about five
messages per five seconds in a channel. The Discord server runs on the driver's loop.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

from bridgekit.bridge import Bridge
from bridgekit.network import BridgeStateEvent
from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer
from bridges.discord.connector import DiscordConnector
from tests.servers.discord import DiscordTestServer, Intents

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


def _time_arrivals(server: DiscordTestServer, receiver: SyncReceiver, author_id: int) -> None:
    """File every benchmark message the bridge's bot posts, with its time, under
    ``dc:<tag>`` (the REST routes store messages through ``send_message``)."""
    original = server.send_message

    def send_message(author: Any, channel: Any, content: str = "", **kwargs: Any) -> Any:
        message = original(author, channel, content, **kwargs)
        parsed = parse_body(content)
        if author.id == author_id and parsed is not None:
            receiver.arrivals(f"dc:{parsed[0]}").add([parsed[1]], time.monotonic())
        return message

    server.send_message = send_message  # type: ignore[method-assign]


async def log_in(client: MatrixTestClient, bot: str, token: str, bridge: Bridge) -> None:
    """The bot-token login through the bot, then until the gateway is up."""
    room = await client.create_room(invite=[bot], is_direct=True)
    await client.wait_for_event(
        room, lambda e: "management room" in e.get("content", {}).get("body", ""), timeout=30
    )
    await say(client, room, bot, "login", "send your bot token")
    await say(client, room, bot, token, "Successfully logged in")
    for _ in range(300):
        if all(login.state == BridgeStateEvent.CONNECTED for login in bridge.logins.values()):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the Discord login did not connect")


def assess(results: list[Result]) -> dict[str, str]:
    """Each bridge row as a ratio to its ceiling."""
    seq = by_name(results, "appservice send, sequential")
    paced = by_name(results, "appservice send, paced")
    local = by_name(results, "matrix local user")
    burst = by_name(results, "Discord → Matrix, burst")
    dc_paced = by_name(results, "Discord → Matrix, paced")
    m2d = by_name(results, "Matrix → Discord, sequential")
    return {
        burst.name: f"{burst.rate / seq.rate:.2f}x of AS sequential",
        dc_paced.name: f"{dc_paced.p50 - paced.p50:+.1f} ms p50 over AS paced",
        m2d.name: f"{m2d.rate / local.rate:.2f}x of local sequential",
    }


async def run(workdir: Path, n: int, paced_n: int) -> tuple[list[Result], str]:
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    await asyncio.to_thread(workdir.mkdir, parents=True)
    setup = BridgeSetup.new("discord")
    ceiling = ceiling_registration()
    synapse = SynapseServer(workdir / "synapse", [setup.registration(DiscordConnector()), ceiling])
    await asyncio.to_thread(synapse.start)
    server = DiscordTestServer(heartbeat_interval=5.0)
    await server.start()
    thread: BridgeThread | None = None
    receiver: SyncReceiver | None = None
    try:
        app = server.create_application(
            "Bridge", privileged_intents=Intents.MESSAGE_CONTENT | Intents.GUILD_MEMBERS
        )
        bot_account = server.bot_of(app)
        dalia = server.create_user("dalia", global_name="Dalia")
        guild = server.create_guild("Bench Guild", owner=dalia)
        server.add_member(guild, bot_account)
        general = server.create_text_channel(guild, "general")
        user_id, token = await synapse.aregister_user("alice")
        receiver = SyncReceiver(synapse.url, token)
        _time_arrivals(server, receiver, bot_account.id)
        overrides = {
            "network.api_base": server.api_url,
            "network.gateway_url": server.gateway_url,
            "network.cdn_url": server.base_url,
        }
        thread = BridgeThread(
            DiscordConnector(), setup, synapse, f"sqlite:///{workdir / 'bridge.db'}", overrides
        )
        bridge: Bridge = await asyncio.to_thread(thread.start)
        async with MatrixTestClient(synapse.url, user_id, token) as client:
            await log_in(client, str(bridge.bot_mxid), bot_account.token, bridge)
            await receiver.start()
            opening = new_tag("w")
            server.send_message(dalia, general, body(opening, 0))
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

            def from_dalia(text: str) -> object:
                return server.send_message(dalia, general, text)

            def to_discord(tag: str) -> str:
                return f"dc:{tag}"

            paced = f"Discord → Matrix, paced {1 / PACE:g}/s"
            results += [
                await server_burst("Discord → Matrix, burst", from_dalia, receiver, n),
                await server_burst(paced, from_dalia, receiver, paced_n, PACE),
                await matrix_burst(
                    "Matrix → Discord, sequential", client, room, receiver, n, 1, to_discord
                ),
                await matrix_burst(
                    "Matrix → Discord, 8 in flight", client, room, receiver, n, 8, to_discord
                ),
            ]
        note = (
            f"Process RSS after the run (bridge, Discord test server, driver): "
            f"{rss_mb():.0f} MB. CPU s/1000 is the bridge thread's (and its workers')."
        )
        return results, table(results, assess(results)) + "\n\n" + note
    finally:
        if receiver is not None:
            await receiver.stop()
        if thread is not None:
            await asyncio.to_thread(thread.stop)
        await server.stop()
        await asyncio.to_thread(synapse.stop)


def main() -> None:
    """``python -m bench.discord``."""
    parser = base_parser("The Discord bridge against the Discord test server, with ceilings.")
    parser.add_argument("--paced-n", type=int, default=50, help="messages in paced scenarios")
    args = parser.parse_args()
    setup_logging(args.verbose)
    results, text = asyncio.run(run(args.workdir / "discord", args.n, args.paced_n))
    report("discord", f"Discord bridge (N={args.n}, paced N={args.paced_n})", [text], results)


if __name__ == "__main__":
    main()
