"""Discord snowflake IDs.

A snowflake is a 64-bit integer: milliseconds since the Discord epoch (2015-01-01) in
the top 42 bits, then worker (5 bits), process (5 bits) and a 12-bit increment. Clients
read the creation time out of IDs (discord.py picks a rate-limit sub-bucket for deletes
of young messages from it), so the server mints real ones from the wall clock.
"""

from __future__ import annotations

import datetime
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeGenerator:
    """Mints strictly increasing snowflakes whose timestamps are the current time.

    IDs minted in the same millisecond differ in the increment; if the increment would
    overflow (4096 IDs in one millisecond) the timestamp part is advanced instead, so
    ordering by ID always equals ordering by creation.
    """

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._prefix = ((worker & 0x1F) << 17) | ((process & 0x1F) << 12)
        self._last_ms = 0
        self._increment = 0

    def next(self) -> int:
        """Return a new snowflake, greater than every one returned before."""
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if now_ms > self._last_ms:
            self._last_ms = now_ms
            self._increment = 0
        else:
            self._increment += 1
            if self._increment > 0xFFF:
                self._last_ms += 1
                self._increment = 0
        return (self._last_ms << 22) | self._prefix | self._increment


def snowflake_time(snowflake: int) -> datetime.datetime:
    """Return the UTC creation time encoded in ``snowflake``."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def snowflake_from_time(when: datetime.datetime) -> int:
    """Return the smallest snowflake created at ``when`` (for history range queries)."""
    return (int(when.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22


def iso_timestamp(when: datetime.datetime | None = None) -> str:
    """Format ``when`` (default: now) the way the API does: ISO 8601 with microseconds."""
    when = when or datetime.datetime.now(tz=datetime.UTC)
    return when.isoformat(timespec="microseconds")
