"""The IRC bridge as its own process, with one user in one channel: the set-up that
heisenbridge is measured in, so that their RSS and CPU compare like for like.

``bench.irc`` runs its main scenarios with the bridge in-process (its CPU told apart
by thread); here the bridge is ``python -m bridges.irc`` in a child process
(:func:`bridgekit.testing.process.bridge_process`), its CPU seconds and RSS read
from ``/proc/<pid>``. One Matrix user logs in to the network without flood control
and joins one channel; an IRC client sends a burst and a paced series, and the user
sends a paced series back.

``--bridge-python`` runs the bridge with another interpreter: a virtualenv with the
bridge's runtime dependencies only, as a deployment has them (the development
virtualenv has pytest, which pendulum imports through time-machine when it is
installed: about 7 MB more)::

    python -m venv /tmp/bkvenv && /tmp/bkvenv/bin/pip install '.[irc]'
    /tmp/bkvenv/bin/pip uninstall -y bridgekit   # the bridge runs from this checkout
    python -m bench.irc --bridge-python /tmp/bkvenv/bin/python
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.process import bridge_process
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.connector import IRCConnector

from .ceilings import IRCReceiver
from .common import Result, SyncReceiver, cpu_seconds, rss_mb
from .irc_flows import PACE, irc_to_matrix, log_in_and_join, matrix_to_irc

CHANNEL = "#benchproc"
NETWORK = "fast"
#: How long the joined bridge is left alone to measure its idle CPU.
IDLE_SECONDS = 10


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    """The rows (CPU from /proc), RSS in MB once joined and after the rows, and the
    CPU seconds per second the bridge used while idle (joined, no traffic)."""

    rows: list[Result]
    rss_joined: float
    rss_after: float
    idle_cpu: float


def process_setup() -> BridgeSetup:
    """The child bridge's tokens and names (its own bot and ghosts, so it can share the
    Synapse with the in-process bridge); its registration goes to Synapse at start."""
    return BridgeSetup.new("irc", appservice_id="ircproc")


async def process_rows(
    setup: BridgeSetup,
    workdir: Path,
    synapse: SynapseServer,
    ircd: InspIRCdServer,
    friend: IRCReceiver,
    friend_store: SyncReceiver,
    n: int,
    paced_n: int,
    python: str,
) -> ProcessFigures:
    """Start the bridge process (``python -m bridges.irc``, from this directory), log
    a fresh user in and join ``CHANNEL``, measure."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    network: dict[str, Any] = {
        "id": NETWORK,
        "name": NETWORK,
        "servers": [{"host": ircd.host, "port": ircd.port, "tls": False}],
        "flood": {"enabled": False},
    }
    config = setup.config(
        IRCConnector(),
        homeserver_url=synapse.url,
        database_url=f"sqlite:///{workdir / 'bridge.db'}",
        overrides={"network.networks": [network]},
    )
    user_id, token = await synapse.aregister_user("procuser")
    receiver = SyncReceiver(synapse.url, token)
    bot = f"@{config['appservice.bot.username']}:{setup.domain}"
    async with bridge_process(config, workdir, ["-m", "bridges.irc"], python) as bridge:
        assert bridge.process is not None
        pid = bridge.process.pid
        try:
            await receiver.start()
            friend.conn.join(CHANNEL)
            await friend.wait_joined(CHANNEL)
            room = await log_in_and_join(synapse, bot, user_id, token, NETWORK, CHANNEL)
            await asyncio.sleep(2)
            rss_joined = rss_mb(pid)
            before = cpu_seconds(pid)
            await asyncio.sleep(IDLE_SECONDS)
            idle = (cpu_seconds(pid) - before) / IDLE_SECONDS
            paced = f"paced {1 / PACE:g}/s"
            rows: list[Result] = []
            async with MatrixTestClient(synapse.url, user_id, token) as client:
                scenarios = [
                    ("bridgekit process IRC → Matrix, burst", n, None, "i2m"),
                    (f"bridgekit process IRC → Matrix, {paced}", paced_n, PACE, "i2m"),
                    (f"bridgekit process Matrix → IRC, {paced}", paced_n, PACE, "m2i"),
                ]
                for name, count, pace, way in scenarios:
                    before = cpu_seconds(pid)
                    if way == "i2m":
                        result = await irc_to_matrix(
                            name, friend.conn, CHANNEL, receiver, count, pace
                        )
                    else:
                        result = await matrix_to_irc(name, client, room, friend_store, count, pace)
                    used = cpu_seconds(pid) - before
                    rows.append(replace(result, cpu_per_1000=used * 1000 / max(result.sent, 1)))
            return ProcessFigures(rows, rss_joined, rss_mb(pid), idle)
        finally:
            await receiver.stop()
