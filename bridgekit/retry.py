"""Waiting out a homeserver or database that is briefly gone, instead of dropping work.

A job that fails because the database connection was lost (PostgreSQL restarting,
its connections terminated, SQLite busy), the database's disk is full, or the
homeserver is down is run again with backoff, holding its queue so that a chat's
order is kept. A retried job may repeat what it did before the failure: remote→Matrix
sends reuse their transaction IDs, and a Matrix→network send repeats at most the one
message that was in flight, as after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from mautrix.errors import MatrixConnectionError, MatrixRequestError

log = logging.getLogger("bridgekit.retry")

T = TypeVar("T")
MAX_RETRY_DELAY = 30.0

#: SQLSTATEs of a lost connection (class 08), of a server shutting down or starting,
#: and of a full disk (or out of memory, or too many connections).
_UNAVAILABLE_STATES = ("57P01", "57P02", "57P03", "53100", "53200", "53300")


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means "the database is unreachable for now", not "this query is
    wrong": a lost or refused connection, a server restarting, a busy SQLite file, a
    full disk (which an operator can free: nothing is dropped meanwhile)."""
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_STATES):
        return True
    if type(error).__module__.startswith("asyncpg") and type(error).__name__ in (
        "InterfaceError",
        "ConnectionDoesNotExistError",
        "InternalClientError",
    ):
        # asyncpg's "connection is closed" / "pool is closing": the connection died.
        return "clos" in str(error) or type(error).__name__ != "InterfaceError"
    if isinstance(error, sqlite3.OperationalError):
        return any(word in str(error) for word in ("locked", "busy", "full"))
    if isinstance(error, OSError | TimeoutError):
        # A refused or timed-out connection counts only when it was the database's
        # (asyncpg opening a pool connection): networks raise those too, and a Matrix
        # message to a network that is down gets a notice rather than a wait.
        return _raised_in(error, "asyncpg")
    return False


def _raised_in(error: BaseException, package: str) -> bool:
    """Whether ``package``'s code is on the traceback of ``error``."""
    tb = error.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module == package or module.startswith(f"{package}."):
            return True
        tb = tb.tb_next
    return False


def homeserver_unavailable(error: BaseException) -> bool:
    """Errors that mean "the homeserver is down or restarting", not "this is wrong"."""
    if isinstance(error, MatrixConnectionError | aiohttp.ClientError | TimeoutError):
        return True
    return isinstance(error, MatrixRequestError) and error.http_status in (502, 503, 504)


def temporarily_unavailable(error: BaseException) -> bool:
    """The homeserver or the database is gone for now: worth trying again."""
    return database_unavailable(error) or homeserver_unavailable(error)


async def retry_while_unavailable(
    what: str,
    job: Callable[[], Awaitable[T]],
    stopping: Callable[[], bool],
    unavailable: Callable[[BaseException], bool] = database_unavailable,
) -> T:
    """Run ``job``; while it fails with an error ``unavailable`` accepts, wait (1 s,
    doubling up to 30 s) and run it again. Other errors, and any error once
    ``stopping()`` is true, are raised."""
    delay = 1.0
    while True:
        try:
            return await job()
        except Exception as e:
            if not unavailable(e) or stopping():
                raise
            log.warning(
                "%s failed, the database or homeserver is unavailable (%s: %s); "
                "trying again in %.0f s",
                what,
                type(e).__name__,
                e,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
