"""Matrix → network: handing a portal's Matrix events to the network client."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, BinaryIO

from mautrix.types import Event, RoomID, TextMessageEventContent, UserID

from ..network import capabilities as cap
from ..network.content import MediaTooLarge
from ..network.errors import BridgeError
from ..network.ids import EmojiID, MessageID, PartID, RemoteUserID
from ..network.matrix import (
    MatrixEdit,
    MatrixMedia,
    MatrixMembership,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixPinChange,
    MatrixPowerLevels,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixReadReceipt,
    MatrixRoomMeta,
    MatrixTyping,
    MessageRecord,
    ReactionRecord,
    RelayInfo,
)
from ..retry import database_unavailable
from ..user import Permission

if TYPE_CHECKING:
    from ..user_login import UserLogin
    from .portal import Portal

log = logging.getLogger("bridgekit.portal.matrix")

_META_EVENTS = {"m.room.name": "name", "m.room.topic": "topic", "m.room.avatar": "avatar"}


async def handle_matrix_event(portal: Portal, event: Event) -> None:
    """Handle one Matrix event of the portal's room; called from the portal's queue."""
    bridge = portal.bridge
    sender = str(event.sender)
    event_type = str(event.type)
    raw: dict[str, Any] = event.serialize()
    content: dict[str, Any] = raw.get("content") or {}
    if event_type == "m.room.message" and await bridge.commands.handle_in_portal(portal, event):
        return
    login, relay = await _login_for(portal, sender)
    if login is None:
        if event_type in ("m.room.message", "m.reaction", "m.sticker"):
            await _notice(
                portal,
                "You are not logged in, and this room has no relay: your message was not "
                "bridged. Send `login` to the bridge bot.",
            )
        return
    client = login.client
    try:
        async with bridge.metrics.track("to_network", event_type):
            if event_type in ("m.room.message", "m.sticker"):
                relates = content.get("m.relates_to") or {}
                if relates.get("rel_type") == "m.replace":
                    await _edit(portal, event, content, login, relay)
                else:
                    await _message(portal, event, content, login, relay)
            elif event_type == "m.reaction":
                await _reaction(portal, event, content, login, relay)
            elif event_type == "m.room.redaction":
                await _redaction(portal, event, raw, login, relay)
            elif event_type == "m.room.member" and isinstance(client, cap.MembershipHandling):
                await _membership(portal, event, raw, login)
            elif event_type == "m.room.power_levels" and isinstance(client, cap.PowerLevelHandling):
                await _power_levels(portal, event, raw, login)
            elif event_type == "m.room.pinned_events" and isinstance(client, cap.PinHandling):
                await _pins(portal, event, raw, login)
            elif event_type in _META_EVENTS and isinstance(client, cap.RoomMetaHandling):
                field = _META_EVENTS[event_type]
                value = content.get("url" if field == "avatar" else field) or ""
                change = MatrixRoomMeta(
                    portal=portal.key,
                    event_id=str(event.event_id),
                    sender_mxid=sender,
                    login_id=login.id,
                )
                setattr(change, field, str(value))
                if field == "avatar" and value:
                    change.avatar_media = _avatar_media(portal, content)
                await client.handle_matrix_room_meta(change)
    except BridgeError as e:
        await _notice(portal, f"Not bridged: {e}")
    except MediaTooLarge as e:
        await _notice(portal, str(e))
    except Exception as e:
        if database_unavailable(e):
            raise  # retried by the portal's queue job once the database is back
        log.exception("Network failed on %s %s", event_type, event.event_id)
        await _notice(portal, "Not bridged: the network connection failed. Try again later.")


async def _login_for(portal: Portal, sender: str) -> tuple[UserLogin | None, RelayInfo | None]:
    """The sender's own login in this chat, or the relay login with relay info."""
    bridge = portal.bridge
    permission = bridge.permission_of(sender)
    if permission < Permission.RELAY:
        return None, None
    if permission >= Permission.USER:
        user = await bridge.get_user(sender)
        receiver = portal.key.receiver
        in_chat = set(await bridge.portals_db.logins_in(portal.key))
        for login in user.logins:
            if login.id == receiver or (receiver is None and login.id in in_chat):
                return login, None
    relay = await portal.relay_login()
    if relay is None:
        return None, None
    room_id = RoomID(portal.record.mxid or "")
    profile = await bridge.bot_intent.get_room_member_info(room_id, UserID(sender))
    name = (profile.displayname if profile else None) or sender
    avatar = str(profile.avatar_url) if profile and profile.avatar_url else None
    public = bridge.public_media_url(avatar) if avatar else None
    return relay, RelayInfo(sender, name, avatar, "", public)


