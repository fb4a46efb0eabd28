"""pytest fixtures of the test kit: one real Synapse per session, and users on it.

A project lists the appservice registrations its tests need by overriding
``bridgekit_registrations`` in its ``conftest.py``: Synapse loads them only at start-up,
and one Synapse serves the whole session.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from bridgekit.testing.matrix_client import MatrixTestClient
from bridgekit.testing.synapse import SynapseNotInstalledError, SynapseServer

if TYPE_CHECKING:
    from bridgekit.testing.encrypted_client import EncryptedTestClient

__all__ = ["bridgekit_registrations", "encrypted_user", "matrix_user", "synapse"]

MatrixUserFactory = Callable[..., Awaitable[MatrixTestClient]]
EncryptedUserFactory = Callable[..., Awaitable["EncryptedTestClient"]]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def bridgekit_registrations() -> list[Mapping[str, Any]]:
    """Appservice registrations (dicts in the registration file format) for Synapse.

    Empty by default. Override it in ``conftest.py`` to list every registration the
    session needs: the one Synapse of the session reads them only at start-up.
    """
    return []


@pytest.fixture(scope="session")
def synapse(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bridgekit_registrations: list[Mapping[str, Any]],
) -> Iterator[SynapseServer]:
    """A running Synapse for the whole session, loaded with ``bridgekit_registrations``.

    When Synapse is not installed the tests that need it are skipped locally and fail
    under ``CI=true``. If any test of the session failed, Synapse's work directory is
    kept and the path of its log printed; otherwise it is removed.
    """
    workdir = tmp_path_factory.mktemp("synapse")
    server = SynapseServer(workdir, bridgekit_registrations)
    try:
        server.start()
    except SynapseNotInstalledError as err:
        if _in_ci():
            pytest.fail(str(err), pytrace=False)
        pytest.skip(str(err))
    try:
        yield server
    finally:
        server.stop()
        if request.session.testsfailed:
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            message = f"bridgekit: tests failed; Synapse log kept at {server.log_path}"
            if reporter is not None:
                reporter.write_line(message)
            else:
                print(message)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def matrix_user(synapse: SynapseServer) -> AsyncIterator[MatrixUserFactory]:
    """A factory of freshly registered users: ``alice = await matrix_user("alice")``.

    Each call registers a new user whose localpart is the given name plus a random
    suffix (so tests never collide on the session's shared Synapse) and returns a
    :class:`MatrixTestClient` for it; pass ``admin=True`` for a server admin. All
    clients are closed when the test ends.
    """
    clients: list[MatrixTestClient] = []

    async def create(name: str = "user", *, admin: bool = False) -> MatrixTestClient:
        localpart = f"{name.lower()}_{secrets.token_hex(4)}"
        user_id, token = await synapse.aregister_user(localpart, admin=admin)
        client = MatrixTestClient(synapse.url, user_id, token)
        clients.append(client)
        return client

    try:
        yield create
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def encrypted_user(synapse: SynapseServer) -> AsyncIterator[EncryptedUserFactory]:
    """A factory of freshly registered users with an E2EE device: ``await encrypted_user("bob")``.

    Each call registers a new user (the given name plus a random suffix) and returns a
    syncing :class:`EncryptedTestClient` whose device keys are already uploaded. All
    clients are closed, and their crypto stores deleted, when the test ends.
    """
    # Imported here: matrix-nio takes over half a second to import, and only the
    # tests that use this fixture should pay for it.
    from bridgekit.testing.encrypted_client import EncryptedTestClient

    clients: list[EncryptedTestClient] = []

    async def create(name: str = "user") -> EncryptedTestClient:
        client = await EncryptedTestClient.create(synapse, name)
        clients.append(client)
        return client

    try:
        yield create
    finally:
        for client in clients:
            await client.close()
