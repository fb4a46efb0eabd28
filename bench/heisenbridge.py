"""The peer: heisenbridge (PyPI) on the same kind of Synapse and InspIRCd, same scenarios.

heisenbridge is not a dependency of bridgekit: install it into a separate virtualenv
and point ``--python`` at that interpreter::

    python -m venv /tmp/heisenvenv && /tmp/heisenvenv/bin/pip install heisenbridge==1.15.4
    python -m bench.heisenbridge --python /tmp/heisenvenv/bin/python

It runs as a subprocess (its CPU seconds and RSS are read from /proc). The owner
user opens the bridge's control room, adds a network for the local InspIRCd,
connects and joins a channel; then the same IRC ⇄ Matrix scenarios as
``bench.irc`` are measured. heisenbridge merges a burst of IRC lines into one Matrix
event (the ``events/lines`` column shows it) and paces its IRC output with a
penalty scheme (about 1.5 s per line once a few lines were sent), so its
Matrix → IRC burst runs with ``--flood-n`` messages, like bridgekit's default-flood row.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer, free_port

from .ceilings import (
    IRCReceiver,
    ceiling_registration,
    irc_ceiling,
    irc_client,
    matrix_ceilings,
)
from .common import (
    Result,
    SyncReceiver,
    base_parser,
    cpu_seconds,
    report,
    rss_mb,
    setup_logging,
    table,
)
from .irc_flows import NET, PACE, irc_to_matrix, matrix_to_irc

CHANNEL = "#hbench"


def heisenbridge_registration(port: int) -> dict[str, Any]:
    """heisenbridge's registration for a bridge listening on ``port``. Its puppets are
    ``@hb_*`` so that it can share a Synapse with bridgekit's IRC bridge."""
    return {
        "id": "heisenbridge",
        "url": f"http://127.0.0.1:{port}",
        "as_token": secrets.token_urlsafe(32),
        "hs_token": secrets.token_urlsafe(32),
        "rate_limited": False,
        "sender_localpart": "heisenbridge",
        "namespaces": {
            "users": [{"regex": "@hb_.*", "exclusive": True}],
            "aliases": [],
            "rooms": [],
        },
    }


