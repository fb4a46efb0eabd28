"""The ``ghost`` table: remote users and what their Matrix ghost shows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mautrix.util.async_db import Database

from ..network.ids import RemoteUserID


@dataclass(slots=True)
class GhostRecord:
    """A ghost's stored profile; ``avatar_id`` is the network's ID of the picture
    that ``avatar_mxc`` holds, so it is re-uploaded only when it changes."""

    id: RemoteUserID
    name: str | None = None
    avatar_id: str | None = None
    avatar_mxc: str | None = None
    is_bot: bool = False
    identifiers: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


_COLUMNS = "id, name, avatar_id, avatar_mxc, is_bot, identifiers, metadata"


class GhostStore:
    """Reads and writes ``ghost``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: RemoteUserID) -> GhostRecord | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM ghost WHERE id=$1", user_id)
        if row is None:
            return None
        return GhostRecord(
            RemoteUserID(row["id"]),
            row["name"],
            row["avatar_id"],
            row["avatar_mxc"],
            bool(row["is_bot"]),
            json.loads(row["identifiers"]),
            json.loads(row["metadata"]),
        )

    async def save(self, ghost: GhostRecord) -> None:
        await self.db.execute(
            f"INSERT INTO ghost ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (id) DO UPDATE SET name=excluded.name, avatar_id=excluded.avatar_id, "
            "avatar_mxc=excluded.avatar_mxc, is_bot=excluded.is_bot, "
            "identifiers=excluded.identifiers, metadata=excluded.metadata",
            ghost.id,
            ghost.name,
            ghost.avatar_id,
            ghost.avatar_mxc,
            ghost.is_bot,
            json.dumps(ghost.identifiers),
            json.dumps(ghost.metadata),
        )
