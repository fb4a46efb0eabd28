"""Sign-in RPCs: phone code, 2FA (SRP), QR login tokens, bot tokens, DC transfer, log out.

Codes are never delivered anywhere: a test reads them with ``server.login_code(phone)``
(and nothing here logs them).
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from telethon.tl import functions, types

from .. import render, srp
from ..rpc import RpcContext, RpcError, bad_request, method, unauthorized
from ..world import LoginToken, SentCode, User, now

if TYPE_CHECKING:
    from ..server import TelegramTestServer

log = logging.getLogger("bridgekit.tests.telegram_server.auth")

LOGIN_TOKEN_LIFETIME = 30


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _authorization(user: User) -> Any:
    return types.auth.Authorization(user=render.user(user, user))


def _sign_in(ctx: RpcContext, user: User) -> Any:
    """Bind the caller's auth key, or demand the 2FA password first."""
    if user.dc_id != ctx.connection.dc_id:
        raise RpcError(303, f"USER_MIGRATE_{user.dc_id}")
    if user.password is not None:
        ctx.auth.password_pending_user_id = user.id
        raise unauthorized("SESSION_PASSWORD_NEEDED")
    ctx.server.bind(ctx.auth, user)
    log.info("user %d signed in on DC %d", user.id, ctx.connection.dc_id)
    return _authorization(user)


@method(functions.auth.SendCodeRequest, needs_auth=False)
async def send_code(ctx: RpcContext, request: Any) -> Any:
    phone = _digits(request.phone_number)
    if len(phone) < 5:
        raise bad_request("PHONE_NUMBER_INVALID")
    user = ctx.world.user_by_phone(phone)
    if user is not None and user.dc_id != ctx.connection.dc_id:
        raise RpcError(303, f"PHONE_MIGRATE_{user.dc_id}")
    code = f"{secrets.randbelow(100000):05d}"
    sent = SentCode(phone, code, secrets.token_hex(9), now() + ctx.server.code_lifetime)
    ctx.server.sent_codes[phone] = sent
    log.info("login code issued for a phone ending in %s", phone[-2:])
    return types.auth.SentCode(
        type=types.auth.SentCodeTypeApp(length=5), phone_code_hash=sent.phone_code_hash
    )


@method(functions.auth.ResendCodeRequest, needs_auth=False)
async def resend_code(ctx: RpcContext, request: Any) -> Any:
    sent = ctx.server.sent_codes.get(_digits(request.phone_number))
    if sent is None or sent.phone_code_hash != request.phone_code_hash or sent.expires < now():
        raise bad_request("PHONE_CODE_EXPIRED")
    sent.code = f"{secrets.randbelow(100000):05d}"
    sent.expires = now() + ctx.server.code_lifetime
    return types.auth.SentCode(
        type=types.auth.SentCodeTypeSms(length=5), phone_code_hash=sent.phone_code_hash
    )


@method(functions.auth.CancelCodeRequest, needs_auth=False)
async def cancel_code(ctx: RpcContext, request: Any) -> bool:
    ctx.server.sent_codes.pop(_digits(request.phone_number), None)
    return True


@method(functions.auth.SignInRequest, needs_auth=False)
async def sign_in(ctx: RpcContext, request: Any) -> Any:
    phone = _digits(request.phone_number)
    if not request.phone_code_hash:
        raise bad_request("PHONE_CODE_HASH_EMPTY")
    if not request.phone_code:
        raise bad_request("PHONE_CODE_EMPTY")
    sent = ctx.server.sent_codes.get(phone)
    if sent is None or sent.phone_code_hash != request.phone_code_hash or sent.expires < now():
        raise bad_request("PHONE_CODE_EXPIRED")
    if request.phone_code != sent.code:
        raise bad_request("PHONE_CODE_INVALID")
    del ctx.server.sent_codes[phone]
    user = ctx.world.user_by_phone(phone)
    if user is None:
        return types.auth.AuthorizationSignUpRequired()
    return _sign_in(ctx, user)


@method(functions.auth.SignUpRequest, needs_auth=False)
async def sign_up(ctx: RpcContext, request: Any) -> Any:
    # Third-party apps may not register accounts; tests create them on the server.
    raise bad_request("PHONE_NUMBER_UNOCCUPIED")


@method(functions.account.GetPasswordRequest, needs_auth=False)
async def get_password(ctx: RpcContext, request: Any) -> Any:
    user_id = ctx.auth.user_id or ctx.auth.password_pending_user_id
    if user_id is None:
        raise unauthorized(ctx.auth.revoked_error or "AUTH_KEY_UNREGISTERED")
    user = ctx.world.users[user_id]
    common: dict[str, Any] = dict(
        new_algo=srp.kdf_algo(None),
        new_secure_algo=types.SecurePasswordKdfAlgoSHA512(salt=secrets.token_bytes(8)),
        secure_random=secrets.token_bytes(32),
    )
    if user.password is None:
        return types.account.Password(has_password=False, **common)
    challenge = srp.new_challenge(user.password)
    ctx.server.srp_challenges[challenge.srp_id] = (user.id, challenge)
    return types.account.Password(
        has_password=True,
        current_algo=srp.kdf_algo(user.password),
        srp_B=challenge.big_b.to_bytes(256, "big"),
        srp_id=challenge.srp_id,
        hint=user.password.hint or None,
        **common,
    )


