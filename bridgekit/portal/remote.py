"""Network → Matrix: turning remote events into Matrix events in a portal's room."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixRequestError, MNotFound
from mautrix.types import EventID, EventType, PresenceState, RoomID

from ..network.content import ConvertedMessage, MediaTooLarge, MediaUploader
from ..network.events import (
    EventSender,
    RemoteBackfill,
    RemoteChatDelete,
    RemoteChatInfoChange,
    RemoteChatResync,
    RemoteEdit,
    RemoteEvent,
    RemoteMessage,
    RemoteMessageRemove,
    RemotePinChange,
    RemotePresence,
    RemoteReaction,
    RemoteReactionRemove,
    RemoteReadReceipt,
    RemoteTyping,
)
from ..network.ids import EmojiID, PartID
from ..network.info import Avatar
from ..network.matrix import MessageRecord, ReactionRecord
from ..retry import retry_while_unavailable, temporarily_unavailable
from .room import ensure_room, sync_info

if TYPE_CHECKING:
    from ..user_login import UserLogin
    from .portal import Portal

log = logging.getLogger("bridgekit.portal.remote")


class PortalUploader(MediaUploader):
    """Uploads a network's media for one portal, enforcing the size limit."""

    def __init__(self, portal: Portal, intent: IntentAPI) -> None:
        self.portal = portal
        self.intent = intent

    @property
    def max_size(self) -> int:
        return self.portal.bridge.max_media_size

    async def upload(self, data: bytes, mimetype: str, filename: str) -> dict[str, Any]:
        return await self.portal.bridge.upload_for_room(
            self.intent, self.portal.mxid, data, mimetype, filename
        )


async def handle_remote_event(portal: Portal, event: RemoteEvent, source: UserLogin) -> None:
    """Handle one remote event; called from the portal's queue.

    While the homeserver or the database is unreachable the event is retried with
    backoff, holding the portal's queue (so order is kept) instead of dropping it. A
    retry of a half-sent message is safe: parts already sent reuse their transaction
    IDs."""

    async def dispatch() -> None:
        async with portal.bridge.metrics.track("to_matrix", type(event).__name__):
            await _dispatch(portal, event, source)

    await retry_while_unavailable(
        event.describe(), dispatch, lambda: portal.bridge.stopping, temporarily_unavailable
    )


async def _dispatch(portal: Portal, event: RemoteEvent, source: UserLogin) -> None:
    if isinstance(event, RemoteMessage):
        await _message(portal, event, source)
    elif isinstance(event, RemoteBackfill):
        await _backfill(portal, event, source)
    elif isinstance(event, RemoteChatResync):
        info = event.info or await source.client.get_chat_info(portal.key)
        if portal.mxid is None:
            if event.create:
                await ensure_room(portal, source, info)
        else:
            await ensure_room(portal, source)  # a login new to the chat: invite its user
            await sync_info(portal, source, info)
    elif isinstance(event, RemotePresence):
        await _presence(portal, event, source)
    elif isinstance(event, RemotePinChange):
        if portal.mxid is not None:
            await _pins(portal, event)
    elif portal.mxid is None:
        # Edits, reactions and the like refer to earlier messages; with no room
        # there is nothing they could apply to.
        log.debug("Ignoring %s: the portal has no room", event.describe())
    elif isinstance(event, RemoteEdit):
        await _edit(portal, event, source)
    elif isinstance(event, RemoteReaction):
        await _reaction(portal, event, source)
    elif isinstance(event, RemoteReactionRemove):
        await _reaction_remove(portal, event, source)
    elif isinstance(event, RemoteMessageRemove):
        await _message_remove(portal, event, source)
    elif isinstance(event, RemoteReadReceipt):
        await _read_receipt(portal, event, source)
    elif isinstance(event, RemoteTyping):
        intent = await _sender_intent(portal, event.sender, source)
        await intent.set_typing(portal.mxid, timeout=int(event.timeout_s * 1000))
    elif isinstance(event, RemoteChatInfoChange):
        await sync_info(portal, source, event.info)
    elif isinstance(event, RemoteChatDelete):
        await portal.bridge.delete_portal(portal, reason="The chat was deleted")
    else:
        log.warning("Unknown remote event type %s", type(event).__name__)