def _write_registration(path: Path, registration: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        YAML(typ="safe").dump(registration, fh)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _invite(receiver: SyncReceiver, before: set[str], timeout: float = 60) -> str:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not receiver.invites - before:
        if time.monotonic() > deadline:
            raise TimeoutError("heisenbridge sent no invite")
        await asyncio.sleep(0.1)
    return next(iter(receiver.invites - before))


async def set_up_channel(
    client: MatrixTestClient, receiver: SyncReceiver, ircd: InspIRCdServer
) -> str:
    """Control room → network → connect → channel; return the channel's room ID."""
    bot = "@heisenbridge:" + client.user_id.split(":", 1)[1]
    control = await client.create_room(invite=[bot], is_direct=True)
    await client.wait_for_message(control, sender=bot, timeout=60)
    for command in ("ADDNETWORK bench", f"ADDSERVER bench 127.0.0.1 {ircd.port}"):
        await client.send_text(control, command)
    before = set(receiver.invites)
    await client.send_text(control, "OPEN bench")
    network = await _invite(receiver, before)
    await client.join(network)
    await client.send_text(network, f"NICK hb{secrets.token_hex(2)}")
    await client.send_text(network, "CONNECT")
    before = set(receiver.invites)
    for _ in range(30):
        await asyncio.sleep(2)
        await client.send_text(network, f"JOIN {CHANNEL}")
        try:
            room = await _invite(receiver, before, timeout=3)
            break
        except TimeoutError:
            continue
    else:
        raise TimeoutError("heisenbridge did not join the channel")
    await client.join(room)
    return room


def _spawn(command: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    with (workdir / "heisenbridge.log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)


def _fresh_dir(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)


async def heisenbridge_rows(
    python: str,
    workdir: Path,
    synapse: SynapseServer,
    registration: dict[str, Any],
    ircd: InspIRCdServer,
    friend: IRCReceiver,
    friend_store: SyncReceiver,
    n: int,
    paced_n: int,
    flood_n: int,
) -> tuple[list[Result], float]:
    """Start heisenbridge (``registration`` must already be loaded by ``synapse``), set
    up a channel for a fresh owner, measure its scenarios with the IRC client
    ``friend`` (whose arrivals go to ``friend_store``), stop it; return the rows and
    its RSS in MB."""
    port = int(registration["url"].rsplit(":", 1)[1])
    owner_id, token = await synapse.aregister_user("hbowner" + secrets.token_hex(2))
    reg_path = workdir / "heisenbridge.yaml"
    await asyncio.to_thread(_write_registration, reg_path, registration)
    command = [python, "-m", "heisenbridge", "-c", str(reg_path), "-l", "127.0.0.1"]
    command += ["-p", str(port), "-o", owner_id, synapse.url]
    process = await asyncio.to_thread(_spawn, command, workdir)
    receiver = SyncReceiver(synapse.url, token)
    try:
        started = time.monotonic()
        while not _listening(port):
            if process.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError(f"heisenbridge did not start; see {workdir}/heisenbridge.log")
            await asyncio.sleep(0.1)
        await receiver.start()
        friend.conn.join(CHANNEL)
        await friend.wait_joined(CHANNEL)
        results: list[Result] = []
        async with MatrixTestClient(synapse.url, owner_id, token) as owner:
            room = await set_up_channel(owner, receiver, ircd)
            await asyncio.sleep(2)
            scenarios = [
                ("heisenbridge IRC → Matrix, burst", n, None, "i2m"),
                (f"heisenbridge IRC → Matrix, paced {1 / PACE:g}/s", paced_n, PACE, "i2m"),
                (f"heisenbridge Matrix → IRC, paced {1 / PACE:g}/s", paced_n, PACE, "m2i"),
                ("heisenbridge Matrix → IRC, burst, its own pacing", flood_n, None, "m2i"),
            ]
            for name, count, pace, way in scenarios:
                cpu_before = cpu_seconds(process.pid)
                if way == "i2m":
                    result = await irc_to_matrix(name, friend.conn, CHANNEL, receiver, count, pace)
                else:
                    result = await matrix_to_irc(
                        name, owner, room, friend_store, count, pace, silence=30
                    )
                used = cpu_seconds(process.pid) - cpu_before
                results.append(_with_cpu(result, used))
        return results, rss_mb(process.pid)
    finally:
        await receiver.stop()
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


async def run(
    workdir: Path, python: str, n: int, paced_n: int, flood_n: int
) -> tuple[list[Result], str]:
    """Start Synapse, InspIRCd and heisenbridge, measure, stop everything."""
    await asyncio.to_thread(_fresh_dir, workdir)
    ircd = InspIRCdServer(workdir / "ircd")
    await asyncio.to_thread(ircd.start)
    registration = heisenbridge_registration(free_port())
    ceiling = ceiling_registration()
    synapse = SynapseServer(workdir / "synapse", [registration, ceiling])
    receiver: SyncReceiver | None = None
    friend: IRCReceiver | None = None
    try:
        await asyncio.to_thread(synapse.start)
        reader_id, token = await synapse.aregister_user("reader")
        receiver = SyncReceiver(synapse.url, token)
        await receiver.start()
        friend = IRCReceiver(irc_client(ircd, "hbfriend"), receiver, prefix=NET)
        await asyncio.wait_for(friend.conn.wait_connected(), 30)
        results = await irc_ceiling(ircd, receiver, n, paced_n, PACE)
        async with MatrixTestClient(synapse.url, reader_id, token) as reader:
            results += await matrix_ceilings(
                synapse,
                ceiling["as_token"],
                synapse.user_id("benchas_hb"),
                receiver,
                reader,
                n,
                paced_n,
                PACE,
            )
        rows, rss = await heisenbridge_rows(
            python, workdir, synapse, registration, ircd, friend, receiver, n, paced_n, flood_n
        )
        results += rows
        note = (
            f"heisenbridge RSS after the run (one user, one network, one channel): {rss:.0f} MB. "
            "CPU s/1000 read from /proc/<pid>/stat of the heisenbridge process."
        )
        return results, note
    finally:
        if friend is not None:
            await friend.stop()
        if receiver is not None:
            await receiver.stop()
        await asyncio.to_thread(synapse.stop)
        await asyncio.to_thread(ircd.stop)


def _with_cpu(result: Result, used: float) -> Result:
    return replace(result, cpu_per_1000=used * 1000 / max(result.sent, 1))


def main() -> None:
    """``python -m bench.heisenbridge --python /tmp/heisenvenv/bin/python``."""
    parser = base_parser("heisenbridge on the same servers, same scenarios.")
    parser.add_argument("--python", default="/tmp/heisenvenv/bin/python", help="its interpreter")
    parser.add_argument("--paced-n", type=int, default=50, help="messages in paced scenarios")
    parser.add_argument("--flood-n", type=int, default=20, help="Matrix → IRC burst size")
    args = parser.parse_args()
    setup_logging(args.verbose)
    results, note = asyncio.run(
        run(args.workdir / "heisenbridge", args.python, args.n, args.paced_n, args.flood_n)
    )
    report(
        "heisenbridge",
        f"heisenbridge 1.15.4 (N={args.n}, paced N={args.paced_n}, burst N={args.flood_n})",
        [table(results), note],
        results,
    )


if __name__ == "__main__":
    main()
