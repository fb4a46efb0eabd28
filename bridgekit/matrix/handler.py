"""Incoming Matrix events: stored before the transaction is acknowledged, then routed.

Each event of a transaction is written to the ``matrix_inbox`` table before the
homeserver gets its 200, so a crash never loses an accepted event: unhandled rows
are replayed at the next start. An event ID seen before (a re-sent transaction) is
skipped, so nothing is handled twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from mautrix.errors import MatrixRequestError
from mautrix.types import (
    DeviceLists,
    DeviceOTKCount,
    EncryptedEvent,
    Event,
    EventType,
    RoomAlias,
    RoomID,
    StateEvent,
    TextMessageEventContent,
)

from ..retry import retry_while_unavailable
from ..serial import SerialQueue
from ..user import Permission
from .aliases import query_alias
from .failures import DecryptionFailed

if TYPE_CHECKING:
    from ..bridge import Bridge

log = logging.getLogger("bridgekit.matrix")


class MatrixHandler:
    """Receives appservice transactions and routes their events."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._room_queues: dict[str, SerialQueue] = {}
        self._typing: dict[str, set[str]] = {}
        # New transactions wait until events left from before a restart are queued,
        # so a room's old events are handled before its new ones.
        self._resumed = asyncio.Event()
        #: Events accepted before the last stop and not finished then (see
        #: ``MatrixEvent.replayed``).
        self.replayed: set[str] = set()

    def register(self) -> None:
        """Take over the appservice's transaction endpoint."""
        self.bridge.appservice.transaction_handler = self.handle_transaction
        self.bridge.appservice.matrix_event_handler(self._ephemeral)
        # mautrix types the handler as returning JSON, but awaits it.
        self.bridge.appservice.query_alias = self._query_alias  # type: ignore[assignment]

    async def _query_alias(self, alias: RoomAlias) -> dict[str, Any] | None:
        await self._resumed.wait()
        return await query_alias(self.bridge, alias)

    async def handle_transaction(self, request: web.Request) -> web.Response:
        """``PUT /transactions/{id}``: store every event, then answer 200."""
        appservice = self.bridge.appservice
        await self._resumed.wait()
        txn_id, data = await appservice._read_transaction_header(request)
        events = data.get("events")
        if not isinstance(events, list):
            return _error(400, "M_BAD_JSON", "The transaction has no events list.")
        try:
            # Room keys and key counts first: a message in this transaction may need them.
            await self._handle_encryption_data(txn_id, data)
        except Exception:
            log.exception("Could not handle the encryption data of transaction %s", txn_id)
            return _error(500, "M_UNKNOWN", "The bridge could not store the room keys.")
        accepted: list[dict[str, Any]] = []
        try:
            for raw in events:
                if await self._accept(raw):
                    accepted.append(raw)
        except Exception:
            log.exception("Could not store transaction %s; the homeserver will retry", txn_id)
            return _error(500, "M_UNKNOWN", "The bridge could not store the events.")
        appservice.transactions.add(txn_id)
        if self.bridge.stopping:
            # Stored: the next start handles them. Answering 200 (not an error) keeps the
            # homeserver from backing off and holding later events back from that start.
            return web.json_response({})
        for raw in accepted:
            self.dispatch(raw)
        ephemeral = appservice._get_with_fallback(data, "ephemeral", "de.sorunome.msc2409")
        if ephemeral:
            await appservice.handle_transaction(
                txn_id, events=[], extra_data=cast(Any, {}), ephemeral=ephemeral
            )
        return web.json_response({})

    async def _handle_encryption_data(self, txn_id: str, data: dict[str, Any]) -> None:
        """To-device events, device list changes and one-time-key counts (appservice
        mode), handled before the transaction is acknowledged."""
        appservice = self.bridge.appservice
        if not appservice.encryption_events:
            return
        to_device = appservice._get_with_fallback(data, "to_device", "de.sorunome.msc2409")
        lists = appservice._get_with_fallback(data, "device_lists", "org.matrix.msc3202")
        counts = appservice._get_with_fallback(
            data, "device_one_time_keys_count", "org.matrix.msc3202", default={}
        )
        if not (to_device or lists or counts):
            return
        await appservice.handle_transaction(
            txn_id,
            events=[],
            extra_data=cast(Any, {}),
            to_device=to_device,
            device_lists=DeviceLists.deserialize(lists) if lists else None,
            otk_counts={
                user: {device: DeviceOTKCount.deserialize(c) for device, c in devices.items()}
                for user, devices in (counts or {}).items()
            },
        )

    async def _accept(self, raw: Any) -> bool:
        """Store one event; ``False`` for malformed or already-seen ones."""
        if not isinstance(raw, dict):
            log.warning("Skipping a malformed event (not an object) in a transaction")
            return False
        event_id, room_id = raw.get("event_id"), raw.get("room_id")
        if not isinstance(event_id, str) or not isinstance(room_id, str):
            log.warning("Skipping an event without event_id/room_id")
            return False
        if "state_key" not in raw and (
            self.bridge.is_bridge_user(str(raw.get("sender"))) or self._sent_by_us(raw)
        ):
            # The echo of a message the bridge sent: ``_route`` would only drop it, so it
            # is not stored either (two database writes per bridged message saved).
            return False
        return await self.bridge.inbox.accept(event_id, room_id, raw)

    async def replay_inbox(self) -> None:
        """Queue events that were stored but not handled before the last stop."""
        pending = await self.bridge.inbox.pending()
        if pending:
            log.info("Resuming %d Matrix events accepted before the last stop", len(pending))
        self.replayed = {str(raw["event_id"]) for raw in pending}
        for raw in pending:
            self.dispatch(raw)
        self._resumed.set()
        await self.bridge.inbox.prune()

    def dispatch(self, raw: dict[str, Any]) -> None:
        """Route a stored event to its room's queue (portal or not)."""
        room_id = raw["room_id"]
        queue = self._room_queues.get(room_id)
        if queue is None:
            queue = SerialQueue(f"room {room_id}", self.bridge.background_tasks)
            self._room_queues[room_id] = queue
        what = f"event {raw['event_id']}"
        queue.submit(
            what,
            lambda: retry_while_unavailable(
                what, lambda: self._route(raw), lambda: self.bridge.stopping
            ),
        )

    async def _route(self, raw: dict[str, Any]) -> None:
        event_id = raw["event_id"]
        try:
            event = Event.deserialize(raw)
        except Exception:
            log.warning("Skipping malformed event %s: %s", event_id, json.dumps(raw)[:200])
            await self.bridge.inbox.mark_handled(event_id)
            return
        bridge = self.bridge
        sender = str(event.sender)
        await self._track_state(event)
        if bridge.is_bridge_user(sender) or self._sent_by_us(raw):
            await bridge.inbox.mark_handled(event_id)
            return
        if isinstance(event, EncryptedEvent):
            decrypted = await self._decrypt(event)
            if decrypted is None:
                await bridge.inbox.mark_handled(event_id)
                return
            event, raw = decrypted, decrypted.serialize()
        elif await self._refuse_plaintext(event):
            await bridge.inbox.mark_handled(event_id)
            return
        portal = await bridge.get_portal_by_mxid(str(event.room_id))
        if portal is not None:
            done = self._done(event_id)
            # Hand over in order: the portal queue keeps the room's order from here.
            portal.queue_matrix_event(event, done)
            return
        try:
            await self._non_portal(event, raw)
        finally:
            await bridge.inbox.mark_handled(event_id)

    async def _ephemeral(self, event: Event) -> None:
        """Typing and read receipts of real users, handed to their portal's queue so
        they stay in order with the messages they refer to."""
        if event.type not in (EventType.TYPING, EventType.RECEIPT):
            return
        room_id = str(getattr(event, "room_id", "") or "")
        portal = await self.bridge.get_portal_by_mxid(room_id)
        if portal is None:
            return
        raw = event.content
        content: dict[str, Any] = raw.serialize() if hasattr(raw, "serialize") else dict(raw)
        if event.type == EventType.TYPING:
            now = {u for u in content.get("user_ids", []) if not self.bridge.is_bridge_user(u)}
            before = self._typing.get(room_id, set())
            self._typing[room_id] = now
            for user in now ^ before:
                portal.queue_typing(user, user in now)
            return
        for event_id, receipts in content.items():
            for receipt_type, users in receipts.items():
                # mautrix keys receipts by a ReceiptType enum, not by the plain string
                if getattr(receipt_type, "value", receipt_type) != "m.read":
                    continue
                for user in users:
                    if not self.bridge.is_bridge_user(user):
                        portal.queue_read_receipt(str(user), str(event_id))

    def _sent_by_us(self, raw: dict[str, Any]) -> bool:
        """A real user's event that the bridge itself sent (double puppeting): mautrix
        marks those with the bridge's name."""
        content = raw.get("content")
        source = content.get("fi.mau.double_puppet_source") if isinstance(content, dict) else None
        return source is not None and source == self.bridge.connector.name.network_id

    async def _track_state(self, event: Event) -> None:
        """Keep the state cache current (membership, power levels, encryption), and let
        real users' membership changes rotate group sessions."""
        if not isinstance(event, StateEvent):
            return
        await self.bridge.appservice.state_store.update_state(event)
        encryption = self.bridge.encryption
        if encryption is not None and event.type == EventType.ROOM_MEMBER:
            await encryption.handle_member_event(event)

    async def _refuse_plaintext(self, event: Event) -> bool:
        """With ``encryption.require``, plaintext messages are refused with a notice."""
        bridge = self.bridge
        if not bridge.config.get("encryption.require") or str(event.type) != "m.room.message":
            return False
        text = "This bridge only accepts encrypted messages: turn on encryption in this room."
        await bridge.send_bot_message(
            RoomID(str(event.room_id)),
            TextMessageEventContent(msgtype="m.notice", body=text),  # type: ignore[arg-type]
        )
        return True

    async def _decrypt(self, event: EncryptedEvent) -> Event | None:
        """The decrypted event, or ``None`` after telling the sender it failed."""
        encryption = self.bridge.encryption
        room_id = RoomID(str(event.room_id))
        if encryption is None:
            reason = "encryption is turned off in this bridge's config (encryption.allow)."
        else:
            try:
                return await encryption.decrypt(event)
            except DecryptionFailed as e:
                reason = str(e)
        log.warning("Could not decrypt %s from %s: %s", event.event_id, event.sender, reason)
        text = f"Your message was not bridged: {reason}"
        try:
            await self.bridge.send_bot_message(
                room_id,
                TextMessageEventContent(msgtype="m.notice", body=text),  # type: ignore[arg-type]
            )
        except MatrixRequestError as e:
            log.warning("Could not tell %s about it: %s", event.sender, e)
        return None

    def _done(self, event_id: str) -> Any:
        async def done() -> None:
            await self.bridge.inbox.mark_handled(event_id)

        return done

    async def _non_portal(self, event: Event, raw: dict[str, Any]) -> None:
        """Events in rooms that are not portals: bot invites and commands."""
        bridge = self.bridge
        event_type = str(event.type)
        content = raw.get("content") or {}
        if event_type == "m.room.member":
            if raw.get("state_key") == bridge.bot_mxid and content.get("membership") == "invite":
                await self._bot_invited(event, content)
            return
        if event_type != "m.room.message" or not isinstance(content.get("body"), str):
            return
        user = await bridge.get_user(str(event.sender))
        is_management = user.management_room == event.room_id
        await bridge.commands.handle(
            event.room_id, user, content["body"], is_management, str(event.event_id)
        )

    async def _bot_invited(self, event: Event, content: dict[str, Any]) -> None:
        bridge = self.bridge
        inviter = str(event.sender)
        room_id = RoomID(str(event.room_id))
        if bridge.permission_of(inviter) < Permission.RELAY:
            log.info("Rejecting invite from %s: not allowed to use the bridge", inviter)
            try:
                await bridge.bot_intent.leave_room(room_id, reason="You may not use this bridge.")
            except MatrixRequestError:
                pass
            return
        await bridge.bot_intent.join_room_by_id(room_id)
        user = await bridge.get_user(inviter)
        if content.get("is_direct") or user.management_room is None:
            await user.set_management_room(room_id)
            name = bridge.connector.name.display_name
            text = (
                f"Hello, I'm the {name} bridge bot. This room is now your management room: "
                "send `help` to see what I can do, or `login` to connect your account."
            )
            await bridge.send_bot_message(
                room_id,
                TextMessageEventContent(msgtype="m.notice", body=text),  # type: ignore[arg-type]
            )


def _error(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)
