"""pytest fixtures of the test kit: throw-away databases and a real IRC server.

- ``database_url`` runs a test twice, once on SQLite and once on PostgreSQL, each
  time with an empty database of its own.
- ``postgres_url`` is one empty PostgreSQL database shared by the session.
- ``inspircd`` is one InspIRCd shared by the session; ``inspircd_factory`` starts
  private servers for tests that restart or reconfigure theirs.

A missing server or package skips the tests that need it on a developer machine
and fails them under ``CI=true``, with a message saying how to install or start it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from bridgekit.testing.inspircd import InspIRCdNotInstalledError, InspIRCdServer
from bridgekit.testing.postgres import (
    PostgresUnavailableError,
    check_server,
    create_database,
    drop_database,
    run_sync,
    server_url,
)

__all__ = [
    "database_url",
    "inspircd",
    "inspircd_factory",
    "postgres_server_url",
    "postgres_url",
]

InspIRCdFactory = Callable[..., InspIRCdServer]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(message: str) -> NoReturn:
    """Skip locally, fail in CI: a CI run must never pass by skipping its servers."""
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the test PostgreSQL server's maintenance database, checked once.

    ``BRIDGEKIT_TEST_POSTGRES`` overrides the default
    ``postgres://postgres@127.0.0.1:5432/postgres``. The reachability check runs once
    per session, so an absent server costs one connection attempt, not one per test.
    """
    url = server_url()
    try:
        run_sync(check_server(url))
    except PostgresUnavailableError as e:
        _unavailable(str(e))
    return url


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of an empty PostgreSQL database for the whole session, dropped at its end."""
    try:
        url = run_sync(create_database(postgres_server_url))
    except PostgresUnavailableError as e:
        _unavailable(str(e))
    try:
        yield url
    finally:
        run_sync(drop_database(url, postgres_server_url))


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database for this test, in the format of mautrix's ``Database.create``.

    The test runs once per backend: ``sqlite:///<tmp_path>/bridge.db`` and a fresh
    PostgreSQL database that is dropped afterwards (its open connections are closed
    first, so a pool the test forgot to stop cannot block the drop).
    """
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'bridge.db'}"
        return
    admin_url: str = request.getfixturevalue("postgres_server_url")
    try:
        url = run_sync(create_database(admin_url))
    except PostgresUnavailableError as e:
        _unavailable(str(e))
    try:
        yield url
    finally:
        run_sync(drop_database(url, admin_url))


def _new_inspircd(tmp_path_factory: pytest.TempPathFactory, **kwargs: Any) -> InspIRCdServer:
    try:
        server = InspIRCdServer(tmp_path_factory.mktemp("inspircd"), **kwargs)
    except InspIRCdNotInstalledError as e:
        _unavailable(str(e))
    server.start()
    return server


@pytest.fixture(scope="session")
def inspircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspIRCdServer]:
    """A running InspIRCd for the whole session (no flood throttling), stopped at its end.

    Tests share it: give each test its own nicks and channels, and use
    ``inspircd_factory`` instead when a test needs to restart or reconfigure the server.
    Its config, log and output stay in pytest's temporary directory.
    """
    server = _new_inspircd(tmp_path_factory)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def inspircd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspIRCdFactory]:
    """Start private InspIRCd servers: ``server = inspircd_factory(fakelag=True)``.

    Keyword arguments go to :class:`InspIRCdServer`; each server is started before
    the call returns and stopped when the test ends.
    """
    servers: list[InspIRCdServer] = []

    def factory(**kwargs: Any) -> InspIRCdServer:
        server = _new_inspircd(tmp_path_factory, **kwargs)
        servers.append(server)
        return server

    try:
        yield factory
    finally:
        for server in servers:
            server.stop()
