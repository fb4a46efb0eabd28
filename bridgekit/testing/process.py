"""A bridge in a child process, for tests that kill it for real (``kill -9``).

A crash test needs the bridge to die without running any of its shutdown code, and
its network to outlive it: run the network (or its test server) in the test process
and the bridge in a :class:`BridgeProcess`::

    config = setup.config(connector, homeserver_url=synapse.url, database_url=url)
    async with bridge_process(config, tmp_path, ["-m", "bridges.telegram"]) as bridge:
        ...
        await bridge.kill()    # SIGKILL, mid-burst
        await bridge.start()   # same config, same database
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from ..config import Config

__all__ = ["BridgeProcess", "bridge_process"]


class BridgeProcess:
    """``python <args>`` as a child process that answers the appservice API on
    ``port``; each start writes its output to a new ``bridge-<n>.log`` in ``log_dir``.
    ``python`` is this interpreter unless given (a benchmark may run the bridge from a
    virtualenv that has only its runtime dependencies)."""

    def __init__(
        self, args: Sequence[str], port: int, log_dir: Path, python: str = sys.executable
    ) -> None:
        self.python = python
        self.args = list(args)
        self.port = port
        self.log_dir = log_dir
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        """The output of the latest start."""
        return self.log_dir / f"bridge-{self.starts}.log"

    async def start(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Start the bridge and return once it reports ready (``/_matrix/mau/ready``)."""
        self.starts += 1
        with self.log.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                self.python, *self.args, stdout=output, stderr=asyncio.subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{self.port}/_matrix/mau/ready"
        async with aiohttp.ClientSession() as http:
            for _ in range(int(timeout * 10)):
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"the bridge exited with {self.process.returncode}: {self.log}"
                    )
                try:
                    async with http.get(url) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"the bridge was not ready within {timeout} s: {self.log}")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        """Stop it cleanly (SIGTERM, then SIGKILL after 15 s) if it is running."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self.kill()


@asynccontextmanager
async def bridge_process(
    config: Config, directory: Path, args: Sequence[str], python: str = sys.executable
) -> AsyncIterator[BridgeProcess]:
    """Write ``config`` to ``directory/config.yaml``, start ``python <args> -c <it>``
    and stop it when the block ends."""
    config_file = directory / "config.yaml"
    config_file.write_text(config.dump())
    process = BridgeProcess(
        [*args, "-c", str(config_file)], int(config["appservice.port"]), directory, python
    )
    await process.start()
    try:
        yield process
    finally:
        await process.stop()
