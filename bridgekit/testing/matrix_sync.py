"""The receiving side of :class:`~bridgekit.testing.matrix_client.MatrixTestClient`.

A background ``/sync`` loop that buffers everything it receives, so a test can wait
for an event that may already have arrived before it started waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Event", "EventPredicate", "Invite", "SyncWatcher"]

log = logging.getLogger("bridgekit.testing.matrix_sync")

Event = dict[str, Any]
EventPredicate = Callable[[Event], bool]
SyncFetcher = Callable[[Mapping[str, str]], Awaitable[Mapping[str, Any]]]
_T = TypeVar("_T")

# The initial sync returns this many recent events per room, so events that arrived
# shortly before a test started waiting can still be matched.
_TIMELINE_LIMIT = 100
# Short long-polls keep close() prompt; new events end a long-poll at once anyway.
_POLL_TIMEOUT_MS = "1000"
_FAILURES_BEFORE_GIVING_UP = 20
# The wait_* methods take a ``timeout`` (hence the ASYNC109 exemptions) rather than
# leaving it to the caller's asyncio.timeout: on expiry they raise an error that
# names what was awaited and what arrived instead.


@dataclass(frozen=True)
class Invite:
    """A pending invite seen through ``/sync``: the room and its stripped state."""

    room_id: str
    inviter: str | None
    is_direct: bool
    state: list[Event] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        """The room name shown in the invite, if the inviter shared one."""
        for event in self.state:
            if event.get("type") == "m.room.name":
                name = event.get("content", {}).get("name")
                return name if isinstance(name, str) else None
        return None

    @property
    def is_space(self) -> bool:
        """Whether the invite is to a space (such as a bridge login's personal space)."""
        return any(
            event.get("type") == "m.room.create"
            and event.get("content", {}).get("type") == "m.space"
            for event in self.state
        )


def _summary(event: Event) -> str:
    body = event.get("content", {}).get("body", "")
    return f"{event.get('type')} from {event.get('sender')}: {body!r}"


class SyncWatcher:
    """Runs ``/sync`` for one user in the background and buffers what arrives.

    ``fetch`` performs one ``GET /sync`` with the given query parameters. Timeline
    (and room state) events are kept per room, oldest first, each with ``room_id``
    filled in and de-duplicated by event ID; ephemeral events likewise; invites are
    kept until the room is joined or left.
    """

    def __init__(self, user_id: str, fetch: SyncFetcher) -> None:
        self.user_id = user_id
        self._fetch = fetch
        self._task: asyncio.Task[None] | None = None
        self._since: str | None = None
        self._synced_once = asyncio.Event()
        self._updated = asyncio.Event()
        self._error: BaseException | None = None
        self._timelines: dict[str, list[Event]] = {}
        self._seen_event_ids: set[str] = set()
        self._ephemeral: dict[str, list[Event]] = {}
        self._invites: dict[str, Invite] = {}

    async def start(self) -> None:
        """Start the loop if it is not running, and return once the first sync is in."""
        if self._task is None or self._task.done():
            self._error = None
            self._task = asyncio.create_task(self._loop(), name=f"matrix-test-sync {self.user_id}")
        waiter = asyncio.ensure_future(self._synced_once.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not self._synced_once.is_set():
            raise RuntimeError(f"/sync for {self.user_id} failed") from self._error

    async def stop(self) -> None:
        """Stop the loop; the buffers stay readable."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        sync_filter = json.dumps(
            {"room": {"timeline": {"limit": _TIMELINE_LIMIT}}, "presence": {"limit": 0}}
        )
        failures = 0
        while True:
            params = {"timeout": _POLL_TIMEOUT_MS, "filter": sync_filter}
            if self._since is not None:
                params["since"] = self._since
            try:
                result = await self._fetch(params)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                failures += 1
                self._error = err
                log.warning("sync for %s failed (%d in a row): %s", self.user_id, failures, err)
                if failures >= _FAILURES_BEFORE_GIVING_UP and not self._synced_once.is_set():
                    raise
                await asyncio.sleep(min(0.1 * failures, 2.0))
                continue
            failures = 0
            self._since = result.get("next_batch", self._since)
            self._absorb(result)
            self._synced_once.set()
            # Wake every waiter, then give later waiters a fresh event to wait on.
            self._updated.set()
            self._updated = asyncio.Event()

    def _absorb(self, result: Mapping[str, Any]) -> None:
        rooms = result.get("rooms", {})
        for room_id, room in rooms.get("join", {}).items():
            self._invites.pop(room_id, None)
            events = room.get("state", {}).get("events", [])
            self._buffer(room_id, events + room.get("timeline", {}).get("events", []))
            ephemeral = self._ephemeral.setdefault(room_id, [])
            for event in room.get("ephemeral", {}).get("events", []):
                ephemeral.append({**event, "room_id": room_id})
        for room_id, room in rooms.get("leave", {}).items():
            self._invites.pop(room_id, None)
            self._buffer(room_id, room.get("timeline", {}).get("events", []))
        for room_id, room in rooms.get("invite", {}).items():
            state = [
                {**event, "room_id": room_id}
                for event in room.get("invite_state", {}).get("events", [])
            ]
            own: Event = next(
                (
                    event
                    for event in state
                    if event.get("type") == "m.room.member"
                    and event.get("state_key") == self.user_id
                ),
                {},
            )
            self._invites[room_id] = Invite(
                room_id=room_id,
                inviter=own.get("sender"),
                is_direct=bool(own.get("content", {}).get("is_direct", False)),
                state=state,
            )

    def _buffer(self, room_id: str, events: Iterable[Event]) -> None:
        timeline = self._timelines.setdefault(room_id, [])
        for event in events:
            event_id = event.get("event_id")
            if event_id is not None:
                if event_id in self._seen_event_ids:
                    continue
                self._seen_event_ids.add(event_id)
            timeline.append({**event, "room_id": room_id})

    def timeline(self, room_id: str) -> list[Event]:
        """The events received so far in the room, oldest first."""
        return list(self._timelines.get(room_id, []))

    def forget_invite(self, room_id: str) -> None:
        """Drop a pending invite the user has just acted on, before sync reports it."""
        self._invites.pop(room_id, None)

    async def _wait(
        self,
        find: Callable[[], _T | None],
        deadline_s: float,
        describe: Callable[[], str],
    ) -> _T:
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while True:
            found = find()
            if found is not None:
                return found
            if self._task is not None and self._task.done():
                raise RuntimeError(f"/sync for {self.user_id} stopped") from self._error
            remaining = deadline - loop.time()
            if remaining <= 0:
                error = f"; last sync error: {self._error}" if self._error else ""
                raise TimeoutError(f"{self.user_id}: {describe()} within {deadline_s} s{error}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updated.wait(), remaining)

    async def wait_for_event(
        self,
        room_id: str,
        predicate: EventPredicate,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> Event:
        """See :meth:`MatrixTestClient.wait_for_event`."""

        def find() -> Event | None:
            return next((e for e in self._timelines.get(room_id, []) if predicate(e)), None)

        def describe() -> str:
            seen = [_summary(e) for e in self._timelines.get(room_id, [])[-10:]]
            return f"no matching event in {room_id} (last events: {seen})"

        return await self._wait(find, timeout, describe)

    async def wait_for_ephemeral(
        self,
        room_id: str,
        predicate: EventPredicate,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> Event:
        """See :meth:`MatrixTestClient.wait_for_ephemeral`."""

        def find() -> Event | None:
            return next((e for e in self._ephemeral.get(room_id, []) if predicate(e)), None)

        def describe() -> str:
            seen = [e.get("type") for e in self._ephemeral.get(room_id, [])[-10:]]
            return f"no matching ephemeral event in {room_id} (last: {seen})"

        return await self._wait(find, timeout, describe)

    async def wait_for_invite(
        self,
        predicate: Callable[[Invite], bool] | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> str:
        """See :meth:`MatrixTestClient.wait_for_invite`."""

        def find() -> str | None:
            for invite in self._invites.values():
                if predicate is None or predicate(invite):
                    return invite.room_id
            return None

        def describe() -> str:
            pending = [(i.room_id, i.inviter) for i in self._invites.values()]
            return f"no matching invite (pending: {pending})"

        return await self._wait(find, timeout, describe)
