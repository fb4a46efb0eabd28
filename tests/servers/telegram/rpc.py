"""RPC plumbing: errors, result encoding, the method registry and the request context.

A method handler is an ``async def handler(ctx: RpcContext, request) -> result``
registered with ``@method(functions.x.YRequest, ...)``. The result is a Telethon
TL object, ``True``/``False`` (TL ``Bool``), a :class:`Vector`, or raw ``bytes``.
Raising :class:`RpcError` answers with ``rpc_error``.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telethon.tl.tlobject import TLObject

if TYPE_CHECKING:
    from .connection import AuthKeyRecord, MTProtoConnection
    from .server import TelegramTestServer
    from .world import User

_BOOL_TRUE = 0x997275B5
_BOOL_FALSE = 0xBC799737
_VECTOR = 0x1CB5C415


class RpcError(Exception):
    """An error answered to the client as ``rpc_error#2144ca19 error_code error_message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def bad_request(message: str) -> RpcError:
    """A 400 error, the most common kind (``PEER_ID_INVALID``, ``MESSAGE_ID_INVALID``...)."""
    return RpcError(400, message)


def unauthorized(message: str = "AUTH_KEY_UNREGISTERED") -> RpcError:
    """A 401 error: the auth key is not (or no longer) bound to an account."""
    return RpcError(401, message)


def flood_wait(seconds: int) -> RpcError:
    """``FLOOD_WAIT_<seconds>`` (420), which Telethon raises as ``FloodWaitError``."""
    return RpcError(420, f"FLOOD_WAIT_{seconds}")


@dataclass
class Vector:
    """A TL ``Vector<...>`` result; ``kind`` is ``object``, ``int``, ``long`` or ``bytes``."""

    items: list[Any]
    kind: str = "object"

    def __bytes__(self) -> bytes:
        out = [struct.pack("<Ii", _VECTOR, len(self.items))]
        for item in self.items:
            if self.kind == "int":
                out.append(struct.pack("<i", item))
            elif self.kind == "long":
                out.append(struct.pack("<q", item))
            elif self.kind == "bytes":
                out.append(TLObject.serialize_bytes(item))
            else:
                out.append(bytes(item))
        return b"".join(out)


def encode_result(value: Any) -> bytes:
    """Serialize a handler's return value into the ``result`` of ``rpc_result``."""
    if value is True:
        return struct.pack("<I", _BOOL_TRUE)
    if value is False:
        return struct.pack("<I", _BOOL_FALSE)
    if isinstance(value, bytes):
        return value
    if isinstance(value, TLObject | Vector):
        return bytes(value)
    raise TypeError(f"cannot encode RPC result of type {type(value).__name__}")


Handler = Callable[["RpcContext", Any], Awaitable[Any]]


@dataclass
class MethodSpec:
    """How one request type is served."""

    handler: Handler
    needs_auth: bool


class MethodRegistry:
    """Maps request constructor IDs to handlers."""

    def __init__(self) -> None:
        self._methods: dict[int, MethodSpec] = {}

    def register(
        self, request_types: Iterable[type], *, needs_auth: bool = True
    ) -> Callable[[Handler], Handler]:
        """Decorator: serve ``request_types`` with the decorated handler."""

        def decorate(handler: Handler) -> Handler:
            for request_type in request_types:
                constructor_id: int = getattr(request_type, "CONSTRUCTOR_ID")  # noqa: B009
                self._methods[constructor_id] = MethodSpec(handler, needs_auth)
            return handler

        return decorate

    def lookup(self, request: Any) -> MethodSpec | None:
        """The spec for ``request``, or ``None`` if the server does not implement it."""
        return self._methods.get(getattr(request, "CONSTRUCTOR_ID", -1))


registry = MethodRegistry()


def method(*request_types: type, needs_auth: bool = True) -> Callable[[Handler], Handler]:
    """Register a handler in the global registry (see :class:`MethodRegistry`)."""
    return registry.register(request_types, needs_auth=needs_auth)


class RpcContext:
    """What a handler knows about the call: the server, connection, auth key and caller."""

    def __init__(
        self,
        server: TelegramTestServer,
        connection: MTProtoConnection,
        auth: AuthKeyRecord,
        msg_id: int,
    ) -> None:
        self.server = server
        self.world = server.world
        self.connection = connection
        self.auth = auth
        self.msg_id = msg_id

    @property
    def user(self) -> User:
        """The signed-in account; raises 401 if the auth key is not bound to one."""
        if self.auth.user_id is None:
            raise unauthorized(self.auth.revoked_error or "AUTH_KEY_UNREGISTERED")
        return self.world.users[self.auth.user_id]

    @property
    def user_or_none(self) -> User | None:
        """The signed-in account, or ``None`` before sign-in."""
        if self.auth.user_id is None:
            return None
        return self.world.users.get(self.auth.user_id)
