"""The core tables, one module per table, over mautrix's async database layer
(SQLite through aiosqlite by default, PostgreSQL through asyncpg)."""

from __future__ import annotations

from .ghost import GhostRecord, GhostStore
from .inbox import MatrixInbox
from .message import MessageStore
from .portal import PortalRecord, PortalStore
from .reaction import ReactionStore
from .upgrade import upgrade_table
from .user import UserRecord, UserStore
from .user_login import UserLoginRecord, UserLoginStore

__all__ = [
    "GhostRecord",
    "GhostStore",
    "MatrixInbox",
    "MessageStore",
    "PortalRecord",
    "PortalStore",
    "ReactionStore",
    "UserLoginRecord",
    "UserLoginStore",
    "UserRecord",
    "UserStore",
    "upgrade_table",
]
