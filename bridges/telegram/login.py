"""Logging in to Telegram: phone number → code → 2FA password, a bot token, or a QR code.

Each process owns a temporary Telethon client that is connected but not yet signed
in. When the login completes, the client's session (auth key and data center) goes
into the login's metadata and the temporary client is closed: the bridge then
starts the login's own client from that session. ``cancel`` closes the temporary
client and tells Telegram to forget a code it sent.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
from typing import Any

from telethon import errors
from telethon.tl import functions

from bridgekit.network import (
    DisplayType,
    InputField,
    InputFieldType,
    LoginDisplay,
    LoginError,
    LoginProcess,
    LoginStep,
)

from .config import TelegramSettings
from .connection import BridgeTelegramClient, make_client
from .flood import describe_wait
from .ids import login_id
from .session import new_session

log = logging.getLogger("bridgekit.telegram.login")

PHONE_FIELD = InputField(
    "phone",
    "phone number",
    InputFieldType.PHONE_NUMBER,
    "in international format, like +44 7700 900123",
    pattern=r"\+?[0-9][0-9 ().-]{4,}",
)
CODE_FIELD = InputField(
    "code", "login code", InputFieldType.CODE, "the code Telegram sent you", pattern=r"[0-9]{3,8}"
)
PASSWORD_FIELD = InputField("password", "two-step verification password", InputFieldType.PASSWORD)
TOKEN_FIELD = InputField(
    "token", "bot token", InputFieldType.TOKEN, "from @BotFather, like 123456:ABC-DEF..."
)


def explain(error: Exception) -> LoginError:
    """A ``LoginError`` telling the user what a Telegram error means for them."""
    if isinstance(error, errors.FloodWaitError):
        return LoginError(
            f"Telegram asks you to wait {describe_wait(error.seconds)} before trying to log "
            "in again.",
            fatal=True,
        )
    if isinstance(error, errors.PhoneCodeInvalidError | errors.PhoneCodeEmptyError):
        return LoginError("That code is wrong. Type the newest code Telegram sent you.")
    if isinstance(error, errors.PasswordHashInvalidError):
        return LoginError("That password is wrong. Type your two-step verification password.")
    if isinstance(error, errors.PhoneNumberUnoccupiedError):
        return LoginError(
            "There is no Telegram account with that phone number. Sign up in a Telegram app "
            "first, then log in here.",
            fatal=True,
        )
    if isinstance(error, errors.PhoneNumberInvalidError):
        return LoginError(
            "Telegram says that phone number is not valid. Send it in international format, "
            "with the country code (like +44 7700 900123)."
        )
    if isinstance(error, errors.PhoneNumberBannedError):
        return LoginError("Telegram has banned that phone number.", fatal=True)
    if isinstance(error, errors.AccessTokenInvalidError | errors.AccessTokenExpiredError):
        return LoginError("Telegram does not accept that bot token. Copy it again from @BotFather.")
    if isinstance(error, errors.RPCError):
        return LoginError(
            f"Telegram refused the login ({error.message}). Send `login` to try again.",
            fatal=True,
        )
    if isinstance(error, ConnectionError | OSError | asyncio.TimeoutError):
        return LoginError("Could not reach Telegram. Check the bridge's network and try again.")
    raise error


class _TelegramLogin(LoginProcess):
    """What every login flow shares: the temporary client and finishing up."""

    receive_updates = False

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self.client: BridgeTelegramClient | None = None

    async def _connect(self) -> BridgeTelegramClient:
        if self.client is None:
            client = make_client(
                self.settings,
                new_session(self.settings.server),
                receive_updates=self.receive_updates,
            )
            try:
                await client.connect()
            except Exception as e:
                await client.disconnect()
                raise explain(e) from e
            self.client = client
        return self.client

    async def cancel(self) -> None:
        await self._close()

    async def _close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception:
                log.exception("Could not close a login's Telegram client")

    async def _password_step(self, client: BridgeTelegramClient) -> LoginStep:
        hint = ""
        try:
            password = await client(functions.account.GetPasswordRequest())
            hint = f" (hint: {password.hint})" if password.hint else ""
        except errors.RPCError as e:
            log.debug("No password hint: %s", e)
        return LoginStep.user_input(
            "password",
            f"Your account has two-step verification{hint}.",
            PASSWORD_FIELD,
        )

    async def _check_password(self, password: str) -> LoginStep:
        client = await self._connect()
        try:
            user = await client.sign_in(password=password)
        except Exception as e:
            raise explain(e) from e
        return await self._complete(user)

    async def _complete(self, user: Any) -> LoginStep:
        client = await self._connect()
        session = client.session
        string = session.to_string()
        name = " ".join(x for x in (user.first_name, user.last_name) if x) or "Telegram user"
        if user.phone:
            remote_name = f"{name} (+{user.phone})"
        elif user.username:
            remote_name = f"{name} (@{user.username})"
        else:
            remote_name = name
        metadata = {"session": string, "is_bot": bool(user.bot)}
        log.info("Telegram login of account %s completed", user.id)
        await self._close()
        return LoginStep.done(login_id(user.id), remote_name, metadata)


class PhoneLogin(_TelegramLogin):
    """Phone number, then the code Telegram sends, then the 2FA password if any."""

    def __init__(self, settings: TelegramSettings) -> None:
        super().__init__(settings)
        self.phone: str | None = None
        self.phone_code_hash: str | None = None
        self.awaiting = "phone"

    async def start(self) -> LoginStep:
        return LoginStep.user_input(
            "phone", "Log in with the phone number of your Telegram account.", PHONE_FIELD
        )

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        if self.awaiting == "phone":
            return await self._send_code(values["phone"])
        if self.awaiting == "code":
            return await self._sign_in(values["code"])
        return await self._check_password(values["password"])

    async def _send_code(self, phone: str) -> LoginStep:
        phone = "+" + re.sub(r"\D", "", phone)
        client = await self._connect()
        try:
            sent = await client.send_code_request(phone)
        except Exception as e:
            raise explain(e) from e
        self.phone, self.phone_code_hash = phone, sent.phone_code_hash
        self.awaiting = "code"
        return LoginStep.user_input(
            "code", f"Telegram sent a login code to {phone} (or to your Telegram app).", CODE_FIELD
        )

    async def _sign_in(self, code: str) -> LoginStep:
        client = await self._connect()
        try:
            user = await client.sign_in(self.phone, code, phone_code_hash=self.phone_code_hash)
        except errors.SessionPasswordNeededError:
            self.awaiting = "password"
            return await self._password_step(client)
        except errors.PhoneCodeExpiredError as e:
            await self._resend_code(e)
            raise LoginError(
                "That code has expired. Telegram sent you a new one: type the new code."
            ) from e
        except Exception as e:
            raise explain(e) from e
        return await self._complete(user)

    async def _resend_code(self, cause: Exception) -> None:
        client = await self._connect()
        try:
            sent = await client.send_code_request(self.phone)
        except Exception as e:
            raise explain(e) from cause
        self.phone_code_hash = sent.phone_code_hash

    async def cancel(self) -> None:
        client = self.client
        if client is not None and self.awaiting == "code" and self.phone and self.phone_code_hash:
            try:
                await client(functions.auth.CancelCodeRequest(self.phone, self.phone_code_hash))
            except Exception as e:
                log.debug("Could not cancel the login code: %s", e)
        await super().cancel()


class BotLogin(_TelegramLogin):
    """A bot token from @BotFather (for relaying)."""

    async def start(self) -> LoginStep:
        return LoginStep.user_input("token", "Log in as a Telegram bot.", TOKEN_FIELD)

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        client = await self._connect()
        try:
            user = await client.sign_in(bot_token=values["token"].strip())
        except Exception as e:
            raise explain(e) from e
        return await self._complete(user)


class QrLogin(_TelegramLogin):
    """A QR code to scan with a Telegram app that is logged in, then the 2FA password if
    the account has one. A code that expires is replaced with a new one."""

    receive_updates = True  # the app's scan arrives as an update

    def __init__(self, settings: TelegramSettings) -> None:
        super().__init__(settings)
        self.qr: Any = None

    async def start(self) -> LoginStep:
        client = await self._connect()
        try:
            self.qr = await client.qr_login()
        except Exception as e:
            raise explain(e) from e
        return self._qr_step()

    def _qr_step(self) -> LoginStep:
        return LoginStep.display_and_wait(
            "qr",
            "Scan this QR code with a Telegram app where you are logged in (Settings → "
            "Devices → Link Desktop Device).",
            LoginDisplay(DisplayType.QR, self.qr.url),
        )

    async def wait(self) -> LoginStep:
        client = await self._connect()
        while True:
            remaining = (self.qr.expires - datetime.datetime.now(tz=datetime.UTC)).total_seconds()
            try:
                user = await self.qr.wait(timeout=max(remaining, 1.0))
            except TimeoutError:
                try:
                    await self.qr.recreate()
                except Exception as e:
                    raise explain(e) from e
                return self._qr_step()
            except errors.SessionPasswordNeededError:
                return await self._password_step(client)
            except Exception as e:
                raise explain(e) from e
            return await self._complete(user)

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        return await self._check_password(values["password"])
