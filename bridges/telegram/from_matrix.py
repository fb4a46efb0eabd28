"""Matrix events → Telegram: messages, media, edits, deletions, reactions, typing, reads,
room names and topics.

Every send goes through ``with_flood_retry``: a FLOOD_WAIT holds up this portal's
queue only, and the user is told when the wait is long. Telegram errors become
``BridgeError``s that say what happened; a session Telegram no longer accepts marks
the login logged out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from telethon import errors
from telethon.tl import functions, types

from bridgekit.network import (
    BridgeError,
    EmojiID,
    MatrixEdit,
    MatrixMedia,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixMessageResponse,
    MatrixPinChange,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixReadReceipt,
    MatrixRoomMeta,
    MatrixTyping,
    PortalKey,
)

from . import waveform as waveform_of
from .connection import sending_event
from .flood import describe_wait, with_flood_retry
from .formatting import html_to_telegram
from .ids import ChatRef, telegram_message_id
from .migration import Migrations

if TYPE_CHECKING:
    from .client import TelegramNetworkClient

log = logging.getLogger("bridgekit.telegram.from_matrix")

T = TypeVar("T")

MAX_TEXT = 4096
MAX_CAPTION = 1024
#: How far back to look for a message that reached Telegram before a crash.
_RECENT = 50
#: Dialogs fetched to find the access hash of a chat missing from the session.
_DIALOGS_FOR_ACCESS_HASHES = 200


class MatrixToTelegram:
    """Sends one login's Matrix events to Telegram."""

    def __init__(self, owner: TelegramNetworkClient) -> None:
        self.owner = owner

    @property
    def _migrations(self) -> Migrations:
        return self.owner.connector.migrations

    def _chat(self, portal: PortalKey) -> ChatRef:
        """The Telegram chat of a portal (following a basic group's upgrade)."""
        return self._migrations.chat_of(portal)

    async def _call(self, what: str, chat: ChatRef, call: Callable[[], Awaitable[T]]) -> T:
        """Run a Telegram call for ``chat``, waiting out flood waits and explaining errors."""
        owner = self.owner
        client = await owner.connected_client()

        async def notify(seconds: float) -> None:
            name = await owner.chat_name(chat)
            await owner.login.notify_user(
                f"Telegram asked the bridge to slow down in {name}: your message will be "
                f"sent in {describe_wait(seconds)}."
            )

        try:
            return await with_flood_retry(
                client, owner.settings.flood_wait, call, what=what, notify=notify
            )
        except (errors.UnauthorizedError, errors.AuthKeyError) as e:
            await owner.session_ended(e)
            raise BridgeError(
                "Your Telegram session has ended. Send `login` to the bridge bot to log in again."
            ) from e
        except errors.RPCError as e:
            raise BridgeError(_explain(e)) from e

    async def _text(self, body: str, html: str | None) -> tuple[str, list[Any]]:
        text, entities = await html_to_telegram(html, self.owner.mentions) if html else (body, [])
        resolved = []
        client = await self.owner.connected_client()
        for entity in entities:
            if isinstance(entity, types.MessageEntityMentionName):
                try:
                    user = await client.get_input_entity(types.PeerUser(entity.user_id))
                except (ValueError, errors.RPCError):
                    continue  # a user this account cannot see: the name stays as text
                entity = types.InputMessageEntityMentionName(entity.offset, entity.length, user)
            resolved.append(entity)
        return text, resolved

    async def send(self, msg: MatrixMessage) -> MatrixMessageResponse:
        chat = self._chat(msg.portal)
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        # A message is put in a forum topic by replying to the topic's first message;
        # a reply to a message in the topic lands in the topic by itself.
        reply_to = telegram_message_id(msg.reply_to.id) if msg.reply_to else chat.reply_to_topic
        if msg.media is not None:
            caption = _caption(msg)
            text, entities = await self._text(caption, msg.html if caption else None)
            if len(text) > MAX_CAPTION:
                raise BridgeError(f"Telegram captions are {MAX_CAPTION} characters at most.")
            media = msg.media
            # On disk, not in memory: Telethon uploads it part by part from the path
            # (whose last part is the file name), again on a retry.
            async with media.open() as file:

                async def send_file() -> Any:
                    return await client.send_file(
                        peer,
                        str(file.path),
                        caption=text,
                        formatting_entities=entities or None,
                        reply_to=reply_to,
                        force_document=msg.msgtype not in ("m.image", "m.video", "m.audio"),
                        voice_note=_is_voice(msg),
                        mime_type=media.mimetype,
                        file_size=file.size,
                        attributes=_document_attributes(msg),
                    )

                sent = await self._send_once(msg, chat, "sending a file", send_file, text)
        elif (point := _geo_point(msg)) is not None:

            async def send_location() -> Any:
                return await client.send_file(peer, point, reply_to=reply_to)

            sent = await self._send_once(msg, chat, "sending a location", send_location, "")
        else:
            body = msg.body
            if msg.msgtype == "m.emote":
                body = f"* {body}"
            text, entities = await self._text(body, msg.html if msg.msgtype != "m.emote" else None)
            if len(text) > MAX_TEXT:
                raise BridgeError(f"Telegram messages are {MAX_TEXT} characters at most.")

            async def send_text() -> Any:
                return await client.send_message(
                    peer,
                    text,
                    formatting_entities=entities or None,
                    reply_to=reply_to,
                    link_preview=False,
                    parse_mode=None,
                )

            sent = await self._send_once(msg, chat, "sending a message", send_text, text)
        if not chat.is_shared:
            await self.owner.store.remember_message_chat(
                self.owner.login.id, sent.id, msg.portal.id
            )
        elif chat.topic is not None:
            await self.owner.store.remember_topic_message(chat.id, sent.id, chat.topic)
        return MatrixMessageResponse(
            self._migrations.message_id(chat, sent.id), timestamp_ms=_ms(sent.date)
        )

    async def _send_once(
        self,
        msg: MatrixMessage,
        chat: ChatRef,
        what: str,
        send: Callable[[], Awaitable[Any]],
        text: str,
    ) -> Any:
        """Send with the event's own ``random_id`` (see ``sending_event``); when
        Telegram already has that message (sent just before a crash), find it instead
        of sending it twice."""

        async def once() -> Any:
            try:
                with sending_event(msg.event_id):
                    return await send()
            except errors.RandomIdDuplicateError:
                log.info("%s had reached Telegram before a restart", msg.event_id)
                return await self._delivered_before(chat, text)

        return await self._call(what, chat, once)

    async def _delivered_before(self, chat: ChatRef, text: str) -> Any:
        """The newest message this account sent in ``chat`` with this text."""
        client = await self.owner.connected_client()
        async for message in client.iter_messages(await self._peer(chat), limit=_RECENT):
            if message.out and (message.message or "") == text:
                return message
        raise BridgeError(
            "Telegram already had this message from before the bridge restarted, but the "
            "bridge could not find it among your recent messages to link it."
        )

    async def edit(self, edit: MatrixEdit) -> None:
        chat = self._chat(edit.portal)
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        text, entities = await self._text(edit.body, edit.html)
        target = telegram_message_id(edit.target.id)
        self.owner.connector.edit_echoes.expect(chat, target, text)

        async def call() -> None:
            try:
                await client.edit_message(
                    peer, target, text, formatting_entities=entities or None, link_preview=False
                )
            except errors.MessageNotModifiedError:
                pass

        await self._call("editing a message", chat, call)

    async def remove(self, removal: MatrixMessageRemove) -> None:
        chat = self._chat(removal.portal)
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        target = telegram_message_id(removal.target.id)

        async def call() -> None:
            await client.delete_messages(peer, [target], revoke=True)

        await self._call("deleting a message", chat, call)

    async def pins(self, change: MatrixPinChange) -> None:
        chat = self._chat(change.portal)
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        wanted = [(r, False) for r in change.pinned] + [(r, True) for r in change.unpinned]
        for record, unpin in wanted:
            target = telegram_message_id(record.id)

            async def call(target: int = target, unpin: bool = unpin) -> None:
                request = functions.messages.UpdatePinnedMessageRequest(
                    peer, target, silent=True, unpin=unpin
                )
                await client(request)

            await self._call("unpinning a message" if unpin else "pinning a message", chat, call)

    async def react(self, reaction: MatrixReaction) -> EmojiID:
        chat = self._chat(reaction.portal)
        emoji = reaction.key.replace("\ufe0f", "")
        await self._set_reaction(chat, telegram_message_id(reaction.target.id), emoji)
        return EmojiID(emoji)

    async def unreact(self, removal: MatrixReactionRemove) -> None:
        chat = self._chat(removal.portal)
        await self._set_reaction(chat, telegram_message_id(removal.target.message_id), None)

    async def _set_reaction(self, chat: ChatRef, target: int, emoji: str | None) -> None:
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        reaction = [types.ReactionEmoji(emoticon=emoji)] if emoji else []

        async def call() -> None:
            await client(functions.messages.SendReactionRequest(peer, target, reaction=reaction))

        await self._call("reacting", chat, call)

    async def typing(self, typing: MatrixTyping) -> None:
        chat = self._chat(typing.portal)
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        action = (
            types.SendMessageTypingAction() if typing.typing else types.SendMessageCancelAction()
        )
        try:
            await client(
                functions.messages.SetTypingRequest(peer, action, top_msg_id=chat.reply_to_topic)
            )
        except errors.RPCError as e:
            log.debug("Typing not sent to %s: %s", chat.portal_id(), e)

    async def read(self, receipt: MatrixReadReceipt) -> None:
        if receipt.target is None:
            return
        chat = self._chat(receipt.portal)
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        try:
            await client.send_read_acknowledge(peer, max_id=telegram_message_id(receipt.target.id))
        except errors.RPCError as e:
            log.debug("Read receipt not sent to %s: %s", chat.portal_id(), e)

    async def room_meta(self, change: MatrixRoomMeta) -> None:
        """Rename a group, channel or forum topic, or change a group's description or
        photo. Telegram decides who may (``CHAT_ADMIN_REQUIRED`` is explained to the
        user)."""
        chat = self._chat(change.portal)
        if chat.kind == "user":
            raise BridgeError("Private Telegram chats have no name or description to change.")
        client = await self.owner.connected_client()
        peer = await self._peer(chat)
        if change.avatar is not None:
            await self._photo(chat, peer, change.avatar_media)
            return
        request: Any
        if change.name is not None:
            if not change.name.strip():
                raise BridgeError("Telegram chats cannot have an empty name.")
            if chat.topic is not None:
                request = functions.messages.EditForumTopicRequest(
                    peer, chat.topic, title=change.name
                )
            elif chat.kind == "chat":
                request = functions.messages.EditChatTitleRequest(chat.id, change.name)
            else:
                request = functions.channels.EditTitleRequest(peer, change.name)
        elif change.topic is not None:
            if chat.topic is not None:
                raise BridgeError("Telegram forum topics have no description.")
            request = functions.messages.EditChatAboutRequest(peer, change.topic)
        else:
            return

        async def call() -> None:
            try:
                await client(request)
            except (errors.ChatNotModifiedError, errors.ChatAboutNotModifiedError):
                pass  # already so on Telegram (often: the change came from there)

        await self._call("changing the chat's details", chat, call)

    async def _photo(self, chat: ChatRef, peer: Any, picture: MatrixMedia | None) -> None:
        """Set (or, without ``picture``, remove) a group's or channel's photo."""
        if chat.topic is not None:
            raise BridgeError("Telegram forum topics have no photo of their own.")
        if picture is not None and not picture.mimetype.startswith("image/"):
            raise BridgeError("A Telegram chat photo must be an image.")
        client = await self.owner.connected_client()

        async def call() -> None:
            photo: Any = types.InputChatPhotoEmpty()
            if picture is not None:
                extension = picture.mimetype.removeprefix("image/").split("+")[0] or "jpg"
                async with picture.open() as file:
                    uploaded = await client.upload_file(
                        str(file.path), file_size=file.size, file_name=f"photo.{extension}"
                    )
                photo = types.InputChatUploadedPhoto(file=uploaded)
            if chat.kind == "chat":
                await client(functions.messages.EditChatPhotoRequest(chat.id, photo))
            else:
                await client(functions.channels.EditPhotoRequest(peer, photo))

        await self._call("changing the chat photo", chat, call)

    async def _peer(self, chat: ChatRef) -> Any:
        client = await self.owner.connected_client()
        try:
            return await client.get_input_entity(chat.peer)
        except ValueError:
            pass
        # Not in the session (learnt after its last save, say, before a crash): the
        # account's dialogs carry every chat's access hash.
        try:
            await client.get_dialogs(limit=_DIALOGS_FOR_ACCESS_HASHES)
            return await client.get_input_entity(chat.peer)
        except (ValueError, errors.RPCError) as e:
            raise BridgeError(
                "The bridge does not know this Telegram chat yet; send `sync` to the bridge bot "
                "and try again."
            ) from e