@method(functions.auth.CheckPasswordRequest, needs_auth=False)
async def check_password(ctx: RpcContext, request: Any) -> Any:
    user_id = ctx.auth.password_pending_user_id or ctx.auth.user_id
    if user_id is None:
        raise unauthorized("AUTH_KEY_UNREGISTERED")
    password = request.password
    if not isinstance(password, types.InputCheckPasswordSRP):
        raise bad_request("PASSWORD_HASH_INVALID")
    entry = ctx.server.srp_challenges.pop(password.srp_id, None)
    if entry is None or entry[0] != user_id:
        raise bad_request("SRP_ID_INVALID")
    user = ctx.world.users[user_id]
    if user.password is None or not srp.check(user.password, entry[1], password.A, password.M1):
        raise bad_request("PASSWORD_HASH_INVALID")
    ctx.server.bind(ctx.auth, user)
    log.info("user %d passed 2FA", user.id)
    return _authorization(user)


@method(functions.auth.LogOutRequest)
async def log_out(ctx: RpcContext, request: Any) -> Any:
    log.info("user %d logged out", ctx.user.id)
    ctx.auth.user_id = None
    return types.auth.LoggedOut()


@method(functions.auth.ImportBotAuthorizationRequest, needs_auth=False)
async def import_bot_authorization(ctx: RpcContext, request: Any) -> Any:
    bot = ctx.world.user_by_bot_token(request.bot_auth_token)
    if bot is None:
        raise bad_request("ACCESS_TOKEN_INVALID")
    return _sign_in(ctx, bot)


# -- QR login -------------------------------------------------------------------------


def accept_login_token(server: TelegramTestServer, token: bytes, user: User) -> Any:
    """``user`` scans the QR code holding ``token``; the exporting client is notified."""
    record = server.login_tokens.get(token)
    if record is None:
        raise bad_request("AUTH_TOKEN_INVALID")
    if record.expires < now():
        raise bad_request("AUTH_TOKEN_EXPIRED")
    if record.accepted_by is not None:
        raise bad_request("AUTH_TOKEN_ALREADY_ACCEPTED")
    record.accepted_by = user.id
    server.hub.push_to_auth_key(record.key_id, types.UpdateLoginToken())
    auth = server.auth_keys.get(record.key_id)
    return types.Authorization(
        hash=secrets.randbits(63),
        device_model=auth.device_model if auth else "",
        platform="",
        system_version="",
        api_id=auth.api_id or 0 if auth else 0,
        app_name="",
        app_version=auth.app_version if auth else "",
        date_created=render.ts(now()),
        date_active=render.ts(now()),
        ip="127.0.0.1",
        country="",
        region="",
    )


def _finish_token(ctx: RpcContext, record: LoginToken) -> Any:
    assert record.accepted_by is not None
    user = ctx.world.users[record.accepted_by]
    if user.dc_id != ctx.connection.dc_id:
        return types.auth.LoginTokenMigrateTo(dc_id=user.dc_id, token=record.token)
    del ctx.server.login_tokens[record.token]
    return types.auth.LoginTokenSuccess(authorization=_sign_in(ctx, user))


@method(functions.auth.ExportLoginTokenRequest, needs_auth=False)
async def export_login_token(ctx: RpcContext, request: Any) -> Any:
    tokens = ctx.server.login_tokens
    for record in list(tokens.values()):
        if record.key_id == ctx.auth.key_id:
            if record.accepted_by is not None:
                return _finish_token(ctx, record)
            del tokens[record.token]
    record = LoginToken(
        token=secrets.token_bytes(32),
        key_id=ctx.auth.key_id,
        dc_id=ctx.connection.dc_id,
        expires=now() + LOGIN_TOKEN_LIFETIME,
    )
    tokens[record.token] = record
    return types.auth.LoginToken(expires=render.ts(record.expires), token=record.token)


@method(functions.auth.ImportLoginTokenRequest, needs_auth=False)
async def import_login_token(ctx: RpcContext, request: Any) -> Any:
    record = ctx.server.login_tokens.get(request.token)
    if record is None:
        raise bad_request("AUTH_TOKEN_INVALID")
    if record.expires < now():
        raise bad_request("AUTH_TOKEN_EXPIRED")
    if record.accepted_by is None:
        return types.auth.LoginToken(expires=render.ts(record.expires), token=record.token)
    return _finish_token(ctx, record)


@method(functions.auth.AcceptLoginTokenRequest)
async def accept_login_token_rpc(ctx: RpcContext, request: Any) -> Any:
    return accept_login_token(ctx.server, request.token, ctx.user)


# -- moving an authorization to another DC ------------------------------------------------


@method(functions.auth.ExportAuthorizationRequest)
async def export_authorization(ctx: RpcContext, request: Any) -> Any:
    if request.dc_id not in ctx.server.ports:
        raise bad_request("DC_ID_INVALID")
    auth_id = secrets.randbits(63)
    payload = secrets.token_bytes(32)
    ctx.server.exported_authorizations[auth_id] = (ctx.user.id, payload)
    return types.auth.ExportedAuthorization(id=auth_id, bytes=payload)


@method(functions.auth.ImportAuthorizationRequest, needs_auth=False)
async def import_authorization(ctx: RpcContext, request: Any) -> Any:
    entry = ctx.server.exported_authorizations.pop(request.id, None)
    if entry is None or entry[1] != request.bytes:
        raise bad_request("AUTH_BYTES_INVALID")
    user = ctx.world.users[entry[0]]
    # Importing on a non-home DC is how file downloads from other DCs are
    # authorized, so no USER_MIGRATE here.
    ctx.server.bind(ctx.auth, user)
    return _authorization(user)
