"""The core engine alone: the loopback network bridged to a real Synapse, no network I/O.

``python -m bench.loopback [--n 300] [--paced-n 50] [--portals 20]`` starts Synapse,
runs the loopback bridge in-process (in its own thread, so its CPU time can be
measured apart from the driver's), logs a Matrix user in through the bot, and
measures in one run:

- the appservice-send ceilings (sequential, 8 in flight, paced 5/s) and the local
  user's sequential send;
- network → Matrix: N remote messages into one portal, and spread round-robin over
  ``--portals`` portals, read by the Matrix user's /sync; a paced 5/s variant;
- Matrix → network: the Matrix user sends N (sequentially, and 8 in flight) into a
  portal, timed when the loopback network receives them.

It prints the table with ratios to the ceilings and the issue's targets.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bridgekit.bridge import Bridge
from bridgekit.testing.bridge import BridgeSetup
from bridgekit.testing.loopback import LoopbackConnector, LoopbackWorld, SentEvent
from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseServer

from .bridge_thread import BridgeThread, CpuMeter
from .ceilings import (
    SILENCE_TIMEOUT,
    ceiling_registration,
    matrix_ceilings,
    new_tag,
)
from .common import (
    Result,
    SyncReceiver,
    base_parser,
    body,
    cpu_seconds,
    parse_body,
    report,
    rss_mb,
    setup_logging,
    summarize,
    table,
)
from .scenarios import by_name, matrix_burst

PACE = 0.2


def network_tag(tag: str) -> str:
    """Where arrivals at the network side are filed: the Matrix user's own /sync sees
    the same bodies (its own echo) under the plain tag."""
    return f"net:{tag}"


class TimedWorld(LoopbackWorld):
    """A loopback world that files every benchmark message the bridge sends it, with
    the time it arrived, into the driver's receiver (on the driver's loop)."""

    def __init__(self, store: SyncReceiver, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._store = store
        self._main_loop = loop

    def record(self, sent: SentEvent) -> None:
        """Remember ``sent`` (as the plain world does) and time it."""
        super().record(sent)
        text = getattr(sent.event, "body", None)
        parsed = parse_body(text) if isinstance(text, str) else None
        if parsed is not None:
            arrivals = self._store.arrivals(network_tag(parsed[0]))
            self._main_loop.call_soon_threadsafe(arrivals.add, [parsed[1]], time.monotonic())


async def _notice(client: MatrixTestClient, room: str, sender: str, text: str) -> None:
    await client.wait_for_event(
        room,
        lambda e: e.get("sender") == sender and text in e.get("content", {}).get("body", ""),
        timeout=30,
    )


async def log_in(synapse: SynapseServer, bot: str, user_id: str, token: str) -> None:
    """Log ``user_id`` into the loopback account ``alice`` through the bot."""
    async with MatrixTestClient(synapse.url, user_id, token) as client:
        room = await client.create_room(invite=[bot], is_direct=True)
        await _notice(client, room, bot, "management room")
        for text, answer in (
            ("login", "send your username"),
            ("alice", "send your password"),
            ("hunter2", "Successfully logged in"),
        ):
            await client.send_text(room, text)
            await _notice(client, room, bot, answer)


async def _wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def open_portals(
    thread: BridgeThread,
    world: LoopbackWorld,
    receiver: SyncReceiver,
    client: MatrixTestClient,
    chats: list[str],
) -> set[str]:
    """Create the portals of ``chats`` with one message each, join them; return their rooms."""
    before = set(receiver.invites)
    tag = new_tag("w")
    for index, chat in enumerate(chats):
        await thread.call(world.send_message(chat, "bob", body(tag, index)))
    await _wait(lambda: len(receiver.invites - before) >= len(chats), "portal invites")
    rooms = receiver.invites - before
    for room in rooms:
        await client.join(room)
    await receiver.arrivals(tag).wait(len(chats), SILENCE_TIMEOUT)
    return rooms


async def remote_burst(
    name: str,
    thread: BridgeThread,
    world: LoopbackWorld,
    receiver: SyncReceiver,
    chats: list[str],
    n: int,
    pace: float | None = None,
) -> Result:
    """N remote messages from ``bob``, round-robin over ``chats``, read off /sync."""
    tag = new_tag("r")
    arrivals = receiver.arrivals(tag)
    send_times: dict[int, float] = {}

    async def burst() -> None:
        # Runs on the bridge's loop: this is how a network plugin hands events over.
        for seq in range(n):
            send_times[seq] = time.monotonic()
            await world.send_message(chats[seq % len(chats)], "bob", body(tag, seq))
            if pace:
                await asyncio.sleep(max(0.0, send_times[seq] + pace - time.monotonic()))

    meter = CpuMeter()
    await thread.call(burst())
    await arrivals.wait(n, SILENCE_TIMEOUT)
    return summarize(name, send_times, arrivals, cpu_seconds=meter.seconds(), groups=len(chats))


def _ratio(value: float, ceiling: float) -> str:
    return f"{value / ceiling:.2f}x" if ceiling else "-"


@dataclass(frozen=True, slots=True)
class HomeserverLoad:
    """Synapse's CPU seconds per 1,000 messages of the 1-portal and the spread burst,
    and its CPU seconds per second of the spread burst (its busy share of a core)."""

    one_per_1000: float
    many_per_1000: float
    many_busy: float


def assess(
    results: list[Result], bridge_rss: float, homeserver: HomeserverLoad
) -> tuple[dict[str, str], str]:
    """Ratios per scenario and the targets section."""
    seq = by_name(results, "appservice send, sequential")
    par = by_name(results, "appservice send, 8 in flight")
    paced = by_name(results, "appservice send, paced")
    local = by_name(results, "matrix local user")
    one = by_name(results, "loopback → Matrix, 1 portal, burst")
    many = next(r for r in results if "portals, burst" in r.name)
    bridge_paced = by_name(results, "loopback → Matrix, 1 portal, paced")
    m2n = by_name(results, "Matrix → loopback, sequential")
    ratios = {
        one.name: _ratio(one.rate, seq.rate) + " of AS sequential",
        many.name: _ratio(many.rate, par.rate) + " of AS 8 in flight",
        bridge_paced.name: f"{bridge_paced.p50 - paced.p50:+.1f} ms p50 over AS paced",
        m2n.name: _ratio(m2n.rate, local.rate) + " of local sequential",
    }
    # Messages sent concurrently have no order to keep: their rows count losses only.
    ordered = [r for r in results if "loopback" in r.name and "in flight" not in r.name]
    lost = sum(r.lost for r in results if "loopback" in r.name)
    disorder = sum(r.out_of_order for r in ordered)

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    rows = [
        "| target | measured | |",
        "|---|---|---|",
        f"| 1 portal burst ≥ 0.9x AS sequential | {one.rate / seq.rate:.2f}x "
        f"| {met(one.rate >= 0.9 * seq.rate)} |",
        f"| {many.name.split(', ')[1]} burst ≥ 0.9x AS 8 in flight "
        f"| {many.rate / par.rate:.2f}x | {met(many.rate >= 0.9 * par.rate)} |",
        f"| paced p50 adds ≤ 15 ms over AS send | {bridge_paced.p50 - paced.p50:+.1f} ms "
        f"| {met(bridge_paced.p50 - paced.p50 <= 15)} |",
        f"| zero lost, zero out of order (bridge rows; order only where sent in order) "
        f"| {lost} lost, {disorder} reordered "
        f"| {met(lost == 0 and disorder == 0)} |",
    ]
    notes = (
        f"Bridge process RSS after the run (bridge + driver + test clients in one "
        f"process): {bridge_rss:.0f} MB. CPU s/1000 is the CPU time of every thread but "
        "the driver's (bridge loop + aiosqlite workers) per 1,000 messages, idle time "
        "of the scenario included. Out-of-order counts for the 8-in-flight rows are "
        "expected: concurrent sends have no order. Synapse's CPU per 1,000 messages: "
        f"{homeserver.one_per_1000:.1f} s in the 1-portal burst, "
        f"{homeserver.many_per_1000:.1f} s in the {many.name.split(', ')[1]} burst, during "
        f"which it was busy {homeserver.many_busy:.2f} CPU-seconds per second (it handles "
        "requests on one thread: near 1.0 it is the limit)."
    )
    return ratios, "## Targets\n\n" + "\n".join(rows) + "\n\n" + notes


def _fresh_dir(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)


async def run(workdir: Path, n: int, paced_n: int, portals: int) -> tuple[list[Result], str]:
    """Start Synapse and the loopback bridge in ``workdir``, measure, stop."""
    await asyncio.to_thread(_fresh_dir, workdir)
    loop = asyncio.get_running_loop()
    setup = BridgeSetup.new("loopback")
    ceiling = ceiling_registration()
    placeholder = LoopbackConnector()
    synapse = SynapseServer(workdir / "synapse", [setup.registration(placeholder), ceiling])
    await asyncio.to_thread(synapse.start)
    assert synapse.pid is not None
    synapse_pid = synapse.pid
    thread: BridgeThread | None = None
    receiver: SyncReceiver | None = None
    try:
        user_id, token = await synapse.aregister_user("alice")
        receiver = SyncReceiver(synapse.url, token)
        world = TimedWorld(receiver, loop)
        world.add_account("alice", "hunter2")
        world.add_account("bob", "x", name="Bob")
        chats = [f"p{i}" for i in range(portals)]
        world.add_chat("one", "One", ["alice", "bob"])
        for chat in chats:
            world.add_chat(chat, chat, ["alice", "bob"])
        thread = BridgeThread(
            LoopbackConnector(world), setup, synapse, f"sqlite:///{workdir / 'bridge.db'}"
        )
        bridge: Bridge = await asyncio.to_thread(thread.start)
        await log_in(synapse, str(bridge.bot_mxid), user_id, token)
        await receiver.start()
        async with MatrixTestClient(synapse.url, user_id, token) as alice:
            (room_one,) = await open_portals(thread, world, receiver, alice, ["one"])
            await open_portals(thread, world, receiver, alice, chats)
            results = await matrix_ceilings(
                synapse,
                ceiling["as_token"],
                synapse.user_id("benchas_ceiling"),
                receiver,
                alice,
                n,
                paced_n,
                PACE,
            )
            hs_before = cpu_seconds(synapse_pid)
            one = await remote_burst(
                "loopback → Matrix, 1 portal, burst", thread, world, receiver, ["one"], n
            )
            hs_one = cpu_seconds(synapse_pid) - hs_before
            results.append(one)
            hs_before = cpu_seconds(synapse_pid)
            many = await remote_burst(
                f"loopback → Matrix, {portals} portals, burst", thread, world, receiver, chats, n
            )
            hs_many = cpu_seconds(synapse_pid) - hs_before
            results.append(many)
            homeserver = HomeserverLoad(
                hs_one * 1000 / max(one.sent, 1),
                hs_many * 1000 / max(many.sent, 1),
                hs_many / max(many.elapsed, 1e-9),
            )
            results.append(
                await remote_burst(
                    f"loopback → Matrix, 1 portal, paced {1 / PACE:g}/s",
                    thread,
                    world,
                    receiver,
                    ["one"],
                    paced_n,
                    PACE,
                )
            )
            results.append(
                await matrix_burst(
                    "Matrix → loopback, sequential", alice, room_one, receiver, n, 1, network_tag
                )
            )
            results.append(
                await matrix_burst(
                    "Matrix → loopback, 8 in flight", alice, room_one, receiver, n, 8, network_tag
                )
            )
        ratios, targets = assess(results, rss_mb(), homeserver)
        return results, table(results, ratios) + "\n\n" + targets
    finally:
        if receiver is not None:
            await receiver.stop()
        if thread is not None:
            await asyncio.to_thread(thread.stop)
        await asyncio.to_thread(synapse.stop)


def main() -> None:
    """``python -m bench.loopback``."""
    parser = base_parser("The core engine over the loopback network, with ceilings.")
    parser.add_argument("--paced-n", type=int, default=50, help="messages in paced scenarios")
    parser.add_argument("--portals", type=int, default=20, help="portals of the spread burst")
    args = parser.parse_args()
    setup_logging(args.verbose)
    results, text = asyncio.run(run(args.workdir / "loopback", args.n, args.paced_n, args.portals))
    report(
        "loopback",
        f"Core engine over the loopback network (N={args.n}, paced N={args.paced_n})",
        [text],
        results,
    )


if __name__ == "__main__":
    main()
