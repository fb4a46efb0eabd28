"""The REST API (``/api/v10``) and CDN routes, and the middleware in front of them.

Middleware order, outermost first: request record → JSON errors → authentication →
injected faults → rate limits → route handler.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ..protocol import ErrorCode
from ..ratelimits import MAJOR_PARAMETERS, too_many_requests_headers
from ..world import NotFound
from . import cdn, channels, guilds, messages, users, webhooks
from .common import (
    ACCOUNT_KEY,
    API_PREFIXES,
    SERVER_KEY,
    ApiError,
    authenticate,
    is_api_path,
    json_response,
)

if TYPE_CHECKING:
    from ..server import DiscordTestServer

log = logging.getLogger("bridgekit.testserver.discord.rest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Discord sits behind Google's load balancer; discord.py trusts a 429 only with Via.
VIA = "1.1 google"


@dataclass
class RequestRecord:
    """One REST request as the server saw it (for tests to assert on)."""

    method: str
    path: str
    route: str
    status: int = 0
    account_id: int | None = None
    query: dict[str, str] = field(default_factory=dict)


def route_template(request: web.Request) -> str:
    """The matched route template without the API prefix (``/channels/{channel_id}``)."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    for prefix in API_PREFIXES:
        if canonical.startswith(prefix + "/"):
            return canonical[len(prefix) :]
    return canonical


@web.middleware
async def record_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Append a :class:`RequestRecord` per API request to ``server.requests``."""
    server = request.app[SERVER_KEY]
    if not is_api_path(request.path):
        return await handler(request)
    record = RequestRecord(
        request.method, request.path, route_template(request), query=dict(request.query)
    )
    server.requests.append(record)
    response = await handler(request)
    record.status = response.status
    account = request.get(ACCOUNT_KEY)
    record.account_id = account.id if account is not None else None
    log.debug("%s %s -> %s", request.method, record.route, response.status)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn :class:`ApiError` and unknown IDs into Discord's JSON error bodies."""
    try:
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except NotFound as exc:
        response = ApiError(404, exc.code, str(exc)).response()
    except web.HTTPNotFound:
        if not is_api_path(request.path):
            raise
        response = ApiError(404, ErrorCode.GENERAL, "404: Not Found").response()
    except web.HTTPMethodNotAllowed:
        response = ApiError(405, ErrorCode.GENERAL, "405: Method Not Allowed").response()
    except web.HTTPException:
        raise
    except Exception:
        # A bug in the test server, not a simulated failure: keep it loud.
        log.exception("test server error in %s %s", request.method, request.path)
        request.app[SERVER_KEY].internal_errors.append(traceback.format_exc())
        response = ApiError(500, ErrorCode.GENERAL, "500: Internal Server Error").response()
    response.headers.setdefault("Via", VIA)
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the ``Authorization`` header; a header with an unknown token is a 401
    on every route (routes without a header decide themselves, via ``caller``)."""
    if is_api_path(request.path):
        header = request.headers.get("Authorization")
        account = authenticate(request.app[SERVER_KEY], header)
        if header and account is None:
            raise ApiError(401, ErrorCode.GENERAL, "401: Unauthorized")
        request[ACCOUNT_KEY] = account
    return await handler(request)


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply injected REST faults, then the rate limiter, then call the route."""
    server: DiscordTestServer = request.app[SERVER_KEY]
    if not is_api_path(request.path) or request.match_info.http_exception:
        return await handler(request)
    route = route_template(request)
    fault = server.faults.take_rest(request.method, route)
    if fault is not None:
        injected = json_response(fault.response_body(), fault.status)
        if fault.status == 429:
            scope = "global" if fault.is_global else "user"
            injected.headers.update(
                too_many_requests_headers(fault.retry_after, scope, fault.is_global)
            )
        return injected
    account = request.get(ACCOUNT_KEY)
    major = ":".join(request.match_info.get(p, "") for p in MAJOR_PARAMETERS)
    who = str(account.id) if account is not None else f"anon:{request.match_info.get('token', '')}"
    decision = server.rate_limits.check(who, request.method, route, major)
    if decision.limited:
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(decision.retry_after or 0.0, 3),
            "global": decision.is_global,
        }
        refused = json_response(body, 429)
        refused.headers.update(decision.headers)
        return refused
    response = await handler(request)
    response.headers.update(decision.headers)
    return response


def build_app(server: DiscordTestServer) -> web.Application:
    """The aiohttp application: API routes under ``/api/v10`` (and ``/api/v9``, ``/api``),
    CDN and gateway at the root."""
    app = web.Application(
        middlewares=[record_middleware, error_middleware, auth_middleware, limits_middleware],
        client_max_size=64 * 1024 * 1024,
    )
    app[SERVER_KEY] = server
    for table in (users.routes, guilds.routes, channels.routes, messages.routes, webhooks.routes):
        for route in table:
            assert isinstance(route, web.RouteDef)
            for prefix in API_PREFIXES:
                app.router.add_route(route.method, prefix + route.path, route.handler)
    app.router.add_get("/gateway", server.gateway.handle)
    app.router.add_get(server.gateway.resume_path, server.gateway.handle)
    app.add_routes(cdn.routes)
    return app