async def _sender_intent(portal: Portal, sender: EventSender, source: UserLogin) -> IntentAPI:
    """The Matrix user that stands for ``sender`` in the portal, joined to the room."""
    bridge = portal.bridge
    room_id = portal.mxid
    assert room_id is not None
    if sender.is_from_me:
        puppet = await bridge.double_puppet_intent(source.user_mxid)
        if puppet is not None:
            await puppet.ensure_joined(room_id)
            return puppet
    if sender.user_id is None:
        return bridge.bot_intent
    ghost = await bridge.get_ghost(sender.user_id, source)
    await ghost.update_info(sender.user_info)
    await ghost.intent.ensure_joined(room_id)
    await ghost.set_room_name(room_id, sender.room_name)
    return ghost.intent


#: A catch-up of at least this many messages is announced in the management room.
BACKFILL_REPORT_FROM = 50
#: A long catch-up is logged every this many messages.
_BACKFILL_LOG_EVERY = 100


async def _backfill(portal: Portal, event: RemoteBackfill, source: UserLogin) -> None:
    """Bridge missed messages in order; a long catch-up is reported to the login's
    owner (how many, where, and when it is done) and in the log as it goes."""
    total = len(event.messages)
    report = total >= BACKFILL_REPORT_FROM
    where = portal.record.name or str(portal.key.id)
    if report:
        log.info("Catching up on %d messages in %s", total, portal.key)
        await source.notify_user(f"Catching up on {total} messages missed in {where}…")
    new = 0
    for done, message in enumerate(event.messages, start=1):
        new += await _message(portal, message, source)
        if report and done % _BACKFILL_LOG_EVERY == 0:
            log.info("Caught up on %d/%d messages in %s", done, total, portal.key)
    if report:
        already = f" ({total - new} were there already)" if new < total else ""
        await source.notify_user(f"Caught up on {where}: {total} messages{already}.")


async def _message(portal: Portal, event: RemoteMessage, source: UserLogin) -> bool:
    """Bridge a message; ``False`` if it was bridged already."""
    bridge = portal.bridge
    if await bridge.messages_db.exists(portal.key, event.id):
        log.debug("Dropping duplicate message %s in %s", event.id, portal.key)
        if portal.mxid is not None:
            # Another login of a shared chat delivered it first; this login's owner
            # still belongs in the room.
            await ensure_room(portal, source)
        return False
    room_id = await ensure_room(portal, source)
    intent = await _sender_intent(portal, event.sender, source)
    try:
        converted = await event.convert(PortalUploader(portal, intent))
    except MediaTooLarge as e:
        converted = ConvertedMessage.text(str(e), msgtype="m.notice")
    except Exception as e:
        if temporarily_unavailable(e):
            raise  # retried: the homeserver or database will be back
        # A message the network's converter cannot handle still shows up, as a notice
        # in its place, rather than vanishing with only a log line.
        log.exception("Could not convert %s", event.describe())
        converted = ConvertedMessage.text(
            f"A message here could not be bridged ({type(e).__name__}); "
            f"open {bridge.connector.name.display_name} to see it.",
            msgtype="m.notice",
        )
    reply_to = await _first_part(portal, converted.reply_to)
    thread_root = await _first_part(portal, converted.thread_root)
    timestamp = event.timestamp_ms or bridge.now_ms()
    records: list[MessageRecord] = []
    for part in converted.parts:
        content = dict(part.content)
        relates: dict[str, Any] = {}
        if thread_root is not None:
            relates = {
                "rel_type": "m.thread",
                "event_id": thread_root.mxid,
                "is_falling_back": True,
            }
            relates["m.in_reply_to"] = {"event_id": (reply_to or thread_root).mxid}
        elif reply_to is not None:
            relates = {"m.in_reply_to": {"event_id": reply_to.mxid}}
        if relates:
            content["m.relates_to"] = relates
        txn_id = _txn_id(portal, "msg", event.id, part.part_id)
        try:
            event_id = await bridge.send_as(
                intent, room_id, EventType.find(part.event_type), content, timestamp, txn_id
            )
        except MatrixRequestError as e:
            if temporarily_unavailable(e) or e.http_status == 429:
                raise  # retried
            # The homeserver will never take this part (too large, say): a notice takes
            # its place, so that the gap is visible and the message is not retried.
            log.warning("The homeserver refused part of %s: %s", event.describe(), e)
            notice = {
                "msgtype": "m.notice",
                "body": f"A message here could not be bridged: the homeserver refused it "
                f"({e.errcode or e.http_status}).",
            }
            event_id = await bridge.send_as(
                intent, room_id, EventType.ROOM_MESSAGE, notice, timestamp, f"{txn_id}n"
            )
        records.append(
            MessageRecord(
                id=event.id,
                part_id=part.part_id,
                mxid=event_id,
                room_id=room_id,
                portal=portal.key,
                sender_id=event.sender.user_id,
                timestamp_ms=timestamp,
                metadata=part.metadata,
            )
        )
    # All parts' rows at once, after every part was sent: a message is either fully
    # mapped or not at all, so a retry re-sends it whole (the transaction IDs keep the
    # homeserver from doubling the parts that already went out).
    await bridge.messages_db.insert_many(records)
    return True