def _caption(msg: MatrixMessage) -> str:
    """The caption of a media message: its body, unless that is only the file name."""
    filename = msg.content.get("filename")
    if isinstance(filename, str) and filename and msg.body != filename:
        return msg.body
    return ""


_EXPLAINED: dict[type[Exception], str] = {
    errors.ChatWriteForbiddenError: "You cannot write in this Telegram chat.",
    errors.UserBannedInChannelError: "You are banned from sending messages in this chat.",
    errors.ChatAdminRequiredError: "Only admins of this Telegram chat can do that.",
    errors.MessageTooLongError: f"Telegram messages are {MAX_TEXT} characters at most.",
    errors.MediaCaptionTooLongError: f"Telegram captions are {MAX_CAPTION} characters at most.",
    errors.MessageDeleteForbiddenError: "Telegram does not let you delete that message.",
    errors.MessageAuthorRequiredError: "Only the author of that message can edit it.",
    errors.MessageIdInvalidError: "That message no longer exists on Telegram.",
    errors.ReactionInvalidError: "This Telegram chat does not allow that reaction.",
    errors.UserIsBlockedError: "This user has blocked you on Telegram.",
    errors.PeerIdInvalidError: "Telegram does not know this chat for your account.",
}


def _explain(error: errors.RPCError) -> str:
    for kind, text in _EXPLAINED.items():
        if isinstance(error, kind):
            return text
    return f"Telegram refused it ({error.message})."


