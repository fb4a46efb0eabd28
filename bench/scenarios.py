"""Scenarios the bridge benchmarks share: bursts from the Matrix side, bursts from a
network test server on the driver's loop, and talking to the bridge bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bridgekit.testing.matrix_client import MatrixTestClient

from .bridge_thread import CpuMeter
from .ceilings import SILENCE_TIMEOUT, new_tag
from .common import Result, SyncReceiver, body, summarize


async def matrix_burst(
    name: str,
    client: MatrixTestClient,
    room: str,
    receiver: SyncReceiver,
    n: int,
    in_flight: int,
    arrival_tag: Callable[[str], str],
) -> Result:
    """The Matrix user sends N into ``room``; timed by the arrivals the network side
    files under ``arrival_tag(tag)``."""
    tag = new_tag("m")
    arrivals = receiver.arrivals(arrival_tag(tag))
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


async def server_burst(
    name: str,
    send: Callable[[str], object],
    receiver: SyncReceiver,
    n: int,
    pace: float | None = None,
) -> Result:
    """N messages posted on a network test server running on this loop (``send``
    posts one text), read off the Matrix user's /sync."""
    tag = new_tag("s")
    arrivals = receiver.arrivals(tag)
    send_times: dict[int, float] = {}
    meter = CpuMeter()
    for seq in range(n):
        send_times[seq] = time.monotonic()
        send(body(tag, seq))
        await asyncio.sleep(pace if pace else 0)  # the server pushes from this loop
    await arrivals.wait(n, SILENCE_TIMEOUT)
    return summarize(name, send_times, arrivals, cpu_seconds=meter.seconds())


async def say(client: MatrixTestClient, room: str, bot: str, text: str, expect: str) -> None:
    """Send ``text`` to the bot and wait for its new answer containing ``expect``."""
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


def by_name(results: list[Result], prefix: str) -> Result:
    """The result whose scenario name starts with ``prefix``."""
    return next(r for r in results if r.name.startswith(prefix))
