"""Fault injection: make the server misbehave the way Telegram does, on demand.

Available through ``server.faults``::

    server.faults.flood_wait("messages.sendMessage", seconds=3)        # next call only
    server.faults.fail("messages.getHistory", "CHANNEL_PRIVATE", times=2)
    server.faults.drop_connection_on("messages.sendMessage")           # no answer, TCP closed
    server.faults.delay("upload.getFile", 0.5)
    with server.faults.withhold_updates(alice):                        # pts gap for alice
        server.send_message(bob, alice, "missed")
    server.faults.difference_too_long(alice)                           # next getDifference

Methods are named like the TL schema (``"messages.sendMessage"``) or given as the
Telethon request class (``functions.messages.SendMessageRequest``). Revoking
sessions and dropping connections are on the server itself
(``server.revoke_sessions``, ``server.drop_connections``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from telethon.tl import functions

from .rpc import RpcError
from .world import User


def request_id(method: str | type) -> int:
    """The constructor ID of a method given as ``"ns.name"`` or as a Telethon request class."""
    if isinstance(method, type):
        return int(method.CONSTRUCTOR_ID)  # type: ignore[attr-defined]
    namespace, _, name = method.rpartition(".")
    module: Any = getattr(functions, namespace) if namespace else functions
    cls = getattr(module, name[0].upper() + name[1:] + "Request", None)
    if cls is None:
        raise ValueError(f"unknown Telegram method {method!r}")
    return int(cls.CONSTRUCTOR_ID)


def error_code_for(message: str) -> int:
    """The HTTP-like code Telegram uses for an error message."""
    if message.startswith("FLOOD_WAIT_") or message.startswith("SLOWMODE_WAIT_"):
        return 420
    if re.fullmatch(r"[A-Z_]+_MIGRATE_\d+", message):
        return 303
    if message in {
        "AUTH_KEY_UNREGISTERED",
        "AUTH_KEY_INVALID",
        "USER_DEACTIVATED",
        "USER_DEACTIVATED_BAN",
        "SESSION_REVOKED",
        "SESSION_EXPIRED",
        "SESSION_PASSWORD_NEEDED",
    }:
        return 401
    if message in {"CHAT_WRITE_FORBIDDEN", "CHAT_ADMIN_REQUIRED", "USER_BANNED_IN_CHANNEL"}:
        return 403
    if message.startswith("INTERNAL") or message.endswith("_FAILED"):
        return 500
    return 400


@dataclass
class _Rule:
    constructor_id: int
    action: str  # "error", "drop" or "delay"
    remaining: int
    user_id: int | None
    error: RpcError | None = None
    seconds: float = 0.0


class Faults:
    """The fault plan of one server; every rule is consumed as it fires."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._withheld: dict[int, int] = {}
        self._too_long: set[int] = set()
        # How many pushes were withheld per user, for tests to check their setup.
        self.withheld_counts: dict[int, int] = {}

    def clear(self) -> None:
        """Forget every pending fault."""
        self._rules.clear()
        self._withheld.clear()
        self._too_long.clear()

    def fail(
        self,
        method: str | type,
        error: str,
        *,
        code: int | None = None,
        times: int = 1,
        user: User | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (by ``user``, if given) with ``error``."""
        rpc_error = RpcError(code if code is not None else error_code_for(error), error)
        self._rules.append(
            _Rule(request_id(method), "error", times, user.id if user else None, rpc_error)
        )

    def flood_wait(
        self, method: str | type, seconds: int, *, times: int = 1, user: User | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``FLOOD_WAIT_<seconds>``."""
        self.fail(method, f"FLOOD_WAIT_{seconds}", code=420, times=times, user=user)

    def drop_connection_on(
        self, method: str | type, *, times: int = 1, user: User | None = None
    ) -> None:
        """Close the connection instead of answering (the client will resend the call)."""
        self._rules.append(_Rule(request_id(method), "drop", times, user.id if user else None))

    def delay(
        self, method: str | type, seconds: float, *, times: int = 1, user: User | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds``."""
        self._rules.append(
            _Rule(request_id(method), "delay", times, user.id if user else None, seconds=seconds)
        )

    @contextlib.contextmanager
    def withhold_updates(self, user: User) -> Iterator[None]:
        """Log but do not push ``user``'s updates inside the block: a pts gap to recover from."""
        self._withheld[user.id] = self._withheld.get(user.id, 0) + 1
        try:
            yield
        finally:
            self._withheld[user.id] -= 1
            if not self._withheld[user.id]:
                del self._withheld[user.id]

    def difference_too_long(self, user: User) -> None:
        """Make ``user``'s next ``getDifference`` answer ``differenceTooLong``."""
        self._too_long.add(user.id)

    # -- hooks used by the server --------------------------------------------------

    def should_withhold(self, user: User) -> bool:
        """Whether pushes to ``user`` are being withheld right now (and count it)."""
        if user.id in self._withheld:
            self.withheld_counts[user.id] = self.withheld_counts.get(user.id, 0) + 1
            return True
        return False

    def take_difference_too_long(self, user: User) -> bool:
        """Consume a pending ``differenceTooLong`` for ``user``."""
        if user.id in self._too_long:
            self._too_long.discard(user.id)
            return True
        return False

    def take(self, request: Any, user_id: int | None) -> _Rule | None:
        """The rule that fires for this call, if any (its count is consumed)."""
        constructor_id = getattr(request, "CONSTRUCTOR_ID", None)
        for rule in self._rules:
            if rule.constructor_id == constructor_id and rule.user_id in (None, user_id):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                return rule
        return None
