"""Telethon sessions kept in the bridge's database instead of files.

Telethon's session API is synchronous, the database is not. So a ``BridgeSession``
is a ``StringSession`` (Telethon's in-memory session) that is filled from the database
before the client starts (``load_session``) and written back at moments the client
chooses (``save_session``):

- the auth key and data center go into the login's metadata as a string session;
- access hashes of users and channels go into ``telegram_entity`` (any time: they
  never hurt);
- the update state goes into ``telegram_update_state`` only when the client
  disconnects cleanly. Saving it while received messages may still wait in a portal
  queue could skip them after a crash; saving it late only means Telegram resends
  some messages, which the core drops as duplicates.
"""

from __future__ import annotations

import datetime
import logging

from telethon.sessions import StringSession
from telethon.tl import types

from bridgekit.network import LoginHandle

from .config import ServerOverride
from .store import EntityRow, TelegramStore, UpdateState

log = logging.getLogger("bridgekit.telegram.session")


class BridgeSession(StringSession):
    """A Telethon session whose state the bridge persists itself."""

    def __init__(self, string: str | None = None) -> None:
        super().__init__(string)
        self._persisted_entities: set[EntityRow] = set()

    def entity_rows(self) -> set[EntityRow]:
        """Every entity row Telethon has cached in this session."""
        rows: set[EntityRow] = set(self._entities)
        return rows

    def new_entity_rows(self) -> set[EntityRow]:
        """Entity rows not yet written to the database."""
        return self.entity_rows() - self._persisted_entities

    def mark_entities_persisted(self, rows: set[EntityRow]) -> None:
        self._persisted_entities |= rows

    def load_entities(self, rows: list[EntityRow]) -> None:
        self._entities.update(rows)
        self._persisted_entities.update(rows)

    def load_update_states(self, states: list[UpdateState]) -> None:
        for state in states:
            date = datetime.datetime.fromtimestamp(state.date, tz=datetime.UTC)
            self.set_update_state(
                state.entity_id,
                types.updates.State(state.pts, state.qts, date, state.seq, unread_count=0),
            )

    def update_state_rows(self) -> list[UpdateState]:
        rows = []
        for entity_id, state in self.get_update_states():
            date = int(state.date.timestamp()) if state.date else 0
            rows.append(UpdateState(entity_id, state.pts, state.qts, date, state.seq))
        return rows

    def to_string(self) -> str:
        """The auth key and data center as a string session."""
        value: str = StringSession.save(self)
        return value


def new_session(server: ServerOverride | None) -> BridgeSession:
    """An empty session pointed at the configured server (Telegram's own by default)."""
    session = BridgeSession()
    if server is not None:
        session.set_dc(server.dc_id, server.host, server.port)
    return session


async def load_session(store: TelegramStore, login: LoginHandle) -> BridgeSession:
    """The session of a stored login: its auth key, entities and update state."""
    session = BridgeSession(str(login.metadata.get("session") or "") or None)
    session.load_entities(await store.entities(login.id))
    session.load_update_states(await store.update_states(login.id))
    return session


async def save_session(
    store: TelegramStore, login: LoginHandle, session: BridgeSession, *, update_state: bool
) -> None:
    """Write the session back; the update state only with ``update_state``."""
    string = session.to_string()
    if string and login.metadata.get("session") != string:
        login.metadata["session"] = string
        await login.save()
    rows = session.new_entity_rows()
    if rows:
        await store.save_entities(login.id, rows)
        session.mark_entities_persisted(rows)
    if update_state:
        await store.save_update_states(login.id, session.update_state_rows())