def _ms(date: Any) -> int | None:
    return int(date.timestamp() * 1000) if date is not None else None


_GEO_URI = re.compile(r"^geo:(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)(?:[,;].*)?$")


def _geo_point(msg: MatrixMessage) -> Any | None:
    """A Matrix location (``m.location`` with a ``geo:`` URI) as Telegram's geo point."""
    if msg.msgtype != "m.location":
        return None
    match = _GEO_URI.match(str(msg.content.get("geo_uri") or ""))
    if match is None:
        raise BridgeError("This location has no usable geo: URI to send to Telegram.")
    lat, long = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= long <= 180):
        raise BridgeError("This location is not on Earth: Telegram wants real coordinates.")
    return types.InputMediaGeoPoint(types.InputGeoPoint(lat=lat, long=long))


def _is_voice(msg: MatrixMessage) -> bool:
    return msg.msgtype == "m.audio" and "org.matrix.msc3245.voice" in msg.content


def _document_attributes(msg: MatrixMessage) -> list[Any]:
    """What Telegram shows about the file: its name as the sender wrote it (not as
    made safe for disk), a video's size and length, an audio's length and a voice
    message's waveform, from the Matrix event's ``info``."""
    assert msg.media is not None
    attributes: list[Any] = [types.DocumentAttributeFilename(msg.media.filename)]
    info = msg.content.get("info")
    info = info if isinstance(info, dict) else {}
    seconds = _whole(info.get("duration")) // 1000
    if msg.msgtype == "m.video":
        attributes.append(
            types.DocumentAttributeVideo(
                seconds, _whole(info.get("w")), _whole(info.get("h")), supports_streaming=True
            )
        )
    elif msg.msgtype == "m.audio":
        audio = msg.content.get("org.matrix.msc1767.audio")
        audio = audio if isinstance(audio, dict) else {}
        seconds = seconds or _whole(audio.get("duration")) // 1000
        waveform = waveform_of.to_telegram(audio.get("waveform")) if _is_voice(msg) else None
        attributes.append(
            types.DocumentAttributeAudio(seconds, voice=_is_voice(msg) or None, waveform=waveform)
        )
    return attributes


def _whole(value: Any) -> int:
    """A non-negative whole number from an untrusted event field (0 if it is none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))
