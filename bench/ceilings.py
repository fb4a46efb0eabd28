"""Ceilings: what Synapse and InspIRCd do on their own, with no bridge in between.

``python -m bench.ceilings [--n 300]`` starts a Synapse (SQLite) and an InspIRCd and
measures four scenarios, each N messages read back by a receiving client:

- ``matrix local user, sequential``: a normal user PUTs /send one at a time; another
  user /syncs them.
- ``appservice send, sequential`` and ``appservice send, 8 in flight``: the same with
  an appservice's ``as_token`` and ``?user_id=`` (masquerading as a namespace user),
  which is exactly how a bridge sends.
- ``raw IRC client to client``: one IRC client PRIVMSGs a channel as fast as the
  socket takes it, another in the channel receives.

The bridge benchmarks import the measuring functions to take the same ceilings in
their own run (only ratios taken in one run mean anything on a shared machine).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.protocol import (
    ChannelSyncedEvent,
    ConnectionConfig,
    FloodControl,
    IRCConnection,
    MessageEvent,
    ServerAddress,
)

from .common import (
    Result,
    SyncReceiver,
    base_parser,
    body,
    parse_body,
    report,
    setup_logging,
    summarize,
    table,
)

_tags = itertools.count()

# Time to wait for the rest of a burst after the last arrival before counting losses.
SILENCE_TIMEOUT = 20.0


def new_tag(prefix: str) -> str:
    """A scenario tag unique in this process (tags are one word)."""
    return f"{prefix}{next(_tags)}"


def ceiling_registration(as_token: str | None = None) -> dict[str, Any]:
    """An appservice registration for the ceiling senders: no URL (Synapse pushes no
    transactions), exclusive ``@benchas_*`` users."""
    return {
        "id": "benchceiling",
        "url": None,
        "as_token": as_token or secrets.token_urlsafe(24),
        "hs_token": secrets.token_urlsafe(24),
        "sender_localpart": "_bench_" + secrets.token_hex(6),
        "rate_limited": False,
        "namespaces": {
            "users": [{"exclusive": True, "regex": "@benchas_.*"}],
            "aliases": [],
            "rooms": [],
        },
    }


async def send_burst(
    name: str,
    sender: MatrixTestClient,
    room_id: str,
    receiver: SyncReceiver,
    n: int,
    in_flight: int = 1,
    pace: float | None = None,
) -> Result:
    """``sender`` sends N messages to ``room_id`` (``in_flight`` at a time, or one per
    ``pace`` seconds); ``receiver`` counts them off its /sync."""
    tag = new_tag("c")
    arrivals = receiver.arrivals(tag)
    send_times: dict[int, float] = {}
    gate = asyncio.Semaphore(in_flight)

    async def one(seq: int) -> None:
        async with gate:
            send_times[seq] = time.monotonic()
            await sender.send_text(room_id, body(tag, seq))

    if in_flight == 1:
        for seq in range(n):
            await one(seq)
            if pace:
                await asyncio.sleep(max(0.0, send_times[seq] + pace - time.monotonic()))
    else:
        await asyncio.gather(*(one(seq) for seq in range(n)))
    await arrivals.wait(n, SILENCE_TIMEOUT)
    return summarize(name, send_times, arrivals)


async def shared_room(creator: MatrixTestClient, reader: MatrixTestClient) -> str:
    """A room made by ``creator`` that ``reader`` has joined."""
    room_id = await creator.create_room(invite=[reader.user_id])
    await reader.join(room_id)
    return room_id


async def matrix_ceilings(
    synapse: SynapseServer,
    as_token: str,
    as_user: str,
    receiver: SyncReceiver,
    reader: MatrixTestClient,
    n: int,
    paced_n: int = 0,
    pace: float = 0.2,
) -> list[Result]:
    """Local-user and appservice ceilings against a running Synapse.

    ``as_user`` is a user in the namespace of the appservice that owns ``as_token``.
    With ``paced_n`` a paced appservice scenario (``paced_n`` messages, one per
    ``pace`` s) is added.
    """
    suffix = secrets.token_hex(3)
    local_id, local_token = await synapse.aregister_user(f"benchlocal{suffix}")
    results: list[Result] = []
    async with (
        MatrixTestClient(synapse.url, local_id, local_token) as local,
        MatrixTestClient(synapse.url, as_user, as_token, as_appservice=True) as masq,
    ):
        await masq.register_appservice_user()
        room = await shared_room(local, reader)
        results.append(await send_burst("matrix local user, sequential", local, room, receiver, n))
        if paced_n:
            name = f"matrix local user, paced {1 / pace:g}/s"
            results.append(await send_burst(name, local, room, receiver, paced_n, pace=pace))
        room = await shared_room(masq, reader)
        results.append(await send_burst("appservice send, sequential", masq, room, receiver, n))
        results.append(await send_burst("appservice send, 8 in flight", masq, room, receiver, n, 8))
        if paced_n:
            results.append(
                await send_burst(
                    f"appservice send, paced {1 / pace:g}/s",
                    masq,
                    room,
                    receiver,
                    paced_n,
                    pace=pace,
                )
            )
    return results


def irc_client(
    server: InspIRCdServer, nick: str, flood: FloodControl | None = None
) -> IRCConnection:
    """A started IRC connection to ``server`` (flood pacing off unless given)."""
    conn = IRCConnection(
        ConnectionConfig(
            servers=(ServerAddress(server.host, server.port, tls=False),),
            nick=nick,
            flood=flood or FloodControl(enabled=False),
        )
    )
    conn.start()
    return conn


class IRCReceiver:
    """Reads an IRC connection's events and files benchmark PRIVMSGs by tag.

    ``prefix`` is put before each tag, to keep these arrivals apart from a Matrix
    client's /sync that sees the same bodies (its own messages).
    """

    def __init__(self, conn: IRCConnection, receiver: SyncReceiver, prefix: str = "") -> None:
        self.conn = conn
        self._store = receiver
        self._prefix = prefix
        self._task = asyncio.create_task(self._loop())
        self.synced: set[str] = set()
        self._changed = asyncio.Event()

    async def _loop(self) -> None:
        while True:
            event = await self.conn.next_event()
            now = time.monotonic()
            if isinstance(event, ChannelSyncedEvent):
                self.synced.add(event.channel.lower())
                self._changed.set()
            elif isinstance(event, MessageEvent) and not event.is_echo:
                for line in event.text.splitlines():
                    parsed = parse_body(line)
                    if parsed is not None:
                        self._store.arrivals(self._prefix + parsed[0]).add([parsed[1]], now)

    async def wait_joined(self, channel: str, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Wait until the member list of ``channel`` arrived."""
        async with asyncio.timeout(timeout):
            while channel.lower() not in self.synced:
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        """Stop reading and disconnect."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.conn.stop(grace=1.0)


async def irc_ceiling(
    server: InspIRCdServer, store: SyncReceiver, n: int, paced_n: int = 0, pace: float = 0.2
) -> list[Result]:
    """Raw IRC: one client PRIVMSGs a channel N times, another receives (no pacing);
    with ``paced_n`` also ``paced_n`` messages at one per ``pace`` s."""
    suffix = secrets.token_hex(2)
    channel = f"#ceil{suffix}"
    sender = irc_client(server, f"csend{suffix}")
    reader = IRCReceiver(irc_client(server, f"crecv{suffix}"), store)
    try:
        await asyncio.wait_for(sender.wait_connected(), 30)
        await asyncio.wait_for(reader.conn.wait_connected(), 30)
        reader.conn.join(channel)
        await reader.wait_joined(channel)
        sender.join(channel)
        await asyncio.sleep(0.5)
        results = [await _irc_burst("raw IRC client to client, burst", sender, channel, store, n)]
        if paced_n:
            results.append(
                await _irc_burst(
                    f"raw IRC client to client, paced {1 / pace:g}/s",
                    sender,
                    channel,
                    store,
                    paced_n,
                    pace,
                )
            )
        return results
    finally:
        await sender.stop(grace=1.0)
        await reader.stop()


async def _irc_burst(
    name: str,
    sender: IRCConnection,
    channel: str,
    store: SyncReceiver,
    n: int,
    pace: float | None = None,
) -> Result:
    tag = new_tag("i")
    arrivals = store.arrivals(tag)
    send_times: dict[int, float] = {}
    for seq in range(n):
        send_times[seq] = time.monotonic()
        sender.send_message(channel, body(tag, seq))
        await asyncio.sleep(pace if pace else 0)
    await arrivals.wait(n, SILENCE_TIMEOUT)
    return summarize(name, send_times, arrivals)


async def run(workdir: Path, n: int, paced_n: int) -> list[Result]:
    """Start Synapse and InspIRCd in ``workdir``, measure every ceiling, stop them."""
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    registration = ceiling_registration()
    synapse = SynapseServer(workdir / "synapse", [registration])
    ircd = InspIRCdServer(workdir / "ircd")
    await asyncio.to_thread(synapse.start)
    try:
        await asyncio.to_thread(ircd.start)
        reader_id, reader_token = await synapse.aregister_user("benchreader")
        receiver = SyncReceiver(synapse.url, reader_token)
        await receiver.start()
        try:
            async with MatrixTestClient(synapse.url, reader_id, reader_token) as reader:
                results = await matrix_ceilings(
                    synapse,
                    registration["as_token"],
                    synapse.user_id("benchas_ceiling"),
                    receiver,
                    reader,
                    n,
                    paced_n,
                )
            results += await irc_ceiling(ircd, receiver, n, paced_n)
        finally:
            await receiver.stop()
    finally:
        await asyncio.to_thread(synapse.stop)
        await asyncio.to_thread(ircd.stop)
    return results


def main() -> None:
    """``python -m bench.ceilings``."""
    parser = base_parser("Synapse and InspIRCd ceilings, no bridge.")
    parser.add_argument("--paced-n", type=int, default=50, help="messages in paced scenarios")
    args = parser.parse_args()
    setup_logging(args.verbose)
    results = asyncio.run(run(args.workdir / "ceilings", args.n, args.paced_n))
    report("ceilings", f"Ceilings (N={args.n})", [table(results)], results)


if __name__ == "__main__":
    main()
