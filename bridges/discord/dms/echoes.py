"""Changes the bridge made as the user's account, remembered until the gateway
reports them back, so that they are not bridged a second time.

New messages need no such list: their echo carries the ID the bridge already
stored for the Matrix event, and the core drops known IDs. Edits, deletions and
reactions carry nothing of the kind.
"""

from __future__ import annotations

import time

#: Seconds after which an echo that never came is forgotten.
ECHO_TTL = 60.0


class OwnEchoes:
    """Expected gateway echoes, by kind (``edit``, ``delete``, ``react``,
    ``unreact``) and what they touch (a message ID, and an emoji)."""

    def __init__(self) -> None:
        self._expected: dict[tuple[object, ...], float] = {}

    def expect(self, kind: str, *key: object) -> None:
        """The bridge is about to make this change."""
        now = time.monotonic()
        self._expected = {k: t for k, t in self._expected.items() if now - t < ECHO_TTL}
        self._expected[(kind, *key)] = now

    def forget(self, kind: str, *key: object) -> None:
        """The change failed: no echo will come."""
        self._expected.pop((kind, *key), None)

    def take(self, kind: str, *key: object) -> bool:
        """Whether an event is the echo of such a change (each echo is taken once)."""
        when = self._expected.pop((kind, *key), None)
        return when is not None and time.monotonic() - when < ECHO_TTL
