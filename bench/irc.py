"""The IRC bridge both ways: an IRC client ⇄ a Matrix client, through InspIRCd and Synapse.

``python -m bench.irc [--n 300] [--paced-n 50] [--flood-n 20]`` starts Synapse and
InspIRCd, runs the IRC bridge in-process (own thread, so its CPU time is apart from
the driver's) with two networks on the same InspIRCd: ``fast`` with flood control
off and ``default`` with the bridge's default flood policy (5 lines at once, then
one every 2 s). One Matrix user logs into each. Measured in one run:

- ceilings: appservice sends (sequential, 8 in flight, paced 5/s) and raw IRC client
  to client (burst, paced 5/s);
- IRC → Matrix: an IRC client sends N to a channel (burst, and paced 5/s), read off
  the Matrix user's /sync;
- Matrix → IRC: the Matrix user sends N sequentially (burst, and paced 5/s), read by
  the IRC client, with flood control off; and a burst of ``--flood-n`` at the
  default flood policy (a burst of 300 at 1 line / 2 s would take 10 minutes);
- a burst of ``--flood-n`` through a third network, ``matched``, whose flood policy
  (5 lines at once, then one every 1.5 s) matches heisenbridge's pacing;
- the process RSS before the bridge started and after the run;
- the bridge as its own process (``python -m bridges.irc``) with one user in one
  channel, heisenbridge's set-up: its RSS, and its CPU per 1,000 messages read
  from /proc (``bench.irc_process``);
- with ``--heisenbridge PYTHON`` (an interpreter that has heisenbridge installed),
  heisenbridge on the same Synapse and InspIRCd, same scenarios, and the ratios.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.inspircd import InspIRCdServer
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer, free_port
from bridges.irc.connector import IRCConnector

from .bridge_thread import BridgeThread
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
    report,
    rss_mb,
    setup_logging,
    table,
)
from .heisenbridge import heisenbridge_registration, heisenbridge_rows
from .irc_flows import NET, PACE, irc_to_matrix, log_in_and_join, matrix_to_irc
from .irc_process import ProcessFigures, process_rows, process_setup

#: Network ID → flood section (None: the bridge's default policy).
FLOOD_POLICIES: dict[str, dict[str, Any] | None] = {
    "fast": {"enabled": False},
    "default": None,
    "matched": {"enabled": True, "burst": 5, "interval": 1.5},
}


def _networks(server: InspIRCdServer) -> dict[str, Any]:
    address = [{"host": server.host, "port": server.port, "tls": False}]
    networks = []
    for network_id, flood in FLOOD_POLICIES.items():
        network: dict[str, Any] = {"id": network_id, "name": network_id, "servers": address}
        if flood is not None:
            network["flood"] = flood
        networks.append(network)
    return {"network.networks": networks}


def _fresh_dir(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)


async def run(
    workdir: Path,
    n: int,
    paced_n: int,
    flood_n: int,
    heisenbridge: str | None,
    bridge_python: str,
) -> tuple[list[Result], str]:
    """Start the servers and the IRC bridge in ``workdir``, measure, stop everything."""
    await asyncio.to_thread(_fresh_dir, workdir)
    ircd = InspIRCdServer(workdir / "ircd")
    await asyncio.to_thread(ircd.start)
    setup = BridgeSetup.new("irc")
    ceiling = ceiling_registration()
    proc_setup = process_setup()
    registrations = [
        setup.registration(IRCConnector()),
        proc_setup.registration(IRCConnector()),
        ceiling,
    ]
    hb_registration = heisenbridge_registration(free_port())
    if heisenbridge:
        registrations.append(hb_registration)
    synapse = SynapseServer(workdir / "synapse", registrations)
    thread: BridgeThread | None = None
    receiver: SyncReceiver | None = None
    friend: IRCReceiver | None = None
    try:
        await asyncio.to_thread(synapse.start)
        users = {net: await synapse.aregister_user(f"{net}user") for net in FLOOD_POLICIES}
        receiver = SyncReceiver(synapse.url, users["fast"][1])
        rss_before = rss_mb()
        thread = BridgeThread(
            IRCConnector(), setup, synapse, f"sqlite:///{workdir / 'bridge.db'}", _networks(ircd)
        )
        bridge = await asyncio.to_thread(thread.start)
        bot = str(bridge.bot_mxid)
        friend = IRCReceiver(irc_client(ircd, "ircfriend"), receiver, prefix=NET)
        await asyncio.wait_for(friend.conn.wait_connected(), 30)
        rooms: dict[str, str] = {}
        for net, (user_id, token) in users.items():
            channel = f"#bench{net}"
            friend.conn.join(channel)
            await friend.wait_joined(channel)
            rooms[net] = await log_in_and_join(synapse, bot, user_id, token, net, channel)
        await receiver.start()
        results = await irc_ceiling(ircd, receiver, n, paced_n, PACE)
        async with (
            MatrixTestClient(synapse.url, *users["fast"]) as fast,
            MatrixTestClient(synapse.url, *users["default"]) as default,
            MatrixTestClient(synapse.url, *users["matched"]) as matched,
        ):
            results += await matrix_ceilings(
                synapse,
                ceiling["as_token"],
                synapse.user_id("benchas_irc"),
                receiver,
                fast,
                n,
                paced_n,
                PACE,
            )
            conn, paced = friend.conn, f"paced {1 / PACE:g}/s"
            fast_room = rooms["fast"]
            results += [
                await irc_to_matrix("IRC → Matrix, burst", conn, "#benchfast", receiver, n),
                await irc_to_matrix(
                    f"IRC → Matrix, {paced}", conn, "#benchfast", receiver, paced_n, PACE
                ),
                await matrix_to_irc("Matrix → IRC, burst, flood off", fast, fast_room, receiver, n),
                await matrix_to_irc(
                    f"Matrix → IRC, {paced}, flood off", fast, fast_room, receiver, paced_n, PACE
                ),
                await matrix_to_irc(
                    "Matrix → IRC, burst, default flood (5, then 1/2 s)",
                    default,
                    rooms["default"],
                    receiver,
                    flood_n,
                    silence=30,
                ),
                await matrix_to_irc(
                    "Matrix → IRC, burst, heisenbridge-like flood (5, then 1/1.5 s)",
                    matched,
                    rooms["matched"],
                    receiver,
                    flood_n,
                    silence=30,
                ),
            ]
        rss_after = rss_mb()
        # Stopped so that it is not at work next to the bridge process measured next.
        await asyncio.to_thread(thread.stop)
        thread = None
        process = await process_rows(
            proc_setup,
            workdir / "process",
            synapse,
            ircd,
            friend,
            receiver,
            n,
            paced_n,
            bridge_python,
        )
        results += process.rows
        hb_rss: float | None = None
        if heisenbridge:
            rows, hb_rss = await heisenbridge_rows(
                heisenbridge,
                workdir,
                synapse,
                hb_registration,
                ircd,
                friend,
                receiver,
                n,
                paced_n,
                flood_n,
            )
            results += rows
        return results, _assess(results, rss_before, rss_after, process, hb_rss)
    finally:
        if friend is not None:
            await friend.stop()
        if receiver is not None:
            await receiver.stop()
        if thread is not None:
            await asyncio.to_thread(thread.stop)
        await asyncio.to_thread(synapse.stop)
        await asyncio.to_thread(ircd.stop)


def _pick(results: list[Result], prefix: str) -> Result | None:
    return next((r for r in results if r.name.startswith(prefix)), None)


def _assess(
    results: list[Result],
    rss_before: float,
    rss_after: float,
    process: ProcessFigures,
    hb_rss: float | None,
) -> str:
    def get(prefix: str) -> Result:
        found = _pick(results, prefix)
        assert found is not None, prefix
        return found

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    as_seq, as_paced = get("appservice send, sequential"), get("appservice send, paced")
    raw_paced, local_paced = get("raw IRC client to client, paced"), get("matrix local user, paced")
    i2m, i2m_paced = get("IRC → Matrix, burst"), get("IRC → Matrix, paced")
    m2i_paced, matched = get("Matrix → IRC, paced"), get("Matrix → IRC, burst, heisenbridge-like")
    ours = [r for r in results if "→" in r.name and not r.name.startswith("heisenbridge")]
    lost = sum(r.lost for r in ours)
    disorder = sum(r.out_of_order for r in ours)
    added_in = i2m_paced.p50 - as_paced.p50
    added_out = m2i_paced.p50 - local_paced.p50 - raw_paced.p50
    rows = [
        "| target | measured | |",
        "|---|---|---|",
        f"| IRC → Matrix burst ≥ 0.9x AS sequential | {i2m.rate / as_seq.rate:.2f}x "
        f"| {met(i2m.rate >= 0.9 * as_seq.rate)} |",
        f"| IRC → Matrix paced p50 adds ≤ 15 ms over AS send | {added_in:+.1f} ms "
        f"| {met(added_in <= 15)} |",
        "| Matrix → IRC paced p50 adds ≤ 15 ms over the raw IRC hop (and the Matrix "
        f"send-to-sync hop, standing in for send-to-appservice) | {added_out:+.1f} ms "
        f"({m2i_paced.p50:.1f} - {local_paced.p50:.1f} - {raw_paced.p50:.1f}) "
        f"| {met(added_out <= 15)} |",
        f"| zero lost, zero out of order (bridgekit rows) | {lost} lost, {disorder} reordered "
        f"| {met(lost == 0 and disorder == 0)} |",
    ]
    hb_burst = _pick(results, "heisenbridge Matrix → IRC, burst")
    hb_in = _pick(results, "heisenbridge IRC → Matrix, paced")
    hb_out = _pick(results, "heisenbridge Matrix → IRC, paced")
    if hb_burst and hb_in and hb_out and hb_rss is not None:
        ratio = matched.elapsed / hb_burst.elapsed
        rows += [
            f"| Matrix → IRC burst at equal flood policy ≤ 0.5x heisenbridge's time "
            f"| {matched.elapsed:.1f} s vs {hb_burst.elapsed:.1f} s = {ratio:.2f}x "
            f"| {met(ratio <= 0.5)} |",
            f"| paced p50 IRC → Matrix vs heisenbridge | {i2m_paced.p50:.1f} vs "
            f"{hb_in.p50:.1f} ms | {met(i2m_paced.p50 <= hb_in.p50)} |",
            f"| paced p50 Matrix → IRC vs heisenbridge | {m2i_paced.p50:.1f} vs "
            f"{hb_out.p50:.1f} ms | {met(m2i_paced.p50 <= hb_out.p50)} |",
            f"| RSS ≤ heisenbridge's (own process, one user, one channel) "
            f"| {process.rss_after:.0f} MB vs {hb_rss:.0f} MB "
            f"| {met(process.rss_after <= hb_rss)} |",
        ]
        proc_in = _pick(results, "bridgekit process IRC → Matrix, paced")
        if proc_in is not None and proc_in.cpu_per_1000 and hb_in.cpu_per_1000:
            rows.append(
                "| CPU per 1,000 IRC → Matrix ≤ heisenbridge's (own process, paced) "
                f"| {proc_in.cpu_per_1000:.2f} s vs {hb_in.cpu_per_1000:.2f} s "
                f"| {met(proc_in.cpu_per_1000 <= hb_in.cpu_per_1000)} |"
            )
    notes = (
        f"In-process RSS: {rss_before:.0f} MB before the bridge started (driver, test "
        f"clients, all imports), {rss_after:.0f} MB after the run (three logins, three "
        f"channels). The bridge as its own process (`python -m bridges.irc`, one user in "
        f"one channel, the `bridgekit process` rows): {process.rss_joined:.0f} MB once "
        f"joined, {process.rss_after:.0f} MB after its rows; idle (joined, no traffic) it "
        f"used {process.idle_cpu * 1000:.1f} ms of CPU per second, which the paced rows "
        "include (at 5 msgs/s, 1 ms/s idle adds 0.2 s per 1,000 messages). "
        "CPU s/1000: for the in-process bridge the CPU time of every thread but the "
        "driver's; for the `bridgekit process` rows and heisenbridge the process's CPU "
        "time from /proc, per 1,000 messages."
    )
    return "## Targets\n\n" + "\n".join(rows) + "\n\n" + notes


def main() -> None:
    """``python -m bench.irc``."""
    parser = base_parser("The IRC bridge both ways, with ceilings.")
    parser.add_argument("--paced-n", type=int, default=50, help="messages in paced scenarios")
    parser.add_argument("--flood-n", type=int, default=20, help="burst size under flood control")
    parser.add_argument(
        "--heisenbridge",
        metavar="PYTHON",
        help="an interpreter with heisenbridge installed: measure it side by side",
    )
    parser.add_argument(
        "--bridge-python",
        metavar="PYTHON",
        default=sys.executable,
        help="the interpreter of the bridge-as-its-own-process rows (default: this one)",
    )
    args = parser.parse_args()
    setup_logging(args.verbose)
    results, targets = asyncio.run(
        run(
            args.workdir / "irc",
            args.n,
            args.paced_n,
            args.flood_n,
            args.heisenbridge,
            args.bridge_python,
        )
    )
    report(
        "irc",
        f"IRC bridge (N={args.n}, paced N={args.paced_n}, flood-controlled N={args.flood_n})",
        [table(results), targets],
        results,
    )


if __name__ == "__main__":
    main()
