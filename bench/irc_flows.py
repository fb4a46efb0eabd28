"""The IRC scenarios shared by ``bench.irc`` and ``bench.heisenbridge``: messages from
an IRC client to a Matrix user and back, and logging in to the IRC bridge."""

from __future__ import annotations

import asyncio
import secrets
import time

from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.protocol import IRCConnection

from .bridge_thread import CpuMeter
from .ceilings import SILENCE_TIMEOUT, new_tag
from .common import Result, SyncReceiver, body, summarize

PACE = 0.2
#: Prefix of the tags of arrivals at the IRC client (the Matrix sender's own /sync sees
#: the same bodies under the plain tag).
NET = "net:"


async def _reply(client: MatrixTestClient, room: str, bot: str, text: str, expect: str) -> None:
    await client.send_text(room, text)
    await client.wait_for_event(
        room,
        lambda e: e.get("sender") == bot and expect in e.get("content", {}).get("body", ""),
        timeout=60,
    )


async def log_in_and_join(
    synapse: SynapseServer, bot: str, user_id: str, token: str, network: str, channel: str
) -> str:
    """Log ``user_id`` into ``network`` through the bot and join ``channel``; return
    the portal's room ID."""
    async with MatrixTestClient(synapse.url, user_id, token) as client:
        room = await client.create_room(invite=[bot], is_direct=True)
        await client.wait_for_message(room, sender=bot, timeout=60)
        await _reply(client, room, bot, "login", "network")
        await _reply(client, room, bot, network, "nick")
        await _reply(client, room, bot, f"mx{network}{secrets.token_hex(2)}", "SASL password")
        await _reply(client, room, bot, "-", "Successfully logged in")
        await client.send_text(room, f"join {channel}")
        portal = await client.wait_for_invite(timeout=60)
        await client.join(portal)
        return portal


async def irc_to_matrix(
    name: str,
    sender: IRCConnection,
    channel: str,
    receiver: SyncReceiver,
    n: int,
    pace: float | None = None,
) -> Result:
    """The IRC client sends N to ``channel``; the Matrix user's /sync receives."""
    tag = new_tag("x")
    arrivals = receiver.arrivals(tag)
    send_times: dict[int, float] = {}
    meter = CpuMeter()
    for seq in range(n):
        send_times[seq] = time.monotonic()
        sender.send_message(channel, body(tag, seq))
        await asyncio.sleep(max(0.0, send_times[seq] + pace - time.monotonic()) if pace else 0)
    await arrivals.wait(n, SILENCE_TIMEOUT)
    return summarize(name, send_times, arrivals, cpu_seconds=meter.seconds())


async def matrix_to_irc(
    name: str,
    client: MatrixTestClient,
    room: str,
    store: SyncReceiver,
    n: int,
    pace: float | None = None,
    silence: float = SILENCE_TIMEOUT,
) -> Result:
    """The Matrix user sends N (sequentially) into ``room``; the IRC client receives."""
    tag = new_tag("y")
    arrivals = store.arrivals(NET + tag)
    send_times: dict[int, float] = {}
    meter = CpuMeter()
    for seq in range(n):
        send_times[seq] = time.monotonic()
        await client.send_text(room, body(tag, seq))
        if pace:
            await asyncio.sleep(max(0.0, send_times[seq] + pace - time.monotonic()))
    await arrivals.wait(n, silence)
    return summarize(name, send_times, arrivals, cpu_seconds=meter.seconds())
