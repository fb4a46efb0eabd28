"""Schema upgrades of the core tables, one numbered function per version."""

from __future__ import annotations

import logging

from mautrix.util.async_db import Connection, Scheme, UpgradeTable

upgrade_table = UpgradeTable(
    version_table_name="bridgekit_version", log=logging.getLogger("bridgekit.db.upgrade")
)


async def upgrade_v1(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE bk_user (
            mxid            TEXT PRIMARY KEY,
            management_room TEXT,
            metadata        TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    await conn.execute(
        """CREATE TABLE user_login (
            id          TEXT PRIMARY KEY,
            user_mxid   TEXT NOT NULL REFERENCES bk_user(mxid) ON DELETE CASCADE,
            remote_name TEXT NOT NULL DEFAULT '',
            space_room  TEXT,
            metadata    TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    await conn.execute(
        """CREATE TABLE portal (
            id             TEXT NOT NULL,
            receiver       TEXT NOT NULL DEFAULT '',
            mxid           TEXT UNIQUE,
            parent_id      TEXT,
            relay_login_id TEXT,
            name           TEXT,
            topic          TEXT,
            avatar_id      TEXT,
            avatar_mxc     TEXT,
            room_type      TEXT,
            encrypted      BOOLEAN NOT NULL DEFAULT false,
            metadata       TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (id, receiver)
        )"""
    )
    await conn.execute(
        """CREATE TABLE ghost (
            id          TEXT PRIMARY KEY,
            name        TEXT,
            avatar_id   TEXT,
            avatar_mxc  TEXT,
            is_bot      BOOLEAN NOT NULL DEFAULT false,
            identifiers TEXT NOT NULL DEFAULT '[]',
            metadata    TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    await conn.execute(
        """CREATE TABLE message (
            portal_id       TEXT NOT NULL,
            portal_receiver TEXT NOT NULL,
            id              TEXT NOT NULL,
            part_id         TEXT NOT NULL,
            mxid            TEXT NOT NULL UNIQUE,
            room_id         TEXT NOT NULL,
            sender_id       TEXT,
            sender_mxid     TEXT,
            timestamp       BIGINT NOT NULL,
            edit_count      INTEGER NOT NULL DEFAULT 0,
            metadata        TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (portal_id, portal_receiver, id, part_id),
            FOREIGN KEY (portal_id, portal_receiver) REFERENCES portal(id, receiver)
                ON DELETE CASCADE ON UPDATE CASCADE
        )"""
    )
    await conn.execute("CREATE INDEX message_room_ts_idx ON message (room_id, timestamp)")
    await conn.execute(
        """CREATE TABLE reaction (
            portal_id       TEXT NOT NULL,
            portal_receiver TEXT NOT NULL,
            message_id      TEXT NOT NULL,
            sender_id       TEXT NOT NULL,
            emoji_id        TEXT NOT NULL,
            emoji           TEXT NOT NULL,
            mxid            TEXT NOT NULL UNIQUE,
            metadata        TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (portal_id, portal_receiver, message_id, sender_id, emoji_id),
            FOREIGN KEY (portal_id, portal_receiver) REFERENCES portal(id, receiver)
                ON DELETE CASCADE ON UPDATE CASCADE
        )"""
    )
    await conn.execute(
        """CREATE TABLE user_portal (
            login_id        TEXT NOT NULL REFERENCES user_login(id) ON DELETE CASCADE,
            portal_id       TEXT NOT NULL,
            portal_receiver TEXT NOT NULL,
            in_space        BOOLEAN NOT NULL DEFAULT false,
            PRIMARY KEY (login_id, portal_id, portal_receiver),
            FOREIGN KEY (portal_id, portal_receiver) REFERENCES portal(id, receiver)
                ON DELETE CASCADE ON UPDATE CASCADE
        )"""
    )
    # Matrix events accepted from the homeserver: a transaction is acknowledged only
    # after its events are stored here, unhandled rows are replayed at start-up, and
    # handled rows (kept for a while) make a re-sent transaction a no-op.
    await conn.execute(
        """CREATE TABLE matrix_inbox (
            event_id    TEXT PRIMARY KEY,
            room_id     TEXT NOT NULL,
            data        TEXT NOT NULL,
            received_at BIGINT NOT NULL,
            handled     BOOLEAN NOT NULL DEFAULT false
        )"""
    )
    await conn.execute(
        "CREATE INDEX matrix_inbox_pending_idx ON matrix_inbox (handled, received_at)"
    )


upgrade_table.register(upgrade_v1, description="Core tables")


async def upgrade_v2(conn: Connection, scheme: Scheme) -> None:
    # Custom emoji reactions: their picture's mxc:// is the reaction key (emoji), found
    # again from the network's emoji ID and back.
    await conn.execute("CREATE INDEX reaction_emoji_idx ON reaction (emoji)")
    await conn.execute("CREATE INDEX reaction_emoji_id_idx ON reaction (emoji_id)")


upgrade_table.register(upgrade_v2, description="Indexes for custom emoji reactions")