def _txn_id(portal: Portal, *parts: str) -> str:
    """A transaction ID derived from what is being sent: if the bridge dies after the
    homeserver stored the event but before the mapping row was written, the re-send
    after restart reuses the ID and the homeserver returns the same event instead of
    a second one."""
    digest = hashlib.sha256("\x00".join((str(portal.key), *parts)).encode()).hexdigest()
    return f"bk{digest[:40]}"


async def _first_part(portal: Portal, message_id: str | None) -> MessageRecord | None:
    if not message_id:
        return None
    from ..network.ids import MessageID

    parts = await portal.bridge.messages_db.parts(portal.key, MessageID(message_id))
    return parts[0] if parts else None


async def _edit(portal: Portal, event: RemoteEdit, source: UserLogin) -> None:
    bridge = portal.bridge
    parts = {p.part_id: p for p in await bridge.messages_db.parts(portal.key, event.target)}
    if not parts:
        log.debug("Ignoring edit of unbridged message %s", event.target)
        return
    assert portal.mxid is not None
    intent = await _sender_intent(portal, event.sender, source)
    converted = await event.convert(PortalUploader(portal, intent))
    for part in converted.parts:
        target = parts.get(part.part_id) or parts.get(PartID(""))
        if target is None:
            continue
        new_content = dict(part.content)
        content = dict(new_content)
        content["body"] = f"* {new_content.get('body', '')}"
        if "formatted_body" in new_content:
            content["formatted_body"] = f"* {new_content['formatted_body']}"
        content["m.new_content"] = new_content
        content["m.relates_to"] = {"rel_type": "m.replace", "event_id": target.mxid}
        await bridge.send_as(
            intent,
            portal.mxid,
            EventType.find(part.event_type),
            content,
            event.timestamp_ms or bridge.now_ms(),
        )
        await bridge.messages_db.count_edit(target.mxid)


async def _reaction(portal: Portal, event: RemoteReaction, source: UserLogin) -> None:
    bridge = portal.bridge
    parts = await bridge.messages_db.parts(portal.key, event.target)
    if not parts:
        return
    emoji_id = event.emoji_id or EmojiID(event.emoji)
    existing = await bridge.reactions_db.get(
        portal.key, event.target, event.sender.user_id, emoji_id
    )
    if existing is not None:
        return
    assert portal.mxid is not None
    intent = await _sender_intent(portal, event.sender, source)
    key = event.emoji
    if event.image is not None:
        key = await _emoji_image(portal, emoji_id, event.image) or key
    content: dict[str, Any] = {
        "m.relates_to": {"rel_type": "m.annotation", "event_id": parts[0].mxid, "key": key}
    }
    if key != event.emoji:
        content["com.beeper.reaction.shortcode"] = event.emoji
    event_id = await bridge.send_as(
        intent,
        portal.mxid,
        EventType.REACTION,
        content,
        event.timestamp_ms or bridge.now_ms(),
        txn_id=_txn_id(portal, "react", event.target, str(event.sender.user_id), emoji_id),
    )
    await bridge.reactions_db.upsert(
        portal.key, ReactionRecord(event.target, event.sender.user_id, emoji_id, key, event_id)
    )


