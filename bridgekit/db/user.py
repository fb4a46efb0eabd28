"""The ``bk_user`` table: Matrix users who have talked to the bridge."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mautrix.util.async_db import Database


@dataclass(slots=True)
class UserRecord:
    """A Matrix user of the bridge and their management room (DM with the bot)."""

    mxid: str
    management_room: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class UserStore:
    """Reads and writes ``bk_user``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, mxid: str) -> UserRecord | None:
        row = await self.db.fetchrow(
            "SELECT mxid, management_room, metadata FROM bk_user WHERE mxid=$1", mxid
        )
        if row is None:
            return None
        return UserRecord(row["mxid"], row["management_room"], json.loads(row["metadata"]))

    async def save(self, user: UserRecord) -> None:
        await self.db.execute(
            "INSERT INTO bk_user (mxid, management_room, metadata) VALUES ($1, $2, $3) "
            "ON CONFLICT (mxid) DO UPDATE SET management_room=excluded.management_room, "
            "metadata=excluded.metadata",
            user.mxid,
            user.management_room,
            json.dumps(user.metadata),
        )
