"""Throw-away PostgreSQL databases for tests.

Tests never share a database: each one gets a database with a random name on the
test server, which is dropped (after terminating any connection still open to it)
when the test is done. The server is ``postgres://postgres@127.0.0.1:5432/postgres``
unless the environment variable ``BRIDGEKIT_TEST_POSTGRES`` names another one; that
URL's user must be allowed to create databases.

The helpers are coroutines; :func:`run_sync` runs one from synchronous code (a pytest
fixture) on a private event loop in a worker thread, so it never disturbs the event
loop of the test that asked for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from yarl import URL

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "POSTGRES_URL_ENV",
    "PostgresUnavailableError",
    "check_server",
    "create_database",
    "drop_database",
    "run_sync",
    "server_url",
    "temporary_database",
]

log = logging.getLogger("bridgekit.testing.postgres")

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL_ENV = "BRIDGEKIT_TEST_POSTGRES"
DATABASE_NAME_PREFIX = "bridgekit_test_"
CONNECT_TIMEOUT = 5.0

_T = TypeVar("_T")


class PostgresUnavailableError(RuntimeError):
    """The test PostgreSQL server cannot be used; the message says how to fix that."""


def server_url() -> str:
    """Return the URL of the test server's maintenance database (env var or default)."""
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def _redacted(url: URL) -> str:
    return str(url.with_password("***") if url.password else url)


def _how_to_fix(url: URL, reason: str) -> str:
    return (
        f"PostgreSQL test server at {_redacted(url)} is not usable: {reason}. "
        "Start the local server with "
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
        f"or set {POSTGRES_URL_ENV} to the URL of a server whose user may create databases."
    )


async def _connect(url: URL) -> Any:
    """Connect to ``url`` with asyncpg, turning every failure into PostgresUnavailableError."""
    try:
        import asyncpg
    except ImportError as e:
        raise PostgresUnavailableError(
            "asyncpg is not installed: install the `postgres` extra (`pip install '.[postgres]'`)"
        ) from e
    try:
        return await asyncpg.connect(str(url), timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError) as e:
        raise PostgresUnavailableError(_how_to_fix(url, f"{type(e).__name__}: {e}")) from e


async def check_server(admin_url: str | None = None) -> str:
    """Connect to the test server once and return its version string.

    Raises :class:`PostgresUnavailableError` when the server cannot be reached.
    """
    conn = await _connect(URL(admin_url or server_url()))
    try:
        version: str = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return version


async def create_database(admin_url: str | None = None) -> str:
    """Create an empty database with a random name and return its URL.

    ``admin_url`` is the maintenance database to connect to (default:
    :func:`server_url`); the returned URL has the same user, host and options with
    the new database's name as its path. Raises :class:`PostgresUnavailableError`
    when the server cannot be reached or refuses to create the database.
    """
    base = URL(admin_url or server_url())
    name = DATABASE_NAME_PREFIX + secrets.token_hex(6)
    conn = await _connect(base)
    try:
        # template0 never has open connections, so parallel creations cannot collide
        # on it the way they can on template1.
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    except Exception as e:
        raise PostgresUnavailableError(_how_to_fix(base, f"CREATE DATABASE failed: {e}")) from e
    finally:
        await conn.close()
    log.debug("Created test database %s", name)
    return str(base.with_path(f"/{name}"))


async def drop_database(url: str, admin_url: str | None = None) -> None:
    """Drop the database that ``url`` points to, closing other sessions on it first.

    Dropping a database that no longer exists is not an error.
    """
    name = URL(url).path.lstrip("/")
    if not name or '"' in name:
        raise ValueError(f"not a database URL this kit created: {url!r}")
    conn = await _connect(URL(admin_url or server_url()))
    try:
        # A pool a test forgot to close would otherwise make DROP DATABASE fail.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()
    log.debug("Dropped test database %s", name)


@asynccontextmanager
async def temporary_database(admin_url: str | None = None) -> AsyncIterator[str]:
    """Yield the URL of a fresh database that is dropped when the block exits."""
    url = await create_database(admin_url)
    try:
        yield url
    finally:
        await drop_database(url, admin_url)


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion on a new event loop in a worker thread.

    Safe to call from synchronous code even while another event loop is running in
    the calling thread (the coroutine must not use objects bound to that loop).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridgekit-pg") as pool:
        return pool.submit(asyncio.run, coro).result()
