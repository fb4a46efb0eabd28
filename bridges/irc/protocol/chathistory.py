"""IRCv3 ``draft/chathistory``: asking for missed messages and collecting the answer.

The server answers ``CHATHISTORY`` with one ``chathistory`` batch (possibly empty, or
wrapped in a ``labeled-response`` batch), and ``CHATHISTORY TARGETS`` (which chats
had messages in a time span) with one ``draft/chathistory-targets`` batch. Events
inside a claimed batch are handed to the waiting request instead of the live event
stream, so history is never mistaken for new messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from . import events as ev
from .errors import ChatHistoryError

Subcommand = Literal["LATEST", "AFTER", "BEFORE", "AROUND"]

#: The pseudo-target of a ``CHATHISTORY TARGETS`` request (no chat has an empty name).
TARGETS = ""
_TARGETS_BATCHES = frozenset({"draft/chathistory-targets", "chathistory-targets"})


def by_time(moment: datetime) -> str:
    """A CHATHISTORY selector for a point in time."""
    utc = moment.astimezone(UTC)
    return f"timestamp={utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond // 1000:03d}Z"


def by_msgid(msgid: str) -> str:
    """A CHATHISTORY selector for a message ID."""
    return f"msgid={msgid}"


@dataclass(slots=True)
class _Request:
    target_folded: str
    label: str | None
    future: asyncio.Future[list[ev.IRCEvent]]
    batches: set[str] = field(default_factory=set)
    events: list[ev.IRCEvent] = field(default_factory=list)
    answered: bool = False


class HistoryCollector:
    """Pending CHATHISTORY requests of one connection.

    The connection passes every translated event through :meth:`offer` before publishing
    it; ``True`` means the collector took it.
    """

    def __init__(self, casefold: Callable[[str], str]) -> None:
        self._casefold = casefold
        self._pending: list[_Request] = []
        self._by_batch: dict[str, _Request] = {}

    def expect(self, target: str, label: str | None) -> asyncio.Future[list[ev.IRCEvent]]:
        """Register a request that was just sent (``target`` is :data:`TARGETS` for a
        ``CHATHISTORY TARGETS``); the future resolves to its events."""
        future: asyncio.Future[list[ev.IRCEvent]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(self._casefold(target), label, future))
        return future

    def _match(self, target: str | None, label: str | None) -> _Request | None:
        for request in self._pending:
            if request.answered:
                continue
            if label is not None and request.label == label:
                return request
            if request.label is None and target is not None:
                if self._casefold(target) == request.target_folded:
                    return request
        return None

    def offer(self, event: ev.IRCEvent) -> bool:
        """Take ``event`` if it belongs to a pending request."""
        if isinstance(event, ev.BatchStartEvent):
            return self._batch_start(event)
        if isinstance(event, ev.BatchEndEvent):
            return self._batch_end(event)
        if isinstance(event, ev.StandardReplyEvent):
            return self._fail(event)
        if event.batch is not None and event.batch in self._by_batch:
            request = self._by_batch[event.batch]
            request.events.append(event)
            return True
        return False

    def _batch_start(self, event: ev.BatchStartEvent) -> bool:
        parent = self._by_batch.get(event.batch) if event.batch else None
        if event.type == "labeled-response":
            request = self._match(None, event.label)
        elif event.type == "chathistory":
            request = parent or self._match(event.params[0] if event.params else None, event.label)
        elif event.type in _TARGETS_BATCHES:
            request = parent or self._match(TARGETS, event.label)
        else:
            request = parent
        if request is None:
            return False
        self._by_batch[event.reference] = request
        request.batches.add(event.reference)
        if event.type == "chathistory" or event.type in _TARGETS_BATCHES:
            request.answered = True
        return True

    def _batch_end(self, event: ev.BatchEndEvent) -> bool:
        request = self._by_batch.pop(event.reference, None)
        if request is None:
            return False
        request.batches.discard(event.reference)
        if not request.batches:
            self._resolve(request)
        return True

    def acknowledged(self, label: str) -> None:
        """A labeled ``ACK``: the server answered with nothing at all."""
        request = self._match(None, label)
        if request is not None:
            self._resolve(request)

    def _fail(self, event: ev.StandardReplyEvent) -> bool:
        if event.command.upper() != "CHATHISTORY" or event.severity != "FAIL":
            return False
        request = self._match(None, event.label) if event.label else None
        if request is None:
            request = next((r for r in self._pending if not r.answered), None)
        if request is None:
            return False
        self._pending.remove(request)
        if not request.future.done():
            request.future.set_exception(ChatHistoryError(f"{event.code}: {event.description}"))
        return True

    def _resolve(self, request: _Request) -> None:
        if request in self._pending:
            self._pending.remove(request)
        if not request.future.done():
            request.future.set_result(request.events)

    def cancel(self, future: asyncio.Future[list[ev.IRCEvent]]) -> None:
        """Forget the request behind ``future`` (it timed out)."""
        for request in list(self._pending):
            if request.future is future:
                self._pending.remove(request)
                for reference in request.batches:
                    self._by_batch.pop(reference, None)

    def fail_all(self, reason: str) -> None:
        """The connection dropped: no pending request will be answered."""
        for request in self._pending:
            if not request.future.done():
                request.future.set_exception(ChatHistoryError(reason))
        self._pending.clear()
        self._by_batch.clear()
