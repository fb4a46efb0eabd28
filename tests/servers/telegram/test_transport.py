"""Transports, the auth key exchange and the encrypted session layer."""

from __future__ import annotations

import asyncio

import pytest
from telethon import events, functions
from telethon.network import (
    ConnectionTcpAbridged,
    ConnectionTcpFull,
    ConnectionTcpIntermediate,
)
from telethon.sessions import StringSession

from . import TelegramTestServer
from .conftest import ClientFactory, Collector


@pytest.mark.parametrize(
    ("connection", "codec_name"),
    [
        (ConnectionTcpFull, "full"),
        (ConnectionTcpIntermediate, "intermediate"),
        (ConnectionTcpAbridged, "abridged"),
    ],
)
async def test_key_exchange_and_round_trip_over_each_transport(
    server: TelegramTestServer, make_client: ClientFactory, connection: type, codec_name: str
) -> None:
    alice = server.create_user("+15550001", "Alice")
    bob = server.create_user("+15550002", "Bob")
    client = await make_client(connection=connection)

    # A fresh session ran the DH exchange: both sides hold the same key.
    key = client.session.auth_key
    assert key is not None and server.auth_keys[key.key_id].key == key.key
    [conn] = list(server.connections)
    assert conn.codec is not None and conn.codec.name == codec_name

    await client.send_code_request(alice.phone)
    await client.sign_in(alice.phone, server.login_code(alice.phone))
    await client.get_dialogs()
    inbox = Collector()
    client.add_event_handler(inbox, events.NewMessage(incoming=True))
    # Long enough to be gzip-packed by the server.
    text = "large " * 400
    server.send_message(bob, alice, text)
    assert (await inbox.next()).raw_text == text


async def test_config_points_back_at_the_server(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    client = await make_client()
    config = await client(functions.help.GetConfigRequest())
    assert config.this_dc == 2
    assert [(o.id, o.ip_address, o.port) for o in config.dc_options] == [
        (2, "127.0.0.1", server.port)
    ]


async def test_ping_and_concurrent_calls_in_containers(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(alice)
    pong = await client(functions.PingRequest(ping_id=42))
    assert pong.ping_id == 42

    # Sent together, these travel in one container each way.
    results = await asyncio.gather(*(client.get_me() for _ in range(20)))
    assert {me.id for me in results} == {alice.id}


async def test_auth_key_forgotten_by_the_server(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(alice)
    assert (await client.get_me()).id == alice.id

    server.forget_auth_keys(alice)
    for _ in range(100):
        if not client.is_connected():
            break
        await asyncio.sleep(0.05)
    assert not client.is_connected()


async def test_ping_delay_disconnect_closes_an_idle_connection(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(alice)
    [first] = list(server.connections)

    pong = await client(functions.PingDelayDisconnectRequest(ping_id=7, disconnect_delay=1))
    assert pong.ping_id == 7
    await asyncio.sleep(1.3)
    # The server closed it; Telethon noticed and came back on a new connection.
    assert first not in server.connections
    assert (await client.get_me()).id == alice.id


async def test_a_signed_in_session_travels_as_a_string_session(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    text = StringSession.save(server.signed_in_session(alice))

    client = await make_client(session=StringSession(text))
    assert (await client.get_me()).id == alice.id
