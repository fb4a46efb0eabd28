"""The flood-controlled send queue."""

from __future__ import annotations

import asyncio

from bridges.irc.protocol.sendqueue import FloodControl, SendQueue, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_bursts_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst=3, interval=2.0, clock=clock)
    for _ in range(3):
        assert bucket.delay() == 0
        bucket.take()
    assert bucket.delay() == 2.0
    clock.now += 0.5
    assert bucket.delay() == 1.5
    clock.now += 1.5
    assert bucket.delay() == 0
    bucket.take()
    clock.now += 100
    for _ in range(3):
        assert bucket.delay() == 0
        bucket.take()
    assert bucket.delay() > 0


async def test_urgent_lines_jump_the_queue_and_ignore_the_bucket() -> None:
    clock = FakeClock()
    queue = SendQueue(FloodControl(burst=1, interval=10.0), clock=clock)
    queue.put(b"a")
    queue.put(b"b")
    assert await queue.get() == b"a"
    queue.put(b"PONG", urgent=True)
    assert await queue.get() == b"PONG"
    assert queue.next_delay() == 10.0
    clock.now += 10
    assert await queue.get() == b"b"
    assert queue.next_delay() is None


async def test_hold_blocks_the_normal_lane_and_put_front_goes_first() -> None:
    queue = SendQueue(FloodControl(enabled=False))
    queue.hold()
    queue.put(b"msg1")
    queue.put(b"CAP", urgent=True)
    assert await queue.get() == b"CAP"
    assert queue.next_delay() is None
    queue.put_front([b"JOIN #a", b"JOIN #b"])
    queue.release()
    got = [await queue.get() for _ in range(3)]
    assert got == [b"JOIN #a", b"JOIN #b", b"msg1"]
    await asyncio.wait_for(queue.drained(), 1)


async def test_get_waits_for_the_bucket_with_real_time() -> None:
    queue = SendQueue(FloodControl(burst=2, interval=0.05))
    for i in range(4):
        queue.put(str(i).encode())
    loop = asyncio.get_running_loop()
    start = loop.time()
    got = [await queue.get() for _ in range(4)]
    assert got == [b"0", b"1", b"2", b"3"]
    # Two lines were paced, one interval each.
    assert loop.time() - start >= 0.09


async def test_disabled_flood_control_never_waits() -> None:
    queue = SendQueue(FloodControl(burst=1, interval=1000, enabled=False))
    for i in range(50):
        queue.put(str(i).encode())
    got = [await asyncio.wait_for(queue.get(), 0.5) for _ in range(50)]
    assert got == [str(i).encode() for i in range(50)]
