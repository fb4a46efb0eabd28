"""The Telegram bridge's own tables, with their own version table (``telegram_version``).

- ``telegram_update_state``: Telethon's update state (pts/qts/date/seq of the account,
  pts of each channel), so a restarted bridge asks Telegram for what it missed.
- ``telegram_entity``: access hashes of users and channels, without which Telegram
  refuses every request about them after a restart.
- ``telegram_message_chat``: which chat a message of the account's own message box
  is in. Telegram reports deletions in private chats and basic groups by message ID
  only.
- ``telegram_topic_message``: which forum topic a channel message is in. Telegram
  reports channel deletions by channel and message ID only.
- ``telegram_migrated_chat``: basic groups upgraded to supergroups, and the portal
  that serves the supergroup (see ``migration``).
- ``telegram_reaction_state``: who reacted with what on a message, as last seen.
  Telegram sends the whole list on every change; the difference is what is bridged.

The session's auth key itself is in the login's metadata (a ``StringSession``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from mautrix.util.async_db import Connection, Database, Scheme, UpgradeTable

from bridgekit.network import LoginID, MessageID, PortalID, PortalKey

log = logging.getLogger("bridgekit.telegram.store")

upgrade_table = UpgradeTable(
    version_table_name="telegram_version", log=logging.getLogger("bridgekit.telegram.db")
)


async def upgrade_v1(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE telegram_update_state (
            login_id  TEXT NOT NULL,
            entity_id BIGINT NOT NULL,
            pts       BIGINT NOT NULL,
            qts       BIGINT NOT NULL,
            date      BIGINT NOT NULL,
            seq       BIGINT NOT NULL,
            PRIMARY KEY (login_id, entity_id)
        )"""
    )
    await conn.execute(
        """CREATE TABLE telegram_entity (
            login_id TEXT NOT NULL,
            id       BIGINT NOT NULL,
            hash     BIGINT NOT NULL,
            username TEXT,
            phone    TEXT,
            name     TEXT,
            PRIMARY KEY (login_id, id)
        )"""
    )
    await conn.execute(
        """CREATE TABLE telegram_message_chat (
            login_id   TEXT NOT NULL,
            message_id BIGINT NOT NULL,
            portal_id  TEXT NOT NULL,
            PRIMARY KEY (login_id, message_id)
        )"""
    )
    await conn.execute(
        """CREATE TABLE telegram_reaction_state (
            portal_id  TEXT NOT NULL,
            receiver   TEXT NOT NULL,
            message_id TEXT NOT NULL,
            reactions  TEXT NOT NULL,
            PRIMARY KEY (portal_id, receiver, message_id)
        )"""
    )


upgrade_table.register(upgrade_v1, description="Telegram sessions, entities, message chats")


