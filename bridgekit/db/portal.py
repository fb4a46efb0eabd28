"""The ``portal`` table: remote chats and the Matrix rooms they map to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mautrix.util.async_db import Database

from ..network.ids import LoginID, PortalID, PortalKey


@dataclass(slots=True)
class PortalRecord:
    """A portal's stored state. ``mxid`` is ``None`` until the room is created."""

    key: PortalKey
    mxid: str | None = None
    parent_id: PortalID | None = None
    relay_login_id: LoginID | None = None
    name: str | None = None
    topic: str | None = None
    avatar_id: str | None = None
    avatar_mxc: str | None = None
    room_type: str | None = None
    encrypted: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    "id, receiver, mxid, parent_id, relay_login_id, name, topic, avatar_id, avatar_mxc, "
    "room_type, encrypted, metadata"
)


def _record(row: Any) -> PortalRecord:
    return PortalRecord(
        key=PortalKey(PortalID(row["id"]), LoginID(row["receiver"]) if row["receiver"] else None),
        mxid=row["mxid"],
        parent_id=row["parent_id"],
        relay_login_id=row["relay_login_id"],
        name=row["name"],
        topic=row["topic"],
        avatar_id=row["avatar_id"],
        avatar_mxc=row["avatar_mxc"],
        room_type=row["room_type"],
        encrypted=bool(row["encrypted"]),
        metadata=json.loads(row["metadata"]),
    )


class PortalStore:
    """Reads and writes ``portal``. Portals are loaded one at a time, on demand.

    Which logins are in a chat (``user_portal``) is asked for every remote message (a
    login new to the chat gets its owner invited), so the answer is kept in memory
    once read; this store is the table's only writer, and a deleted login's rows
    (removed by the database's cascade) are dropped with :meth:`forget_login`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._logins: dict[PortalKey, set[LoginID]] = {}

    async def get(self, key: PortalKey) -> PortalRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM portal WHERE id=$1 AND receiver=$2",
            key.id,
            key.receiver or "",
        )
        return _record(row) if row else None

    async def get_by_mxid(self, mxid: str) -> PortalRecord | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM portal WHERE mxid=$1", mxid)
        return _record(row) if row else None

    async def all_with_room(self) -> list[PortalRecord]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM portal WHERE mxid IS NOT NULL")
        return [_record(row) for row in rows]

    async def save(self, portal: PortalRecord) -> None:
        await self.db.execute(
            f"INSERT INTO portal ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
            "$11, $12) ON CONFLICT (id, receiver) DO UPDATE SET mxid=excluded.mxid, "
            "parent_id=excluded.parent_id, relay_login_id=excluded.relay_login_id, "
            "name=excluded.name, topic=excluded.topic, avatar_id=excluded.avatar_id, "
            "avatar_mxc=excluded.avatar_mxc, room_type=excluded.room_type, "
            "encrypted=excluded.encrypted, metadata=excluded.metadata",
            portal.key.id,
            portal.key.receiver or "",
            portal.mxid,
            portal.parent_id,
            portal.relay_login_id,
            portal.name,
            portal.topic,
            portal.avatar_id,
            portal.avatar_mxc,
            portal.room_type,
            portal.encrypted,
            json.dumps(portal.metadata),
        )

    async def delete(self, key: PortalKey) -> None:
        self._logins.pop(key, None)
        await self.db.execute(
            "DELETE FROM portal WHERE id=$1 AND receiver=$2", key.id, key.receiver or ""
        )

    async def add_user_portal(self, login_id: LoginID, key: PortalKey) -> None:
        """Remember that ``login_id`` is in the chat (its portals go into its space)."""
        await self.db.execute(
            "INSERT INTO user_portal (login_id, portal_id, portal_receiver) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            login_id,
            key.id,
            key.receiver or "",
        )
        known = self._logins.get(key)
        if known is not None:
            known.add(login_id)

    async def logins_in(self, key: PortalKey) -> list[LoginID]:
        """Logins known to be in the chat."""
        known = self._logins.get(key)
        if known is None:
            rows = await self.db.fetch(
                "SELECT login_id FROM user_portal WHERE portal_id=$1 AND portal_receiver=$2",
                key.id,
                key.receiver or "",
            )
            known = self._logins.setdefault(key, {LoginID(row["login_id"]) for row in rows})
        return sorted(known)

    def forget_login(self, login_id: LoginID) -> None:
        """Drop a deleted login from the remembered chats (its rows went with it)."""
        for logins in self._logins.values():
            logins.discard(login_id)

    async def keys_of_login(self, login_id: LoginID) -> list[PortalKey]:
        """Portals that ``login_id`` is known to be in."""
        rows = await self.db.fetch(
            "SELECT portal_id, portal_receiver FROM user_portal WHERE login_id=$1 "
            "ORDER BY portal_id, portal_receiver",
            login_id,
        )
        return [
            PortalKey(
                PortalID(row["portal_id"]),
                LoginID(row["portal_receiver"]) if row["portal_receiver"] else None,
            )
            for row in rows
        ]

    async def in_space(self, login_id: LoginID, key: PortalKey) -> bool:
        """Whether the portal was added to the login's space."""
        return bool(
            await self.db.fetchval(
                "SELECT in_space FROM user_portal WHERE login_id=$1 AND portal_id=$2 "
                "AND portal_receiver=$3",
                login_id,
                key.id,
                key.receiver or "",
            )
        )

    async def set_in_space(self, login_id: LoginID, key: PortalKey, in_space: bool) -> None:
        """Record whether the portal is a child of the login's space."""
        await self.db.execute(
            "UPDATE user_portal SET in_space=$4 WHERE login_id=$1 AND portal_id=$2 "
            "AND portal_receiver=$3",
            login_id,
            key.id,
            key.receiver or "",
            in_space,
        )
