"""What every benchmark shares: latency statistics, a /sync receiver, reports and plots.

Every benchmark message body is ``bench <tag> <seq>``: the tag separates scenarios of
one run, the sequence number lets the receiver count lost and out-of-order messages.
Send times are kept by the sender (same process, ``time.monotonic()``), so a latency
is "arrival at the receiver minus the moment the send started".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger("bridgekit.bench")

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# A large timeline limit: a burst must never come back as a "limited" (gappy) sync.
_SYNC_FILTER = json.dumps(
    {
        "room": {
            "timeline": {"limit": 5000, "types": ["m.room.message"]},
            "state": {"lazy_load_members": True},
            "ephemeral": {"not_types": ["*"]},
        },
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    }
)


def body(tag: str, seq: int) -> str:
    """The text of message ``seq`` of scenario ``tag``."""
    return f"bench {tag} {seq}"


def parse_body(text: str) -> tuple[str, int] | None:
    """``(tag, seq)`` of a benchmark body, or None for any other text.

    Bridges may prefix relayed text (``<nick> ...``), so the marker is searched for.
    """
    start = text.find("bench ")
    if start < 0:
        return None
    parts = text[start:].split()
    if len(parts) < 3 or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


@dataclass
class Arrivals:
    """Messages of one scenario as the receiver saw them, in arrival order."""

    tag: str
    seqs: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    carriers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, seqs: Sequence[int], at: float) -> None:
        """Record that one carrier (a Matrix event or IRC line) brought ``seqs`` at ``at``."""
        self.carriers += 1
        for seq in seqs:
            self.seqs.append(seq)
            self.times.append(at)
        self.changed.set()

    async def wait(self, count: int, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until ``count`` distinct messages arrived, or ``timeout`` seconds of silence."""
        while len(set(self.seqs)) < count:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout)
            except TimeoutError:
                log.warning("%s: %d of %d arrived", self.tag, len(set(self.seqs)), count)
                return


@dataclass(frozen=True)
class Result:
    """One measured scenario. Latencies are milliseconds; ``rate`` is messages/second."""

    name: str
    sent: int
    received: int
    lost: int
    out_of_order: int
    carriers: int
    elapsed: float
    rate: float
    p50: float
    p95: float
    p_max: float
    cpu_per_1000: float | None = None
    note: str = ""


def summarize(
    name: str,
    send_times: dict[int, float],
    arrivals: Arrivals,
    *,
    cpu_seconds: float | None = None,
    groups: int = 1,
    note: str = "",
) -> Result:
    """Turn send times and arrivals into a :class:`Result`.

    Throughput runs from the first send to the last arrival; a message is out of
    order when its sequence number is lower than one that arrived before it in the
    same group (``seq % groups``: one group per portal when a burst is spread over
    several, since only the order within one chat is promised).
    """
    first: dict[int, float] = {}
    out_of_order = 0
    highest: dict[int, int] = {}
    for seq, at in zip(arrivals.seqs, arrivals.times, strict=True):
        if seq in first or seq not in send_times:
            continue
        first[seq] = at
        group = seq % groups
        if seq < highest.get(group, -1):
            out_of_order += 1
        highest[group] = max(highest.get(group, -1), seq)
    latencies = sorted((first[s] - send_times[s]) * 1000 for s in first)
    start = min(send_times.values()) if send_times else 0.0
    end = max(first.values()) if first else start
    elapsed = max(end - start, 1e-9)
    sent = len(send_times)
    cpu = None if cpu_seconds is None else cpu_seconds * 1000 / max(sent, 1)
    return Result(
        name=name,
        sent=sent,
        received=len(first),
        lost=sent - len(first),
        out_of_order=out_of_order,
        carriers=arrivals.carriers,
        elapsed=elapsed,
        rate=len(first) / elapsed,
        p50=_percentile(latencies, 0.50),
        p95=_percentile(latencies, 0.95),
        p_max=latencies[-1] if latencies else float("nan"),
        cpu_per_1000=cpu,
        note=note,
    )


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


