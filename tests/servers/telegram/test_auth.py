"""Sign-in flows of stock Telethon against the test server."""

from __future__ import annotations

import asyncio

import pytest
from telethon import errors
from telethon.tl import functions

from . import TelegramTestServer
from .conftest import ClientFactory


async def test_sign_in_with_code(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user("+15550001", "Alice", "Liddell", username="alice")
    client = await make_client()
    assert await client.get_me() is None

    await client.send_code_request(alice.phone)
    me = await client.sign_in(alice.phone, server.login_code(alice.phone))

    assert me.id == alice.id
    assert (me.first_name, me.last_name, me.username) == ("Alice", "Liddell", "alice")
    assert me.is_self and me.phone == "15550001"
    assert (await client.get_me()).id == alice.id
    assert server.auth_keys[client.session.auth_key.key_id].user_id == alice.id


async def test_wrong_code_then_right_code(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client()
    await client.send_code_request(alice.phone)
    code = server.login_code(alice.phone)
    wrong = "00000" if code != "00000" else "11111"

    with pytest.raises(errors.PhoneCodeInvalidError):
        await client.sign_in(alice.phone, wrong)
    assert (await client.sign_in(alice.phone, code)).id == alice.id


async def test_expired_code(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client()
    await client.send_code_request(alice.phone)
    code = server.login_code(alice.phone)
    server.expire_login_code(alice.phone)

    with pytest.raises(errors.PhoneCodeExpiredError):
        await client.sign_in(alice.phone, code)
    assert await client.get_me() is None


async def test_unregistered_number(server: TelegramTestServer, make_client: ClientFactory) -> None:
    client = await make_client()
    await client.send_code_request("+15559999")

    with pytest.raises(errors.PhoneNumberUnoccupiedError):
        await client.sign_in("+15559999", server.login_code("+15559999"))


async def test_two_factor_password(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user(
        "+15550001", "Alice", password="correct horse", password_hint="horse"
    )
    client = await make_client()
    await client.send_code_request(alice.phone)
    with pytest.raises(errors.SessionPasswordNeededError):
        await client.sign_in(alice.phone, server.login_code(alice.phone))
    # The code step alone does not sign the key in.
    assert await client.get_me() is None

    password_info = await client(functions.account.GetPasswordRequest())
    assert password_info.has_password and password_info.hint == "horse"

    with pytest.raises(errors.PasswordHashInvalidError):
        await client.sign_in(password="wrong horse")
    me = await client.sign_in(password="correct horse")
    assert me.id == alice.id
    assert (await client.get_me()).id == alice.id


async def test_qr_login_accepted_by_another_session(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    phone_app = await make_client(alice)
    new_device = await make_client()

    qr = await new_device.qr_login()
    assert qr.url.startswith("tg://login?token=")
    waiter = asyncio.create_task(qr.wait(timeout=5))
    await asyncio.sleep(0.1)
    await phone_app(functions.auth.AcceptLoginTokenRequest(token=qr.token))

    user = await waiter
    assert user.id == alice.id
    assert (await new_device.get_me()).id == alice.id


async def test_qr_login_with_two_factor(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice", password="pw")
    new_device = await make_client()
    qr = await new_device.qr_login()
    waiter = asyncio.create_task(qr.wait(timeout=5))
    await asyncio.sleep(0.1)
    server.accept_login_token(qr.token, alice)

    with pytest.raises(errors.SessionPasswordNeededError):
        await waiter
    assert (await new_device.sign_in(password="pw")).id == alice.id


async def test_qr_token_expires(server: TelegramTestServer, make_client: ClientFactory) -> None:
    alice = server.create_user("+15550001", "Alice")
    new_device = await make_client()
    qr = await new_device.qr_login()
    server.login_tokens[qr.token].expires = 0

    with pytest.raises(Exception, match="AUTH_TOKEN_EXPIRED"):
        server.accept_login_token(qr.token, alice)


async def test_bot_token(server: TelegramTestServer, make_client: ClientFactory) -> None:
    bot = server.create_bot("relay_bot", "Relay")
    client = await make_client()

    with pytest.raises(errors.AccessTokenInvalidError):
        await client.sign_in(bot_token="123:nope")
    me = await client.sign_in(bot_token=bot.bot_token)
    assert me.id == bot.id and me.bot and me.username == "relay_bot"


async def test_log_out_terminates_the_session(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(alice)
    key_id = client.session.auth_key.key_id

    assert await client.log_out()
    assert server.auth_keys[key_id].user_id is None


async def test_revoked_session_gets_auth_key_unregistered(
    server: TelegramTestServer, make_client: ClientFactory
) -> None:
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(alice)
    assert (await client.get_me()).id == alice.id

    assert server.revoke_sessions(alice) == 1
    with pytest.raises(errors.AuthKeyUnregisteredError):
        await client(functions.updates.GetStateRequest())


async def test_a_short_shared_secret_never_becomes_a_session_key(
    server: TelegramTestServer, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When g_ab has a leading zero byte (1 exchange in 256), Telethon's minimal
    encoding of the key is one byte short of Telegram's. Its first exchange must then
    fail and be redone, as against Telegram; otherwise the session it saves (keys are
    stored as 256 bytes) holds a key the server never knew."""
    import os
    import secrets

    from telethon.network import authenticator
    from telethon.sessions import StringSession

    from . import handshake
    from .crypto import DH_G, DH_PRIME

    a = handshake.dh_private_exponent()
    g_a = pow(DH_G, a, DH_PRIME)
    while True:
        b = secrets.randbits(2048)
        if pow(g_a, b, DH_PRIME) < 1 << 2040:
            break
    forced = [b.to_bytes(256, "big")]

    class ClientRandom:
        """``os`` for Telethon's authenticator: the first 256 random bytes are ``b``."""

        @staticmethod
        def urandom(n: int) -> bytes:
            if n == 256 and forced:
                return forced.pop()
            return os.urandom(n)

    monkeypatch.setattr(handshake, "dh_private_exponent", lambda: a)
    monkeypatch.setattr(authenticator, "os", ClientRandom)
    alice = server.create_user("+15550001", "Alice")
    client = await make_client(retry_delay=0)
    assert not forced, "the short-key exchange did not happen"
    assert len(server.auth_keys) == 2  # the short exchange, then the one that held
    assert len(client.session.auth_key.key) == 256

    await client.send_code_request(alice.phone)
    await client.sign_in(alice.phone, server.login_code(alice.phone))
    saved = StringSession.save(client.session)
    await client.disconnect()
    again = await make_client(session=StringSession(saved))
    assert (await again.get_me()).id == alice.id