def _relay_text(portal: Portal, relay: RelayInfo | None, text: str) -> str:
    if relay is None:
        return text
    template = portal.bridge.config.get("bridge.relay.format", "{displayname}: {message}")
    formatted = (
        str(template)
        .replace("{displayname}", relay.display_name)
        .replace("{mxid}", relay.sender_mxid)
        .replace("{message}", text)
    )
    relay.formatted = formatted
    return formatted


async def _target(portal: Portal, event_id: str | None) -> MessageRecord | None:
    if not event_id:
        return None
    return await portal.bridge.messages_db.by_mxid(event_id)


async def _message(
    portal: Portal,
    event: Event,
    content: dict[str, Any],
    login: UserLogin,
    relay: RelayInfo | None,
) -> None:
    bridge = portal.bridge
    if await bridge.messages_db.by_mxid(str(event.event_id)) is not None:
        # Replayed after a restart, but it reached the network before the stop.
        log.debug("Skipping %s: already bridged", event.event_id)
        return
    is_sticker = str(event.type) == "m.sticker"
    msgtype = str(content.get("msgtype") or ("m.sticker" if is_sticker else ""))
    body = content.get("body")
    if not isinstance(body, str) or not msgtype:
        await _notice(portal, "Not bridged: that message has no text or type.")
        return
    media = _media(portal, content, msgtype)
    relates = content.get("m.relates_to") or {}
    reply_id = (relates.get("m.in_reply_to") or {}).get("event_id")
    thread_id = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
    html = (
        content.get("formatted_body") if content.get("format") == "org.matrix.custom.html" else None
    )
    if relay is not None:
        body = _relay_text(portal, relay, body)
    msg = MatrixMessage(
        portal=portal.key,
        event_id=str(event.event_id),
        sender_mxid=str(event.sender),
        login_id=login.id,
        relay=relay,
        replayed=str(event.event_id) in bridge.matrix.replayed,
        msgtype=msgtype,
        body=body,
        html=html if relay is None else None,
        media=media,
        reply_to=await _target(portal, reply_id),
        thread_root=await _target(portal, thread_id),
        content=content,
        may_notify_room=await _may_notify_room(
            portal, str(event.sender), str(content.get("body") or ""), content
        ),
    )
    response = await login.client.handle_matrix_message(msg)
    assert portal.mxid is not None
    await bridge.messages_db.insert(
        MessageRecord(
            id=response.id,
            part_id=PartID(""),
            mxid=str(event.event_id),
            room_id=portal.mxid,
            portal=portal.key,
            sender_id=RemoteUserID(login.id),
            timestamp_ms=response.timestamp_ms or event.timestamp,
            metadata=response.metadata,
        )
    )


async def _pins(portal: Portal, event: Event, raw: dict[str, Any], login: UserLogin) -> None:
    """A Matrix user changed the pinned messages: the difference to the previous list
    (from the event's ``unsigned.prev_content``) goes to the network."""

    def listed(content: Any) -> list[str]:
        pinned = content.get("pinned") if isinstance(content, dict) else None
        return [str(e) for e in pinned if isinstance(e, str)] if isinstance(pinned, list) else []

    now = listed(raw.get("content"))
    before = listed((raw.get("unsigned") or {}).get("prev_content"))
    records = portal.bridge.messages_db

    async def bridged(mxids: list[str]) -> list[MessageRecord]:
        found = [await records.by_mxid(mxid) for mxid in mxids]
        return [r for r in found if r is not None and r.portal == portal.key]

    pinned = await bridged([e for e in now if e not in before])
    unpinned = await bridged([e for e in before if e not in now])
    if not pinned and not unpinned:
        return
    client = login.client
    assert isinstance(client, cap.PinHandling)
    await client.handle_matrix_pins(
        MatrixPinChange(
            portal=portal.key,
            event_id=str(event.event_id),
            sender_mxid=str(event.sender),
            login_id=login.id,
            pinned=pinned,
            unpinned=unpinned,
        )
    )


_ROOM_MENTIONS = ("@room", "@everyone", "@here")


