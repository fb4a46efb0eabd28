"""Fault injection: make the next REST requests fail, or misbehave on the gateway.

``server.faults.fail_rest("/channels/{channel_id}/messages", method="POST")`` makes the
next matching request answer 429 (``retry_after`` 0.2 s by default), or any ``status``.
Gateway faults (dropped socket, forced close code, RECONNECT, INVALID_SESSION, rejected
IDENTIFY, withheld heartbeat ACKs) act on the live connections of an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .protocol import CloseCode

if TYPE_CHECKING:
    from .entities import Account
    from .gateway import Gateway


@dataclass
class RestFault:
    """Answer the next ``times`` requests matching ``method`` + ``route`` with
    ``status``. ``hits`` counts the requests it answered."""

    route: str
    method: str | None
    times: int
    status: int = 429
    retry_after: float = 0.2
    is_global: bool = False
    body: dict[str, Any] | None = None
    hits: int = 0

    def matches(self, method: str, route: str) -> bool:
        """Whether this fault applies to a request (and still has uses left)."""
        if self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.route in ("*", route)

    def response_body(self) -> dict[str, Any]:
        """The JSON body to send: Discord's 429 body, or a generic error body."""
        if self.body is not None:
            return self.body
        if self.status == 429:
            return {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": self.is_global,
            }
        return {"message": f"{self.status}: Injected fault", "code": 0}


class Faults:
    """The fault API of a test server (``server.faults``)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.rest: list[RestFault] = []

    # -- REST -------------------------------------------------------------------------

    def fail_rest(
        self,
        route: str,
        *,
        method: str | None = None,
        times: int = 1,
        status: int = 429,
        retry_after: float = 0.2,
        is_global: bool = False,
        body: dict[str, Any] | None = None,
    ) -> RestFault:
        """Fail the next ``times`` requests to ``route`` (a template such as
        ``/channels/{channel_id}/messages``, or ``*`` for any) with ``status``."""
        fault = RestFault(route, method, times, status, retry_after, is_global, body)
        self.rest.append(fault)
        return fault

    def take_rest(self, method: str, route: str) -> RestFault | None:
        """The fault that answers this request, if any (counts a hit)."""
        for fault in self.rest:
            if fault.matches(method, route):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        """Remove pending REST faults."""
        self.rest.clear()

    # -- gateway ----------------------------------------------------------------------

    def drop_gateway(self, account: Account | None = None) -> None:
        """Cut ``account``'s gateway socket(s) without a close frame; the client should
        RESUME and receive what was dispatched in between."""
        self._gateway.drop(account)

    def close_gateway(self, account: Account | None, code: int, reason: str = "") -> None:
        """Close ``account``'s gateway socket(s) with ``code`` (e.g. 4000, 4009, 4004)."""
        self._gateway.close(account, code, reason)

    def request_reconnect(self, account: Account | None = None) -> None:
        """Send op 7 RECONNECT."""
        self._gateway.request_reconnect(account)

    def invalidate_session(
        self, account: Account | None = None, *, resumable: bool = False
    ) -> None:
        """Send op 9 INVALID_SESSION."""
        self._gateway.invalidate_session(account, resumable=resumable)

    def reject_intents(self, times: int = 1) -> None:
        """Close the next ``times`` IDENTIFYs with 4014 (disallowed intents)."""
        self._gateway.reject_next_identify(CloseCode.DISALLOWED_INTENTS, times)

    def reject_identify(self, code: int, times: int = 1) -> None:
        """Close the next ``times`` IDENTIFYs with ``code``."""
        self._gateway.reject_next_identify(code, times)

    def withhold_heartbeat_acks(
        self, account: Account | None = None, withhold: bool = True
    ) -> None:
        """Stop (or resume) acknowledging ``account``'s heartbeats."""
        self._gateway.withhold_heartbeat_acks(account, withhold)
