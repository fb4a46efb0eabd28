"""Matching what an IRC server sends back to what the bridge sent.

Two jobs, one table:

- **echoes**: with echo-message the server sends every message we send back to us,
  with its msgid. A message that came from Matrix must not be bridged back to
  Matrix, and its msgid is what later IRC replies refer to;
- **answers**: a command sent for a Matrix user (a topic change, a WHOIS, a KICK) is
  answered by an event or an error numeric that the user should hear about (a WHOIS
  by several numerics, collected until its end).

With labeled-response every line we send carries a label and the server tags its
answer with it, so matching is exact. Without it (Libera's Solanum, for one) echoes
are matched by target and text in the order they were sent, which holds because a
server relays one client's lines in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .protocol import (
    BatchEndEvent,
    BatchStartEvent,
    IRCEvent,
    MessageEvent,
    ReplyEvent,
    TopicEvent,
)

log = logging.getLogger("bridgekit.irc.tracking")

Answer = IRCEvent | None
Accept = Callable[[IRCEvent], bool]
T = TypeVar("T")

# Enough for a burst of long multi-line messages; older entries are forgotten (their
# waiters time out) so that a server that never answers cannot grow our memory.
_LIMIT = 512


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[Answer] | None
    accept: Accept
    swallow: bool


@dataclass(slots=True)
class _Watch:
    future: asyncio.Future[Answer]
    accept: Accept
    swallow: bool


@dataclass(slots=True)
class _Collector:
    future: asyncio.Future[list[IRCEvent]]
    label: str | None
    accept: Accept
    end: Accept
    events: list[IRCEvent]

    def take(self, event: IRCEvent) -> bool | None:
        """``None`` if ``event`` is not part of the answer; else whether it ends it."""
        if self.label is not None:
            if event.label != self.label:
                return None
            if isinstance(event, BatchEndEvent):
                return True
            if isinstance(event, BatchStartEvent):
                return False
        elif not self.accept(event):
            return None
        self.events.append(event)
        return self.end(event)


@dataclass(slots=True)
class _Unlabeled:
    kind: str
    target: str
    text: str
    future: asyncio.Future[Answer] | None


def _is_echo(event: IRCEvent) -> bool:
    return isinstance(event, MessageEvent) and event.is_echo


class Outbox:
    """What one connection sent and still expects to hear back about.

    ``casefold`` folds nicks and channel names the server's way. Call :meth:`offer`
    with every event before handling it; it says whether the event is an echo or
    answer that must not be bridged to Matrix.
    """

    def __init__(self, casefold: Callable[[str], str]) -> None:
        self._casefold = casefold
        self._labels: OrderedDict[str, _Waiter] = OrderedDict()
        self._unlabeled: deque[_Unlabeled] = deque()
        self._watches: deque[_Watch] = deque()
        self._collectors: deque[_Collector] = deque()
        self._ids = itertools.count(1)

    def new_label(self) -> str:
        """A label for a command of ours (distinct from the connection's own labels)."""
        return f"bkr{next(self._ids)}"

    def expect(self, label: str, accept: Accept, *, swallow: bool) -> asyncio.Future[Answer]:
        """Watch for the event labelled ``label`` that ``accept`` matches, or an error
        numeric with that label; the future resolves to it (``None`` when the server
        ends the label's batch without one, or the connection drops). ``swallow``:
        the event is an answer for the requester only, not to be bridged."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._labels[label] = _Waiter(future, accept, swallow)
        self._trim()
        return future

    def watch(self, accept: Accept, *, swallow: bool) -> asyncio.Future[Answer]:
        """Watch for the first event that ``accept`` matches, for a command sent without
        a label (``accept`` must recognise the error numerics that refuse it, too).
        ``swallow``: the event is not bridged (an error numeric never is, as with a
        label). Call :meth:`forget` when giving up."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._watches.append(_Watch(future, accept, swallow))
        self._trim()
        return future

    def collect(
        self, label: str | None, accept: Accept, end: Accept
    ) -> asyncio.Future[list[IRCEvent]]:
        """Gather a multi-line answer (the numerics of a WHOIS): every event labelled
        ``label`` until its batch ends, or without a label every event ``accept``
        matches, until one that ``end`` matches (which is included). The events are
        swallowed. Call :meth:`forget` when giving up."""
        future: asyncio.Future[list[IRCEvent]] = asyncio.get_running_loop().create_future()
        self._collectors.append(_Collector(future, label, accept, end, []))
        self._trim()
        return future

    def forget(self, future: asyncio.Future[Any]) -> None:
        """Stop watching for the answer ``future`` waits for (it timed out)."""
        self._watches = deque(w for w in self._watches if w.future is not future)
        self._collectors = deque(c for c in self._collectors if c.future is not future)
        for label, waiter in list(self._labels.items()):
            if waiter.future is future:
                del self._labels[label]

    def expect_sent(
        self, kind: str, target: str, parts: tuple[str, ...], labels: tuple[str | None, ...]
    ) -> asyncio.Future[Answer]:
        """Watch for the echoes of a message sent as ``parts`` (each with its label, or
        ``None`` without labeled-response). ``kind`` is ``privmsg``, ``notice``,
        ``action`` or ``topic``. The future resolves to the first part's echo or the
        error the server answered instead; every echo is swallowed."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        folded = self._casefold(target)
        accept = _is_echo if kind != "topic" else _is_topic
        for index, (part, label) in enumerate(zip(parts, labels, strict=True)):
            first = future if index == 0 else None
            if label is not None:
                self._labels[label] = _Waiter(first, accept, swallow=True)
            else:
                self._unlabeled.append(_Unlabeled(kind, folded, part, first))
        self._trim()
        return future

    def _trim(self) -> None:
        while len(self._labels) > _LIMIT:
            _finish(self._labels.popitem(last=False)[1].future, None)
        while len(self._unlabeled) > _LIMIT:
            _finish(self._unlabeled.popleft().future, None)
        while len(self._watches) > _LIMIT:
            _finish(self._watches.popleft().future, None)
        while len(self._collectors) > _LIMIT:
            collector = self._collectors.popleft()
            _finish(collector.future, collector.events)

    def offer(self, event: IRCEvent, own_nick: str) -> bool:
        """Match ``event`` against what we wait for; ``True`` if it must not be bridged."""
        for collector in self._collectors:
            ended = collector.take(event)
            if ended is None:
                continue
            if ended:
                self._collectors.remove(collector)
                _finish(collector.future, collector.events)
            return True
        label = event.label
        if label is not None and label in self._labels:
            waiter = self._labels[label]
            if isinstance(event, BatchEndEvent):
                del self._labels[label]
                _finish(waiter.future, None)
                return False
            if isinstance(event, ReplyEvent) and event.is_error:
                del self._labels[label]
                _finish(waiter.future, event)
                return True
            if waiter.accept(event):
                del self._labels[label]
                _finish(waiter.future, event)
                return waiter.swallow
            return False
        for watch in self._watches:
            if watch.accept(event):
                self._watches.remove(watch)
                _finish(watch.future, event)
                return watch.swallow or (isinstance(event, ReplyEvent) and event.is_error)
        if isinstance(event, MessageEvent) and event.is_echo:
            return self._take(event.kind, event.conversation, event.text, event)
        if (
            isinstance(event, TopicEvent)
            and not event.initial
            and event.setter is not None
            and self._casefold(event.setter) == self._casefold(own_nick)
        ):
            return self._take("topic", event.channel, event.topic, event)
        if isinstance(event, ReplyEvent) and event.is_error and event.params:
            return self._refused(event)
        return False

    def _take(self, kind: str, target: str, text: str, event: IRCEvent) -> bool:
        """Match an echo to what we sent: the same text, or else (a server that
        rewrites text, say by stripping colours) the oldest line to that target."""
        folded = self._casefold(target)
        same_target = [e for e in self._unlabeled if e.kind == kind and e.target == folded]
        entry = next((e for e in same_target if e.text == text), None)
        if entry is None and same_target:
            entry = same_target[0]
        if entry is None:
            return False
        self._unlabeled.remove(entry)
        _finish(entry.future, event)
        return True

    def _refused(self, event: ReplyEvent) -> bool:
        """An unlabelled error about a target (404 cannot send, 401 no such nick)
        answers the oldest line to it that someone waits for."""
        folded = self._casefold(event.params[0])
        for entry in self._unlabeled:
            if entry.target == folded and entry.future is not None:
                self._unlabeled.remove(entry)
                _finish(entry.future, event)
                return True
        return False

    def release_waiters(self) -> None:
        """The connection dropped: stop waiting for answers. The echoes are still
        watched for, because lines queued before the drop go out after the reconnect."""
        for waiter in self._labels.values():
            _finish(waiter.future, None)
            waiter.future = None
        for entry in self._unlabeled:
            _finish(entry.future, None)
            entry.future = None
        for watch in self._watches:
            _finish(watch.future, None)
        self._watches.clear()
        for collector in self._collectors:
            _finish(collector.future, collector.events)
        self._collectors.clear()


async def wait_answer(future: asyncio.Future[Answer], seconds: float) -> Answer:
    """The answer, or ``None`` after ``seconds`` (the future stays registered, so a
    late echo is still recognised and not bridged back)."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(asyncio.shield(future), seconds)
    return None


def _is_topic(event: IRCEvent) -> bool:
    return isinstance(event, TopicEvent)


def _finish(future: asyncio.Future[T] | None, answer: T) -> None:
    if future is not None and not future.done():
        future.set_result(answer)
