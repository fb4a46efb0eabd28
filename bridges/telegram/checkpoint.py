"""Saving Telegram's update position while the bridge runs, without ever saving past
an update whose events the core has not finished.

Telethon advances its update position (pts) as soon as it receives updates, before
the bridge has bridged them. Saving that position only at a clean stop means a crash
replays everything since the last clean stop (or, for a login that never stopped
cleanly, nothing at all: the updates are lost). So the position is checkpointed every
few seconds, but a checkpoint is written only once every event queued before it was
taken has been handled by the core (its ``on_handled`` ran). After a crash the bridge
asks Telegram for everything since the last checkpoint; what was already bridged is
dropped as a duplicate by its message ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridgekit.network import RemoteEvent

from .store import UpdateState


@dataclass(slots=True)
class _Candidate:
    queued_before: int
    states: list[UpdateState]


class Checkpoints:
    """Which update position may be saved, given what the core has handled."""

    def __init__(self) -> None:
        self._queued = 0
        self._unhandled: set[int] = set()
        self._candidate: _Candidate | None = None

    def track(self, event: RemoteEvent) -> None:
        """Count ``event`` as unhandled until the core is done with it."""
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
        """Whether the core has finished every event queued so far."""
        return not self._unhandled

    def offer(self, states: list[UpdateState]) -> None:
        """A position Telethon has reached, every update before it handed to the bridge's
        handlers (and so queued). Kept until :meth:`take` may return it."""
        if self._candidate is None:
            self._candidate = _Candidate(self._queued, states)

    def take(self) -> list[UpdateState] | None:
        """The offered position, once every event queued before it was handled."""
        candidate = self._candidate
        if candidate is None or any(n <= candidate.queued_before for n in self._unhandled):
            return None
        self._candidate = None
        return candidate.states
