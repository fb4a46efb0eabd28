"""Start-up cost with a large database: 10,000 portals and 50,000 ghosts.

``python -m bench.startup [--portals 10000] [--ghosts 50000] [--postgres URL]`` starts
a Synapse, creates the bridge's database with one start of the loopback bridge (as its
own process), seeds it with portal and ghost rows, and then measures, for an empty and
for the seeded database, the time from process start to ready (the appservice
``/_matrix/mau/ready``) and the process's RSS once ready. With ``--postgres`` (a server
URL such as ``postgres://postgres@127.0.0.1:5432/postgres``) it does the same on a
fresh PostgreSQL database too.

Start-up must not grow with the number of portals: the bridge loads logins at start
and portals and ghosts only when an event needs them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

from mautrix.util.async_db import Database

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.loopback import LoopbackConnector
from bridgekit.testing.postgres import create_database, drop_database
from bridgekit.testing.process import BridgeProcess
from bridgekit.testing.synapse import SynapseServer

from .common import base_parser, rss_mb, setup_logging

TARGET_SECONDS = 3.0
TARGET_RSS_MB = 200.0
_BATCH = 5000


async def _seed(database_url: str, portals: int, ghosts: int) -> None:
    db = Database.create(database_url)
    await db.start()
    try:
        for start in range(0, portals, _BATCH):
            rows = [
                (f"chat{n}", "", f"!room{n}:bench.test", f"Chat {n}", "group")
                for n in range(start, min(start + _BATCH, portals))
            ]
            async with db.acquire() as conn:
                await conn.executemany(
                    "INSERT INTO portal (id, receiver, mxid, name, room_type) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    rows,
                )
        for start in range(0, ghosts, _BATCH):
            rows = [(f"user{n}", f"User {n}") for n in range(start, min(start + _BATCH, ghosts))]
            async with db.acquire() as conn:
                await conn.executemany("INSERT INTO ghost (id, name) VALUES ($1, $2)", rows)
    finally:
        await db.stop()


async def _start(process: BridgeProcess) -> tuple[float, float]:
    """Seconds from start to ready, and RSS (MB) once ready."""
    began = time.monotonic()
    await process.start(timeout=120)
    took = time.monotonic() - began
    assert process.process is not None
    rss = rss_mb(process.process.pid)
    await process.stop()
    return took, rss


async def measure(
    workdir: Path,
    synapse: SynapseServer,
    setup: BridgeSetup,
    database_url: str,
    label: str,
    portals: int,
    ghosts: int,
) -> list[str]:
    config = setup.config(
        LoopbackConnector(), homeserver_url=synapse.url, database_url=database_url
    )
    directory = workdir / label
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    config_file = directory / "config.yaml"
    world_file = directory / "world.json"
    await asyncio.to_thread(config_file.write_text, config.dump())
    await asyncio.to_thread(world_file.write_text, json.dumps({"accounts": [], "chats": []}))
    args = [
        "-m",
        "bridgekit.testing.loopback_process",
        str(config_file),
        str(world_file),
        str(directory / "journal.jsonl"),
    ]
    process = BridgeProcess(args, setup.port, directory)
    empty = await _start(process)  # also creates the schema
    await _seed(database_url, portals, ghosts)
    seeded = await _start(process)
    rows = []
    for name, (took, rss) in (("empty", empty), (f"{portals} portals, {ghosts} ghosts", seeded)):
        rows.append(f"| {label} | {name} | {took:.2f} | {rss:.0f} |")
    return rows


async def run(workdir: Path, portals: int, ghosts: int, postgres: str | None) -> str:
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    await asyncio.to_thread(workdir.mkdir, parents=True)
    setup = BridgeSetup.new("loopback")
    synapse = SynapseServer(workdir / "synapse", [setup.registration(LoopbackConnector())])
    await asyncio.to_thread(synapse.start)
    try:
        rows = await measure(
            workdir,
            synapse,
            setup,
            f"sqlite:///{workdir / 'bridge.db'}",
            "SQLite",
            portals,
            ghosts,
        )
        if postgres:
            url = await create_database(postgres)
            try:
                rows += await measure(workdir, synapse, setup, url, "PostgreSQL", portals, ghosts)
            finally:
                await drop_database(url, postgres)
    finally:
        await asyncio.to_thread(synapse.stop)
    seeded = [r for r in rows if "portals" in r]
    worst = max(float(r.split("|")[3]) for r in seeded)
    worst_rss = max(float(r.split("|")[4]) for r in seeded)
    verdict = (
        f"Target: ready in ≤ {TARGET_SECONDS:g} s with RSS ≤ {TARGET_RSS_MB:g} MB when seeded: "
        f"{worst:.2f} s and {worst_rss:.0f} MB at worst — "
        + ("met." if worst <= TARGET_SECONDS and worst_rss <= TARGET_RSS_MB else "**not met**.")
    )
    header = "| database | rows | seconds to ready | RSS MB when ready |\n|---|---|---|---|"
    return header + "\n" + "\n".join(rows) + "\n\n" + verdict


def main() -> None:
    """``python -m bench.startup``."""
    parser = base_parser("Start-up time and memory with a large database.")
    parser.add_argument("--portals", type=int, default=10_000)
    parser.add_argument("--ghosts", type=int, default=50_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to measure on, too")
    args = parser.parse_args()
    setup_logging(args.verbose)
    text = asyncio.run(run(args.workdir / "startup", args.portals, args.ghosts, args.postgres))
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    title = f"Start-up with {args.portals} portals and {args.ghosts} ghosts"
    report = f"# {title}\n\nMeasured {stamp}.\n\n{text}\n"
    print(report)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "startup.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
