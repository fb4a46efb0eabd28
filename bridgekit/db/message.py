"""The ``message`` table: one row per Matrix event of a bridged remote message."""

from __future__ import annotations

import json
from typing import Any

from mautrix.util.async_db import Database

from ..network.ids import LoginID, MessageID, PartID, PortalID, PortalKey, RemoteUserID
from ..network.matrix import MessageRecord
from .round_trip import fetch

_COLUMNS = "portal_id, portal_receiver, id, part_id, mxid, room_id, sender_id, timestamp, metadata"


def _record(row: Any) -> MessageRecord:
    receiver = row["portal_receiver"]
    return MessageRecord(
        id=MessageID(row["id"]),
        part_id=PartID(row["part_id"]),
        mxid=row["mxid"],
        room_id=row["room_id"],
        portal=PortalKey(PortalID(row["portal_id"]), LoginID(receiver) if receiver else None),
        sender_id=RemoteUserID(row["sender_id"]) if row["sender_id"] else None,
        timestamp_ms=row["timestamp"],
        metadata=json.loads(row["metadata"]),
    )


def _values(record: MessageRecord) -> tuple[Any, ...]:
    return (
        record.portal.id,
        record.portal.receiver or "",
        record.id,
        record.part_id,
        record.mxid,
        record.room_id,
        record.sender_id,
        record.timestamp_ms,
        json.dumps(record.metadata),
    )


class MessageStore:
    """Maps remote messages to Matrix events and back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, record: MessageRecord) -> None:
        await self.db.execute(
            f"INSERT INTO message ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *_values(record),
        )

    async def insert_many(self, records: list[MessageRecord]) -> None:
        """Insert several rows, all of them or none: one statement, so one round trip
        to the database however many parts the message has."""
        if not records:
            return
        width = len(_values(records[0]))
        rows = ", ".join(
            "(" + ", ".join(f"${i * width + j + 1}" for j in range(width)) + ")"
            for i in range(len(records))
        )
        values = [value for record in records for value in _values(record)]
        await self.db.execute(f"INSERT INTO message ({_COLUMNS}) VALUES {rows}", *values)

    async def parts(self, portal: PortalKey, message_id: MessageID) -> list[MessageRecord]:
        """Every part of a message, first part first."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM message WHERE portal_id=$1 AND portal_receiver=$2 "
            "AND id=$3 ORDER BY part_id",
            portal.id,
            portal.receiver or "",
            message_id,
        )
        return [_record(row) for row in rows]

    async def exists(self, portal: PortalKey, message_id: MessageID) -> bool:
        """Whether the message is bridged (asked for every remote message: one trip)."""
        rows = await fetch(
            self.db,
            "SELECT 1 FROM message WHERE portal_id=$1 AND portal_receiver=$2 AND id=$3 LIMIT 1",
            portal.id,
            portal.receiver or "",
            message_id,
        )
        return bool(rows)

    async def by_mxid(self, mxid: str) -> MessageRecord | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM message WHERE mxid=$1", mxid)
        return _record(row) if row else None

    async def latest_before(self, room_id: str, timestamp_ms: int) -> MessageRecord | None:
        """The newest bridged message of a room at or before a time (for receipts)."""
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM message WHERE room_id=$1 AND timestamp<=$2 "
            "ORDER BY timestamp DESC LIMIT 1",
            room_id,
            timestamp_ms,
        )
        return _record(row) if row else None

    async def delete(self, portal: PortalKey, message_id: MessageID) -> None:
        await self.db.execute(
            "DELETE FROM message WHERE portal_id=$1 AND portal_receiver=$2 AND id=$3",
            portal.id,
            portal.receiver or "",
            message_id,
        )

    async def count_edit(self, mxid: str) -> None:
        await self.db.execute("UPDATE message SET edit_count=edit_count+1 WHERE mxid=$1", mxid)
