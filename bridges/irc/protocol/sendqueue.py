"""A prioritized, flood-controlled queue of outgoing lines.

Two lanes: the urgent lane (PONG, our liveness PING, registration) is always served first
and is not throttled, because a late PONG gets us disconnected and registration is a
handful of lines. The normal lane is paced by a token bucket: up to ``burst`` lines go out
at once, then one every ``interval`` seconds, which keeps us under the server's flood
limit (exceeding it means "Excess Flood" disconnections or fake lag).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FloodControl:
    """Pacing of the normal lane: ``burst`` lines at once, then one per ``interval``
    seconds. ``enabled=False`` sends as fast as the socket takes them (for servers that
    exempt the bridge, e.g. with an I-line)."""

    burst: int = 5
    interval: float = 2.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.burst < 1 or self.interval < 0:
            raise ValueError("flood control needs burst >= 1 and interval >= 0")


class TokenBucket:
    """``burst`` tokens, refilled at one per ``interval`` seconds of ``clock``."""

    def __init__(
        self, burst: int, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        if self._interval <= 0:
            self._tokens = float(self._burst)
        else:
            self._tokens = min(
                float(self._burst), self._tokens + (now - self._updated) / self._interval
            )
        self._updated = now

    def delay(self) -> float:
        """Seconds until a token is available (0 when one is available now)."""
        self._refill()
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) * self._interval

    def take(self) -> None:
        """Consume one token; call only when :meth:`delay` returned 0."""
        self._refill()
        self._tokens -= 1


class SendQueue:
    """Lines waiting to be written, in order within each lane.

    :meth:`get` returns the next line when the flood control allows it; one writer task
    should consume it. Lines are already-encoded bytes (see ``safety.encode_line``). While the
    normal lane is on :meth:`hold`, only urgent lines come out.
    """

    def __init__(
        self, flood: FloodControl | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.flood = flood or FloodControl()
        self._bucket = TokenBucket(self.flood.burst, self.flood.interval, clock)
        self._urgent: deque[bytes] = deque()
        self._normal: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._normal_open = True
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._urgent) + len(self._normal)

    def put(self, line: bytes, *, urgent: bool = False) -> None:
        """Queue ``line`` at the end of its lane."""
        (self._urgent if urgent else self._normal).append(line)
        self._empty.clear()
        self._wakeup.set()

    def put_front(self, lines: Iterable[bytes]) -> None:
        """Queue ``lines`` (in order) before everything in the normal lane, e.g. channel
        re-joins that must precede messages queued while disconnected."""
        self._normal.extendleft(reversed(list(lines)))
        if self._normal:
            self._empty.clear()
        self._wakeup.set()

    def hold(self) -> None:
        """Stop serving the normal lane (while registering: messages wait for it)."""
        self._normal_open = False

    def release(self) -> None:
        """Serve the normal lane again."""
        self._normal_open = True
        self._wakeup.set()

    def clear_urgent(self) -> None:
        """Drop the urgent lane: PONGs and registration lines of a dead connection."""
        self._urgent.clear()
        if not self._normal:
            self._empty.set()

    def clear(self) -> None:
        """Drop everything queued."""
        self._urgent.clear()
        self._normal.clear()
        self._empty.set()

    async def drained(self) -> None:
        """Wait until every queued line has been taken by :meth:`get`."""
        await self._empty.wait()

    def next_delay(self) -> float | None:
        """Seconds until :meth:`get` would return a line, ``None`` if nothing is queued."""
        if self._urgent:
            return 0.0
        if not self._normal or not self._normal_open:
            return None
        return self._bucket.delay() if self.flood.enabled else 0.0

    async def get(self) -> bytes:
        """Wait for the next line the flood control lets through and remove it."""
        while True:
            delay = self.next_delay()
            if delay == 0.0:
                if self._urgent:
                    line = self._urgent.popleft()
                else:
                    if self.flood.enabled:
                        self._bucket.take()
                    line = self._normal.popleft()
                if not self._urgent and not self._normal:
                    self._empty.set()
                return line
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), delay)
            except TimeoutError:
                pass
