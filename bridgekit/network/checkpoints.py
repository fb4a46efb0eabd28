"""Positions in a network's event stream that are safe to save.

A network that resumes from a stored position after a restart (Telegram's update
state, the time an IRC connection last heard from its server) must never store a
position past an event that the core has not finished: a crash would then skip that
event for good. :class:`Checkpoints` tracks the events queued with the core (through
their ``on_handled``) and hands out the newest offered position before which every
queued event is handled. After a crash the network asks again from that position;
what was bridged already is dropped by the core as a duplicate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from .events import RemoteEvent

T = TypeVar("T")


@dataclass(slots=True)
class _Candidate(Generic[T]):
    queued_before: int
    position: T


class Checkpoints(Generic[T]):
    """Which offered position may be saved, given what the core has handled."""

    def __init__(self) -> None:
        self._queued = 0
        self._unhandled: set[int] = set()
        self._candidates: deque[_Candidate[T]] = deque()

    def track(self, event: RemoteEvent) -> None:
        """Count ``event`` as unhandled until the core is done with it (call before
        queueing it)."""
        self._queued += 1
        number = self._queued
        self._unhandled.add(number)
        previous = event.on_handled

        async def handled(ok: bool) -> None:
            self._unhandled.discard(number)
            if previous is not None:
                await previous(ok)

        event.on_handled = handled

    @property
    def all_handled(self) -> bool:
        """Whether the core has finished every event tracked so far."""
        return not self._unhandled

    def offer(self, position: T) -> None:
        """A position the network has reached: every event before it was tracked (and
        queued). Kept until :meth:`take` may return it."""
        self._candidates.append(_Candidate(self._queued, position))

    def take(self) -> T | None:
        """The newest offered position before which every tracked event is handled
        (older offers are dropped), or ``None`` when there is none yet."""
        oldest = min(self._unhandled, default=self._queued + 1)
        taken: T | None = None
        while self._candidates and self._candidates[0].queued_before < oldest:
            taken = self._candidates.popleft().position
        return taken
