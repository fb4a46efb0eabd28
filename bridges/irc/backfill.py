"""Catching up on what was said while the bridge was away (IRCv3 ``draft/chathistory``).

The client remembers when it last heard from the server (the server time of the last
message, and the moment of every registration), in the login's metadata so that a
restart knows it too; a moment is stored only once every message received before it
has been handled by the core (``Checkpoints``), so a crash never skips a message
that was received but not yet bridged. After each registration it asks which private chats had
messages since then (``CHATHISTORY TARGETS``), and, for those and for every channel
it was in before (once it is joined again), for the newest messages after that moment
(``CHATHISTORY LATEST <chat> timestamp=…``); each chat's messages go to the core as
one ``RemoteBackfill``. Messages that
were already bridged are dropped by the core, which recognises their msgids, so
asking for a little more than the gap is harmless; messages without a msgid could
not be recognised and are skipped.

Servers without chathistory (InspIRCd 3, Libera's Solanum) simply get no catch-up.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bridgekit.network import (
    Checkpoints,
    FetchResult,
    MessageID,
    RemoteBackfill,
    RemoteEvent,
    RemoteMessage,
)

from . import to_matrix
from .protocol import (
    ChatHistoryError,
    IRCConnection,
    MessageEvent,
    NotConnectedError,
    by_msgid,
    by_time,
    split_text,
)
from .protocol.chathistory import Subcommand

if TYPE_CHECKING:
    from .client import IRCClient

log = logging.getLogger("bridgekit.irc.backfill")

#: The login metadata key of the last moment the connection heard from the server.
SEEN_KEY = "seen_at"
#: The login metadata key of the moment the bridge last closed the connection.
LEFT_KEY = "left_at"
#: Away at least this long from a server without history: the user hears what that
#: means (a short reconnect is not worth a message).
_GAP_WORTH_TELLING = timedelta(seconds=30)
# Servers of one network stamp messages with their own clocks: ask from a little
# earlier than we last heard (the duplicates are dropped by msgid).
_MARGIN = timedelta(seconds=5)
# Saving the login row on every message would be a write per line; after a crash the
# catch-up simply starts up to this much earlier (what was bridged is recognised).
_SAVE_INTERVAL = 2.0
_REQUEST_TIMEOUT = 15.0
# How many private chats with missed messages one catch-up bridges.
_TARGETS_LIMIT = 50
_CAPS = frozenset({"draft/chathistory", "chathistory"})
# How far back a replayed Matrix message is looked for among our own messages.
_RECENT = 100


class Backfill:
    """The catch-up of one client (one IRC connection)."""

    def __init__(self, client: IRCClient) -> None:
        self.client = client
        self.seen_at = _parse(client.login.metadata.get(SEEN_KEY))
        self._saved = self.seen_at
        self._saved_at = 0.0
        self._since: datetime | None = None
        self._pending: set[str] = set()
        self._checkpoints: Checkpoints[datetime] = Checkpoints()
        self._left_at = _parse(client.login.metadata.get(LEFT_KEY))

    @staticmethod
    def offered(conn: IRCConnection) -> bool:
        """Whether the server can tell us its history."""
        return bool(_CAPS & conn.caps)

    def track(self, event: RemoteEvent) -> None:
        """A message event is about to be queued: the last-seen moment waits for it."""
        self._checkpoints.track(event)

    def saw(self, moment: datetime) -> None:
        """Everything the server sent up to ``moment`` was queued with the core."""
        self._checkpoints.offer(moment)

    async def save(self, *, force: bool = False) -> None:
        """Store the last-seen moment that every handled message allows (at most every
        few seconds unless ``force``)."""
        moment = self._checkpoints.take()
        if moment is not None and (self.seen_at is None or moment > self.seen_at):
            self.seen_at = moment
            self.client.login.metadata[SEEN_KEY] = moment.isoformat()
        if self.seen_at == self._saved:
            return
        now = asyncio.get_running_loop().time()
        if not force and now - self._saved_at < _SAVE_INTERVAL:
            return
        self._saved, self._saved_at = self.seen_at, now
        await self.client.login.save()

    def lost(self, moment: datetime) -> None:
        """The connection dropped at ``moment``."""
        self._left_at = moment

    async def closed(self, moment: datetime) -> None:
        """The bridge closed the connection (a stop): remembered across the restart."""
        self._left_at = moment
        self.client.login.metadata[LEFT_KEY] = moment.isoformat()
        await self.client.login.save()

    async def registered(self, conn: IRCConnection, moment: datetime) -> None:
        """The connection (re)registered at ``moment``: bridge what private chats
        missed, and note which channels have a gap to fill once they are joined again.
        Runs before any later event of the connection is handled."""
        since = self.seen_at
        away_since, self._left_at = self._left_at or since, None
        self.client.login.metadata.pop(LEFT_KEY, None)
        active = since is not None and self.client.settings.backfill_limit > 0
        active = active and self.offered(conn)
        self._since = since
        self._pending = {conn.casefold(name) for name, _ in conn.channels} if active else set()
        self.saw(moment)
        await self.save(force=True)
        if active and since is not None:
            await self._private_chats(conn, since, moment)
        elif (
            away_since is not None
            and conn.channels
            and not self.offered(conn)
            and moment - away_since > _GAP_WORTH_TELLING
        ):
            minutes = max(1, round((moment - away_since).total_seconds() / 60))
            await self.client.login.notify_user(
                f"Back on {self.client.network_name} after about {minutes} min away. Its "
                "server keeps no history (no chathistory), so what was said in your channels "
                "meanwhile could not be bridged."
            )

    async def _private_chats(self, conn: IRCConnection, since: datetime, until: datetime) -> None:
        """Ask which chats had messages since ``since`` (``CHATHISTORY TARGETS``) and
        bridge those of the private ones (channels catch up when they are joined)."""
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                targets = await conn.chathistory_targets(
                    since - _MARGIN, until + _MARGIN, _TARGETS_LIMIT
                )
        except (ChatHistoryError, NotConnectedError, TimeoutError) as e:
            log.warning(
                "Login %s could not list its missed chats: %s",
                self.client.login.id,
                str(e) or "timeout",
            )
            return
        for found in targets:
            nick = found.target
            if conn.is_channel(nick) or conn.casefold(nick) == conn.casefold(conn.nick):
                continue
            self.client.nicks[conn.casefold(nick)] = nick
            await self._catch_up(conn, nick, since)

    async def _catch_up(self, conn: IRCConnection, target: str, since: datetime) -> None:
        messages, complete = await self._missed(conn, target, since - _MARGIN)
        if not messages:
            return
        if not complete:
            await self.client.login.notify_user(
                f"More was said in {target} while the bridge was away than the "
                f"{len(messages)} newest messages it bridged there (network.backfill_limit)."
            )
        log.info(
            "Login %s caught up on %d messages in %s", self.client.login.id, len(messages), target
        )
        event = RemoteBackfill(portal=self.client.portal_key(target), messages=messages)
        self.track(event)
        await self.client.login.queue_remote_event(event)
        newest = max(m.timestamp_ms or 0 for m in messages)
        self.saw(datetime.fromtimestamp(newest / 1000, UTC))

    async def _missed(
        self, conn: IRCConnection, target: str, since: datetime
    ) -> tuple[list[RemoteMessage] | None, bool]:
        """The newest ``backfill_limit`` messages of ``target`` after ``since``, oldest
        first, and whether that is all of them. Servers cap a reply at their own page
        size (ISUPPORT CHATHISTORY), so older pages are asked for (``BEFORE`` the
        oldest one) until ``since``."""
        limit = self.client.settings.backfill_limit
        messages = await self.history(conn, "LATEST", target, by_time(since), limit)
        since_ms = since.timestamp() * 1000
        while messages and len(messages) < limit:
            older = await self.history(
                conn, "BEFORE", target, by_msgid(messages[0].id), limit - len(messages)
            )
            fresh = [m for m in older or [] if (m.timestamp_ms or 0) > since_ms]
            if not fresh:
                return messages, True
            messages = fresh + messages
            if len(fresh) < len(older or ()):
                return messages, True  # reached ``since``
        if not messages or len(messages) < limit:
            return messages, True
        # Exactly the limit: complete only if nothing older is left after ``since``.
        older = await self.history(conn, "BEFORE", target, by_msgid(messages[0].id), 1)
        return messages, not any((m.timestamp_ms or 0) > since_ms for m in older or [])

    async def channel_joined(self, conn: IRCConnection, channel: str) -> None:
        """Bridge what was said in ``channel`` since we last heard from the server, if
        we were in it before this registration. Runs before any later live event is
        handled, so the missed messages come first."""
        folded = conn.casefold(channel)
        if folded not in self._pending or self._since is None:
            return
        self._pending.discard(folded)
        await self._catch_up(conn, channel, self._since)

    async def fetch(self, target: str, after: str | None, limit: int) -> FetchResult:
        """``BackfillingNetwork.fetch_messages``: messages of ``target`` after the msgid
        ``after`` (the newest ones when ``None``), oldest first."""
        conn = self.client.require_connection()
        if after is None:
            messages = await self.history(conn, "LATEST", target, "*", limit)
        else:
            messages = await self.history(conn, "AFTER", target, by_msgid(after), limit)
        found = messages or []
        return FetchResult(found, has_more=len(found) >= limit)

    async def find_sent(
        self, conn: IRCConnection, target: str, kind: str, text: str, budget: int
    ) -> MessageEvent | None:
        """A message of ours in ``target``'s recent history that starts like ``text``
        (split as it would be sent in ``budget`` bytes) and that no Matrix event is
        mapped to yet: sent just before a crash, before the bridge could record it.
        ``None`` when there is none, or the server keeps no history."""
        if not self.offered(conn) or not text:
            return None
        first = split_text(text, budget)[0]
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                events = await conn.chathistory("LATEST", target, "*", _RECENT)
        except (ChatHistoryError, NotConnectedError, TimeoutError):
            return None
        own, bridge = conn.casefold(conn.nick), self.client.connector.bridge
        portal = self.client.portal_key(target)
        for event in reversed(events):
            if (
                isinstance(event, MessageEvent)
                and event.msgid
                and event.kind == kind
                and event.text == first
                and conn.casefold(event.source.nick) == own
                and await bridge.get_message(portal, MessageID(event.msgid)) is None
            ):
                return event
        return None

    async def history(
        self, conn: IRCConnection, subcommand: Subcommand, target: str, selector: str, limit: int
    ) -> list[RemoteMessage] | None:
        """The messages of ``target`` that the server returns for one CHATHISTORY
        request, as remote messages; ``None`` when the server offers no history or did
        not answer."""
        if not self.offered(conn):
            return None
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                events = await conn.chathistory(subcommand, target, selector, limit)
        except (ChatHistoryError, NotConnectedError, TimeoutError) as e:
            log.warning(
                "Login %s got no history of %s: %s",
                self.client.login.id,
                target,
                str(e) or "timeout",
            )
            return None
        folded = conn.casefold(target)
        messages = []
        for event in events:
            if (
                isinstance(event, MessageEvent)
                and event.msgid
                and not event.source.is_server
                and conn.casefold(event.conversation) == folded
            ):
                messages.append(to_matrix.message(self.client, conn, event))
        return messages


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
