"""A small Matrix client that plays the human user in tests.

It speaks the client-server API directly over aiohttp and deliberately shares no code
with bridgekit's own (mautrix-based) Matrix layer: a bug there must not be hidden by
the same bug on the test's side of the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from bridgekit.testing.matrix_sync import Event, EventPredicate, Invite, SyncWatcher

__all__ = ["Invite", "MatrixRequestError", "MatrixTestClient"]

_MAX_RATE_LIMIT_RETRIES = 5


class MatrixRequestError(Exception):
    """The homeserver answered with an error (``errcode`` and HTTP ``status``)."""

    def __init__(
        self, status: int, errcode: str, message: str, method: str, path: str, body: Any = None
    ) -> None:
        super().__init__(f"{method} {path}: HTTP {status} {errcode}: {message}")
        self.status = status
        self.errcode = errcode
        self.message = message
        self.body = body


def _path(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


def _msgtype_for(content_type: str) -> str:
    major = content_type.split("/", 1)[0]
    return {"image": "m.image", "video": "m.video", "audio": "m.audio"}.get(major, "m.file")


class MatrixTestClient:
    """An async Matrix client for one user, acting through the client-server API.

    Construct it with an access token (see ``SynapseServer.register_user``), or with
    an appservice's ``as_token`` and ``as_appservice=True`` to act as one of the
    appservice's users (every request then carries ``?user_id=``). Calls
    that the server rejects raise :class:`MatrixRequestError`; 429 answers are
    retried after the delay the server asks for.

    Receiving is done by a background ``/sync`` loop that starts on the first
    ``wait_for_*`` call (or :meth:`start_sync`) and buffers every timeline event per
    room, each with its ``room_id`` filled in, so a wait also matches events that
    arrived before it was called. Call :meth:`close` when done.
    """

    def __init__(
        self,
        homeserver: str,
        user_id: str,
        access_token: str,
        *,
        device_id: str | None = None,
        as_appservice: bool = False,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.access_token = access_token
        self.device_id = device_id
        self.as_appservice = as_appservice
        self._session: aiohttp.ClientSession | None = None
        self._txn_ids = itertools.count()
        self._txn_prefix = f"bk{time.time_ns()}"
        self._sync = SyncWatcher(user_id, self._fetch_sync)

    def __repr__(self) -> str:
        return f"<MatrixTestClient {self.user_id}>"

    async def __aenter__(self) -> MatrixTestClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- transport -----------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, created on first use inside the running event loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.access_token}"}
            )
        return self._session

    def txn_id(self) -> str:
        """A transaction ID that is unique for this client."""
        return f"{self._txn_prefix}.{next(self._txn_ids)}"

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        http_timeout: float = 60.0,
    ) -> Any:
        """Send a request to ``path`` (starting with ``/_matrix``) and return the JSON reply."""
        raw = await self.request_bytes(
            method,
            path,
            body,
            params=params,
            data=data,
            content_type=content_type,
            http_timeout=http_timeout,
        )
        return json.loads(raw) if raw else {}

    async def request_bytes(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        http_timeout: float = 60.0,
    ) -> bytes:
        """Like :meth:`request`, returning the raw response body."""
        headers = {"Content-Type": content_type} if content_type else {}
        if self.as_appservice:
            params = {"user_id": self.user_id, **(params or {})}
        for attempt in itertools.count():
            async with self.session.request(
                method,
                self.homeserver + path,
                json=body if data is None else None,
                data=data,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=http_timeout),
            ) as resp:
                raw = await resp.read()
                if resp.status < 400:
                    return raw
                try:
                    error = json.loads(raw)
                except ValueError:
                    error = {"error": raw[:200].decode(errors="replace")}
                if not isinstance(error, dict):
                    error = {"error": str(error)}
                errcode = str(error.get("errcode", "M_UNKNOWN"))
                if errcode == "M_LIMIT_EXCEEDED" and attempt < _MAX_RATE_LIMIT_RETRIES:
                    await asyncio.sleep(int(error.get("retry_after_ms", 500)) / 1000)
                    continue
                raise MatrixRequestError(
                    resp.status, errcode, str(error.get("error", "")), method, path, error
                )
        raise AssertionError("unreachable")

    async def register_appservice_user(self) -> None:
        """Register this client's user through its appservice (needs ``as_appservice``).

        An appservice user must exist before it can act; registering one that already
        exists is not an error.
        """
        if not self.as_appservice:
            raise ValueError("register_appservice_user needs a client with as_appservice=True")
        localpart = self.user_id.removeprefix("@").split(":", 1)[0]
        body = {
            "type": "m.login.application_service",
            "username": localpart,
            "inhibit_login": True,
        }
        try:
            await self.request("POST", "/_matrix/client/v3/register", body)
        except MatrixRequestError as err:
            if err.errcode != "M_USER_IN_USE":
                raise

    async def close(self) -> None:
        """Stop syncing and close the HTTP session."""
        await self._sync.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- rooms and membership ------------------------------------------------------

    async def create_room(
        self,
        invite: Iterable[str] = (),
        name: str | None = None,
        topic: str | None = None,
        is_direct: bool = False,
        preset: str = "private_chat",
        initial_state: Iterable[Mapping[str, Any]] = (),
        encrypted: bool = False,
        **extra: Any,
    ) -> str:
        """Create a room and return its ID; ``extra`` is added to the request body."""
        state = [dict(event) for event in initial_state]
        if encrypted:
            state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        body: dict[str, Any] = {
            "preset": preset,
            "invite": list(invite),
            "is_direct": is_direct,
            "initial_state": state,
            **extra,
        }
        if name is not None:
            body["name"] = name
        if topic is not None:
            body["topic"] = topic
        result = await self.request("POST", "/_matrix/client/v3/createRoom", body)
        room_id: str = result["room_id"]
        return room_id

    async def invite(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        """Invite ``user_id`` to the room."""
        await self._membership(room_id, "invite", user_id, reason)

    async def join(self, room_id_or_alias: str) -> str:
        """Join a room (by ID or alias) and return its room ID."""
        result = await self.request(
            "POST", f"/_matrix/client/v3/join/{_path(room_id_or_alias)}", {}
        )
        room_id: str = result["room_id"]
        self._sync.forget_invite(room_id)
        return room_id

    async def leave(self, room_id: str, reason: str | None = None) -> None:
        """Leave the room (or reject an invite to it)."""
        self._sync.forget_invite(room_id)
        body = {"reason": reason} if reason else {}
        await self.request("POST", f"/_matrix/client/v3/rooms/{_path(room_id)}/leave", body)

    async def kick(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        """Kick ``user_id`` out of the room."""
        await self._membership(room_id, "kick", user_id, reason)

    async def ban(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        """Ban ``user_id`` from the room."""
        await self._membership(room_id, "ban", user_id, reason)

    async def unban(self, room_id: str, user_id: str) -> None:
        """Lift a ban of ``user_id``."""
        await self._membership(room_id, "unban", user_id, None)

    async def _membership(
        self, room_id: str, action: str, user_id: str, reason: str | None
    ) -> None:
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        await self.request("POST", f"/_matrix/client/v3/rooms/{_path(room_id)}/{action}", body)

    async def get_joined_members(self, room_id: str) -> dict[str, dict[str, Any]]:
        """Joined members: user ID -> ``{"display_name": ..., "avatar_url": ...}``."""
        result = await self.request(
            "GET", f"/_matrix/client/v3/rooms/{_path(room_id)}/joined_members"
        )
        joined: dict[str, dict[str, Any]] = result.get("joined", {})
        return joined

    async def get_joined_rooms(self) -> list[str]:
        """IDs of the rooms this user has joined."""
        result = await self.request("GET", "/_matrix/client/v3/joined_rooms")
        rooms: list[str] = result.get("joined_rooms", [])
        return rooms

    # -- state ---------------------------------------------------------------------

    async def get_room_state(self, room_id: str) -> list[Event]:
        """The room's full current state as a list of state events."""
        state: list[Event] = await self.request(
            "GET", f"/_matrix/client/v3/rooms/{_path(room_id)}/state"
        )
        return state

    async def get_state_event(
        self, room_id: str, event_type: str, state_key: str = ""
    ) -> dict[str, Any]:
        """The content of one state event; raises ``MatrixRequestError`` (M_NOT_FOUND) if unset."""
        content: dict[str, Any] = await self.request(
            "GET",
            f"/_matrix/client/v3/rooms/{_path(room_id)}/state/{_path(event_type, state_key)}",
        )
        return content

    async def send_state(
        self, room_id: str, event_type: str, content: Mapping[str, Any], state_key: str = ""
    ) -> str:
        """Set a state event and return its event ID."""
        result = await self.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{_path(room_id)}/state/{_path(event_type, state_key)}",
            dict(content),
        )
        event_id: str = result["event_id"]
        return event_id

    async def set_power_levels(self, room_id: str, content: Mapping[str, Any]) -> str:
        """Replace the room's ``m.room.power_levels`` content; return the event ID."""
        return await self.send_state(room_id, "m.room.power_levels", content)

    async def set_user_power_level(self, room_id: str, user_id: str, level: int) -> str:
        """Change one user's power level, keeping the rest of the power levels."""
        content = await self.get_state_event(room_id, "m.room.power_levels")
        content.setdefault("users", {})[user_id] = level
        return await self.set_power_levels(room_id, content)

    async def set_room_name(self, room_id: str, name: str) -> str:
        """Set ``m.room.name``; return the event ID."""
        return await self.send_state(room_id, "m.room.name", {"name": name})

    async def set_room_topic(self, room_id: str, topic: str) -> str:
        """Set ``m.room.topic``; return the event ID."""
        return await self.send_state(room_id, "m.room.topic", {"topic": topic})

    # -- messages ------------------------------------------------------------------

    async def send_event(self, room_id: str, event_type: str, content: Mapping[str, Any]) -> str:
        """Send a message event (with a fresh transaction ID) and return its event ID."""
        result = await self.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{_path(room_id)}/send/{_path(event_type, self.txn_id())}",
            dict(content),
        )
        event_id: str = result["event_id"]
        return event_id

    async def send_text(
        self,
        room_id: str,
        body: str,
        *,
        html: str | None = None,
        msgtype: str = "m.text",
        reply_to: str | None = None,
        thread_root: str | None = None,
    ) -> str:
        """Send a text-like message (optionally HTML, a reply, in a thread); return its ID."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or thread_root},
            }
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send_event(room_id, "m.room.message", content)

    async def send_emote(self, room_id: str, body: str, *, html: str | None = None) -> str:
        """Send an ``m.emote`` (a /me action); return its event ID."""
        return await self.send_text(room_id, body, html=html, msgtype="m.emote")

    async def send_notice(self, room_id: str, body: str, *, html: str | None = None) -> str:
        """Send an ``m.notice``; return its event ID."""
        return await self.send_text(room_id, body, html=html, msgtype="m.notice")

    async def edit(
        self, room_id: str, event_id: str, new_body: str, *, html: str | None = None
    ) -> str:
        """Replace the text of ``event_id`` (an ``m.replace`` edit); return the edit's ID."""
        new_content: dict[str, Any] = {"msgtype": "m.text", "body": new_body}
        if html is not None:
            new_content["format"] = "org.matrix.custom.html"
            new_content["formatted_body"] = html
        content: dict[str, Any] = {
            "msgtype": "m.text",
            "body": f"* {new_body}",
            "m.new_content": new_content,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return await self.send_event(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        """React to ``event_id`` with ``key`` (usually an emoji); return the reaction's ID."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_event(room_id, "m.reaction", content)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        """Redact (delete) ``event_id``; return the redaction's event ID."""
        body = {"reason": reason} if reason else {}
        result = await self.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{_path(room_id)}/redact/{_path(event_id, self.txn_id())}",
            body,
        )
        redaction_id: str = result["event_id"]
        return redaction_id

    async def get_event(self, room_id: str, event_id: str) -> Event:
        """Fetch one event of the room by ID."""
        event: Event = await self.request(
            "GET", f"/_matrix/client/v3/rooms/{_path(room_id)}/event/{_path(event_id)}"
        )
        return event

    async def get_messages(
        self,
        room_id: str,
        *,
        limit: int = 50,
        direction: str = "b",
        from_token: str | None = None,
    ) -> list[Event]:
        """A page of the room's history (newest first for ``direction="b"``)."""
        params = {"dir": direction, "limit": str(limit)}
        if from_token is not None:
            params["from"] = from_token
        result = await self.request(
            "GET", f"/_matrix/client/v3/rooms/{_path(room_id)}/messages", params=params
        )
        chunk: list[Event] = result.get("chunk", [])
        return chunk

    async def send_typing(self, room_id: str, typing: bool = True, timeout_ms: int = 30000) -> None:
        """Start (or stop) showing this user as typing in the room."""
        body: dict[str, Any] = {"typing": typing}
        if typing:
            body["timeout"] = timeout_ms
        await self.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{_path(room_id)}/typing/{_path(self.user_id)}",
            body,
        )

    async def send_receipt(self, room_id: str, event_id: str, receipt_type: str = "m.read") -> None:
        """Mark ``event_id`` as read (a public ``m.read`` receipt by default)."""
        await self.request(
            "POST",
            f"/_matrix/client/v3/rooms/{_path(room_id)}/receipt/{_path(receipt_type, event_id)}",
            {},
        )

    # -- media ---------------------------------------------------------------------

    async def upload(
        self, data: bytes, content_type: str = "application/octet-stream", filename: str = ""
    ) -> str:
        """Upload ``data`` to the media repository and return its ``mxc://`` URI."""
        params = {"filename": filename} if filename else None
        result = await self.request(
            "POST",
            "/_matrix/media/v3/upload",
            params=params,
            data=data,
            content_type=content_type,
        )
        mxc: str = result["content_uri"]
        return mxc

    async def download(self, mxc: str) -> bytes:
        """Download the content of an ``mxc://server/media_id`` URI (authenticated media)."""
        if not mxc.startswith("mxc://"):
            raise ValueError(f"not an mxc URI: {mxc!r}")
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        return await self.request_bytes(
            "GET", f"/_matrix/client/v1/media/download/{_path(server, media_id)}"
        )

    async def send_media(
        self,
        room_id: str,
        data: bytes,
        content_type: str,
        filename: str,
        msgtype: str | None = None,
        *,
        caption: str | None = None,
    ) -> str:
        """Upload ``data`` and send it as an image/video/audio/file message; return its ID.

        ``msgtype`` defaults to what ``content_type`` suggests.
        """
        mxc = await self.upload(data, content_type, filename)
        content: dict[str, Any] = {
            "msgtype": msgtype or _msgtype_for(content_type),
            "body": caption if caption is not None else filename,
            "url": mxc,
            "info": {"mimetype": content_type, "size": len(data)},
        }
        if caption is not None:
            content["filename"] = filename
        return await self.send_event(room_id, "m.room.message", content)

    # -- profile -------------------------------------------------------------------

    async def set_displayname(self, displayname: str) -> None:
        """Set this user's global display name."""
        await self.request(
            "PUT",
            f"/_matrix/client/v3/profile/{_path(self.user_id)}/displayname",
            {"displayname": displayname},
        )

    async def set_avatar_url(self, avatar_url: str) -> None:
        """Set this user's global avatar (an ``mxc://`` URI)."""
        await self.request(
            "PUT",
            f"/_matrix/client/v3/profile/{_path(self.user_id)}/avatar_url",
            {"avatar_url": avatar_url},
        )

    async def get_profile(self, user_id: str | None = None) -> dict[str, Any]:
        """A user's global profile (``displayname``, ``avatar_url``); this user's by default."""
        profile: dict[str, Any] = await self.request(
            "GET", f"/_matrix/client/v3/profile/{_path(user_id or self.user_id)}"
        )
        return profile

    # -- receiving -----------------------------------------------------------------

    async def _fetch_sync(self, params: Mapping[str, str]) -> Mapping[str, Any]:
        result: Mapping[str, Any] = await self.request(
            "GET", "/_matrix/client/v3/sync", params=params, http_timeout=30
        )
        return result

    async def start_sync(self) -> None:
        """Start the background ``/sync`` loop (if not running) and await the first sync."""
        await self._sync.start()

    def timeline(self, room_id: str) -> list[Event]:
        """The events received so far in the room, oldest first."""
        return self._sync.timeline(room_id)

    async def wait_for_event(
        self,
        room_id: str,
        predicate: EventPredicate,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> Event:
        """Return the first event of the room matching ``predicate``, waiting up to
        ``timeout`` seconds for it.

        Events that arrived before the call count too: everything since syncing began,
        plus the recent history the first sync returned. Raises ``TimeoutError``
        listing the last events that did arrive.
        """
        return await self._sync.wait_for_event(room_id, predicate, timeout)

    async def wait_for_message(
        self,
        room_id: str,
        sender: str | None = None,
        body: str | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> Event:
        """Wait for an ``m.room.message`` in the room, optionally from ``sender`` and with
        exactly ``body``."""

        def matches(event: Event) -> bool:
            return (
                event.get("type") == "m.room.message"
                and (sender is None or event.get("sender") == sender)
                and (body is None or event.get("content", {}).get("body") == body)
            )

        return await self.wait_for_event(room_id, matches, timeout)

    async def wait_for_ephemeral(
        self,
        room_id: str,
        predicate: EventPredicate,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> Event:
        """Like :meth:`wait_for_event` for ephemeral events (``m.typing``, ``m.receipt``)."""
        return await self._sync.wait_for_ephemeral(room_id, predicate, timeout)

    async def wait_for_invite(
        self,
        predicate: Callable[[Invite], bool] | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
        *,
        include_spaces: bool = False,
    ) -> str:
        """Wait for a pending invite (one not yet joined or left) matching ``predicate``
        and return its room ID. Invites to spaces (a bridge login's personal space)
        are passed over unless ``include_spaces`` is set."""

        def matches(invite: Invite) -> bool:
            if invite.is_space and not include_spaces:
                return False
            return predicate is None or predicate(invite)

        return await self._sync.wait_for_invite(matches, timeout)
