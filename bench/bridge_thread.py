"""Run a bridge in its own thread and event loop, so its CPU time can be told apart.

The benchmark driver (senders, /sync receivers) runs on the main thread. Everything
else in the process — the bridge's event loop thread and the worker threads it
starts (aiosqlite runs one per connection) — is the bridge's, so the bridge's CPU
time is process CPU minus main-thread CPU (:class:`CpuMeter`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Coroutine, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from bridgekit.bridge import Bridge
from bridgekit.network.connector import NetworkConnector
from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.synapse import SynapseServer

T = TypeVar("T")


class BridgeThread:
    """A bridge started by :func:`run_bridge` inside a dedicated thread.

    :meth:`start` blocks (call it through ``asyncio.to_thread``) until the bridge is
    up; :meth:`call` runs a coroutine on the bridge's loop and returns an awaitable
    for the caller's loop.
    """

    def __init__(
        self,
        connector: NetworkConnector,
        setup: BridgeSetup,
        synapse: SynapseServer,
        database_url: str,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._args = (connector, setup, synapse, database_url, overrides)
        self._ready: Future[Bridge] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="bridge", daemon=True)

    def start(self) -> Bridge:
        """Start the thread and return the running bridge (raises if start-up failed)."""
        self._thread.start()
        return self._ready.result(timeout=120)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # handed to the waiting caller
            if not self._ready.done():
                self._ready.set_exception(err)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        connector, setup, synapse, database_url, overrides = self._args
        async with run_bridge(connector, setup, synapse, database_url, overrides) as bridge:
            self._ready.set_result(bridge)
            await self._stopping.wait()

    def call(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run ``coro`` on the bridge's loop; await the result on the caller's loop."""
        assert self._loop is not None
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def stop(self) -> None:
        """Stop the bridge and wait for its thread to end (blocking)."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=60)


class CpuMeter:
    """CPU seconds spent off the main thread (the bridge's share) between marks.

    Create and read it on the main thread.
    """

    def __init__(self) -> None:
        self._start = self._now()

    @staticmethod
    def _now() -> float:
        return time.process_time() - time.thread_time()

    def restart(self) -> None:
        """Start counting again from now."""
        self._start = self._now()

    def seconds(self) -> float:
        """CPU seconds used by other threads since the last (re)start."""
        return self._now() - self._start
