"""The provisioning API's routes: an aiohttp sub-application mounted under ``PREFIX``
on the appservice's HTTP server.

Every answer is JSON; errors are ``{"errcode": ..., "error": ...}`` with a 4xx/5xx
status (see ``openapi.yaml`` beside this file, which is the API's reference and is
served at ``PREFIX/openapi.json``). Every route but the OpenAPI document needs
credentials (``auth.py``) of a user whose bridge permission level is at least
``user``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from mautrix.errors import IntentError, MatrixRequestError
from mautrix.types import RoomID, UserID

from ..commands.bridging import RoomBridgingError, bridge_room, check_may_unbridge
from ..network.capabilities import IdentifierResolving, ResolvedIdentifier
from ..network.errors import BridgeError
from ..network.login import LoginStep, LoginStepType
from ..portal.room import ensure_room, release_room
from ..user import Permission
from .auth import Authenticator
from .errors import NOT_LOGGED_IN, ProvisioningError
from .logins import LoginSession, LoginSessions

if TYPE_CHECKING:
    from ..bridge import Bridge
    from ..portal import Portal
    from ..user_login import UserLogin

log = logging.getLogger("bridgekit.provisioning.api")

PREFIX = "/_bridgekit/provision/v1"
MAX_BODY_BYTES = 64 * 1024

AuthedHandler = Callable[[web.Request, str], Awaitable[web.Response]]
T = TypeVar("T")

# Web front ends call the API from browsers on other origins. Credentials travel in
# the Authorization header, never in cookies, so allowing every origin is safe.
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


@web.middleware
async def _cors(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=_CORS_HEADERS)
    response: web.StreamResponse = await handler(request)
    response.headers.update(_CORS_HEADERS)
    return response


@web.middleware
async def _errors(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ProvisioningError as e:
        return e.response()
    except web.HTTPException as e:
        errcode = "M_TOO_LARGE" if e.status == 413 else "M_UNKNOWN"
        return ProvisioningError(e.status, errcode, e.reason).response()
    except Exception:
        # The route's pattern, not the path: paths carry identifiers (phone numbers).
        route = request.match_info.route.resource
        where = route.canonical if route is not None else "?"
        log.exception("Provisioning: %s %s failed", request.method, where)
        return ProvisioningError(
            500, "M_UNKNOWN", "The bridge failed to handle the request; its log has the details."
        ).response()


def step_json(step: LoginStep) -> dict[str, Any]:
    """A login step as the API shows it (the ``LoginStep`` schema of the OpenAPI doc)."""
    data: dict[str, Any] = {
        "type": step.type.value,
        "step_id": step.step_id,
        "instructions": step.instructions,
        "fields": [
            {
                "id": spec.id,
                "name": spec.name,
                "type": spec.type.value,
                "description": spec.description,
                "pattern": spec.pattern,
                "options": list(spec.options),
                "default": spec.default,
                "secret": spec.type.is_secret,
            }
            for spec in step.fields
        ],
    }
    if step.display is not None:
        data["display"] = {"type": step.display.type.value, "data": step.display.data}
    if step.complete is not None:
        data["complete"] = {
            "login_id": step.complete.login_id,
            "remote_name": step.complete.remote_name,
        }
    return data


def _step_response(session: LoginSession, step: LoginStep) -> web.Response:
    body: dict[str, Any] = {"process_id": session.id, "step": step_json(step)}
    if step.type == LoginStepType.COMPLETE and step.complete is not None:
        body["login_id"] = step.complete.login_id
        body["remote_name"] = step.complete.remote_name
    return web.json_response(body)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ProvisioningError(
            413, "M_TOO_LARGE", f"Bodies are limited to {MAX_BODY_BYTES} bytes."
        )
    raw = await request.read() if request.can_read_body else b""
    if len(raw) > MAX_BODY_BYTES:
        raise ProvisioningError(
            413, "M_TOO_LARGE", f"Bodies are limited to {MAX_BODY_BYTES} bytes."
        )
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ProvisioningError(400, "M_NOT_JSON", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ProvisioningError(400, "M_BAD_JSON", "The body must be a JSON object.")
    return body


async def _in_portal_queue(portal: Portal, description: str, job: Callable[[], Awaitable[T]]) -> T:
    """Run ``job`` in the portal's queue (after the chat's queued events) and return
    its result, so creating the room never races the chat's own events."""
    return await portal.queue.run(f"provisioning: {description}", job)


