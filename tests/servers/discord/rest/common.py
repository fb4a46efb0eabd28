"""Shared pieces of the REST routes: JSON responses, API errors, authentication,
request bodies (JSON or multipart with ``payload_json`` + ``files[n]``), permissions.

Responses carry exactly ``Content-Type: application/json``: discord.py compares the
header verbatim and treats anything else (e.g. with ``; charset=utf-8``) as text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from ..entities import Account, Channel
from ..protocol import ErrorCode, Permissions
from ..world import Upload, World

if TYPE_CHECKING:
    from ..server import DiscordTestServer

API_PREFIX = "/api/v10"
#: Every prefix the API answers under: v10, v9 and the unversioned ``/api`` that
#: webhook URLs use (``https://discord.com/api/webhooks/{id}/{token}``).
API_PREFIXES = ("/api/v10", "/api/v9", "/api")


def is_api_path(path: str) -> bool:
    """Whether ``path`` is an API route (as opposed to the CDN or the gateway)."""
    return path.startswith("/api/")


SERVER_KEY: web.AppKey[DiscordTestServer] = web.AppKey("discord_test_server")
ACCOUNT_KEY: web.RequestKey[Account | None] = web.RequestKey("discord_account")


def json_response(data: Any, status: int = 200) -> web.Response:
    """A response with a JSON body and the exact content type discord.py expects."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )


def no_content() -> web.Response:
    """204 No Content."""
    return web.Response(status=204)


class ApiError(Exception):
    """An error the API reports as ``{"message", "code"[, "errors"]}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = int(code)
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        """The JSON error response."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return json_response(body, self.status)


def missing_permissions() -> ApiError:
    """403 Missing Permissions (50013)."""
    return ApiError(403, ErrorCode.MISSING_PERMISSIONS, "Missing Permissions")


def missing_access() -> ApiError:
    """403 Missing Access (50001): the channel or guild is not visible to the caller."""
    return ApiError(403, ErrorCode.MISSING_ACCESS, "Missing Access")


def form_error(field: str, code: str, message: str) -> ApiError:
    """400 Invalid Form Body (50035) for one field, shaped like Discord's."""
    errors = {field: {"_errors": [{"code": code, "message": message}]}}
    return ApiError(400, ErrorCode.INVALID_FORM_BODY, "Invalid Form Body", errors)


def server_of(request: web.Request) -> DiscordTestServer:
    """The test server serving ``request``."""
    return request.app[SERVER_KEY]


def world_of(request: web.Request) -> World:
    """The world behind the server serving ``request``."""
    return request.app[SERVER_KEY]


def authenticate(world: World, header: str | None) -> Account | None:
    """Resolve an ``Authorization`` header: ``Bot <token>`` for bots, a bare token for
    user accounts (a bot token without the prefix, or vice versa, is refused)."""
    if not header:
        return None
    if header.startswith("Bot "):
        account = world.account_by_token(header[4:])
        return account if account is not None and account.bot else None
    if header.startswith("Bearer "):
        return None
    account = world.account_by_token(header)
    return account if account is not None and not account.bot else None


def caller(request: web.Request) -> Account:
    """The authenticated account of ``request`` (401 if none)."""
    account = request.get(ACCOUNT_KEY)
    if account is None:
        raise ApiError(401, ErrorCode.GENERAL, "401: Unauthorized")
    return account


def snowflake(request: web.Request, name: str, what: str, code: ErrorCode) -> int:
    """An ID path parameter (404 with ``code`` if it is not a number)."""
    try:
        return int(request.match_info[name])
    except (KeyError, ValueError):
        raise ApiError(404, code, f"Unknown {what}") from None


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter (400 if malformed)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise form_error(name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not int.') from None


def query_bool(request: web.Request, name: str) -> bool:
    """A boolean query parameter (``true``/``1``)."""
    return request.query.get(name, "").lower() in ("true", "1")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body (``{}`` if there is none)."""
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(400, ErrorCode.GENERAL, "400: Bad Request") from None
    if not isinstance(data, dict):
        raise ApiError(400, ErrorCode.GENERAL, "400: Bad Request")
    return data


async def read_message_body(
    request: web.Request, max_upload: int
) -> tuple[dict[str, Any], list[tuple[int, Upload]]]:
    """A message body: JSON, or multipart with ``payload_json`` and ``files[n]`` parts.

    Returns the payload and ``(n, upload)`` pairs. Files larger than ``max_upload``
    bytes in total are refused with 413 (40005), like Discord's upload limit.
    """
    if not request.content_type.startswith("multipart/"):
        return await read_json(request), []
    payload: dict[str, Any] = {}
    uploads: list[tuple[int, Upload]] = []
    total = 0
    reader = await request.multipart()
    index = 0
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if name == "payload_json":
            payload = json.loads(await part.text())
            continue
        if part.filename is None:
            continue
        data = bytes(await part.read(decode=False))
        total += len(data)
        if total > max_upload:
            raise ApiError(413, ErrorCode.REQUEST_TOO_LARGE, "Request entity too large")
        slot = index
        if name.startswith("files[") and name.endswith("]"):
            try:
                slot = int(name[6:-1])
            except ValueError:
                slot = index
        content_type = part.headers.get("Content-Type")
        uploads.append((slot, Upload(part.filename, data, content_type)))
        index += 1
    return payload, uploads


def require(world: World, account: Account, channel: Channel, permission: int) -> None:
    """Raise 403 unless ``account`` can see ``channel`` and has ``permission`` there."""
    perms = world.permissions_in(account, channel)
    if not perms & Permissions.VIEW_CHANNEL:
        raise missing_access()
    if perms & permission != permission:
        raise missing_permissions()