async def _may_notify_room(portal: Portal, sender: str, body: str, content: dict[str, Any]) -> bool:
    """Whether the message asks to notify the whole room and its sender may: their power
    level reaches the room's ``notifications.room`` (50 unless changed)."""
    mentions = content.get("m.mentions")
    asks = isinstance(mentions, dict) and mentions.get("room") is True
    if not asks and not any(word in body for word in _ROOM_MENTIONS):
        return False
    assert portal.mxid is not None
    levels = await portal.bridge.bot_intent.get_power_levels(portal.mxid)
    return levels.get_user_level(UserID(sender)) >= levels.notifications.room


def _media(portal: Portal, content: dict[str, Any], msgtype: str) -> MatrixMedia | None:
    if msgtype not in ("m.image", "m.file", "m.audio", "m.video", "m.sticker"):
        return None
    url = content.get("url") or (content.get("file") or {}).get("url")
    if not isinstance(url, str):
        return None
    filename = content.get("filename") or content.get("body") or "file"
    return _media_at(portal, url, str(filename), content.get("info"), content.get("file"))


def _avatar_media(portal: Portal, content: dict[str, Any]) -> MatrixMedia | None:
    url = content.get("url")
    if not isinstance(url, str):
        return None
    return _media_at(portal, url, "avatar", content.get("info"), None)


def _media_at(
    portal: Portal, url: str, filename: str, info: Any, encrypted: dict[str, Any] | None
) -> MatrixMedia:
    info = info if isinstance(info, dict) else {}
    size = info.get("size") if isinstance(info.get("size"), int) else None
    bridge = portal.bridge

    async def fetch(out: BinaryIO) -> int:
        limit = bridge.max_media_size
        if size is not None and size > limit:
            raise MediaTooLarge(size, limit, filename)
        return await bridge.fetch_media(url, encrypted, limit, filename, out)

    return MatrixMedia(
        mimetype=str(info.get("mimetype") or "application/octet-stream"),
        filename=filename,
        size=size,
        url=url,
        fetch=fetch,
        # An encrypted file's link would only give its ciphertext.
        public_url=None if encrypted else bridge.public_media_url(url, filename),
    )


async def _edit(
    portal: Portal,
    event: Event,
    content: dict[str, Any],
    login: UserLogin,
    relay: RelayInfo | None,
) -> None:
    client = login.client
    target = await _target(portal, (content.get("m.relates_to") or {}).get("event_id"))
    if target is None:
        return
    if not isinstance(client, cap.EditHandling):
        await _notice(portal, "Not bridged: this network does not support edits.")
        return
    new = content.get("m.new_content") or content
    body = str(new.get("body", ""))
    await client.handle_matrix_edit(
        MatrixEdit(
            portal=portal.key,
            event_id=str(event.event_id),
            sender_mxid=str(event.sender),
            login_id=login.id,
            relay=relay,
            target=target,
            body=_relay_text(portal, relay, body),
            html=new.get("formatted_body") if relay is None else None,
            msgtype=str(new.get("msgtype", "m.text")),
            content=new,
        )
    )
    await portal.bridge.messages_db.count_edit(target.mxid)


async def _reaction(
    portal: Portal,
    event: Event,
    content: dict[str, Any],
    login: UserLogin,
    relay: RelayInfo | None,
) -> None:
    client = login.client
    relates = content.get("m.relates_to") or {}
    target = await _target(portal, relates.get("event_id"))
    key = relates.get("key")
    if target is None or not isinstance(key, str):
        return
    if relay is not None:
        return  # a reaction cannot carry the relayed user's name
    if not isinstance(client, cap.ReactionHandling):
        await _notice(portal, "Not bridged: this network does not support reactions.")
        return
    emoji_id = await client.handle_matrix_reaction(
        MatrixReaction(
            portal=portal.key,
            event_id=str(event.event_id),
            sender_mxid=str(event.sender),
            login_id=login.id,
            target=target,
            key=key,
            emoji_id=(
                await portal.bridge.reactions_db.emoji_of(key) if key.startswith("mxc://") else None
            ),
        )
    )
    await portal.bridge.reactions_db.upsert(
        portal.key,
        ReactionRecord(
            MessageID(target.id),
            RemoteUserID(login.id),
            emoji_id or EmojiID(key),
            key,
            str(event.event_id),
        ),
    )


