"""The ``matrix_inbox`` table: Matrix events stored before a transaction is acknowledged."""

from __future__ import annotations

import json
import time
from typing import Any

from mautrix.util.async_db import Database

# Handled events are remembered this long so a re-sent transaction changes nothing.
KEEP_HANDLED_MS = 24 * 3600 * 1000


class MatrixInbox:
    """Persists incoming Matrix events until they are handled."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def accept(self, event_id: str, room_id: str, raw: dict[str, Any]) -> bool:
        """Store an event; ``False`` if it was seen before (a replayed transaction)."""
        status = await self.db.execute(
            "INSERT INTO matrix_inbox (event_id, room_id, data, received_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
            event_id,
            room_id,
            json.dumps(raw),
            int(time.time() * 1000),
        )
        return _rows_affected(status) > 0

    async def mark_handled(self, event_id: str) -> None:
        await self.db.execute(
            "UPDATE matrix_inbox SET handled=true, data='' WHERE event_id=$1", event_id
        )

    async def pending(self) -> list[dict[str, Any]]:
        """Events accepted but never handled (the bridge stopped first), oldest first."""
        rows = await self.db.fetch(
            "SELECT data FROM matrix_inbox WHERE handled=false ORDER BY received_at, event_id"
        )
        return [json.loads(row["data"]) for row in rows]

    async def prune(self) -> None:
        cutoff = int(time.time() * 1000) - KEEP_HANDLED_MS
        await self.db.execute(
            "DELETE FROM matrix_inbox WHERE handled=true AND received_at<$1", cutoff
        )


def _rows_affected(status: Any) -> int:
    # asyncpg returns a status string ("INSERT 0 1"); aiosqlite a cursor with rowcount.
    if isinstance(status, str):
        return int(status.rsplit(" ", 1)[-1])
    return int(getattr(status, "rowcount", 0))
