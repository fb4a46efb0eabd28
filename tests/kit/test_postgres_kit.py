"""The test kit's databases: mautrix's async_db works on both; PostgreSQL ones are dropped."""

from __future__ import annotations

import asyncpg
import pytest
from mautrix.util.async_db import Connection, Database, Scheme, UpgradeTable
from yarl import URL

from bridgekit.testing.postgres import create_database, drop_database


async def _upgrade_v1(conn: Connection) -> None:
    await conn.execute("CREATE TABLE kit_note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")


async def _upgrade_v2(conn: Connection) -> None:
    await conn.execute("ALTER TABLE kit_note ADD COLUMN author TEXT")


upgrade_table = UpgradeTable()
upgrade_table.register(_upgrade_v1, description="Create the note table")
upgrade_table.register(_upgrade_v2, description="Give notes an author")


NOTES = [(1, "héllo wörld", "alice"), (2, "second note", None), (3, "🙂 emoji", "bob")]


@pytest.mark.both_backends
async def test_async_db_round_trip_and_upgrade_version(database_url: str) -> None:
    db = Database.create(database_url, upgrade_table=upgrade_table)
    await db.start()
    try:
        expected_scheme = Scheme.SQLITE if database_url.startswith("sqlite") else Scheme.POSTGRES
        assert db.scheme == expected_scheme
        assert await db.fetchval("SELECT version FROM version") == 2
        await db.executemany("INSERT INTO kit_note (id, body, author) VALUES ($1, $2, $3)", NOTES)
        rows = await db.fetch("SELECT id, body, author FROM kit_note ORDER BY id")
        assert [(r["id"], r["body"], r["author"]) for r in rows] == NOTES
    finally:
        await db.stop()

    # A second start on the same URL finds the data and does not upgrade again.
    db = Database.create(database_url, upgrade_table=upgrade_table)
    await db.start()
    try:
        assert await db.fetchval("SELECT COUNT(*) FROM kit_note") == len(NOTES)
        assert await db.fetchval("SELECT COUNT(*) FROM version") == 1
    finally:
        await db.stop()


async def test_each_test_gets_an_empty_database(database_url: str) -> None:
    db = Database.create(database_url)
    await db.start()
    try:
        assert not await db.table_exists("kit_note")
        assert not await db.table_exists("version")
    finally:
        await db.stop()


async def test_postgres_url_points_at_its_own_database(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT current_database()") == URL(postgres_url).path[1:]
    finally:
        await conn.close()


async def test_drop_database_closes_open_connections(postgres_server_url: str) -> None:
    url = await create_database(postgres_server_url)
    name = URL(url).path[1:]
    assert name.startswith("bridgekit_test_")
    leftover = await asyncpg.connect(url)  # a connection a test forgot to close
    admin = await asyncpg.connect(postgres_server_url)
    try:
        exists = "SELECT EXISTS(SELECT 1 FROM pg_database WHERE datname = $1)"
        assert await admin.fetchval(exists, name)
        await drop_database(url, postgres_server_url)
        assert not await admin.fetchval(exists, name)
        assert leftover.is_closed() or not await _still_usable(leftover)
    finally:
        await admin.close()
        leftover.terminate()


async def _still_usable(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    return True
