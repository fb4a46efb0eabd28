"""Waiting in tests for state that settles a little after the event that caused it
(the homeserver's member list, a test server's records), without fixed sleeps."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    condition: Callable[[], T | Awaitable[T]],
    timeout: float = 20.0,  # noqa: ASYNC109 - the tests pass it positionally
    interval: float = 0.05,
) -> T:
    """Call ``condition`` (a function or a coroutine function) every ``interval``
    seconds until it returns something truthy, and return that. Fails with an
    ``AssertionError`` naming the condition after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            name = getattr(condition, "__name__", repr(condition))
            raise AssertionError(f"{name} did not hold within {timeout} s")
        await asyncio.sleep(interval)