async def upgrade_v2(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE telegram_topic_message (
            channel_id BIGINT NOT NULL,
            message_id BIGINT NOT NULL,
            topic_id   BIGINT NOT NULL,
            PRIMARY KEY (channel_id, message_id)
        )"""
    )
    await conn.execute(
        """CREATE TABLE telegram_migrated_chat (
            channel_id BIGINT NOT NULL,
            portal_id  TEXT NOT NULL,
            receiver   TEXT NOT NULL,
            PRIMARY KEY (channel_id)
        )"""
    )


upgrade_table.register(upgrade_v2, description="Forum topic messages, upgraded groups")


@dataclass(frozen=True, slots=True)
class UpdateState:
    """Telethon's update state of one entity (0: the account; else a channel ID)."""

    entity_id: int
    pts: int
    qts: int
    date: int
    seq: int


EntityRow = tuple[int, int, str | None, str | None, str | None]
"""Telethon's entity row: marked ID, access hash, username, phone, display name."""


class TelegramStore:
    """Reads and writes the Telegram tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def upgrade(self) -> None:
        await upgrade_table.upgrade(self.db)

    # Update state and entities -------------------------------------------------------

    async def update_states(self, login: LoginID) -> list[UpdateState]:
        rows = await self.db.fetch(
            "SELECT entity_id, pts, qts, date, seq FROM telegram_update_state WHERE login_id=$1",
            login,
        )
        return [UpdateState(r["entity_id"], r["pts"], r["qts"], r["date"], r["seq"]) for r in rows]

    async def save_update_states(self, login: LoginID, states: Iterable[UpdateState]) -> None:
        rows = [(login, s.entity_id, s.pts, s.qts, s.date, s.seq) for s in states]
        if not rows:
            return
        conn: Connection
        async with self.db.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO telegram_update_state (login_id, entity_id, pts, qts, date, seq) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (login_id, entity_id) DO UPDATE "
                "SET pts=excluded.pts, qts=excluded.qts, date=excluded.date, seq=excluded.seq",
                rows,
            )

    async def entities(self, login: LoginID) -> list[EntityRow]:
        rows = await self.db.fetch(
            "SELECT id, hash, username, phone, name FROM telegram_entity WHERE login_id=$1", login
        )
        return [(r["id"], r["hash"], r["username"], r["phone"], r["name"]) for r in rows]

    async def save_entities(self, login: LoginID, entities: Iterable[EntityRow]) -> None:
        rows = [(login, *row) for row in entities]
        if not rows:
            return
        conn: Connection
        async with self.db.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO telegram_entity (login_id, id, hash, username, phone, name) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (login_id, id) DO UPDATE "
                "SET hash=excluded.hash, username=excluded.username, phone=excluded.phone, "
                "name=excluded.name",
                rows,
            )

    # Message boxes -----------------------------------------------------------------------

    async def remember_message_chat(
        self, login: LoginID, message_id: int, portal_id: PortalID
    ) -> None:
        await self.db.execute(
            "INSERT INTO telegram_message_chat (login_id, message_id, portal_id) "
            "VALUES ($1, $2, $3) ON CONFLICT (login_id, message_id) DO NOTHING",
            login,
            message_id,
            portal_id,
        )

    async def message_chat(self, login: LoginID, message_id: int) -> PortalID | None:
        value = await self.db.fetchval(
            "SELECT portal_id FROM telegram_message_chat WHERE login_id=$1 AND message_id=$2",
            login,
            message_id,
        )
        return PortalID(value) if value else None

    async def remember_topic_message(self, channel_id: int, message_id: int, topic: int) -> None:
        await self.db.execute(
            "INSERT INTO telegram_topic_message (channel_id, message_id, topic_id) "
            "VALUES ($1, $2, $3) ON CONFLICT (channel_id, message_id) DO NOTHING",
            channel_id,
            message_id,
            topic,
        )

    async def message_topic(self, channel_id: int, message_id: int) -> int | None:
        """The forum topic a channel message was seen in (``None``: not in a topic)."""
        value = await self.db.fetchval(
            "SELECT topic_id FROM telegram_topic_message WHERE channel_id=$1 AND message_id=$2",
            channel_id,
            message_id,
        )
        return int(value) if value is not None else None

    # Upgraded groups -----------------------------------------------------------------

    async def remember_migration(self, channel_id: int, portal: PortalKey) -> None:
        """``channel_id`` is served by ``portal`` (a basic group's, before the upgrade)."""
        await self.db.execute(
            "INSERT INTO telegram_migrated_chat (channel_id, portal_id, receiver) "
            "VALUES ($1, $2, $3) ON CONFLICT (channel_id) DO NOTHING",
            channel_id,
            portal.id,
            portal.receiver or "",
        )

    async def migrations(self) -> dict[int, PortalKey]:
        """Every upgraded group's supergroup ID → the portal that serves it."""
        rows = await self.db.fetch(
            "SELECT channel_id, portal_id, receiver FROM telegram_migrated_chat"
        )
        return {
            int(r["channel_id"]): PortalKey(
                PortalID(r["portal_id"]), LoginID(r["receiver"]) if r["receiver"] else None
            )
            for r in rows
        }

    # Reactions -------------------------------------------------------------------------

    async def reactions(self, portal: PortalKey, message: MessageID) -> set[tuple[str, str]]:
        """``(user ID, emoji)`` pairs last seen on a message."""
        value = await self.db.fetchval(
            "SELECT reactions FROM telegram_reaction_state "
            "WHERE portal_id=$1 AND receiver=$2 AND message_id=$3",
            portal.id,
            portal.receiver or "",
            message,
        )
        return {(str(u), str(e)) for u, e in json.loads(value)} if value else set()

    async def save_reactions(
        self, portal: PortalKey, message: MessageID, reactions: set[tuple[str, str]]
    ) -> None:
        await self.db.execute(
            "INSERT INTO telegram_reaction_state (portal_id, receiver, message_id, reactions) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (portal_id, receiver, message_id) "
            "DO UPDATE SET reactions=excluded.reactions",
            portal.id,
            portal.receiver or "",
            message,
            json.dumps(sorted(reactions)),
        )

    # Logout --------------------------------------------------------------------------

    async def forget_login(self, login: LoginID) -> None:
        """Delete everything kept for a login that logged out."""
        for table in ("telegram_update_state", "telegram_entity", "telegram_message_chat"):
            await self.db.execute(f"DELETE FROM {table} WHERE login_id=$1", login)
