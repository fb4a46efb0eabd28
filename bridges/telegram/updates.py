"""Telegram updates → the core's remote events.

Telethon calls these handlers one update at a time, in Telegram's order
(``sequential_updates``); each handler only builds events and queues them, so the
update loop never waits for Matrix. Message content is converted later, in the
portal's queue (see ``to_matrix``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telethon import errors, events
from telethon.tl import types

from bridgekit.network import (
    ChatInfo,
    ConvertedMessage,
    ConvertedPart,
    EmojiID,
    EventSender,
    MediaUploader,
    MessageID,
    PortalKey,
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

from .chat_info import user_info
from .ids import GENERAL_TOPIC, ChatRef, message_id, user_id
from .to_matrix import ConvertContext, convert_message

if TYPE_CHECKING:
    from .client import TelegramNetworkClient

log = logging.getLogger("bridgekit.telegram.updates")

_RESYNC_ACTIONS = (
    types.MessageActionChatAddUser,
    types.MessageActionChatDeleteUser,
    types.MessageActionChatJoinedByLink,
    types.MessageActionChatJoinedByRequest,
    types.MessageActionChatEditPhoto,
    types.MessageActionChatDeletePhoto,
)


class UpdateHandlers:
    """The Telethon event handlers of one login."""

    def __init__(self, owner: TelegramNetworkClient) -> None:
        self.owner = owner
        self.login = owner.login
        self.store = owner.store
        self._forums: dict[int, bool] = {}

    def register(self, client: Any) -> None:
        client.add_event_handler(self._guard(self.on_message), events.NewMessage())
        client.add_event_handler(self._guard(self.on_edit), events.MessageEdited())
        client.add_event_handler(self._guard(self.on_raw), events.Raw())

    def _guard(self, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        # Telethon only logs a failing handler; say which login it was.
        @functools.wraps(handler)
        async def guarded(event: Any) -> None:
            try:
                await handler(event)
            except Exception:
                log.exception("Could not handle a Telegram update of login %s", self.login.id)

        return guarded

    # Messages ---------------------------------------------------------------------------

    def _context(self, chat: ChatRef) -> ConvertContext:
        migrated = self.owner.connector.migrations.is_migrated(chat)
        return ConvertContext(
            self.owner.telegram, self.owner.settings, self.owner.mentions, migrated=migrated
        )

    def _sender(self, message: Any) -> EventSender:
        if message.out:
            return EventSender(user_id(self.owner.me_id), is_from_me=True)
        sender_id = message.sender_id
        if sender_id is None:
            return EventSender()
        entity = message.sender
        return EventSender(
            user_id(sender_id),
            is_from_me=sender_id == self.owner.me_id,
            user_info=user_info(entity) if entity is not None else None,
        )

    async def _in_topic(self, chat: ChatRef) -> ChatRef:
        """``chat``, or its "General" topic when it is a forum: messages there carry no
        topic, but the forum itself is a space."""
        if chat.kind != "channel" or chat.topic is not None:
            return chat
        forum = self._forums.get(chat.id)
        if forum is None:
            client = self.owner.telegram
            try:
                entity = await client.get_entity(chat.peer) if client is not None else None
            except (ValueError, errors.RPCError) as e:
                log.debug("Could not tell whether channel %s is a forum: %s", chat.id, e)
                entity = None
            forum = bool(getattr(entity, "forum", False))
            if entity is not None:
                self._forums[chat.id] = forum
        return chat.in_topic(GENERAL_TOPIC) if forum else chat

    async def _chat_of_message(self, message: Any) -> ChatRef:
        entity = getattr(message, "chat", None)
        if isinstance(entity, types.Channel):
            self._forums[entity.id] = bool(entity.forum)  # fresh from the update
        return await self._in_topic(ChatRef.of_message(message))

    def _key(self, chat: ChatRef) -> PortalKey:
        return self.owner.connector.migrations.portal_key(chat, self.login.id)

    def _mid(self, chat: ChatRef, telegram_id: int) -> MessageID:
        return self.owner.connector.migrations.message_id(chat, telegram_id)

    async def on_message(self, event: Any) -> None:
        message = event.message
        chat = await self._chat_of_message(message)
        key = self._key(chat)
        if not chat.is_shared:
            await self.store.remember_message_chat(self.login.id, message.id, key.id)
        elif chat.topic is not None:
            await self.store.remember_topic_message(chat.id, message.id, chat.topic)
        convert = functools.partial(convert_message, self._context(chat), message)
        await self._queue(
            RemoteMessage(
                portal=key,
                sender=self._sender(message),
                id=self._mid(chat, message.id),
                convert=convert,
                timestamp_ms=_ms(message.date),
            )
        )

    async def on_edit(self, event: Any) -> None:
        message = event.message
        if message.edit_date is None:
            return  # reactions and view counts arrive as edits too
        chat = await self._chat_of_message(message)
        if self.owner.connector.edit_echoes.is_echo(chat, message.id, message.message or ""):
            return
        convert = functools.partial(convert_message, self._context(chat), message)
        await self._queue(
            RemoteEdit(
                portal=self._key(chat),
                sender=self._sender(message),
                target=self._mid(chat, message.id),
                convert=convert,
                timestamp_ms=_ms(message.edit_date),
            )
        )

    # Everything else ----------------------------------------------------------------------

    async def on_raw(self, update: Any) -> None:
        if isinstance(update, types.UpdateNewMessage | types.UpdateNewChannelMessage):
            if isinstance(update.message, types.MessageService):
                await self._service_message(update.message)
        elif isinstance(update, types.UpdateDeleteChannelMessages):
            channel = ChatRef("channel", update.channel_id)
            for msg_id in update.messages:
                topic = await self.store.message_topic(update.channel_id, msg_id)
                chat = await self._in_topic(channel.in_topic(topic) if topic else channel)
                key = self._key(chat)
                target = self._mid(chat, msg_id)
                await self._queue(RemoteMessageRemove(portal=key, target=target))
        elif isinstance(update, types.UpdateDeleteMessages):
            for msg_id in update.messages:
                portal_id = await self.store.message_chat(self.login.id, msg_id)
                if portal_id is not None:
                    key = PortalKey(portal_id, self.login.id)
                    await self._queue(RemoteMessageRemove(portal=key, target=message_id(msg_id)))
        elif isinstance(update, types.UpdateMessageReactions):
            await self._reactions(update)
        elif isinstance(update, types.UpdateUserTyping):
            await self._typing(ChatRef("user", update.user_id), update.user_id, update.action)
        elif isinstance(update, types.UpdateChatUserTyping | types.UpdateChannelUserTyping):
            chat = (
                ChatRef("chat", update.chat_id)
                if isinstance(update, types.UpdateChatUserTyping)
                else ChatRef("channel", update.channel_id, update.top_msg_id)
            )
            if isinstance(update.from_id, types.PeerUser):
                chat = await self._in_topic(chat)
                await self._typing(chat, update.from_id.user_id, update.action)
        elif isinstance(update, types.UpdatePinnedMessages):
            chat = ChatRef.from_peer(update.peer)
            await self._pins(self._key(chat), chat, update.messages, update.pinned)
        elif isinstance(update, types.UpdatePinnedChannelMessages):
            channel = ChatRef("channel", update.channel_id)
            for msg_id in update.messages:
                topic = await self.store.message_topic(update.channel_id, msg_id)
                chat = await self._in_topic(channel.in_topic(topic) if topic else channel)
                await self._pins(self._key(chat), chat, [msg_id], update.pinned)
        elif isinstance(update, types.UpdateUserStatus):
            await self._presence(update.user_id, update.status)
        elif isinstance(update, types.UpdateReadHistoryOutbox):
            chat = ChatRef.from_peer(update.peer)
            # Only a private chat says who read: the other side.
            if chat.kind == "user":
                await self._queue(
                    RemoteReadReceipt(
                        portal=chat.portal_key(self.login.id),
                        sender=EventSender(user_id(chat.id)),
                        target=message_id(update.max_id),
                    )
                )

    async def _pins(
        self, key: PortalKey, chat: ChatRef, message_ids: list[int], pinned: bool
    ) -> None:
        """Pins and unpins keep the room's pinned events in step (the pin's service
        message also becomes a notice, which says who pinned)."""
        ids = [self._mid(chat, msg_id) for msg_id in message_ids]
        if pinned:
            await self._queue(RemotePinChange(portal=key, pinned=ids))
        else:
            await self._queue(RemotePinChange(portal=key, unpinned=ids))

    async def _presence(self, telegram_id: int, status: Any) -> None:
        """Online is online; every other status (offline, "recently", "last week", and
        a hidden last-seen time) is offline."""
        if telegram_id == self.owner.me_id:
            return
        online = isinstance(status, types.UserStatusOnline)
        await self._queue(
            RemotePresence(
                # Any portal key of the login does; the private chat's is at hand.
                portal=ChatRef("user", telegram_id).portal_key(self.login.id),
                sender=EventSender(user_id(telegram_id)),
                presence="online" if online else "offline",
            )
        )

    async def _service_message(self, message: Any) -> None:
        action = message.action
        chat = await self._chat_of_message(message)
        key = self._key(chat)
        if isinstance(action, types.MessageActionChatEditTitle):
            key = self._key(chat.forum)
            await self._queue(RemoteChatInfoChange(portal=key, info=ChatInfo(name=action.title)))
        elif isinstance(action, types.MessageActionTopicEdit) and action.title:
            if chat.topic is not None:
                await self._queue(
                    RemoteChatInfoChange(portal=key, info=ChatInfo(name=action.title))
                )
        elif isinstance(action, types.MessageActionPinMessage):
            await self._pin_notice(message, chat)
        elif isinstance(action, types.MessageActionChatMigrateTo):
            await self.owner.connector.migrations.add(action.channel_id, key)
            await self._queue(RemoteChatResync(portal=key, create=False))
        elif isinstance(action, _RESYNC_ACTIONS):
            await self._queue(RemoteChatResync(portal=key, create=False))
            if chat.topic is not None:  # the forum's space has the members and photo too
                forum = self._key(chat.forum)
                await self._queue(RemoteChatResync(portal=forum, create=False))
        else:
            text = describe_action(action)
            if text is not None:
                await self._queue(
                    RemoteMessage.text(
                        key,
                        self._sender(message),
                        self._mid(chat, message.id),
                        text,
                        msgtype="m.notice",
                        timestamp_ms=_ms(message.date),
                    )
                )

    async def _pin_notice(self, message: Any, chat: ChatRef) -> None:
        """A pin becomes a notice that replies to the pinned message."""
        header = message.reply_to
        if not isinstance(header, types.MessageReplyHeader) or header.reply_to_msg_id is None:
            return
        pinned = self._mid(chat, header.reply_to_msg_id)

        async def convert(uploader: MediaUploader) -> ConvertedMessage:
            content = {"msgtype": "m.notice", "body": "pinned a message"}
            return ConvertedMessage([ConvertedPart(content)], reply_to=pinned)

        await self._queue(
            RemoteMessage(
                portal=self._key(chat),
                sender=self._sender(message),
                id=self._mid(chat, message.id),
                convert=convert,
                timestamp_ms=_ms(message.date),
            )
        )

    async def _typing(self, chat: ChatRef, telegram_user: int, action: Any) -> None:
        if telegram_user == self.owner.me_id:
            return
        stopped = isinstance(action, types.SendMessageCancelAction)
        await self._queue(
            RemoteTyping(
                portal=self._key(chat),
                sender=EventSender(user_id(telegram_user)),
                timeout_s=0 if stopped else 6,
            )
        )

    async def _reactions(self, update: Any) -> None:
        recent = update.reactions.recent_reactions
        if recent is None and update.reactions.results:
            return  # Telegram did not say who reacted
        chat = await self._in_topic(ChatRef.from_peer(update.peer).in_topic(update.top_msg_id))
        key = self._key(chat)
        target = self._mid(chat, update.msg_id)
        now: set[tuple[str, str]] = set()
        for reaction in recent or []:
            if isinstance(reaction.peer_id, types.PeerUser) and isinstance(
                reaction.reaction, types.ReactionEmoji
            ):
                now.add((str(reaction.peer_id.user_id), reaction.reaction.emoticon))
        before = await self.store.reactions(key, target)
        if now == before:
            return
        await self.store.save_reactions(key, target, now)
        for reactor, emoji in sorted(before - now):
            await self._queue(
                RemoteReactionRemove(
                    portal=key,
                    sender=self._reactor(reactor),
                    target=target,
                    emoji_id=EmojiID(emoji),
                )
            )
        for reactor, emoji in sorted(now - before):
            await self._queue(
                RemoteReaction(
                    portal=key, sender=self._reactor(reactor), target=target, emoji=emoji
                )
            )

    def _reactor(self, telegram_user: str) -> EventSender:
        return EventSender(user_id(int(telegram_user)), int(telegram_user) == self.owner.me_id)

    async def _queue(self, event: RemoteEvent) -> None:
        self.owner.checkpoints.track(event)
        await self.login.queue_remote_event(event)


def _ms(date: Any) -> int | None:
    return int(date.timestamp() * 1000) if date is not None else None


def describe_action(action: Any) -> str | None:
    """A service message that changes nothing on Matrix, as the notice its sender's
    ghost posts (``None``: nothing worth saying, or already shown otherwise)."""
    if isinstance(action, types.MessageActionGroupCall):
        if action.duration is None:
            return "started a video chat"
        return f"ended the video chat ({_duration(action.duration)})"
    if isinstance(action, types.MessageActionGroupCallScheduled):
        when = action.schedule_date.strftime("%Y-%m-%d %H:%M UTC")
        return f"scheduled a video chat for {when}"
    if isinstance(action, types.MessageActionPhoneCall):
        kind = "video call" if action.video else "call"
        if isinstance(action.reason, types.PhoneCallDiscardReasonMissed):
            return f"missed {kind}"
        if action.duration:
            return f"{kind} ({_duration(action.duration)})"
        return f"{kind}, not answered"
    if isinstance(action, types.MessageActionScreenshotTaken):
        return "took a screenshot"
    if isinstance(action, types.MessageActionContactSignUp):
        return "joined Telegram"
    if isinstance(action, types.MessageActionSetMessagesTTL):
        if not action.period:
            return "turned off auto-delete"
        return f"set messages to auto-delete after {_duration(action.period)}"
    if isinstance(action, types.MessageActionGameScore):
        return f"scored {action.score} in a game"
    if isinstance(action, types.MessageActionCustomAction):
        return str(action.message) or None
    return None


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