class SyncReceiver:
    """A Matrix user's /sync loop that records every benchmark message it sees.

    Arrivals are filed by tag; a body that carries several lines (a bridge that merges
    a burst) counts every sequence number in it, as one carrier event.
    """

    def __init__(self, homeserver: str, access_token: str) -> None:
        self._url = homeserver.rstrip("/") + "/_matrix/client/v3/sync"
        self._token = access_token
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._by_tag: dict[str, Arrivals] = {}
        self.joined: set[str] = set()
        self.invites: set[str] = set()
        self._first_sync = asyncio.Event()

    def arrivals(self, tag: str) -> Arrivals:
        """The (live) arrivals of ``tag``."""
        return self._by_tag.setdefault(tag, Arrivals(tag))

    async def start(self) -> None:
        """Start syncing; returns once the initial sync is done (old events are skipped)."""
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self._token}"})
        self._task = asyncio.create_task(self._loop())
        await asyncio.wait_for(self._first_sync.wait(), 60)

    async def stop(self) -> None:
        """Stop the loop and close the HTTP session."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _loop(self) -> None:
        assert self._session is not None
        since: str | None = None
        while True:
            params = {"timeout": "30000", "filter": _SYNC_FILTER}
            if since is not None:
                params["since"] = since
            async with self._session.get(self._url, params=params) as resp:
                data: dict[str, Any] = await resp.json()
            now = time.monotonic()
            if resp.status != 200:
                log.warning("sync failed: HTTP %s %s", resp.status, data)
                await asyncio.sleep(0.5)
                continue
            rooms = data.get("rooms", {})
            self.invites.update(rooms.get("invite", {}))
            for room_id, room in rooms.get("join", {}).items():
                self.joined.add(room_id)
                if since is None:
                    continue
                for event in room.get("timeline", {}).get("events", []):
                    self._absorb(event, now)
            since = data["next_batch"]
            self._first_sync.set()

    def _absorb(self, event: dict[str, Any], now: float) -> None:
        text = event.get("content", {}).get("body")
        if not isinstance(text, str):
            return
        found: dict[str, list[int]] = {}
        for line in text.splitlines():
            parsed = parse_body(line)
            if parsed is not None:
                found.setdefault(parsed[0], []).append(parsed[1])
        for tag, seqs in found.items():
            self.arrivals(tag).add(seqs, now)


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of ``pid`` (default: this process) in MB, from /proc."""
    path = f"/proc/{pid or 'self'}/status"
    for line in Path(path).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / _CLOCK_TICKS


_CLOCK_TICKS = float(__import__("os").sysconf("SC_CLK_TCK"))


def self_cpu() -> float:
    """CPU seconds of this process (user + system), for in-process bridges."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def table(results: Sequence[Result], ratios: dict[str, str] | None = None) -> str:
    """A markdown table of ``results``; ``ratios`` adds a column keyed by result name."""
    ratios = ratios or {}
    head = (
        "| scenario | sent | recv | lost | out of order | events/lines | msgs/s "
        "| p50 ms | p95 ms | max ms | CPU s/1000 | ratio |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        lines.append(
            f"| {r.name} | {r.sent} | {r.received} | {r.lost} | {r.out_of_order} "
            f"| {r.carriers} | {_fmt(r.rate)} | {_fmt(r.p50)} | {_fmt(r.p95)} "
            f"| {_fmt(r.p_max)} | {_fmt(r.cpu_per_1000, 2)} | {ratios.get(r.name, '')} |"
        )
    return "\n".join(lines)


def report(name: str, title: str, sections: Sequence[str], results: Sequence[Result]) -> str:
    """Print the report, write it to ``bench/results/<name>.md`` and plot ``<name>.png``."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = f"# {title}\n\nMeasured {stamp}.\n\n" + "\n\n".join(sections) + "\n"
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.md").write_text(text, encoding="utf-8")
    _plot(RESULTS_DIR / f"{name}.png", title, results)
    return text


def _plot(path: Path, title: str, results: Sequence[Result]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install 'bridgekit[bench]'): no plot")
        return
    names = [r.name for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(names) + 2))
    left.barh(names, [r.rate for r in results], color="tab:blue")
    left.set_xscale("log")
    left.set_xlabel("messages / s (log)")
    left.invert_yaxis()
    right.barh(names, [r.p50 for r in results], color="tab:green", label="p50")
    right.barh(
        names,
        [max(r.p95 - r.p50, 0) for r in results],
        left=[r.p50 for r in results],
        color="tab:orange",
        label="p95",
    )
    right.set_xscale("log")
    right.set_xlabel("latency ms (log)")
    right.set_yticks([])
    right.invert_yaxis()
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=300, help="messages per scenario")
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/bridgekit-bench"), help="server state"
    )
    parser.add_argument("--verbose", action="store_true", help="log at INFO")
    return parser


def setup_logging(verbose: bool) -> None:
    """Quiet logs unless asked: benchmark output is the table."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
