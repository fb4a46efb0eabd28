"""Several data centers: accounts and files living away from the client's DC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telethon import TelegramClient
from telethon.tl import functions

from . import TelegramTestServer


@pytest.fixture
async def two_dcs() -> AsyncIterator[TelegramTestServer]:
    async with TelegramTestServer(dc_ids=(2, 4)) as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
async def clients() -> AsyncIterator[list[TelegramClient]]:
    made: list[TelegramClient] = []
    yield made
    for client in made:
        await client.disconnect()


async def _connect(made: list[TelegramClient], session: object) -> TelegramClient:
    client = TelegramClient(session, 12345, "0123456789abcdef")
    made.append(client)
    await client.connect()
    return client


async def test_phone_on_another_dc_migrates_the_client(
    two_dcs: TelegramTestServer, clients: list[TelegramClient]
) -> None:
    alice = two_dcs.create_user("+15550001", "Alice", dc_id=4)
    client = await _connect(clients, two_dcs.new_session(2))

    await client.send_code_request(alice.phone)
    assert client.session.dc_id == 4
    assert (await client.sign_in(alice.phone, two_dcs.login_code(alice.phone))).id == alice.id
    assert two_dcs.auth_keys[client.session.auth_key.key_id].dc_id == 4


async def test_qr_login_migrates_to_the_accounts_dc(
    two_dcs: TelegramTestServer, clients: list[TelegramClient]
) -> None:
    alice = two_dcs.create_user("+15550001", "Alice", dc_id=4)
    client = await _connect(clients, two_dcs.new_session(2))

    qr = await client.qr_login()
    waiter = asyncio.create_task(qr.wait(timeout=5))
    await asyncio.sleep(0.1)
    two_dcs.accept_login_token(qr.token, alice)

    assert (await waiter).id == alice.id
    assert client.session.dc_id == 4
    assert any(isinstance(r, functions.auth.ImportLoginTokenRequest) for _, r in two_dcs.calls)


async def test_file_in_another_dc_is_fetched_with_an_exported_authorization(
    two_dcs: TelegramTestServer, clients: list[TelegramClient]
) -> None:
    alice = two_dcs.create_user("+15550001", "Alice", dc_id=4)
    bob = two_dcs.create_user("+15550002", "Bob")
    two_dcs.add_contact(alice, bob)
    data = b"stored in DC 2 " * 1000
    two_dcs.send_message(bob, alice, "doc", media=two_dcs.upload_document(data, "text/plain"))
    client = await _connect(clients, two_dcs.signed_in_session(alice))

    [message] = await client.get_messages(bob.id, limit=1)
    assert await client.download_media(message, file=bytes) == data
    assert any(isinstance(r, functions.auth.ImportAuthorizationRequest) for _, r in two_dcs.calls)
