"""An end-to-end-encrypted Matrix client that plays the human user in tests.

It wraps matrix-nio (with its vodozemac-based ``e2e`` extra) and shares no crypto code
with bridgekit: when the bridge's end-to-bridge encryption is tested, the other side
of the wire is a real, independent E2EE client, so a bug in bridgekit's crypto cannot
be hidden by the same bug in the test.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import nio
from nio.crypto import decrypt_attachment
from nio.crypto.key_request import OutgoingKeyRequest

from bridgekit.testing.synapse import SynapseServer

__all__ = ["EncryptedClientError", "EncryptedTestClient", "MessagePredicate"]

log = logging.getLogger("bridgekit.testing.encrypted_client")

MessagePredicate = Callable[[dict[str, Any]], bool]

_T = TypeVar("_T")

_MEGOLM = "m.megolm.v1.aes-sha2"
# Long enough that an idle client costs almost nothing, short enough that a lost
# wake-up never delays a test by much; close() cancels the poll anyway.
_SYNC_TIMEOUT_MS = 10_000
_MAX_SYNC_FAILURES = 5


class EncryptedClientError(RuntimeError):
    """The homeserver refused a request of an :class:`EncryptedTestClient`, or its sync
    loop died."""


def _ok(response: Any, expected: type[_T], action: str) -> _T:
    """Return ``response`` if nio produced the ``expected`` response type, else raise."""
    if isinstance(response, expected):
        return response
    status = getattr(response, "status_code", None) or "?"
    message = getattr(response, "message", None) or repr(response)
    raise EncryptedClientError(f"{action} failed: {status} {message}")


def _event_dict(event: Any, room_id: str) -> dict[str, Any]:
    """The event as a plain dict; ``decrypted`` tells whether it came encrypted (and
    ``session_id`` then names the Megolm session that encrypted it)."""
    data = dict(event.source)
    data["room_id"] = room_id
    data["decrypted"] = bool(getattr(event, "decrypted", False))
    if data["decrypted"]:
        data["session_id"] = getattr(event, "session_id", None)
    return data


class EncryptedTestClient:
    """One user with one E2EE device, backed by ``nio.AsyncClient``.

    Create it with :meth:`create` (which registers a fresh user on a test-kit
    :class:`SynapseServer`, logs in, uploads device keys and starts syncing) and
    :meth:`close` it when done. Messages sent to encrypted rooms are encrypted for
    every device of every joined member, unverified ones included. Received events are
    buffered per room as plain dicts (decrypted where possible), so a wait also
    matches events that arrived before it was called.
    """

    def __init__(
        self, client: nio.AsyncClient, store_dir: str, synapse: SynapseServer, password: str
    ) -> None:
        """Wrap a logged-in client; use :meth:`create` rather than calling this."""
        self._client = client
        self._store_dir = store_dir
        self._synapse = synapse
        self._password = password
        self._to_device: list[dict[str, Any]] = []
        self._timelines: dict[str, list[dict[str, Any]]] = {}
        # Encrypted events whose room key had not arrived yet: (room, index in the
        # room's timeline, the event). They are retried after every sync.
        self._undecrypted: list[tuple[str, int, nio.MegolmEvent]] = []
        self._joined_seen: set[str] = set()
        self._synced = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None
        self._sync_error: Exception | None = None
        # nio's key calls check a condition and then act on it (keys_query raises when
        # nothing is left to query): the sync loop and senders must not interleave them.
        self._keys_lock = asyncio.Lock()

    @classmethod
    async def create(
        cls, synapse: SynapseServer, name: str = "user", *, device_name: str = "bridgekit test"
    ) -> EncryptedTestClient:
        """Register ``name`` plus a random suffix on ``synapse`` and return a ready client.

        Ready means: logged in with a new device, device and one-time keys uploaded,
        the first sync processed and the background sync loop running.
        """
        localpart = f"{name.lower()}_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(16)
        user_id, _ = await synapse.aregister_user(localpart, password=password)
        return await cls._log_in(synapse, user_id, password, device_name)

    async def new_device(self, device_name: str = "bridgekit test 2") -> EncryptedTestClient:
        """Log the same user in again: a second, new device with no room keys yet (the
        situation of someone who signs in to another client)."""
        return await self._log_in(self._synapse, self.user_id, self._password, device_name)

    @classmethod
    async def _log_in(
        cls, synapse: SynapseServer, user_id: str, password: str, device_name: str
    ) -> EncryptedTestClient:
        store_dir = tempfile.mkdtemp(prefix="bridgekit-e2ee-")
        config = nio.AsyncClientConfig(
            encryption_enabled=True,
            store_sync_tokens=True,
            max_limit_exceeded=5,
            max_timeouts=3,
            request_timeout=30,
        )
        client = nio.AsyncClient(synapse.url, user_id, store_path=store_dir, config=config)
        wrapper = cls(client, store_dir, synapse, password)
        try:
            _ok(await client.login(password, device_name=device_name), nio.LoginResponse, "login")
            wrapper._accept_keys_forwarded_by_their_creator()
            _ok(await client.keys_upload(), nio.KeysUploadResponse, "uploading device keys")
            first = _ok(await client.sync(timeout=0), nio.SyncResponse, "first sync")
            wrapper._record(first)
        except BaseException:
            await wrapper.close()
            raise
        wrapper._sync_task = asyncio.create_task(wrapper._sync_loop(), name=f"e2ee-sync {user_id}")
        log.info("E2EE test client %s ready with device %s", user_id, client.device_id)
        return wrapper

    # -- identity --------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The full Matrix ID of this client's user."""
        return str(self._client.user_id)

    @property
    def device_id(self) -> str:
        """The ID of this client's (only) device."""
        return str(self._client.device_id)

    @property
    def access_token(self) -> str:
        """The device's access token, for raw requests that must bypass decryption."""
        return str(self._client.access_token)

    @property
    def nio_client(self) -> nio.AsyncClient:
        """The underlying nio client, for what this wrapper does not offer."""
        return self._client

    def __repr__(self) -> str:
        return f"<EncryptedTestClient {self._client.user_id} {self._client.device_id}>"

    async def __aenter__(self) -> EncryptedTestClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop syncing, close the HTTP session and delete the crypto store."""
        task, self._sync_task = self._sync_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._client.close()
        shutil.rmtree(self._store_dir, ignore_errors=True)

    # -- syncing ---------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        failures = 0
        try:
            while True:
                response = await self._client.sync(timeout=_SYNC_TIMEOUT_MS)
                if isinstance(response, nio.SyncResponse):
                    failures = 0
                    self._record(response)
                    await self._exchange_keys()
                else:
                    failures += 1
                    if failures >= _MAX_SYNC_FAILURES:
                        raise EncryptedClientError(
                            f"sync failed {failures} times in a row: {response}"
                        )
                    log.warning("sync of %s failed: %s", self.user_id, response)
                    await asyncio.sleep(0.2 * failures)
                self._wake()
        except Exception as err:
            log.exception("sync loop of %s died", self.user_id)
            self._sync_error = err
            self._wake()

    async def _exchange_keys(self) -> None:
        """The key traffic nio's ``sync_forever`` does between syncs."""
        client = self._client
        await client.send_to_device_messages()
        async with self._keys_lock:
            if client.should_upload_keys:
                _ok(await client.keys_upload(), nio.KeysUploadResponse, "uploading keys")
            if client.should_query_keys:
                _ok(await client.keys_query(), nio.KeysQueryResponse, "querying keys")
            if client.should_claim_keys:
                users = client.get_users_for_key_claiming()
                _ok(await client.keys_claim(users), nio.KeysClaimResponse, "claiming keys")

    def _accept_keys_forwarded_by_their_creator(self) -> None:
        """Accept a requested room key when the device that created the session sends
        it, as current Matrix clients do; nio itself takes forwarded keys only from the
        user's own verified devices, so a bridge could never answer its key requests."""
        olm = self._client.olm
        assert olm is not None
        nio_rule = olm._should_accept_forward

        def should_accept(sender: str, sender_key: str, event: Any) -> bool:
            request = olm.outgoing_key_requests.get(event.session_id)
            creator_key = event.source.get("content", {}).get("sender_key")
            if (
                request is not None
                and creator_key == sender_key
                and (request.room_id, request.session_id) == (event.room_id, event.session_id)
            ):
                return True
            return bool(nio_rule(sender, sender_key, event))

        olm._should_accept_forward = should_accept

    def _wake(self) -> None:
        self._synced.set()
        self._synced = asyncio.Event()

    def _record(self, response: nio.SyncResponse) -> None:
        """Buffer the timeline events of a processed sync and retry pending decryptions."""
        for room_id, info in response.rooms.join.items():
            self._joined_seen.add(room_id)
            timeline = self._timelines.setdefault(room_id, [])
            for event in info.timeline.events:
                if isinstance(event, nio.MegolmEvent):
                    self._undecrypted.append((room_id, len(timeline), event))
                timeline.append(_event_dict(event, room_id))
        for room_id in response.rooms.leave:
            self._joined_seen.discard(room_id)
        self._to_device.extend(dict(event.source) for event in response.to_device_events)
        self._retry_decryption()

    def _retry_decryption(self) -> None:
        # A room key travels as a to-device message and can arrive in a later sync
        # than the message it unlocks.
        still_pending = []
        for room_id, index, event in self._undecrypted:
            event.room_id = room_id
            try:
                decrypted = self._client.decrypt_event(event)
            except nio.EncryptionError:
                still_pending.append((room_id, index, event))
                continue
            self._timelines[room_id][index] = _event_dict(decrypted, room_id)
        self._undecrypted = still_pending

    async def _wait_until(
        self,
        check: Callable[[], _T | None],
        timeout: float,  # noqa: ASYNC109
        what: Callable[[], str],
    ) -> _T:
        """Return the first non-None ``check()``, re-checking after every sync."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._sync_error is not None:
                        raise EncryptedClientError(
                            f"sync loop of {self.user_id} died: {self._sync_error!r}"
                        ) from self._sync_error
                    result = check()
                    if result is not None:
                        return result
                    await self._synced.wait()
        except TimeoutError:
            raise TimeoutError(f"{self.user_id}: no {what()} within {timeout} s") from None

    # -- receiving -------------------------------------------------------------------

    def timeline(self, room_id: str) -> list[dict[str, Any]]:
        """The room's events received so far, oldest first, decrypted where possible."""
        return list(self._timelines.get(room_id, []))

    def undecryptable(self, room_id: str | None = None) -> list[dict[str, Any]]:
        """Received encrypted events this device could not decrypt (yet)."""
        return [
            _event_dict(event, rid)
            for rid, _, event in self._undecrypted
            if room_id is None or rid == room_id
        ]

    async def wait_for_to_device(
        self,
        predicate: MessagePredicate,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Return the first to-device event this device received that matches
        ``predicate`` (as sent: Olm-encrypted ones still encrypted)."""

        def find() -> dict[str, Any] | None:
            return next((e for e in self._to_device if predicate(e)), None)

        def describe() -> str:
            return f"matching to-device event; got types {[e.get('type') for e in self._to_device]}"

        return await self._wait_until(find, timeout, describe)

    async def wait_for_event(
        self,
        room_id: str,
        predicate: MessagePredicate,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Return the first event of the room (as decrypted) matching ``predicate``.

        Raises ``TimeoutError`` naming the recent events and every event that could not
        be decrypted, which is usually why an expected message never showed up.
        """

        def find() -> dict[str, Any] | None:
            return next((e for e in self._timelines.get(room_id, []) if predicate(e)), None)

        def describe() -> str:
            recent = [
                (e.get("type"), e.get("sender"), e.get("content", {}).get("body"))
                for e in self._timelines.get(room_id, [])[-8:]
            ]
            undecryptable = [
                (e["event_id"], e["sender"], e["content"].get("session_id"))
                for e in self.undecryptable(room_id)
            ]
            return (
                f"matching event in {room_id}; recent events: {recent}; "
                f"undecryptable (event, sender, session): {undecryptable}"
            )

        return await self._wait_until(find, timeout, describe)

    async def wait_for_message(
        self,
        room_id: str,
        predicate_or_body: MessagePredicate | str,
        timeout: float = 30.0,  # noqa: ASYNC109
        *,
        sender: str | None = None,
    ) -> dict[str, Any]:
        """Wait for an ``m.room.message`` (decrypted if it was encrypted) in the room.

        It must have exactly the given body, or match the given predicate, and come
        from ``sender`` if that is given. Returns the event as a plain dict with
        ``type``, ``sender``, ``content``, ``event_id``, ``room_id`` and ``decrypted``.
        """

        def matches(event: dict[str, Any]) -> bool:
            if event.get("type") != "m.room.message":
                return False
            if sender is not None and event.get("sender") != sender:
                return False
            if isinstance(predicate_or_body, str):
                return bool(event.get("content", {}).get("body") == predicate_or_body)
            return predicate_or_body(event)

        return await self.wait_for_event(room_id, matches, timeout)

    async def wait_for_invite(
        self,
        timeout: float = 30.0,  # noqa: ASYNC109
        *,
        inviter: str | None = None,
        include_spaces: bool = False,
    ) -> str:
        """Return the ID of a room this user is invited to and has not joined or left.
        Invites to spaces are passed over unless ``include_spaces`` is set."""

        def find() -> str | None:
            for room_id, room in self._client.invited_rooms.items():
                if getattr(room, "room_type", None) == "m.space" and not include_spaces:
                    continue
                if inviter is None or room.inviter == inviter:
                    return str(room_id)
            return None

        return await self._wait_until(find, timeout, lambda: "invite")

    # -- rooms -----------------------------------------------------------------------

    async def create_room(
        self,
        invite: Iterable[str] = (),
        is_direct: bool = False,
        encrypted: bool = True,
        name: str | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> str:
        """Create a private room (encrypted with Megolm by default) and return its ID.

        Returns once this client's sync has seen the room, so it can send into it.
        """
        initial_state = []
        if encrypted:
            initial_state.append(
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": _MEGOLM}}
            )
        response = await self._client.room_create(
            name=name,
            is_direct=is_direct,
            preset=nio.RoomPreset.private_chat,
            invite=list(invite),
            initial_state=initial_state,
        )
        room_id = _ok(response, nio.RoomCreateResponse, "creating a room").room_id
        await self._until_joined(room_id, timeout)
        return str(room_id)

    async def join(self, room_id: str, timeout: float = 30.0) -> str:  # noqa: ASYNC109
        """Join the room and return its ID once this client's sync has seen it.

        Waiting matters: until the sync brings the room's state, nio does not know the
        room is encrypted and would send in plain text.
        """
        joined = _ok(await self._client.join(room_id), nio.JoinResponse, f"joining {room_id}")
        await self._until_joined(joined.room_id, timeout)
        return str(joined.room_id)

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite ``user_id`` to the room."""
        response = await self._client.room_invite(room_id, user_id)
        _ok(response, nio.RoomInviteResponse, f"inviting {user_id}")

    async def _until_joined(self, room_id: str, timeout: float) -> None:  # noqa: ASYNC109
        await self._wait_until(
            lambda: True if room_id in self._joined_seen else None,
            timeout,
            lambda: f"sync showing the joined room {room_id}",
        )

    async def wait_for_devices(
        self,
        user_id: str,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> list[str]:
        """Query ``user_id``'s device keys until at least one device is known; return
        the device IDs. Use it when a peer (say, a bridge bot) uploads its keys only
        after joining a room this client will send to."""

        async def query() -> list[str] | None:
            async with self._keys_lock:
                assert self._client.olm is not None
                self._client.olm.add_changed_users({user_id})
                _ok(await self._client.keys_query(), nio.KeysQueryResponse, "querying keys")
            devices = self._client.device_store.active_user_devices(user_id)
            return [device.id for device in devices] or None

        try:
            async with asyncio.timeout(timeout):
                # Nothing announces a stranger's first upload of device keys to us:
                # asking the server again is the only way to see it.
                while (found := await query()) is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                return found
        except TimeoutError:
            raise TimeoutError(f"no device keys of {user_id} within {timeout} s") from None

    # -- sending ---------------------------------------------------------------------

    async def _prepare_to_encrypt(self, room_id: str) -> None:
        """Make sure the next Megolm session reaches every joined member's devices.

        nio learns members and their devices from its own sync, which may lag behind a
        join that already happened on the server: a message sent then would be
        unreadable to the newcomer. So ask the server for the members, query the keys
        of any member without a known device, and start a new session if the current
        one was shared before some known device existed.
        """
        client = self._client
        assert client.olm is not None
        members = _ok(
            await client.joined_members(room_id), nio.JoinedMembersResponse, "listing members"
        )
        user_ids = {member.user_id for member in members.members}
        deviceless = {u for u in user_ids if not client.device_store.active_user_devices(u)}
        client.olm.add_changed_users(deviceless)
        if client.should_query_keys:
            _ok(await client.keys_query(), nio.KeysQueryResponse, "querying keys")
        session = client.olm.outbound_group_sessions.get(room_id)
        if session is None or not session.shared:
            return
        covered = session.users_shared_with | session.users_ignored
        for user_id in user_ids:
            for device in client.device_store.active_user_devices(user_id):
                if (user_id, device.id) not in covered:
                    client.invalidate_outbound_session(room_id)
                    return

    async def send_event(self, room_id: str, event_type: str, content: Mapping[str, Any]) -> str:
        """Send an event, encrypted if the room is; return its event ID."""
        await self._until_joined(room_id, 15.0)
        room = self._client.rooms[room_id]
        async with self._keys_lock:
            if room.encrypted:
                await self._prepare_to_encrypt(room_id)
            response = await self._client.room_send(
                room_id, event_type, dict(content), ignore_unverified_devices=True
            )
        return str(_ok(response, nio.RoomSendResponse, f"sending to {room_id}").event_id)

    async def send_text(self, room_id: str, body: str, html: str | None = None) -> str:
        """Send an ``m.text`` message (with an HTML body if given); return its event ID."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        return await self.send_event(room_id, "m.room.message", content)

    async def send_image(self, room_id: str, data: bytes, mimetype: str, filename: str) -> str:
        """Upload ``data`` and send it as an ``m.image``; return the event ID.

        In an encrypted room the upload is encrypted too and the message carries the
        key in its ``file`` object; otherwise it carries a plain ``url``.
        """
        await self._until_joined(room_id, 15.0)
        encrypted = bool(self._client.rooms[room_id].encrypted)
        response, keys = await self._client.upload(
            io.BytesIO(data),
            content_type=mimetype,
            filename=filename,
            encrypt=encrypted,
            filesize=len(data),
        )
        mxc = _ok(response, nio.UploadResponse, "uploading media").content_uri
        content: dict[str, Any] = {
            "msgtype": "m.image",
            "body": filename,
            "filename": filename,
            "info": {"mimetype": mimetype, "size": len(data)},
        }
        if keys is not None:
            content["file"] = {
                "url": mxc,
                "key": keys["key"],
                "iv": keys["iv"],
                "hashes": keys["hashes"],
                "v": keys["v"],
            }
        else:
            content["url"] = mxc
        return await self.send_event(room_id, "m.room.message", content)

    async def request_room_key(
        self, room_id: str, session: Mapping[str, Any], user_id: str, device_id: str
    ) -> None:
        """Ask ``device_id`` of ``user_id`` for a Megolm room key (``m.room_key_request``).

        ``session`` is the ``content`` of an encrypted event (its ``session_id`` and
        ``sender_key`` are used). A key that comes back from the session's creator is
        imported, and undecryptable events are decrypted on the next sync.
        """
        session_id, sender_key = str(session["session_id"]), str(session["sender_key"])
        request_id = secrets.token_hex(8)
        content = {
            "action": "request",
            "body": {
                "algorithm": _MEGOLM,
                "room_id": room_id,
                "session_id": session_id,
                "sender_key": sender_key,
            },
            "request_id": request_id,
            "requesting_device_id": self.device_id,
        }
        olm = self._client.olm
        assert olm is not None
        # nio files the requests it makes itself (only ever to the user's own devices).
        olm.outgoing_key_requests[session_id] = OutgoingKeyRequest(
            request_id, session_id, room_id, _MEGOLM
        )
        message = nio.ToDeviceMessage("m.room_key_request", user_id, device_id, content)
        _ok(await self._client.to_device(message), nio.ToDeviceResponse, "requesting a room key")

    # -- media -----------------------------------------------------------------------

    async def download(self, mxc: str) -> bytes:
        """The raw bytes stored at ``mxc`` (still encrypted if they were uploaded so)."""
        response = await self._client.download(mxc=mxc)
        body = _ok(response, nio.MemoryDownloadResponse, f"downloading {mxc}").body
        return bytes(body)

    async def download_decrypted(self, content: Mapping[str, Any]) -> bytes:
        """The plaintext of the attachment of a received message's ``content``.

        Handles both an encrypted attachment (a ``file`` object, whose hash is
        checked) and a plain ``url``. Raises ``ValueError`` when there is neither and
        ``nio.EncryptionError`` when the ciphertext does not match its hash.
        """
        file = content.get("file")
        if isinstance(file, Mapping):
            ciphertext = await self.download(str(file["url"]))
            plaintext: bytes = decrypt_attachment(
                ciphertext, file["key"]["k"], file["hashes"]["sha256"], file["iv"]
            )
            return plaintext
        url = content.get("url")
        if isinstance(url, str):
            return await self.download(url)
        raise ValueError(f"message content has no attachment: {dict(content)!r}")
