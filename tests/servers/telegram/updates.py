"""Update bookkeeping: pts logs, pushing ``Updates`` to connected clients, differences.

Every change that advances a box's pts goes through an :class:`UpdateBatch`: it
logs the change in the box (so ``getDifference``/``getChannelDifference`` can replay
it), renders it for each account that sees it, and on :meth:`UpdateBatch.commit`
pushes one ``Updates`` per account to that account's connections. The connection
that made the call gets the same ``Updates`` as its RPC result instead of a push.

Per-account ``seq`` advances with every ``Updates`` that carries common-box (pts)
updates; channel-only ``Updates`` carry ``seq = 0``, as Telegram does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from . import render
from .rpc import RpcError
from .world import Channel, LogEntry, MessageBox, User, World, now

if TYPE_CHECKING:
    from .connection import MTProtoConnection
    from .rpc import RpcContext
    from .server import TelegramTestServer

log = logging.getLogger("bridgekit.tests.telegram_server.updates")

Render = Callable[[User, LogEntry], Any]

# Above this many pending updates of one channel, getDifference sends
# updateChannelTooLong and lets the client call getChannelDifference.
CHANNEL_INLINE_LIMIT = 20


class UpdateBatch:
    """The updates of one action, collected per account and pushed together."""

    def __init__(self, hub: UpdateHub) -> None:
        self._hub = hub
        self._per_user: dict[User, list[Any]] = {}
        self._with_pts: set[User] = set()

    def account(self, user: User, make: Render, pts_count: int = 1, post: Any = None) -> LogEntry:
        """Log a common-box update for ``user`` (advancing their pts) and queue it."""
        entry = _log(user.box, make, pts_count, post)
        user.date = entry.date
        rendered = make(user, entry)
        if rendered is not None:
            self._per_user.setdefault(user, []).append(rendered)
            self._with_pts.add(user)
        return entry

    def channel(
        self,
        channel: Channel,
        make: Render,
        pts_count: int = 1,
        post: Any = None,
        audience: Iterable[User] | None = None,
    ) -> LogEntry:
        """Log a channel update (advancing the channel's pts) and queue it for its members."""
        entry = _log(channel.box, make, pts_count, post)
        members = self._hub.world.members_of(channel) if audience is None else audience
        for member in members:
            rendered = make(member, entry)
            if rendered is not None:
                self._per_user.setdefault(member, []).append(rendered)
        return entry

    def plain(self, user: User, update: Any) -> None:
        """Queue an update without pts (reactions, typing, status...)."""
        self._per_user.setdefault(user, []).append(update)

    def commit(self, origin: RpcContext | None = None, origin_extra: Iterable[Any] = ()) -> Any:
        """Push everything; return the ``Updates`` answering the origin call (if any)."""
        origin_user = origin.user_or_none if origin else None
        result = None
        date = render.ts(now())
        for user, updates in self._per_user.items():
            extra = list(origin_extra) if user is origin_user else []
            short = _shorten(updates) if self._hub.short_updates else None
            if short is not None:
                # Short updates carry no seq, so they do not advance it.
                if user is origin_user:
                    assert origin is not None
                    result = _short_sent(short) if extra else short
                    self._hub.push(user, short, exclude=origin.connection)
                else:
                    self._hub.push(user, short)
                continue
            seq = 0
            if user in self._with_pts:
                user.seq += 1
                seq = user.seq
            users, chats = render.entities_for(self._hub.world, user, [*extra, *updates])
            pushed = types.Updates(updates=updates, users=users, chats=chats, date=date, seq=seq)
            if user is origin_user:
                assert origin is not None
                result = types.Updates(
                    updates=[*extra, *updates], users=users, chats=chats, date=date, seq=seq
                )
                self._hub.push(user, pushed, exclude=origin.connection)
            else:
                self._hub.push(user, pushed)
        if origin_user is not None and result is None:
            extra = list(origin_extra)
            users, chats = render.entities_for(self._hub.world, origin_user, extra)
            result = types.Updates(updates=extra, users=users, chats=chats, date=date, seq=0)
        return result


def _shorten(updates: list[Any]) -> Any:
    """``updateShortMessage``/``updateShortChatMessage`` for one plain new message, or None."""
    if len(updates) != 1 or not isinstance(updates[0], types.UpdateNewMessage):
        return None
    update = updates[0]
    message = update.message
    if not isinstance(message, types.Message) or message.media is not None:
        return None
    common: dict[str, Any] = dict(
        id=message.id,
        message=message.message,
        pts=update.pts,
        pts_count=update.pts_count,
        date=message.date,
        out=message.out,
        mentioned=message.mentioned,
        silent=message.silent,
        fwd_from=message.fwd_from,
        reply_to=message.reply_to,
        entities=message.entities,
    )
    if isinstance(message.peer_id, types.PeerUser):
        return types.UpdateShortMessage(user_id=message.peer_id.user_id, **common)
    if isinstance(message.peer_id, types.PeerChat) and message.from_id is not None:
        return types.UpdateShortChatMessage(
            from_id=message.from_id.user_id, chat_id=message.peer_id.chat_id, **common
        )
    return None


def _short_sent(short: Any) -> Any:
    return types.UpdateShortSentMessage(
        id=short.id,
        pts=short.pts,
        pts_count=short.pts_count,
        date=short.date,
        out=True,
        entities=short.entities,
    )


def _log(box: MessageBox, make: Render, pts_count: int, post: Any) -> LogEntry:
    box.pts += pts_count
    entry = LogEntry(pts=box.pts, pts_count=pts_count, date=now(), render=make, post=post)
    box.log.append(entry)
    return entry


class UpdateHub:
    """Routes updates to connections and answers difference requests."""

    def __init__(self, server: TelegramTestServer) -> None:
        self._server = server
        self.world: World = server.world
        # Largest number of common-box updates in one getDifference answer.
        self.difference_limit = 100

    @property
    def short_updates(self) -> bool:
        """Whether plain text messages go out as ``updateShort*Message`` (see the server)."""
        return self._server.short_updates

    def batch(self) -> UpdateBatch:
        """Start collecting the updates of one action."""
        return UpdateBatch(self)

    def connections_of(self, user: User) -> list[MTProtoConnection]:
        """Open connections whose auth key is signed in as ``user``."""
        return [
            conn
            for conn in self._server.connections
            if conn.is_open and conn.auth is not None and conn.auth.user_id == user.id
        ]

    def push(self, user: User, obj: Any, exclude: MTProtoConnection | None = None) -> int:
        """Send ``obj`` to every connection of ``user`` that wants updates; returns the count."""
        if self._server.faults.should_withhold(user):
            log.debug("withholding %s from user %d", type(obj).__name__, user.id)
            return 0
        sent = 0
        for conn in self.connections_of(user):
            if conn is not exclude and conn.wants_updates and conn.push(obj):
                sent += 1
        return sent

    def push_short(self, user: User, update: Any) -> int:
        """Push one pts-less update as ``updateShort``."""
        return self.push(user, types.UpdateShort(update=update, date=render.ts(now())))

    def push_to_auth_key(self, key_id: int, update: Any) -> None:
        """Push an ``updateShort`` to the connections of one auth key (signed in or not)."""
        short = types.UpdateShort(update=update, date=render.ts(now()))
        for conn in self._server.connections:
            if conn.is_open and conn.auth is not None and conn.auth.key_id == key_id:
                conn.push(short)

    def state(self, user: User) -> Any:
        """``updates.State`` of an account."""
        return types.updates.State(
            pts=user.box.pts, qts=user.qts, date=render.ts(now()), seq=user.seq, unread_count=0
        )

    # -- differences ---------------------------------------------------------------

    def difference(self, user: User, pts: int, date: int) -> Any:
        """``updates.getDifference`` for an account that knows up to ``pts``/``date``."""
        if self._server.faults.take_difference_too_long(user):
            return types.updates.DifferenceTooLong(pts=user.box.pts)
        box = user.box
        entries = [e for e in box.log if e.pts > pts]
        sliced = len(entries) > self.difference_limit
        entries = entries[: self.difference_limit]
        new_messages, other = self._replay(user, box, entries)
        if not sliced:
            other.extend(self._channel_catch_up(user, date))
        if not new_messages and not other and not sliced:
            return types.updates.DifferenceEmpty(date=render.ts(now()), seq=user.seq)
        users, chats = render.entities_for(self.world, user, [*new_messages, *other])
        state = types.updates.State(
            pts=entries[-1].pts if sliced else box.pts,
            qts=user.qts,
            date=render.ts(now()),
            seq=user.seq,
            unread_count=0,
        )
        if sliced:
            return types.updates.DifferenceSlice(
                new_messages=new_messages,
                new_encrypted_messages=[],
                other_updates=other,
                chats=chats,
                users=users,
                intermediate_state=state,
            )
        return types.updates.Difference(
            new_messages=new_messages,
            new_encrypted_messages=[],
            other_updates=other,
            chats=chats,
            users=users,
            state=state,
        )

    def channel_difference(self, user: User, channel: Channel, pts: int, limit: int) -> Any:
        """``updates.getChannelDifference`` from ``pts`` on, at most ``limit`` updates."""
        if user.id not in channel.members and not channel.username:
            raise RpcError(400, "CHANNEL_PRIVATE")
        box = channel.box
        entries = [e for e in box.log if e.pts > pts]
        if not entries:
            return types.updates.ChannelDifferenceEmpty(pts=box.pts, final=True)
        chunk = entries[: max(limit, 1)]
        final = len(chunk) == len(entries)
        new_messages, other = self._replay(user, box, chunk)
        users, chats = render.entities_for(self.world, user, [*new_messages, *other], [channel])
        return types.updates.ChannelDifference(
            pts=box.pts if final else chunk[-1].pts,
            new_messages=new_messages,
            other_updates=other,
            chats=chats,
            users=users,
            final=final,
        )

    def _replay(
        self, user: User, box: MessageBox, entries: list[LogEntry]
    ) -> tuple[list[Any], list[Any]]:
        new_messages: list[Any] = []
        other: list[Any] = []
        for entry in entries:
            if entry.post is not None:
                # A message deleted since is left out; its deletion update still replays.
                if entry.post.ids.get(box) not in box.messages:
                    continue
                update = entry.render(user, entry)
                if update is not None:
                    new_messages.append(update.message)
            else:
                update = entry.render(user, entry)
                if update is not None:
                    other.append(update)
        return new_messages, other

    def _channel_catch_up(self, user: User, date: int) -> list[Any]:
        # Channel updates since the client's last known date ride along in
        # getDifference; long gaps become updateChannelTooLong.
        out: list[Any] = []
        for channel in self.world.channels_of(user):
            entries = [e for e in channel.box.log if e.date >= date]
            if not entries:
                continue
            if len(entries) > CHANNEL_INLINE_LIMIT:
                out.append(types.UpdateChannelTooLong(channel_id=channel.id, pts=channel.box.pts))
                continue
            for entry in entries:
                if (
                    entry.post is not None
                    and entry.post.ids.get(channel.box) not in channel.box.messages
                ):
                    continue
                update = entry.render(user, entry)
                if update is not None:
                    out.append(update)
        return out
