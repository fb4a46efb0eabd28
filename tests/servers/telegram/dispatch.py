"""Serving one RPC call: wrapper unwrapping, fault injection, auth check, the handler.

Wrappers (``invokeWithLayer``, ``initConnection``, ``invokeWithoutUpdates``,
``invokeAfterMsg``...) are peeled off first; what they say about the client (layer,
api_id, device) is kept on the auth key record.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from telethon.tl import functions

from . import methods  # noqa: F401  (importing registers every handler)
from .rpc import RpcContext, RpcError, encode_result, registry, unauthorized

if TYPE_CHECKING:
    from .connection import AuthKeyRecord, MTProtoConnection
    from .server import TelegramTestServer

log = logging.getLogger("bridgekit.tests.telegram_server.dispatch")

_PASS_THROUGH = (
    functions.InvokeAfterMsgRequest,
    functions.InvokeAfterMsgsRequest,
    functions.InvokeWithTakeoutRequest,
    functions.InvokeWithMessagesRangeRequest,
)


def _unwrap(connection: MTProtoConnection, auth: AuthKeyRecord, request: Any) -> Any:
    while True:
        if isinstance(request, functions.InvokeWithLayerRequest):
            auth.layer = request.layer
        elif isinstance(request, functions.InitConnectionRequest):
            auth.api_id = request.api_id
            auth.device_model = request.device_model
            auth.app_version = request.app_version
        elif isinstance(request, functions.InvokeWithoutUpdatesRequest):
            connection.wants_updates = False
        elif not isinstance(request, _PASS_THROUGH):
            return request
        request = request.query


async def dispatch(
    server: TelegramTestServer,
    connection: MTProtoConnection,
    auth: AuthKeyRecord,
    msg_id: int,
    request: Any,
) -> bytes | tuple[int, str] | None:
    """Serve ``request``: the encoded result, ``(code, message)`` for an error, or ``None``.

    ``None`` means no answer at all (the connection was dropped by a fault).
    """
    request = _unwrap(connection, auth, request)
    name = type(request).__name__
    server.calls.append((auth.user_id, request))
    try:
        rule = server.faults.take(request, auth.user_id)
        if rule is not None:
            if rule.action == "error":
                assert rule.error is not None
                log.info("fault: %s answered with %s", name, rule.error.message)
                raise rule.error
            if rule.action == "drop":
                log.info("fault: dropping the connection on %s", name)
                connection.close()
                return None
            await asyncio.sleep(rule.seconds)
        spec = registry.lookup(request)
        if spec is None:
            log.warning("unsupported method %s", name)
            server.unsupported.append(name)
            raise RpcError(400, "METHOD_NOT_SUPPORTED_BY_TEST_SERVER")
        ctx = RpcContext(server, connection, auth, msg_id)
        if spec.needs_auth and auth.user_id is None:
            raise unauthorized(auth.revoked_error or "AUTH_KEY_UNREGISTERED")
        return encode_result(await spec.handler(ctx, request))
    except RpcError as exc:
        return exc.code, exc.message
    except Exception as exc:
        log.exception("internal error serving %s", name)
        server.internal_errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return 500, "INTERNAL_SERVER_ERROR"
