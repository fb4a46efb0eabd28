"""The ``user_login`` table: remote accounts logged in through the bridge."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mautrix.util.async_db import Database

from ..network.ids import LoginID


@dataclass(slots=True)
class UserLoginRecord:
    """One login: its ID, owner, a human name, its space and the network's metadata."""

    id: LoginID
    user_mxid: str
    remote_name: str = ""
    space_room: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


_COLUMNS = "id, user_mxid, remote_name, space_room, metadata"


def _record(row: Any) -> UserLoginRecord:
    return UserLoginRecord(
        LoginID(row["id"]),
        row["user_mxid"],
        row["remote_name"],
        row["space_room"],
        json.loads(row["metadata"]),
    )


class UserLoginStore:
    """Reads and writes ``user_login``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> list[UserLoginRecord]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM user_login ORDER BY id")
        return [_record(row) for row in rows]

    async def get(self, login_id: LoginID) -> UserLoginRecord | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM user_login WHERE id=$1", login_id)
        return _record(row) if row else None

    async def save(self, login: UserLoginRecord) -> None:
        await self.db.execute(
            f"INSERT INTO user_login ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO UPDATE SET user_mxid=excluded.user_mxid, "
            "remote_name=excluded.remote_name, space_room=excluded.space_room, "
            "metadata=excluded.metadata",
            login.id,
            login.user_mxid,
            login.remote_name,
            login.space_room,
            json.dumps(login.metadata),
        )

    async def delete(self, login_id: LoginID) -> None:
        await self.db.execute("DELETE FROM user_login WHERE id=$1", login_id)
