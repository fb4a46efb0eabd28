"""What happens when somebody acts: model changes plus the updates they cause.

Both the RPC handlers (a connected client acting) and the test-facing API of
:class:`.server.TelegramTestServer` (a simulated user acting) call these, so a
message sent by a test through the server API and one sent by a real client end
up identical in the model, in the logs and on the wire. This module has the
message-level actions; :mod:`.chat_actions` has groups, channels and topics.

``origin`` is the :class:`.rpc.RpcContext` of the call that caused the action, if
any: that connection gets the ``Updates`` as its result instead of a push.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from . import render
from .rpc import RpcError, bad_request
from .world import BasicGroup, Channel, Chat, Post, Topic, User, now

if TYPE_CHECKING:
    from .rpc import RpcContext
    from .server import TelegramTestServer


def _new_message(post: Post) -> Any:
    def make(viewer: User, entry: Any) -> Any:
        return types.UpdateNewMessage(
            message=render.message(post, viewer), pts=entry.pts, pts_count=entry.pts_count
        )

    return make


def _new_channel_message(post: Post) -> Any:
    def make(viewer: User, entry: Any) -> Any:
        return types.UpdateNewChannelMessage(
            message=render.message(post, viewer), pts=entry.pts, pts_count=entry.pts_count
        )

    return make


def _deleted(ids: list[int]) -> Any:
    def make(viewer: User, entry: Any) -> Any:
        return types.UpdateDeleteMessages(messages=ids, pts=entry.pts, pts_count=entry.pts_count)

    return make


def _read_outbox(peer: Any, max_id: int) -> Any:
    def make(viewer: User, entry: Any) -> Any:
        return types.UpdateReadHistoryOutbox(
            peer=peer, max_id=max_id, pts=entry.pts, pts_count=entry.pts_count
        )

    return make


class Actions:
    """Model mutations that emit updates; see the module docstring."""

    def __init__(self, server: TelegramTestServer) -> None:
        self.world = server.world
        self.hub = server.hub

    # -- helpers ----------------------------------------------------------------

    def holders(self, post: Post) -> list[User]:
        """Accounts that still have ``post`` (in their own box, or as channel members)."""
        if isinstance(post.chat, Channel):
            return self.world.members_of(post.chat)
        return [
            u
            for u in self.world.users.values()
            if u.box in post.ids and post.ids[u.box] in u.box.messages
        ]

    def _check_can_post(self, sender: User, chat: Chat, topic: Topic | None) -> None:
        if isinstance(chat, BasicGroup):
            if sender.id not in chat.members or chat.migrated_to is not None:
                raise RpcError(403, "CHAT_WRITE_FORBIDDEN")
        elif isinstance(chat, Channel):
            member = chat.members.get(sender.id)
            if member is None:
                raise bad_request("CHANNEL_PRIVATE")
            if chat.broadcast and not member.admin:
                raise RpcError(403, "CHAT_ADMIN_REQUIRED")
            if topic is not None and topic.closed and not member.admin:
                raise bad_request("TOPIC_CLOSED")

    # -- messages ---------------------------------------------------------------

    def send(
        self,
        sender: User,
        chat: Chat,
        *,
        text: str = "",
        entities: Sequence[Any] = (),
        media: Any = None,
        action: Any = None,
        reply_to: Post | None = None,
        topic: Topic | None = None,
        fwd_from: Any = None,
        silent: bool = False,
        random_id: int | None = None,
        origin: RpcContext | None = None,
    ) -> tuple[Post, Any]:
        """Post a message (or service message); returns it and the origin's ``Updates``."""
        if action is None:
            self._check_can_post(sender, chat, topic)
        if topic is None and reply_to is not None:
            topic = reply_to.topic
        post = Post(
            chat=chat,
            sender=None if isinstance(chat, Channel) and chat.broadcast else sender,
            author=sender,
            date=now(),
            text=text,
            entities=list(entities),
            media=media,
            action=action,
            reply_to=reply_to,
            topic=topic,
            fwd_from=fwd_from,
            silent=silent,
            random_id=random_id,
        )
        batch = self.hub.batch()
        if isinstance(chat, Channel):
            msg_id = chat.box.allocate_id()
            post.ids[chat.box] = msg_id
            chat.box.messages[msg_id] = post
            batch.channel(chat, _new_channel_message(post), post=post)
        else:
            for user in self.world.audience(post):
                msg_id = user.box.allocate_id()
                post.ids[user.box] = msg_id
                user.box.messages[msg_id] = post
                batch.account(user, _new_message(post), post=post)
        # Sending implies having read the chat up to one's own message.
        own_key = self.world.dialog_key(sender, self.world.chat_of_post_for(sender, post))
        sender.read_inbox[own_key] = post.id_for(sender)
        extra = []
        if random_id is not None:
            extra.append(types.UpdateMessageID(id=post.id_for(sender), random_id=random_id))
        return post, batch.commit(origin, extra)

    def edit(
        self,
        editor: User,
        post: Post,
        *,
        text: str | None = None,
        entities: Sequence[Any] | None = None,
        media: Any = None,
        origin: RpcContext | None = None,
    ) -> Any:
        """Edit a message's text/entities/media; returns the origin's ``Updates``."""
        if post.action is not None:
            raise bad_request("MESSAGE_ID_INVALID")
        is_admin = (
            isinstance(post.chat, Channel)
            and editor.id in post.chat.members
            and (post.chat.members[editor.id].admin)
        )
        if post.author is not editor and not (post.sender is None and is_admin):
            raise RpcError(403, "MESSAGE_AUTHOR_REQUIRED")
        new_text = post.text if text is None else text
        new_entities = list(post.entities) if entities is None else list(entities)
        new_media = post.media if media is None else media
        if new_text == post.text and new_entities == post.entities and new_media is post.media:
            raise bad_request("MESSAGE_NOT_MODIFIED")
        post.text, post.entities, post.media = new_text, new_entities, new_media
        post.edit_date = now()
        batch = self.hub.batch()
        if isinstance(post.chat, Channel):
            batch.channel(
                post.chat,
                lambda v, e: types.UpdateEditChannelMessage(
                    message=render.message(post, v), pts=e.pts, pts_count=e.pts_count
                ),
            )
        else:
            for user in self.holders(post):
                batch.account(
                    user,
                    lambda v, e: types.UpdateEditMessage(
                        message=render.message(post, v), pts=e.pts, pts_count=e.pts_count
                    ),
                )
        return batch.commit(origin)

    def delete(
        self,
        actor: User,
        posts: Iterable[Post],
        *,
        revoke: bool = True,
        origin: RpcContext | None = None,
    ) -> Any:
        """Delete messages; returns ``messages.affectedMessages`` for the actor."""
        posts = list(posts)
        channels = {p.chat for p in posts if isinstance(p.chat, Channel)}
        if channels:
            if len(channels) > 1 or len(channels) != len({p.chat for p in posts}):
                raise bad_request("MESSAGE_IDS_INVALID")
            channel = next(iter(channels))
            assert isinstance(channel, Channel)
            return self._delete_in_channel(actor, channel, posts)
        batch = self.hub.batch()
        holders = self.holders_of_all(posts) if revoke else [actor]
        actor_count = 0
        for user in holders:
            ids = [p.ids[user.box] for p in posts if p.ids.get(user.box) in user.box.messages]
            if not ids:
                continue
            if user is actor:
                actor_count = len(ids)
            for msg_id in ids:
                del user.box.messages[msg_id]
            batch.account(user, _deleted(ids), pts_count=len(ids))
        batch.commit(origin)
        return types.messages.AffectedMessages(pts=actor.box.pts, pts_count=actor_count)

    def holders_of_all(self, posts: Iterable[Post]) -> list[User]:
        """Accounts that hold at least one of ``posts``."""
        seen: dict[int, User] = {}
        for post in posts:
            for user in self.holders(post):
                seen[user.id] = user
        return list(seen.values())

    def _delete_in_channel(self, actor: User, channel: Channel, posts: list[Post]) -> Any:
        member = channel.members.get(actor.id)
        for post in posts:
            if post.author is not actor and not (member and member.admin):
                raise RpcError(403, "MESSAGE_DELETE_FORBIDDEN")
        ids = [
            post.ids[channel.box] for post in posts if post.ids[channel.box] in channel.box.messages
        ]
        for msg_id in ids:
            del channel.box.messages[msg_id]
        batch = self.hub.batch()
        if ids:
            batch.channel(
                channel,
                lambda v, e: types.UpdateDeleteChannelMessages(
                    channel_id=channel.id, messages=ids, pts=e.pts, pts_count=e.pts_count
                ),
                pts_count=len(ids),
            )
        # The caller's own session gets the update pushed too: the RPC result
        # (affectedMessages) does not name the channel.
        batch.commit()
        return types.messages.AffectedMessages(pts=channel.box.pts, pts_count=len(ids))

    def react(
        self, user: User, post: Post, emoji: str | None, *, origin: RpcContext | None = None
    ) -> Any:
        """Set (or with ``None`` remove) ``user``'s reaction; returns the origin's ``Updates``."""
        chat = post.chat
        allowed = None if isinstance(chat, User) else chat.available_reactions
        if emoji is not None and allowed is not None and emoji not in allowed:
            raise bad_request("REACTION_INVALID")
        if emoji is None:
            post.reactions.pop(user.id, None)
        else:
            post.reactions[user.id] = (emoji, now())
        batch = self.hub.batch()
        for holder in self.holders(post):
            batch.plain(
                holder,
                types.UpdateMessageReactions(
                    peer=render.post_peer(post, holder),
                    msg_id=post.id_for(holder),
                    reactions=render.reactions(post, holder) or types.MessageReactions(results=[]),
                    top_msg_id=post.topic.id if post.topic else None,
                ),
            )
        return batch.commit(origin)

    def read(
        self, reader: User, chat: Chat, max_id: int, *, origin: RpcContext | None = None
    ) -> Any:
        """Mark ``chat`` read up to ``max_id`` (in the reader's IDs) and tell the senders."""
        key = self.world.dialog_key(reader, chat)
        previous = reader.read_inbox.get(key, 0)
        posts = self.world.posts_in(reader, chat)
        max_id = min(max_id or 2**31 - 1, max((p.id_for(reader) for p in posts), default=0))
        if max_id <= previous:
            if isinstance(chat, Channel):
                return True
            return types.messages.AffectedMessages(pts=reader.box.pts, pts_count=0)
        reader.read_inbox[key] = max_id
        newly_read = [p for p in posts if previous < p.id_for(reader) <= max_id]
        unread = sum(1 for p in posts if p.id_for(reader) > max_id and p.author is not reader)
        senders = {p.author.id: p.author for p in newly_read if p.author and p.author is not reader}
        batch = self.hub.batch()
        if isinstance(chat, Channel):
            batch.plain(
                reader,
                types.UpdateReadChannelInbox(
                    channel_id=chat.id, max_id=max_id, still_unread_count=unread, pts=chat.box.pts
                ),
            )
            for sender in senders.values():
                batch.plain(
                    sender, types.UpdateReadChannelOutbox(channel_id=chat.id, max_id=max_id)
                )
            batch.commit(origin)
            return True
        batch.account(
            reader,
            lambda v, e: types.UpdateReadHistoryInbox(
                peer=render.peer_of(chat),
                max_id=max_id,
                still_unread_count=unread,
                pts=e.pts,
                pts_count=e.pts_count,
            ),
        )
        for sender in senders.values():
            their_max = max(p.ids[sender.box] for p in newly_read if p.author is sender)
            peer = render.peer_of(reader if isinstance(chat, User) else chat)
            batch.account(sender, _read_outbox(peer, their_max))
        batch.commit(origin)
        return types.messages.AffectedMessages(pts=reader.box.pts, pts_count=1)

    def typing(self, user: User, chat: Chat, action: Any, top_msg_id: int | None = None) -> None:
        """Push a typing notification to the other members of ``chat``."""
        for other in self.world.members_of(chat):
            if other is user:
                continue
            if isinstance(chat, User):
                update: Any = types.UpdateUserTyping(
                    user_id=user.id, action=action, top_msg_id=top_msg_id
                )
            elif isinstance(chat, BasicGroup):
                update = types.UpdateChatUserTyping(
                    chat_id=chat.id, from_id=types.PeerUser(user.id), action=action
                )
            else:
                update = types.UpdateChannelUserTyping(
                    channel_id=chat.id,
                    from_id=types.PeerUser(user.id),
                    action=action,
                    top_msg_id=top_msg_id,
                )
            self.hub.push_short(other, update)

    def pin(
        self, user: User, post: Post, *, unpin: bool = False, origin: RpcContext | None = None
    ) -> Any:
        """Pin or unpin a message; pinning also posts a service message."""
        post.pinned = not unpin
        batch = self.hub.batch()
        if isinstance(post.chat, Channel):
            channel = post.chat
            batch.channel(
                channel,
                lambda v, e: types.UpdatePinnedChannelMessages(
                    channel_id=channel.id,
                    messages=[post.id_for(v)],
                    pts=e.pts,
                    pts_count=e.pts_count,
                    pinned=not unpin,
                ),
            )
        else:
            for holder in self.holders(post):
                batch.account(
                    holder,
                    lambda v, e: types.UpdatePinnedMessages(
                        peer=render.post_peer(post, v),
                        messages=[post.id_for(v)],
                        pts=e.pts,
                        pts_count=e.pts_count,
                        pinned=not unpin,
                    ),
                )
        result = batch.commit(origin)
        if not unpin:
            self.send(
                user,
                post.chat if not isinstance(post.chat, User) else post.private_peer_for(user),
                action=types.MessageActionPinMessage(),
                reply_to=post,
            )
        return result
