"""A network's stream position is saved only up to what the core has finished with."""

from __future__ import annotations

from bridgekit.network import Checkpoints, PortalID, PortalKey, RemoteEvent


def _event() -> RemoteEvent:
    return RemoteEvent(portal=PortalKey(PortalID("chat")))


async def test_a_position_waits_for_every_event_queued_before_it() -> None:
    checkpoints: Checkpoints[int] = Checkpoints()
    first, second = _event(), _event()
    checkpoints.track(first)
    checkpoints.track(second)
    checkpoints.offer(10)
    assert checkpoints.take() is None  # both still in portal queues
    assert second.on_handled is not None and first.on_handled is not None
    await second.on_handled(True)
    assert checkpoints.take() is None  # the first one is not done yet
    later = _event()
    checkpoints.track(later)  # queued after the position was offered: does not hold it up
    await first.on_handled(False)  # failed for good still counts as done
    assert checkpoints.take() == 10
    assert checkpoints.take() is None  # taken once
    assert not checkpoints.all_handled


async def test_the_newest_safe_offer_wins_and_earlier_hooks_still_run() -> None:
    checkpoints: Checkpoints[int] = Checkpoints()
    calls: list[bool] = []

    async def network_hook(ok: bool) -> None:
        calls.append(ok)

    event = RemoteEvent(portal=PortalKey(PortalID("chat")), on_handled=network_hook)
    checkpoints.track(event)
    checkpoints.offer(5)
    later = _event()
    checkpoints.track(later)
    checkpoints.offer(9)  # needs the later event too
    assert event.on_handled is not None and later.on_handled is not None
    await event.on_handled(True)
    assert calls == [True]
    assert checkpoints.take() == 5
    await later.on_handled(True)
    checkpoints.offer(12)
    assert checkpoints.take() == 12  # 9 is older: passed over
    assert checkpoints.all_handled and checkpoints.take() is None
