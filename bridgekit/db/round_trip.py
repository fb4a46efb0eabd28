"""Reads that cross to SQLite's worker thread once.

mautrix's ``Database.fetch`` on SQLite goes to aiosqlite's worker thread three times
(execute, fetch the rows, close the cursor), and every crossing is a thread wake-up
and a hand-over of the GIL. A read on every bridged message (the duplicate check)
uses :func:`fetch` instead; on PostgreSQL it is ``Database.fetch`` as before.
"""

from __future__ import annotations

import re
from typing import Any

from mautrix.util.async_db import Database, Scheme

#: mautrix writes parameters as ``$1``; SQLite takes ``?1`` (what mautrix rewrites to).
_POSITIONAL = re.compile(r"\$(\d+)")


async def fetch(db: Database, query: str, *args: Any) -> list[Any]:
    """The rows of ``query`` (``$n`` parameters), as ``db.fetch`` returns them."""
    if db.scheme != Scheme.SQLITE:
        return list(await db.fetch(query, *args))
    conn: Any
    async with db.acquire() as conn:
        # The aiosqlite connection under mautrix's logging wrapper: one call runs the
        # statement and fetches its rows on the worker thread.
        return list(await conn.wrapped.execute_fetchall(_POSITIONAL.sub(r"?\1", query), args))
