"""What to tell an operator about an error opening the database."""

from __future__ import annotations

import sqlite3

from mautrix.util.async_db import DatabaseException, UnsupportedDatabaseVersion


def explain_database_error(error: Exception) -> str | None:
    """What an operator should do about an error opening the database (``None`` if it
    is not one of the known set-up mistakes). Never repeats database.url: it may hold
    a password."""
    if isinstance(error, UnsupportedDatabaseVersion):
        return (
            f"{error}: the database was last used by a newer bridgekit. Run that version "
            "again, or restore the backup taken before upgrading; downgrades are not supported."
        )
    if isinstance(error, DatabaseException):
        return f"{error}. {error.explanation or 'Check database.url.'}"
    if isinstance(error, RuntimeError) and "asyncpg" in str(error):
        return (
            "PostgreSQL needs the asyncpg driver, which is not installed: install the "
            "`postgres` extra (pip install '.[postgres]' in the bridge's environment)."
        )
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate == "3D000":
        return (
            f"The PostgreSQL database does not exist ({error}). Create it, for example with "
            "`createdb -O <user> <database>`, or correct the database name in database.url."
        )
    if sqlstate in ("28000", "28P01"):
        return (
            f"PostgreSQL refused the bridge's user ({error}). Check the user and password in "
            "database.url and that pg_hba.conf lets it connect."
        )
    if isinstance(error, sqlite3.OperationalError):
        return (
            f"Cannot open the SQLite database ({error}). Check that the directory in "
            "database.url exists and the bridge may write to it."
        )
    if isinstance(error, OSError | ConnectionError):
        return (
            f"Cannot open the database ({type(error).__name__}: {error}). Check database.url "
            "and that the database server runs and accepts the bridge's user."
        )
    return None
