"""Messages and what happens to them: send (as a user or through a webhook), edit,
delete, bulk delete, reactions, typing, threads, history queries.

These are the operations both the test (acting as other Discord users) and the REST
routes (acting for a client) use, so a message has one shape however it was made.
"""

from __future__ import annotations

import datetime
import mimetypes
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import wire
from ..entities import (
    Account,
    Attachment,
    Channel,
    Emoji,
    EmojiRef,
    Message,
    Reaction,
    Sticker,
    Webhook,
    WebhookAuthor,
)
from ..events import Event
from ..protocol import ChannelType, ErrorCode, GatewayEventIntent, Intents, MessageType
from ..snowflake import iso_timestamp
from .accounts import image_hash
from .channels import ChannelOps
from .state import UNSET, NotFound, ref_id

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(?:everyone|here)\b")
_CUSTOM_EMOJI = re.compile(r"^<?(a)?:?([\w~]+):(\d+)>?$")


@dataclass
class Upload:
    """A file to attach: name, bytes, optional MIME type (guessed from the name if None)."""

    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None


UploadLike = Upload | tuple[str, bytes] | tuple[str, bytes, str]
EmojiLike = str | Emoji | EmojiRef


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    return None


class MessageOps(ChannelOps):
    """World operations on messages, reactions, typing and threads."""

    # -- building blocks --------------------------------------------------------------

    def store_attachment(self, channel: Channel, upload: UploadLike) -> Attachment:
        """Store an uploaded file for ``channel`` (served by the CDN route)."""
        if not isinstance(upload, Upload):
            upload = Upload(*upload)
        content_type = upload.content_type
        if not content_type or content_type == "application/octet-stream":
            guessed = mimetypes.guess_type(upload.filename)[0]
            content_type = guessed or content_type or "application/octet-stream"
        size = _image_size(upload.data) if content_type.startswith("image/") else None
        att = Attachment(
            id=self.ids.next(),
            channel_id=channel.id,
            filename=upload.filename,
            content_type=content_type,
            data=upload.data,
            description=upload.description,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.attachments[att.id] = att
        return att

    def emoji_ref(self, emoji: EmojiLike) -> EmojiRef:
        """Normalise a unicode emoji, ``name:id`` / ``<:name:id>`` string or Emoji."""
        if isinstance(emoji, EmojiRef):
            return emoji
        if isinstance(emoji, Emoji):
            return EmojiRef(name=emoji.name, id=emoji.id, animated=emoji.animated)
        match = _CUSTOM_EMOJI.match(emoji)
        if match is None:
            return EmojiRef(name=emoji)
        emoji_id = int(match.group(3))
        for guild in self.guilds.values():
            if emoji_id in guild.emojis:
                known = guild.emojis[emoji_id]
                return EmojiRef(name=known.name, id=known.id, animated=known.animated)
        raise NotFound("Emoji", ErrorCode.UNKNOWN_EMOJI)

    def _mentions(
        self,
        channel: Channel,
        content: str,
        allowed: dict[str, Any] | None,
        reference: Message | None,
        may_mention_everyone: bool,
    ) -> tuple[list[int], list[int], bool]:
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
        allowed_users = {int(u) for u in (allowed or {}).get("users", [])}
        allowed_roles = {int(r) for r in (allowed or {}).get("roles", [])}
        users: list[int] = []
        for raw in _USER_MENTION.findall(content):
            uid = int(raw)
            if uid in self.accounts and uid not in users:
                if "users" in parse or uid in allowed_users:
                    users.append(uid)
        roles: list[int] = []
        guild = self.guilds.get(channel.guild_id or 0)
        if guild is not None:
            for raw in _ROLE_MENTION.findall(content):
                rid = int(raw)
                if rid in guild.roles and rid not in roles:
                    if "roles" in parse or rid in allowed_roles:
                        roles.append(rid)
        everyone = bool(
            may_mention_everyone and "everyone" in parse and _EVERYONE_MENTION.search(content)
        )
        replied_user = allowed is None or bool(allowed.get("replied_user", False))
        if reference is not None and replied_user and reference.webhook is None:
            if reference.author_id not in users:
                users.append(reference.author_id)
        return users, roles, everyone

    def _message_event(self, name: str, msg: Message) -> Event:
        intent = GatewayEventIntent.MESSAGES[0 if msg.guild_id else 1]
        return Event(
            name,
            wire.message(self, msg),
            intent=intent,
            channel_id=msg.channel_id,
            content_author_id=msg.author_id,
            content_mentions=frozenset(msg.mentions),
        )

    def _post(self, msg: Message, channel: Channel) -> Message:
        self.messages[msg.id] = msg
        self.channel_message_ids.setdefault(channel.id, []).append(msg.id)
        channel.last_message_id = msg.id
        if channel.is_thread:
            channel.message_count += 1
            channel.total_message_sent += 1
            if msg.webhook is None and msg.author_id not in channel.thread_member_ids:
                channel.thread_member_ids.append(msg.author_id)
            if channel.archived and not channel.locked:
                self.update_channel(channel, archived=False)
        self.emit(self._message_event("MESSAGE_CREATE", msg))
        return msg

    # -- sending ----------------------------------------------------------------------

    def send_message(
        self,
        author: Account,
        channel: Channel,
        content: str = "",
        *,
        attachments: Iterable[UploadLike | Attachment] = (),
        embeds: Iterable[dict[str, Any]] = (),
        reference: Message | None = None,
        sticker: Sticker | None = None,
        stickers: Iterable[Sticker] = (),
        allowed_mentions: dict[str, Any] | None = None,
        nonce: str | int | None = None,
        tts: bool = False,
        flags: int = 0,
        components: Sequence[dict[str, Any]] = (),
        may_mention_everyone: bool = True,
    ) -> Message:
        """Post a message as ``author`` and dispatch MESSAGE_CREATE to who can see it.

        ``reference`` makes it a reply. Mentions are parsed from ``content`` and
        filtered by ``allowed_mentions`` like Discord does. No permission checks: the
        test acting as Discord may post anywhere (REST routes check before calling).
        """
        sticker_ids = [s.id for s in stickers] + ([sticker.id] if sticker else [])
        users, roles, everyone = self._mentions(
            channel, content, allowed_mentions, reference, may_mention_everyone
        )
        msg = Message(
            id=self.ids.next(),
            channel_id=channel.id,
            author_id=author.id,
            content=content,
            guild_id=channel.guild_id,
            type=MessageType.REPLY if reference else MessageType.DEFAULT,
            attachments=[
                a if isinstance(a, Attachment) else self.store_attachment(channel, a)
                for a in attachments
            ],
            embeds=[dict(e) for e in embeds],
            mentions=users,
            mention_roles=roles,
            mention_everyone=everyone,
            reference=self._reference(reference),
            sticker_ids=sticker_ids,
            application_id=author.application_id,
            nonce=nonce,
            tts=tts,
            flags=flags,
            components=list(components),
            allowed_mentions=allowed_mentions,
        )
        return self._post(msg, channel)

    def _reference(self, reference: Message | None) -> dict[str, Any] | None:
        if reference is None:
            return None
        ref: dict[str, Any] = {
            "type": 0,
            "message_id": str(reference.id),
            "channel_id": str(reference.channel_id),
        }
        if reference.guild_id is not None:
            ref["guild_id"] = str(reference.guild_id)
        return ref

    def execute_webhook(
        self,
        hook: Webhook,
        content: str = "",
        *,
        username: str | None = None,
        avatar_url: str | None = None,
        attachments: Iterable[UploadLike | Attachment] = (),
        embeds: Iterable[dict[str, Any]] = (),
        thread: Channel | None = None,
        allowed_mentions: dict[str, Any] | None = None,
        flags: int = 0,
        tts: bool = False,
    ) -> Message:
        """Post through ``hook`` (into ``thread`` if given) with a per-message name and
        avatar; the message's author is the webhook and it carries ``webhook_id``."""
        channel = thread or self.channel(hook.channel_id)
        users, roles, everyone = self._mentions(channel, content, allowed_mentions, None, True)
        author = WebhookAuthor(
            webhook_id=hook.id,
            username=username or hook.name,
            avatar_url=avatar_url,
            avatar=image_hash(avatar_url.encode()) if avatar_url else hook.avatar,
        )
        msg = Message(
            id=self.ids.next(),
            channel_id=channel.id,
            author_id=hook.id,
            content=content,
            guild_id=channel.guild_id,
            attachments=[
                a if isinstance(a, Attachment) else self.store_attachment(channel, a)
                for a in attachments
            ],
            embeds=[dict(e) for e in embeds],
            mentions=users,
            mention_roles=roles,
            mention_everyone=everyone,
            webhook=author,
            application_id=hook.application_id,
            flags=flags,
            tts=tts,
            allowed_mentions=allowed_mentions,
        )
        return self._post(msg, channel)

    # -- changing ---------------------------------------------------------------------

    def edit_message(
        self,
        message: Message,
        content: Any = UNSET,
        *,
        embeds: Any = UNSET,
        attachments: Any = UNSET,
        flags: Any = UNSET,
        allowed_mentions: Any = UNSET,
    ) -> Message:
        """Edit a message and dispatch MESSAGE_UPDATE with the full new message.

        ``attachments`` is the complete new list: kept :class:`Attachment` objects and
        new uploads.
        """
        channel = self.channel(message.channel_id)
        if allowed_mentions is not UNSET:
            message.allowed_mentions = allowed_mentions
        if content is not UNSET:
            message.content = content or ""
            reference = None
            if message.reference is not None:
                reference = self.messages.get(int(message.reference["message_id"]))
            users, roles, everyone = self._mentions(
                channel, message.content, message.allowed_mentions, reference, True
            )
            message.mentions, message.mention_roles, message.mention_everyone = (
                users,
                roles,
                everyone,
            )
        if embeds is not UNSET:
            message.embeds = [dict(e) for e in embeds or []]
        if attachments is not UNSET:
            message.attachments = [
                a if isinstance(a, Attachment) else self.store_attachment(channel, a)
                for a in attachments or []
            ]
        if flags is not UNSET:
            message.flags = flags
        message.edited_timestamp = datetime.datetime.now(tz=datetime.UTC)
        self.emit(self._message_event("MESSAGE_UPDATE", message))
        return message

    def delete_message(self, message: Message) -> None:
        """Delete a message and dispatch MESSAGE_DELETE."""
        message.deleted = True
        payload: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        intent = GatewayEventIntent.MESSAGES[0 if message.guild_id else 1]
        self.emit(Event("MESSAGE_DELETE", payload, intent=intent, channel_id=message.channel_id))

    def bulk_delete(self, messages: Sequence[Message]) -> None:
        """Delete messages of one channel at once and dispatch MESSAGE_DELETE_BULK."""
        if not messages:
            return
        channel_id = messages[0].channel_id
        if any(m.channel_id != channel_id for m in messages):
            raise ValueError("bulk_delete takes messages of a single channel")
        for m in messages:
            m.deleted = True
        payload: dict[str, Any] = {
            "ids": [str(m.id) for m in messages],
            "channel_id": str(channel_id),
        }
        guild_id = messages[0].guild_id
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
        self.emit(
            Event(
                "MESSAGE_DELETE_BULK",
                payload,
                intent=Intents.GUILD_MESSAGES,
                channel_id=channel_id,
            )
        )

    def pin_message(self, message: Message, pinned: bool = True) -> None:
        """Pin or unpin a message (MESSAGE_UPDATE and CHANNEL_PINS_UPDATE)."""
        message.pinned = pinned
        message.pinned_at = datetime.datetime.now(tz=datetime.UTC) if pinned else None
        self.emit(self._message_event("MESSAGE_UPDATE", message))
        payload: dict[str, Any] = {
            "channel_id": str(message.channel_id),
            "last_pin_timestamp": iso_timestamp() if pinned else None,
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        intent = GatewayEventIntent.MESSAGES[0 if message.guild_id else 1]
        self.emit(
            Event("CHANNEL_PINS_UPDATE", payload, intent=intent, channel_id=message.channel_id)
        )

    # -- reactions and typing ---------------------------------------------------------

    def _reaction_payload(
        self, account: Account, message: Message, ref: EmojiRef
    ) -> dict[str, Any]:
        emoji: dict[str, Any] = {"id": str(ref.id) if ref.id else None, "name": ref.name}
        if ref.animated:
            emoji["animated"] = True
        payload: dict[str, Any] = {
            "user_id": str(account.id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "emoji": emoji,
            "burst": False,
            "type": 0,
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        return payload

    def add_reaction(self, account: Account, message: Message, emoji: EmojiLike) -> EmojiRef:
        """React as ``account``; MESSAGE_REACTION_ADD unless it had reacted already."""
        ref = self.emoji_ref(emoji)
        reaction = next((r for r in message.reactions if r.emoji == ref), None)
        if reaction is None:
            reaction = Reaction(emoji=ref)
            message.reactions.append(reaction)
        if account.id in reaction.user_ids:
            return ref
        reaction.user_ids.append(account.id)
        payload = self._reaction_payload(account, message, ref)
        payload["message_author_id"] = str(message.author_id)
        payload["burst_colors"] = []
        guild = self.guilds.get(message.guild_id or 0)
        if guild is not None and account.id in guild.members:
            payload["member"] = wire.member(self, guild.members[account.id])
        intent = GatewayEventIntent.REACTIONS[0 if message.guild_id else 1]
        self.emit(
            Event("MESSAGE_REACTION_ADD", payload, intent=intent, channel_id=message.channel_id)
        )
        return ref

    def remove_reaction(self, account: Account, message: Message, emoji: EmojiLike) -> bool:
        """Withdraw ``account``'s reaction; MESSAGE_REACTION_REMOVE if there was one."""
        ref = self.emoji_ref(emoji)
        reaction = next((r for r in message.reactions if r.emoji == ref), None)
        if reaction is None or account.id not in reaction.user_ids:
            return False
        reaction.user_ids.remove(account.id)
        if not reaction.user_ids:
            message.reactions.remove(reaction)
        payload = self._reaction_payload(account, message, ref)
        intent = GatewayEventIntent.REACTIONS[0 if message.guild_id else 1]
        self.emit(
            Event("MESSAGE_REACTION_REMOVE", payload, intent=intent, channel_id=message.channel_id)
        )
        return True

    def clear_reactions(self, message: Message, emoji: EmojiLike | None = None) -> None:
        """Remove all reactions (REMOVE_ALL) or all of one emoji (REMOVE_EMOJI)."""
        payload: dict[str, Any] = {
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        intent = GatewayEventIntent.REACTIONS[0 if message.guild_id else 1]
        if emoji is None:
            message.reactions.clear()
            name = "MESSAGE_REACTION_REMOVE_ALL"
        else:
            ref = self.emoji_ref(emoji)
            message.reactions = [r for r in message.reactions if r.emoji != ref]
            payload["emoji"] = {"id": str(ref.id) if ref.id else None, "name": ref.name}
            name = "MESSAGE_REACTION_REMOVE_EMOJI"
        self.emit(Event(name, payload, intent=intent, channel_id=message.channel_id))

    def start_typing(self, account: Account, channel: Channel) -> None:
        """``account`` starts typing in ``channel``: TYPING_START."""
        payload: dict[str, Any] = {
            "channel_id": str(channel.id),
            "user_id": str(account.id),
            "timestamp": int(datetime.datetime.now(tz=datetime.UTC).timestamp()),
        }
        guild = self.guilds.get(channel.guild_id or 0)
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            if account.id in guild.members:
                payload["member"] = wire.member(self, guild.members[account.id])
        intent = GatewayEventIntent.TYPING[0 if guild else 1]
        self.emit(Event("TYPING_START", payload, intent=intent, channel_id=channel.id))

    # -- threads ----------------------------------------------------------------------

    def create_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: Account,
        starter: Message | None = None,
        private: bool = False,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        """Start a thread in ``parent`` and dispatch THREAD_CREATE.

        From a ``starter`` message the thread takes the message's ID (as on Discord);
        otherwise a public thread announces itself in ``parent`` with a THREAD_CREATED
        system message.
        """
        if starter is not None and starter.thread_id is not None:
            raise ValueError("a thread has already been created for this message")
        kind = ChannelType.PRIVATE_THREAD if private else ChannelType.PUBLIC_THREAD
        thread = Channel(
            id=starter.id if starter else self.ids.next(),
            type=kind,
            guild_id=parent.guild_id,
            name=name,
            parent_id=parent.id,
            owner_id=owner.id,
            auto_archive_duration=auto_archive_duration,
            thread_member_ids=[owner.id],
        )
        self.channels[thread.id] = thread
        self.channel_message_ids[thread.id] = []
        if starter is not None:
            starter.thread_id = thread.id
        payload = wire.channel(self, thread)
        payload["newly_created"] = True
        self.emit(Event("THREAD_CREATE", payload, intent=Intents.GUILDS, channel_id=thread.id))
        if starter is None and not private:
            notice = Message(
                id=self.ids.next(),
                channel_id=parent.id,
                author_id=owner.id,
                content=name,
                guild_id=parent.guild_id,
                type=MessageType.THREAD_CREATED,
                reference={"channel_id": str(thread.id), "guild_id": str(parent.guild_id)},
                thread_id=thread.id,
            )
            self._post(notice, parent)
        return thread

    def join_thread(self, thread: Channel, account: Account) -> None:
        """Add ``account`` to a thread's members (needed to see a private thread)."""
        if account.id not in thread.thread_member_ids:
            thread.thread_member_ids.append(account.id)

    # -- history ----------------------------------------------------------------------

    def history(
        self,
        channel: Channel,
        *,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """Messages as ``GET /channels/{id}/messages`` returns them: newest first.

        ``after`` yields the ``limit`` messages right after that ID, ``before`` those
        right before it, ``around`` half on each side.
        """
        ordered = self.messages_in(channel)
        if around is not None:
            older = [m for m in ordered if m.id <= around][-((limit + 1) // 2) :]
            newer = [m for m in ordered if m.id > around][: limit // 2]
            picked = older + newer
        elif after is not None:
            picked = [m for m in ordered if m.id > after][:limit]
        else:
            if before is not None:
                ordered = [m for m in ordered if m.id < before]
            picked = ordered[-limit:] if limit else []
        return list(reversed(picked))

    def find_messages(self, channel: Channel | int, **match: Any) -> list[Message]:
        """Live messages of a channel whose attributes equal ``match`` (a test helper)."""
        return [
            m
            for m in self.messages_in(ref_id(channel))
            if all(getattr(m, key) == value for key, value in match.items())
        ]