async def _redaction(
    portal: Portal,
    event: Event,
    raw: dict[str, Any],
    login: UserLogin,
    relay: RelayInfo | None,
) -> None:
    bridge = portal.bridge
    client = login.client
    redacts = raw.get("redacts") or (raw.get("content") or {}).get("redacts")
    if not isinstance(redacts, str):
        return
    common: dict[str, Any] = {
        "portal": portal.key,
        "event_id": str(event.event_id),
        "sender_mxid": str(event.sender),
        "login_id": login.id,
        "relay": relay,
    }
    message = await bridge.messages_db.by_mxid(redacts)
    if message is not None:
        if not isinstance(client, cap.RedactionHandling):
            await _notice(portal, "Not bridged: this network does not support deleting.")
            return
        reason = (raw.get("content") or {}).get("reason")
        await client.handle_matrix_message_remove(
            MatrixMessageRemove(target=message, reason=reason, **common)
        )
        await bridge.messages_db.delete(portal.key, message.id)
        return
    reaction = await bridge.reactions_db.by_mxid(redacts)
    if reaction is not None and isinstance(client, cap.ReactionHandling):
        await client.handle_matrix_reaction_remove(MatrixReactionRemove(target=reaction, **common))
        await bridge.reactions_db.delete_by_mxid(redacts)


async def handle_typing(portal: Portal, user_mxid: str, typing: bool) -> None:
    """A Matrix user started or stopped typing (silently ignored where unsupported)."""
    login, relay = await _login_for(portal, user_mxid)
    if login is None or relay is not None or not isinstance(login.client, cap.TypingHandling):
        return
    await login.client.handle_matrix_typing(
        MatrixTyping(
            portal=portal.key, event_id="", sender_mxid=user_mxid, login_id=login.id, typing=typing
        )
    )


async def handle_read_receipt(portal: Portal, user_mxid: str, event_id: str) -> None:
    """A Matrix user read up to an event; the network gets the bridged message it maps
    to (or the newest one before it)."""
    login, relay = await _login_for(portal, user_mxid)
    if login is None or relay is not None:
        return
    if not isinstance(login.client, cap.ReadReceiptHandling):
        return
    target = await portal.bridge.messages_db.by_mxid(event_id)
    await login.client.handle_matrix_read_receipt(
        MatrixReadReceipt(
            portal=portal.key,
            event_id=event_id,
            sender_mxid=user_mxid,
            login_id=login.id,
            target=target,
        )
    )


async def _membership(portal: Portal, event: Event, raw: dict[str, Any], login: UserLogin) -> None:
    """Invites, kicks and bans of ghosts, and the user leaving, go to the network;
    a user's own join is not a network action."""
    target = str(raw.get("state_key") or "")
    content = raw.get("content") or {}
    membership = str(content.get("membership") or "")
    sender = str(event.sender)
    if target == sender and membership != "leave":
        return
    prev = ((raw.get("unsigned") or {}).get("prev_content") or {}).get("membership")
    await login.client.handle_matrix_membership(  # type: ignore[attr-defined]
        MatrixMembership(
            portal=portal.key,
            event_id=str(event.event_id),
            sender_mxid=sender,
            login_id=login.id,
            target_mxid=target,
            target_user=portal.bridge.ghost_id(target),
            membership=membership,
            prev_membership=prev,
            reason=content.get("reason"),
        )
    )


async def _power_levels(
    portal: Portal, event: Event, raw: dict[str, Any], login: UserLogin
) -> None:
    """Changed levels of ghosts go to the network."""
    content = raw.get("content") or {}
    users = dict(content.get("users") or {})
    before = (((raw.get("unsigned") or {}).get("prev_content") or {}).get("users")) or {}
    for mxid in before:  # taken out of the list: back to the default level
        users.setdefault(mxid, content.get("users_default", 0))
    changed = {}
    for mxid, level in users.items():
        remote = portal.bridge.ghost_id(mxid)
        if remote is not None and before.get(mxid) != level and isinstance(level, int):
            changed[remote] = level
    if changed:
        await login.client.handle_matrix_power_levels(  # type: ignore[attr-defined]
            MatrixPowerLevels(
                portal=portal.key,
                event_id=str(event.event_id),
                sender_mxid=str(event.sender),
                login_id=login.id,
                users=changed,
            )
        )


async def _notice(portal: Portal, text: str) -> None:
    if portal.mxid is None:
        return
    content = TextMessageEventContent(msgtype="m.notice", body=text)  # type: ignore[arg-type]
    await portal.bridge.send_bot_message(portal.mxid, content)