class ProvisioningAPI:
    """The routes, bound to one bridge. ``app()`` builds the sub-application; when the
    appservice's server shuts down, logins still in progress are cancelled."""

    def __init__(
        self,
        bridge: Bridge,
        auth: Authenticator,
        sessions: LoginSessions,
        openapi: dict[str, Any],
        openapi_yaml: str,
    ) -> None:
        self.bridge = bridge
        self.auth = auth
        self.sessions = sessions
        self.openapi = openapi
        self.openapi_yaml = openapi_yaml

    def app(self) -> web.Application:
        """A new sub-application with every route; mount it at ``PREFIX``."""
        app = web.Application(middlewares=[_cors, _errors])
        routes = app.router
        routes.add_get("/openapi.json", self.openapi_json)
        routes.add_get("/openapi.yaml", self.openapi_yaml_text)
        routes.add_get("/login/flows", self._authed(self.login_flows))
        routes.add_post("/login/start/{flow_id}", self._authed(self.login_start))
        routes.add_get("/login/{process_id}", self._authed(self.login_step))
        routes.add_delete("/login/{process_id}", self._authed(self.login_cancel))
        routes.add_post("/login/{process_id}/input", self._authed(self.login_input))
        routes.add_post("/login/{process_id}/wait", self._authed(self.login_wait))
        routes.add_get("/logins", self._authed(self.list_logins))
        routes.add_post("/logins/{login_id}/logout", self._authed(self.logout))
        routes.add_get("/resolve/{identifier}", self._authed(self.resolve))
        routes.add_post("/start-chat/{identifier}", self._authed(self.start_chat))
        routes.add_get("/rooms/{room_id}", self._authed(self.room_status))
        routes.add_post("/rooms/{room_id}/bridge", self._authed(self.bridge_room))
        routes.add_delete("/rooms/{room_id}/bridge", self._authed(self.unbridge_room))
        # Last, so that unknown paths under the prefix get a JSON error too.
        routes.add_route("*", "/{tail:.*}", self.unknown)
        # On shutdown, not cleanup: the server waits for running requests between the
        # two, and a request waiting for a login step only ends when its process does.
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, _app: web.Application) -> None:
        await self.sessions.close()

    def _authed(self, handler: AuthedHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """``handler`` behind authentication and the ``user`` permission level."""

        async def authed(request: web.Request) -> web.Response:
            mxid = await self.auth.user_of(request)
            level = self.bridge.permission_of(mxid)
            if self.bridge.is_bridge_user(mxid) or level < Permission.USER:
                raise ProvisioningError(
                    403,
                    "M_FORBIDDEN",
                    f"{mxid} may not log in to this bridge (permission level "
                    f"{level.name.lower()}). A bridge admin can grant 'user' in "
                    "bridge.permissions.",
                )
            return await handler(request, mxid)

        return authed

    # Documentation -------------------------------------------------------------

    async def openapi_json(self, _request: web.Request) -> web.Response:
        """The OpenAPI document (no credentials needed)."""
        return web.json_response(self.openapi)

    async def openapi_yaml_text(self, _request: web.Request) -> web.Response:
        """The OpenAPI document as committed (YAML)."""
        return web.Response(text=self.openapi_yaml, content_type="application/yaml")

    async def unknown(self, request: web.Request) -> web.Response:
        """Any path or method the API does not have."""
        raise ProvisioningError(
            404,
            "M_UNRECOGNIZED",
            f"There is no endpoint {request.method} {request.path}; see {PREFIX}/openapi.json.",
        )

    # Logging in ------------------------------------------------------------------

    async def login_flows(self, _request: web.Request, _mxid: str) -> web.Response:
        """The network's ways to log in."""
        flows = self.bridge.connector.get_login_flows()
        return web.json_response(
            {"flows": [{"id": f.id, "name": f.name, "description": f.description} for f in flows]}
        )

    async def login_start(self, request: web.Request, mxid: str) -> web.Response:
        """Start a login process; answers its ID and first step."""
        session = await self.sessions.start(mxid, request.match_info["flow_id"])
        return _step_response(session, session.step)

    async def login_step(self, request: web.Request, mxid: str) -> web.Response:
        """The step a login process is at."""
        session = self.sessions.get(request.match_info["process_id"], mxid)
        return _step_response(session, session.step)

    async def login_input(self, request: web.Request, mxid: str) -> web.Response:
        """Answer a ``user_input`` step with ``{"values": {field_id: answer}}``."""
        body = await _json_body(request)
        values = body.get("values")
        if not isinstance(values, dict):
            raise ProvisioningError(
                400, "M_BAD_JSON", 'Send the answers as {"values": {"<field id>": "<answer>"}}.'
            )
        session = self.sessions.get(request.match_info["process_id"], mxid)
        step = await self.sessions.submit(session, values)
        return _step_response(session, step)

    async def login_wait(self, request: web.Request, mxid: str) -> web.Response:
        """Block until a ``display_and_wait`` step was used; answers the next step."""
        session = self.sessions.get(request.match_info["process_id"], mxid)
        step = await self.sessions.wait(session)
        return _step_response(session, step)

    async def login_cancel(self, request: web.Request, mxid: str) -> web.Response:
        """Cancel a login process."""
        session = self.sessions.get(request.match_info["process_id"], mxid)
        await self.sessions.cancel(session)
        log.info("Provisioning: %s cancelled a %s login", mxid, session.flow_id)
        return web.json_response({})

    # Logins --------------------------------------------------------------------------

    async def list_logins(self, _request: web.Request, mxid: str) -> web.Response:
        """The user's logins and their connection states."""
        user = await self.bridge.get_user(mxid)
        return web.json_response(
            {
                "logins": [
                    {
                        "login_id": login.id,
                        "remote_name": login.remote_name,
                        "state": login.state.value,
                        "state_message": login.state_message,
                    }
                    for login in user.logins
                ]
            }
        )

    async def logout(self, request: web.Request, mxid: str) -> web.Response:
        """Log out of one of the user's logins (on the network too, where it can)."""
        login = await self._own_login(mxid, request.match_info["login_id"])
        try:
            await self.bridge.logout(login)
        except Exception as e:
            # Bridge.logout forgets the login even when the network's part failed.
            log.warning("Provisioning: the network's logout of %s failed: %s", login.id, e)
            return web.json_response(
                {"warning": f"Logged out of the bridge, but the network reported: {e}"}
            )
        return web.json_response({})

    async def _own_login(self, mxid: str, login_id: str) -> UserLogin:
        user = await self.bridge.get_user(mxid)
        login = next((x for x in user.logins if x.id == login_id), None)
        if login is None:
            raise ProvisioningError(
                404,
                "M_NOT_FOUND",
                f"You have no login {login_id!r}; GET {PREFIX}/logins lists them.",
            )
        return login

    # Finding people and starting chats ----------------------------------------------

    async def _resolving_login(self, request: web.Request, mxid: str) -> UserLogin:
        """The login to look people up with: ``?login_id=`` or the oldest that can."""
        network = self.bridge.connector.name.display_name
        login_id = request.query.get("login_id")
        if login_id:
            logins = [await self._own_login(mxid, login_id)]
        else:
            logins = (await self.bridge.get_user(mxid)).logins
            if not logins:
                raise ProvisioningError(
                    400, NOT_LOGGED_IN, f"Log in to {network} first ({PREFIX}/login/flows)."
                )
        capable = [x for x in logins if isinstance(x.client, IdentifierResolving)]
        if not capable:
            raise ProvisioningError(
                404, "M_UNRECOGNIZED", f"{network} logins cannot look people up by identifier."
            )
        return capable[0]

    def _resolved_json(self, found: ResolvedIdentifier, room_id: str | None) -> dict[str, Any]:
        info = found.user_info
        return {
            "id": found.user_id,
            "name": info.name if info is not None else None,
            "identifiers": list(info.identifiers or []) if info is not None else [],
            "mxid": self.bridge.ghost_mxid(found.user_id),
            "room_id": room_id,
        }

    async def _resolve(
        self, login: UserLogin, identifier: str, create_chat: bool
    ) -> ResolvedIdentifier:
        client = login.client
        assert isinstance(client, IdentifierResolving)
        try:
            found = await client.resolve_identifier(identifier, create_chat=create_chat)
        except BridgeError as e:
            raise ProvisioningError(400, "M_INVALID_PARAM", str(e)) from None
        if found is None:
            network = self.bridge.connector.name.display_name
            raise ProvisioningError(
                404, "M_NOT_FOUND", f"Nobody on {network} has the identifier {identifier!r}."
            )
        return found

    async def resolve(self, request: web.Request, mxid: str) -> web.Response:
        """Who an identifier (username, phone number...) names, and their DM room if any."""
        login = await self._resolving_login(request, mxid)
        found = await self._resolve(login, request.match_info["identifier"], create_chat=False)
        room_id = None
        if found.portal is not None:
            record = await self.bridge.portals_db.get(found.portal)
            room_id = record.mxid if record is not None else None
        return web.json_response(self._resolved_json(found, room_id))

    async def start_chat(self, request: web.Request, mxid: str) -> web.Response:
        """Open (or find) a direct chat with whoever an identifier names, and its room;
        the user is invited to it."""
        login = await self._resolving_login(request, mxid)
        found = await self._resolve(login, request.match_info["identifier"], create_chat=True)
        if found.portal is None:
            network = self.bridge.connector.name.display_name
            raise ProvisioningError(
                502, "M_UNKNOWN", f"Found {found.user_id}, but {network} did not open a chat."
            )
        bridge = self.bridge
        ghost = await bridge.get_ghost(found.user_id, login)
        await ghost.update_info(found.user_info)
        portal = await bridge.get_portal(found.portal)
        existed = portal.mxid is not None

        async def create() -> str:
            return str(await ensure_room(portal, login, found.chat_info))

        room_id = await _in_portal_queue(portal, "start chat", create)
        if existed:
            try:
                await bridge.bot_intent.invite_user(RoomID(room_id), UserID(mxid))
            except MatrixRequestError as e:
                log.debug("Not re-inviting %s to %s: %s", mxid, room_id, e)
        else:
            log.info("Provisioning: %s started a chat with %s", mxid, found.user_id)
        body = self._resolved_json(found, room_id)
        body["just_created"] = not existed
        return web.json_response(body)

    # Bridging existing rooms ---------------------------------------------------------

    async def _portal_json(self, room_id: str) -> dict[str, Any]:
        portal = await self.bridge.get_portal_by_mxid(RoomID(room_id))
        if portal is None:
            return {"room_id": room_id, "bridged": False, "portal": None}
        return {
            "room_id": room_id,
            "bridged": True,
            "portal": {
                "id": portal.key.id,
                "receiver": portal.key.receiver,
                "name": portal.record.name,
            },
        }

    async def room_status(self, request: web.Request, _mxid: str) -> web.Response:
        """Whether a room is a portal, and of which chat."""
        return web.json_response(await self._portal_json(request.match_info["room_id"]))

    async def bridge_room(self, request: web.Request, mxid: str) -> web.Response:
        """Bridge an existing room (of which the user is an admin) to a chat:
        ``{"chat_id": ..., "login_id": ...}``, the login being optional."""
        body = await _json_body(request)
        chat_id, login_id = body.get("chat_id"), body.get("login_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise ProvisioningError(
                400, "M_BAD_JSON", 'Name the chat to bridge as {"chat_id": "<chat ID>"}.'
            )
        if login_id is not None and not isinstance(login_id, str):
            raise ProvisioningError(400, "M_BAD_JSON", "login_id must be a string.")
        room_id = RoomID(request.match_info["room_id"])
        if login_id:
            login = await self._own_login(mxid, login_id)
        else:
            logins = (await self.bridge.get_user(mxid)).logins
            if not logins:
                network = self.bridge.connector.name.display_name
                raise ProvisioningError(
                    400, NOT_LOGGED_IN, f"Log in to {network} first ({PREFIX}/login/flows)."
                )
            login = logins[0]
        if not room_id.startswith("!"):
            raise ProvisioningError(400, "M_INVALID_PARAM", "Give a room ID (it starts with '!').")
        try:
            await self.bridge.bot_intent.ensure_joined(room_id)
        except (IntentError, MatrixRequestError):
            raise ProvisioningError(
                403,
                "M_FORBIDDEN",
                f"I cannot join {room_id}. Invite {self.bridge.bot_mxid} to it first.",
            ) from None

        async def in_queue(portal: Portal, job: Callable[[], Awaitable[str | None]]) -> str | None:
            return await _in_portal_queue(portal, "bridge room", job)

        try:
            await bridge_room(self.bridge, mxid, login, room_id, chat_id, in_queue=in_queue)
        except RoomBridgingError as e:
            raise _bridging_error(e) from None
        log.info("Provisioning: %s bridged %s to %s", mxid, room_id, chat_id)
        return web.json_response(await self._portal_json(room_id))

    async def unbridge_room(self, request: web.Request, mxid: str) -> web.Response:
        """Disconnect a room from its chat; the room stays."""
        room_id = RoomID(request.match_info["room_id"])
        portal = await self.bridge.get_portal_by_mxid(room_id)
        if portal is None:
            raise ProvisioningError(404, "M_NOT_FOUND", f"{room_id} is not bridged.")
        try:
            await check_may_unbridge(self.bridge, mxid, portal)
        except RoomBridgingError as e:
            raise _bridging_error(e) from None
        await release_room(portal, reason=f"Unbridged by {mxid}")
        log.info("Provisioning: %s unbridged %s", mxid, room_id)
        return web.json_response({"room_id": room_id, "bridged": False, "portal": None})


def _bridging_error(error: RoomBridgingError) -> ProvisioningError:
    if error.reason == "forbidden":
        return ProvisioningError(403, "M_FORBIDDEN", str(error))
    if error.reason == "conflict":
        return ProvisioningError(409, "M_BAD_STATE", str(error))
    return ProvisioningError(400, "M_INVALID_PARAM", str(error))