async def _emoji_image(portal: Portal, emoji_id: EmojiID, image: Avatar) -> str | None:
    """The ``mxc://`` of a custom emoji's picture: the one it was bridged with before,
    or a new upload; ``None`` (text is used) when the picture cannot be had."""
    bridge = portal.bridge
    known = await bridge.reactions_db.image_of(emoji_id)
    if known is not None or image.get is None:
        return known
    try:
        data = await image.get()
        mxc = await bridge.bot_intent.upload_media(
            data, mime_type=image.mimetype or "image/png", filename="emoji"
        )
    except Exception as e:
        if temporarily_unavailable(e):
            raise
        log.warning("Custom emoji %s not uploaded: %s", emoji_id, e)
        return None
    return str(mxc)


async def _reaction_remove(portal: Portal, event: RemoteReactionRemove, source: UserLogin) -> None:
    bridge = portal.bridge
    record = await bridge.reactions_db.get(
        portal.key, event.target, event.sender.user_id, event.emoji_id
    )
    if record is None:
        return
    assert portal.mxid is not None
    intent = await _sender_intent(portal, event.sender, source)
    await intent.redact(portal.mxid, EventID(record.mxid))
    await bridge.reactions_db.delete_by_mxid(record.mxid)


async def _message_remove(portal: Portal, event: RemoteMessageRemove, source: UserLogin) -> None:
    bridge = portal.bridge
    parts = await bridge.messages_db.parts(portal.key, event.target)
    if not parts:
        return
    assert portal.mxid is not None
    intent = await _sender_intent(portal, event.sender, source)
    for part in parts:
        await intent.redact(RoomID(part.room_id), EventID(part.mxid))
    await bridge.messages_db.delete(portal.key, event.target)


async def _read_receipt(portal: Portal, event: RemoteReadReceipt, source: UserLogin) -> None:
    parts = await portal.bridge.messages_db.parts(portal.key, event.target)
    if not parts:
        return
    intent = await _sender_intent(portal, event.sender, source)
    await intent.mark_read(RoomID(parts[-1].room_id), EventID(parts[-1].mxid))


async def _pins(portal: Portal, event: RemotePinChange) -> None:
    """Apply pins and unpins to the room's ``m.room.pinned_events`` (set by the bot,
    which has the power to; the network's own notice says who pinned)."""
    bridge = portal.bridge
    room_id = portal.mxid
    assert room_id is not None
    try:
        current = await bridge.bot_intent.get_state_event(room_id, EventType.ROOM_PINNED_EVENTS)
        pinned = [str(e) for e in (getattr(current, "pinned", None) or [])]
    except MNotFound:
        pinned = []
    before = list(pinned)
    if event.exact:
        # Keep pins of events that did not come from the chat (Matrix-only messages).
        pinned = [mxid for mxid in pinned if await bridge.messages_db.by_mxid(mxid) is None]
    for message_id in event.pinned:
        record = await _first_part(portal, message_id)
        if record is not None and record.mxid not in pinned:
            pinned.append(record.mxid)
    for message_id in event.unpinned:
        record = await _first_part(portal, message_id)
        if record is not None and record.mxid in pinned:
            pinned.remove(record.mxid)
    if pinned != before:
        content: dict[str, Any] = {"pinned": pinned}
        await bridge.bot_intent.send_state_event(room_id, EventType.ROOM_PINNED_EVENTS, content)


async def _presence(portal: Portal, event: RemotePresence, source: UserLogin) -> None:
    if event.sender.user_id is None:
        return
    ghost = await portal.bridge.get_ghost(event.sender.user_id, source)
    # ignore_cache: mautrix caches only the status message, so a state change with the
    # same message would otherwise never be sent.
    await ghost.intent.set_presence(
        PresenceState(event.presence), event.status_msg, ignore_cache=True
    )
