"""The update position is saved only up to what the core has finished with."""

from __future__ import annotations

from bridgekit.network import PortalID, PortalKey, RemoteEvent
from bridges.telegram.checkpoint import Checkpoints
from bridges.telegram.store import UpdateState


def _event() -> RemoteEvent:
    return RemoteEvent(portal=PortalKey(PortalID("chat")))


def _at(pts: int) -> list[UpdateState]:
    return [UpdateState(0, pts, 0, 0, 0)]


async def test_a_position_waits_for_every_event_queued_before_it() -> None:
    checkpoints = Checkpoints()
    first, second = _event(), _event()
    checkpoints.track(first)
    checkpoints.track(second)
    checkpoints.offer(_at(10))
    assert checkpoints.take() is None  # both still in portal queues
    assert second.on_handled is not None and first.on_handled is not None
    await second.on_handled(True)
    assert checkpoints.take() is None  # the first one is not done yet
    later = _event()
    checkpoints.track(later)  # queued after the position was taken: does not hold it up
    await first.on_handled(False)  # failed for good still counts as done
    assert checkpoints.take() == _at(10)
    assert checkpoints.take() is None  # taken once
    assert not checkpoints.all_handled


async def test_an_earlier_on_handled_still_runs_and_the_first_offer_is_kept() -> None:
    checkpoints = Checkpoints()
    calls: list[bool] = []

    async def network_hook(ok: bool) -> None:
        calls.append(ok)

    event = RemoteEvent(portal=PortalKey(PortalID("chat")), on_handled=network_hook)
    checkpoints.track(event)
    checkpoints.offer(_at(5))
    checkpoints.offer(_at(9))  # a newer offer waits until the older one is saved
    assert event.on_handled is not None
    await event.on_handled(True)
    assert calls == [True]
    assert checkpoints.take() == _at(5)
    assert checkpoints.all_handled
    checkpoints.offer(_at(9))
    assert checkpoints.take() == _at(9)
