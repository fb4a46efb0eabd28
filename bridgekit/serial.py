"""A queue that runs jobs one at a time, in order, with no task while idle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("bridgekit.serial")

Job = Callable[[], Awaitable[None]]
T = TypeVar("T")


class SerialQueue:
    """Runs submitted jobs strictly in submission order. A failing job is logged and
    does not stop the ones after it. Used per portal and per non-portal room, so one
    chat's events keep their order while chats run in parallel."""

    def __init__(self, name: str, tasks: set[asyncio.Task[None]]) -> None:
        self.name = name
        self._queue: asyncio.Queue[tuple[str, Job]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks = tasks

    def submit(self, description: str, job: Job) -> None:
        """Queue ``job``; it runs after every job submitted before it."""
        self._queue.put_nowait((description, job))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name=self.name)
            self._tasks.add(self._worker)
            self._worker.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        while not self._queue.empty():
            description, job = self._queue.get_nowait()
            try:
                await job()
            except Exception:
                log.exception("Failed to handle %s in %s", description, self.name)
            finally:
                self._queue.task_done()

    async def run(self, description: str, job: Callable[[], Awaitable[T]]) -> T:
        """Queue ``job`` like ``submit`` and wait for its result (or its error)."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        async def wrapper() -> None:
            try:
                done.set_result(await job())
            except asyncio.CancelledError:
                done.cancel()
                raise
            except Exception as e:
                done.set_exception(e)

        self.submit(description, wrapper)
        return await done

    async def drain(self) -> None:
        """Wait until every queued job has run."""
        await self._queue.join()
