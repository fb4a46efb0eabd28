"""The ``reaction`` table: bridged reactions, keyed by message, sender and emoji."""

from __future__ import annotations

import json
from typing import Any

from mautrix.util.async_db import Database

from ..network.ids import EmojiID, MessageID, PortalKey, RemoteUserID
from ..network.matrix import ReactionRecord

_COLUMNS = "message_id, sender_id, emoji_id, emoji, mxid, metadata"


def _record(row: Any) -> ReactionRecord:
    return ReactionRecord(
        message_id=MessageID(row["message_id"]),
        sender_id=RemoteUserID(row["sender_id"]) if row["sender_id"] else None,
        emoji_id=EmojiID(row["emoji_id"]),
        emoji=row["emoji"],
        mxid=row["mxid"],
        metadata=json.loads(row["metadata"]),
    )


class ReactionStore:
    """Maps remote reactions to Matrix reaction events and back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(self, portal: PortalKey, record: ReactionRecord) -> None:
        await self.db.execute(
            "INSERT INTO reaction (portal_id, portal_receiver, message_id, sender_id, emoji_id, "
            "emoji, mxid, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (portal_id, portal_receiver, message_id, sender_id, emoji_id) "
            "DO UPDATE SET mxid=excluded.mxid, emoji=excluded.emoji",
            portal.id,
            portal.receiver or "",
            record.message_id,
            record.sender_id or "",
            record.emoji_id,
            record.emoji,
            record.mxid,
            json.dumps(record.metadata),
        )

    async def get(
        self,
        portal: PortalKey,
        message_id: MessageID,
        sender_id: RemoteUserID | None,
        emoji_id: EmojiID,
    ) -> ReactionRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM reaction WHERE portal_id=$1 AND portal_receiver=$2 "
            "AND message_id=$3 AND sender_id=$4 AND emoji_id=$5",
            portal.id,
            portal.receiver or "",
            message_id,
            sender_id or "",
            emoji_id,
        )
        return _record(row) if row else None

    async def by_mxid(self, mxid: str) -> ReactionRecord | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM reaction WHERE mxid=$1", mxid)
        return _record(row) if row else None

    async def delete_by_mxid(self, mxid: str) -> None:
        await self.db.execute("DELETE FROM reaction WHERE mxid=$1", mxid)

    async def image_of(self, emoji_id: EmojiID) -> str | None:
        """The ``mxc://`` picture a custom emoji was already bridged with, if any."""
        value = await self.db.fetchval(
            "SELECT emoji FROM reaction WHERE emoji_id=$1 AND emoji LIKE 'mxc://%' LIMIT 1",
            emoji_id,
        )
        return str(value) if value else None

    async def emoji_of(self, key: str) -> EmojiID | None:
        """The network's emoji ID of a reaction key (a custom emoji's picture) that was
        bridged before, if any."""
        value = await self.db.fetchval("SELECT emoji_id FROM reaction WHERE emoji=$1 LIMIT 1", key)
        return EmojiID(value) if value else None
