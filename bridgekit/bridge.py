"""The bridge: wires the config, database, appservice, network connector and caches."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import aiohttp
from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixConnectionError, MatrixRequestError
from mautrix.types import (
    EventContent,
    EventID,
    EventType,
    MessageType,
    RoomID,
    TextMessageEventContent,
    UserID,
)
from mautrix.util.async_db import Database

from .commands import CommandProcessor
from .commands.network import register_network_commands
from .config import Config, ConfigError, example_config
from .db import (
    GhostRecord,
    GhostStore,
    MatrixInbox,
    MessageStore,
    PortalRecord,
    PortalStore,
    ReactionStore,
    UserLoginRecord,
    UserLoginStore,
    UserRecord,
    UserStore,
    upgrade_table,
)
from .db.errors import explain_database_error
from .ghost import Ghost
from .matrix.appservice import BridgeAppService
from .matrix.handler import MatrixHandler
from .matrix.state_store import CachedStateStore
from .media import MediaLinks, decrypt_in_place, fetch_capped
from .metrics import BridgeMetrics
from .network.connector import NetworkConnector
from .network.content import MediaTooLarge
from .network.handles import BridgeStateEvent
from .network.ids import LoginID, MessageID, PortalKey, RemoteUserID
from .network.login import LoginComplete, LoginError
from .network.matrix import MessageRecord
from .portal import Portal
from .provisioning import setup_provisioning
from .user import Permission, User
from .user_login import UserLogin

if TYPE_CHECKING:
    from .matrix.encryption import Encryption

log = logging.getLogger("bridgekit.bridge")


class StartupError(RuntimeError):
    """The bridge cannot start; the message says what to fix."""


class Bridge:
    """One running bridge: one network, one config, one database.

    Portals, ghosts and users are loaded lazily on first use and cached, so start-up
    cost does not grow with the number of portals.
    """

    def __init__(self, connector: NetworkConnector, config: Config) -> None:
        self.connector = connector
        self.config = config
        # aiosqlite's debug log prints query parameters, which include login secrets
        # passing through the inbox: never let it log at DEBUG.
        logging.getLogger("aiosqlite").setLevel(logging.INFO)
        url = str(config["database.url"])
        self.db = Database.create(
            url,
            upgrade_table=upgrade_table,
            log=logging.getLogger("bridgekit.db"),
            # mautrix exits the process when asyncpg trips over a connection that the
            # server closed; the bridge retries the work instead (bridgekit.retry).
            db_args={"meow_exit_on_ice": False}
            if url.startswith(("postgres", "cockroach"))
            else None,
        )
        self.users_db = UserStore(self.db)
        self.logins_db = UserLoginStore(self.db)
        self.portals_db = PortalStore(self.db)
        self.ghosts_db = GhostStore(self.db)
        self.messages_db = MessageStore(self.db)
        self.reactions_db = ReactionStore(self.db)
        self.inbox = MatrixInbox(self.db)
        self.domain: str = config["homeserver.domain"]
        self.encryption_enabled = bool(config.get("encryption.allow"))
        self.bot_mxid = UserID(f"@{config['appservice.bot.username']}:{self.domain}")
        template = config["appservice.ghost_username_template"]
        prefix, _, suffix = template.partition("{userid}")
        self._ghost_re = re.compile(
            f"^@{re.escape(prefix)}(.+){re.escape(suffix)}:{re.escape(self.domain)}$"
        )
        self._ghost_template = template
        self.appservice = BridgeAppService(
            server=config["homeserver.address"],
            domain=self.domain,
            as_token=config["appservice.as_token"],
            hs_token=config["appservice.hs_token"],
            bot_localpart=config["appservice.bot.username"],
            id=config["appservice.id"],
            verify_ssl=bool(config.get("homeserver.verify_ssl", True)),
            state_store=CachedStateStore(self.db),
            bridge_name=connector.name.network_id,
            ephemeral_events=bool(config.get("appservice.ephemeral_events", True))
            or self.encryption_enabled,
            encryption_events=self.encryption_enabled and bool(config.get("encryption.appservice")),
            log=logging.getLogger("bridgekit.appservice"),
        )
        self.users: dict[str, User] = {}
        self.logins: dict[LoginID, UserLogin] = {}
        self.portals: dict[PortalKey, Portal] = {}
        self.portals_by_mxid: dict[str, Portal] = {}
        self.ghosts: dict[RemoteUserID, Ghost] = {}
        self._lock = asyncio.Lock()
        self.background_tasks: set[asyncio.Task[None]] = set()
        self.metrics = BridgeMetrics(self)
        self.commands = CommandProcessor(self)
        register_network_commands(self.commands, connector.get_commands())
        self.matrix = MatrixHandler(self)
        self.encryption_default = self.encryption_enabled and bool(config.get("encryption.default"))
        self.encryption: Encryption | None = None
        if self.encryption_enabled:
            # Imported only when needed: the crypto libraries take memory.
            from .matrix.encryption import Encryption as _Encryption

            self.encryption = _Encryption(self)
        self.stopping = False
        self.max_media_size: int = int(config.get("bridge.max_media_size", 50 * 1024 * 1024))
        self.media_links = MediaLinks(
            self, config.get("bridge.public_media_url"), config["appservice.as_token"]
        )

    # Lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database, start the appservice, check the homeserver, load logins.
        Raises ``StartupError`` with what to fix for the usual deployment mistakes."""
        try:
            self.connector.load_config(dict(self.config.get("network") or {}))
        except ValueError as e:
            raise StartupError(f"The network section of the config is wrong: {e}") from e
        try:
            await self.db.start()
            await CachedStateStore.upgrade_table.upgrade(self.db)
        except Exception as e:
            explanation = explain_database_error(e)
            if explanation is None:
                raise
            raise StartupError(explanation) from e
        self.matrix.register()
        if self.config.get("metrics.enabled"):
            self.metrics.add_route(self.appservice.app)
        self.media_links.add_routes(self.appservice.app)
        setup_provisioning(self)
        host, port = self.config["appservice.hostname"], int(self.config["appservice.port"])
        try:
            await self.appservice.start(host=host, port=port)
        except OSError as e:
            raise StartupError(
                f"Cannot listen on {host}:{port} ({e.strerror or e}). Is another bridge or "
                "program using the port? Change appservice.port (and the registration's url, "
                "with -g) or stop the other program."
            ) from e
        await self.check_homeserver()
        if self.encryption is not None:
            await self.encryption.start()
        await self.connector.start(self)
        for record in await self.logins_db.all():
            user = await self.get_user(record.user_mxid)
            await self._load_login(user, record)
        await self.connector.logins_loaded()
        await self.matrix.replay_inbox()
        self.appservice.ready = True
        log.info("Bridge %s is ready", self.connector.name.network_id)

    async def check_homeserver(self) -> None:
        """Register the bot, then ask the homeserver to ping us (proving it can reach
        the bridge); raise ``StartupError`` saying what is wrong if not."""
        address = self.config["homeserver.address"]
        try:
            await self.bot_intent.ensure_registered()
        except (aiohttp.ClientError, MatrixConnectionError) as e:
            raise StartupError(
                f"Cannot reach the homeserver at {address} ({e}). Check homeserver.address."
            ) from e
        except MatrixRequestError as e:
            raise StartupError(
                f"The homeserver refused the bridge's as_token ({e.errcode}): is "
                "registration.yaml listed in the homeserver's app_service_config_files, and "
                "was the homeserver restarted after it was added?"
            ) from e
        try:
            await self._ping_with_retries()
        except MatrixRequestError as e:
            if e.errcode == "M_FORBIDDEN":
                raise StartupError(
                    f"The homeserver refused the bridge's ping ({e.errcode}: {e.message}). "
                    "That is not the network: the registration it loaded does not match this "
                    "config (appservice.id, homeserver.domain, appservice.bot.username). Fix "
                    "the config, run -g, give the homeserver the new registration and restart "
                    "it; --check-config compares them."
                ) from e
            raise StartupError(
                f"The homeserver cannot reach the bridge at {self.config['appservice.address']} "
                f"({e.errcode}: {e.message}). Check appservice.address and that the bridge "
                "listens where the homeserver can connect (appservice.hostname/port)."
            ) from e
        displayname = self.config.get("appservice.bot.displayname")
        if displayname:
            try:
                await self.bot_intent.set_displayname(str(displayname))
            except MatrixRequestError as e:
                log.warning("Could not set the bot's display name: %s", e)

    async def _ping_with_retries(self, attempts: int = 6) -> None:
        """The homeserver's appservice ping; a failure is retried for about eight seconds,
        since the homeserver can fail pings while it is still backing off from an
        earlier outage of the bridge, or reusing a connection to its old process."""
        for attempt in range(attempts):
            try:
                await self.appservice.ping_self()
                return
            except MatrixRequestError as e:
                if attempt == attempts - 1:
                    raise
                log.warning("Appservice ping failed (%s); trying again", e.errcode)
                await asyncio.sleep(min(0.5 * 2**attempt, 2.0))

    async def stop(self) -> None:
        """Disconnect logins, finish queued work and close everything (once)."""
        if self.stopping:
            return
        self.stopping = True
        self.appservice.ready = False
        for login in list(self.logins.values()):
            try:
                await login.client.disconnect()
            except Exception:
                log.exception("Failed to disconnect login %s", login.id)
        # Each step on its own: after a failed start some parts never started.
        for step in (self.connector.stop, self._drain_queued, self._stop_encryption):
            try:
                await step()
            except Exception:
                log.exception("Stopping the bridge: %s failed", step.__name__)
        if getattr(self.appservice, "runner", None) is not None:
            await self.appservice.stop()
        try:
            await self.db.stop()
        except Exception:
            log.exception("Stopping the bridge: closing the database failed")

    async def _drain_queued(self) -> None:
        await self._drain(seconds=10)

    async def _stop_encryption(self) -> None:
        if self.encryption is not None:
            await self.encryption.stop()

    async def _drain(self, seconds: float) -> None:
        """Let queued work finish (work may queue more work), then cancel leftovers
        such as logins still waiting for the user; their events stay in the inbox."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.background_tasks and loop.time() < deadline:
            await asyncio.wait(list(self.background_tasks), timeout=deadline - loop.time())
        for task in list(self.background_tasks):
            task.cancel()

    # BridgeHandle -----------------------------------------------------------------

    @property
    def database(self) -> Database:
        return self.db

    @property
    def network_config(self) -> dict[str, Any]:
        return dict(self.config.get("network") or {})

    def read_network_config(self) -> dict[str, Any]:
        """``BridgeHandle.read_network_config``: the ``network:`` section as the config
        file (and the environment) says now."""
        path = self.config.path
        if path is None:
            raise ValueError("this bridge was started without a config file")
        name = self.connector.name
        port = int(self.config["appservice.port"])
        example = example_config(
            name.network_id, name.display_name, port, self.connector.example_config
        )
        try:
            fresh = Config.load(path, example, save=False)
        except (OSError, ConfigError) as e:
            raise ValueError(f"cannot read {path}: {e}") from e
        fresh.apply_env(os.environ)
        section = dict(fresh.get("network") or {})
        self.config["network"] = section
        return section

    async def get_message(self, portal: PortalKey, message_id: MessageID) -> MessageRecord | None:
        parts = await self.messages_db.parts(portal, message_id)
        return parts[0] if parts else None

    def get_login(self, login_id: LoginID) -> UserLogin | None:
        return self.logins.get(login_id)

    # Matrix identities -------------------------------------------------------------

    @property
    def bot_intent(self) -> IntentAPI:
        return self.appservice.intent

    def ghost_mxid(self, user_id: RemoteUserID) -> str:
        localpart = self._ghost_template.replace("{userid}", _escape_localpart(user_id))
        return f"@{localpart}:{self.domain}"

    def is_ghost(self, mxid: str) -> bool:
        return bool(self._ghost_re.match(mxid))

    def ghost_id(self, mxid: str) -> RemoteUserID | None:
        """The remote user a ghost stands for, or ``None`` if ``mxid`` is no ghost."""
        match = self._ghost_re.match(mxid)
        return RemoteUserID(_unescape_localpart(match.group(1))) if match else None

    def is_bridge_user(self, mxid: str) -> bool:
        """The bot, a ghost, or the appservice sender: never a real user."""
        sender = f"@{self.config['appservice.sender_localpart']}:{self.domain}"
        return mxid in (self.bot_mxid, sender) or self.is_ghost(mxid)

    def ghost_displayname(self, name: str) -> str:
        template = str(self.config.get("appservice.ghost_displayname_template") or "{displayname}")
        return template.replace("{displayname}", name)

    def permission_of(self, mxid: str) -> Permission:
        """The best level that applies: the user ID, then the server name, then ``*``."""
        perms = self.config.get("bridge.permissions") or {}
        server = mxid.split(":", 1)[1] if ":" in mxid else ""
        for key in (mxid, server, "*"):
            if key in perms:
                return Permission.parse(str(perms[key]))
        return Permission.BLOCK

    async def double_puppet_intent(self, mxid: str) -> IntentAPI | None:
        """An intent acting as the real Matrix user, when an appservice-token secret
        for their homeserver is configured."""
        server = mxid.split(":", 1)[1]
        secret = (self.config.get("double_puppet.secrets") or {}).get(server)
        if not isinstance(secret, str) or not secret.startswith("as_token:"):
            return None
        return self.appservice.intent.user(
            UserID(mxid), token=secret.removeprefix("as_token:"), as_token=True
        )

    # Caches --------------------------------------------------------------------------

    async def get_user(self, mxid: str) -> User:
        user = self.users.get(mxid)
        if user is None:
            record = await self.users_db.get(mxid) or UserRecord(mxid)
            user = self.users.setdefault(mxid, User(self, record))
        return user

    async def get_portal(self, key: PortalKey) -> Portal:
        portal = self.portals.get(key)
        if portal is None:
            async with self._lock:
                portal = self.portals.get(key)
                if portal is None:
                    record = await self.portals_db.get(key) or PortalRecord(key)
                    portal = Portal(self, record)
                    self.portals[key] = portal
                    self.register_portal_room(portal)
        return portal

    async def get_portal_by_mxid(self, room_id: str) -> Portal | None:
        portal = self.portals_by_mxid.get(room_id)
        if portal is None:
            record = await self.portals_db.get_by_mxid(room_id)
            if record is not None:
                portal = await self.get_portal(record.key)
        return portal

    def register_portal_room(self, portal: Portal) -> None:
        if portal.record.mxid:
            self.portals_by_mxid[portal.record.mxid] = portal

    async def get_ghost(self, user_id: RemoteUserID, source: UserLogin | None = None) -> Ghost:
        """The ghost of a remote user; a new one gets its profile from ``source``."""
        ghost = self.ghosts.get(user_id)
        if ghost is not None:
            return ghost
        record = await self.ghosts_db.get(user_id)
        ghost = Ghost(self, record or GhostRecord(user_id))
        self.ghosts[user_id] = ghost
        if record is None:
            await ghost.intent.ensure_registered()
            await self.ghosts_db.save(ghost.record)
            if source is not None:
                try:
                    await ghost.update_info(await source.client.get_user_info(user_id))
                except Exception:
                    log.exception("Could not fetch the profile of %s", user_id)
        return ghost

    async def delete_portal(self, portal: Portal, reason: str) -> None:
        """Remove a portal: forgotten first (nothing more is bridged into it), then its
        users are kicked and the room is left."""
        from . import space

        room_id = portal.mxid
        if room_id is not None:
            await space.remove_portal(portal)
        await self.forget_portal(portal)
        if room_id is not None:
            try:
                for member in await self.bot_intent.get_room_members(room_id):
                    if member != self.bot_mxid:
                        await self.bot_intent.kick_user(room_id, member, reason=reason)
                await self.bot_intent.leave_room(room_id)
            except MatrixRequestError as e:
                log.warning("Could not clean up room %s: %s", room_id, e)
        log.info("Deleted portal %s (%s)", portal.key, reason)

    async def forget_portal(self, portal: Portal) -> None:
        """Drop a portal's mapping (its room is left alone)."""
        self.portals.pop(portal.key, None)
        if portal.record.mxid:
            self.portals_by_mxid.pop(portal.record.mxid, None)
        await self.portals_db.delete(portal.key)

    # Logins ----------------------------------------------------------------------------

    async def _load_login(self, user: User, record: UserLoginRecord) -> UserLogin:
        login = UserLogin(self, user, record)
        login.client = await self.connector.load_user_login(login)
        self.logins[record.id] = login
        try:
            await login.client.connect()
        except Exception as e:
            log.exception("Login %s failed to connect", record.id)
            await login.set_state(BridgeStateEvent.UNKNOWN_ERROR, str(e))
        return login

    async def complete_login(self, user: User, done: LoginComplete) -> UserLogin:
        """Store a finished login and start its client (replacing the same user's login
        with the same ID). Raises ``LoginError`` when another Matrix user already has
        that remote account connected."""
        owner = await self.logins_db.get(done.login_id)
        if owner is not None and owner.user_mxid != user.mxid:
            raise LoginError(
                f"{done.remote_name} is already connected to this bridge by another Matrix "
                "user. They must log out first.",
                fatal=True,
            )
        old = self.logins.pop(done.login_id, None)
        if old is not None:
            await old.client.disconnect()
        await self.users_db.save(user.record)
        record = UserLoginRecord(done.login_id, user.mxid, done.remote_name, None, done.metadata)
        await self.logins_db.save(record)
        log.info("User %s logged in as login %s", user.mxid, done.login_id)
        return await self._load_login(user, record)

    async def add_login(self, user_mxid: str, done: LoginComplete) -> UserLogin:
        """A login the network opens by itself (``BridgeHandle.add_login``); an already
        loaded login of the same user and ID is returned as it is."""
        loaded = self.logins.get(done.login_id)
        if loaded is not None and loaded.user_mxid == user_mxid:
            return loaded
        if user_mxid != self.bot_mxid and self.permission_of(user_mxid) < Permission.USER:
            raise LoginError(f"{user_mxid} may not log in to this bridge.", fatal=True)
        return await self.complete_login(await self.get_user(user_mxid), done)

    def is_bridge_owned(self, login: UserLogin) -> bool:
        """Whether ``login`` is the bridge's own (owned by the bot, not by a person)."""
        return login.user_mxid == self.bot_mxid

    async def logout(self, login: UserLogin) -> None:
        """Log out on the network and forget the login."""
        try:
            await login.client.logout_remote()
        finally:
            await login.client.disconnect()
            self.logins.pop(login.id, None)
            await self.logins_db.delete(login.id)
            self.portals_db.forget_login(login.id)
            log.info("Login %s of %s logged out", login.id, login.user_mxid)

    async def push_state(self, login: UserLogin) -> None:
        """Tell the homeserver's status endpoint (if configured) a login's state."""
        endpoint = self.config.get("homeserver.status_endpoint")
        if not endpoint:
            return
        body = {
            "state_event": login.state.value,
            "timestamp": int(time.time()),
            "ttl": 3600 if login.state == BridgeStateEvent.CONNECTED else 240,
            "remote_id": login.id,
            "remote_name": login.remote_name,
            "user_id": login.user_mxid,
            "message": login.state_message or "",
        }
        headers = {"Authorization": f"Bearer {self.config['appservice.as_token']}"}
        try:
            async with self.appservice.http_session.post(
                str(endpoint), json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status >= 300:
                    log.warning("Status endpoint answered %d", response.status)
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("Could not push bridge state to the status endpoint: %s", e)

    # Sending -------------------------------------------------------------------------

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    async def send_as(
        self,
        intent: IntentAPI,
        room_id: RoomID,
        event_type: EventType,
        content: dict[str, Any],
        timestamp_ms: int | None = None,
        txn_id: str | None = None,
    ) -> EventID:
        """Send an event as a ghost/puppet/bot with the remote timestamp; encrypted
        when the room is (every message-like event goes through here). A ``txn_id``
        makes a repeated send return the first event instead of a copy."""
        payload: Any = content
        if self.encryption is not None and await self.encryption.is_encrypted(room_id):
            event_type, payload = await self.encryption.encrypt(room_id, event_type, content)
        return await intent.send_message_event(
            room_id, event_type, payload, txn_id=txn_id, timestamp=timestamp_ms
        )

    async def send_bot_message(self, room_id: RoomID, content: EventContent) -> EventID:
        """A message from the bot (encrypted in encrypted rooms)."""
        raw = content.serialize() if hasattr(content, "serialize") else content
        return await self.send_as(self.bot_intent, room_id, EventType.ROOM_MESSAGE, cast(Any, raw))

    async def upload_for_room(
        self, intent: IntentAPI, room_id: RoomID | None, data: bytes, mimetype: str, filename: str
    ) -> dict[str, Any]:
        """Upload media for a room: the content fields that reference it (``url``, or an
        encrypted ``file`` in encrypted rooms)."""
        if len(data) > self.max_media_size:
            raise MediaTooLarge(len(data), self.max_media_size, filename)
        encrypted = (
            room_id is not None
            and self.encryption is not None
            and await self.encryption.is_encrypted(room_id)
        )
        if not encrypted:
            mxc = await intent.upload_media(data, mime_type=mimetype, filename=filename)
            return {"url": str(mxc)}
        assert self.encryption is not None
        ciphertext, file = self.encryption.encrypt_file(data)
        mxc = await intent.upload_media(ciphertext, mime_type="application/octet-stream")
        file["url"] = str(mxc)
        return {"file": file}

    async def fetch_media(
        self,
        url: str,
        encrypted_file: dict[str, Any] | None,
        limit: int,
        filename: str,
        out: BinaryIO,
    ) -> int:
        """Stream Matrix media into ``out`` (decrypted), refusing more than ``limit``
        bytes; returns the size."""
        start = out.tell()
        size = await fetch_capped(self, url, limit, filename, out)
        if encrypted_file is not None:
            decrypt_in_place(out, start, size, encrypted_file)
        return size

    async def send_notice(self, portal: PortalKey, text: str) -> None:
        room_id = await self.find_portal_room(portal)
        if room_id is None:
            return
        content = TextMessageEventContent(msgtype=MessageType.NOTICE, body=text)
        await self.send_bot_message(RoomID(room_id), content)

    async def upload_media(self, data: bytes, mimetype: str, filename: str) -> str:
        if len(data) > self.max_media_size:
            raise MediaTooLarge(len(data), self.max_media_size, filename)
        return str(await self.bot_intent.upload_media(data, mime_type=mimetype, filename=filename))

    def portal_room(self, portal: PortalKey) -> str | None:
        cached = self.portals.get(portal)
        return cached.record.mxid if cached is not None else None

    async def find_portal_room(self, portal: PortalKey) -> str | None:
        record = await self.portals_db.get(portal)
        return record.mxid if record is not None else None

    async def portal_of_room(self, room_id: str) -> PortalKey | None:
        portal = await self.get_portal_by_mxid(room_id)
        return portal.key if portal is not None else None

    def public_media_url(self, mxc: str, filename: str | None = None) -> str | None:
        return self.media_links.url(mxc, filename)


_ALLOWED = set("abcdefghijklmnopqrstuvwxyz0123456789._-/")
_ESCAPE = re.compile(r"__|_[a-z]|(?:=[0-9a-f]{2})+")


def _unescape_localpart(localpart: str) -> str:
    """The inverse of ``_escape_localpart``."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "__":
            return "_"
        if text.startswith("_"):
            return text[1].upper()
        return bytes.fromhex(text.replace("=", "")).decode("utf-8", "replace")

    return _ESCAPE.sub(replace, localpart)


def _escape_localpart(user_id: str) -> str:
    """Map any remote ID to valid localpart characters, reversibly (``=XX`` escapes,
    uppercase as ``_x``), so distinct IDs never share a ghost."""
    out = []
    for ch in user_id:
        if ch in _ALLOWED and ch != "_":
            out.append(ch)
        elif ch == "_":
            out.append("__")
        elif "A" <= ch <= "Z":
            out.append("_" + ch.lower())
        else:
            out.extend(f"={b:02x}" for b in ch.encode())
    return "".join(out)
