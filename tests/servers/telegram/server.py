"""The Telegram test server: lifecycle, connection registry and the API tests drive it with.

Typical use::

    server = TelegramTestServer()
    await server.start()
    alice = server.create_user("+15550001", "Alice")
    session = server.new_session()            # MemorySession pointed at the server
    client = TelegramClient(session, api_id=1, api_hash="x")
    await client.connect()
    await client.send_code_request(alice.phone)
    await client.sign_in(alice.phone, server.login_code(alice.phone))
    bob = server.create_user("+15550002", "Bob")
    server.send_message(bob, alice, "hello")   # arrives as events.NewMessage
    await server.stop()

Everything a simulated user does (``send_message``, ``edit_message``,
``create_channel``...) goes through the same code as the RPCs of a real client, so
clients see identical updates either way. Fault injection is on ``server.faults``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from telethon import TelegramClient
from telethon.crypto import AuthKey
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import MemorySession
from telethon.tl import types

from . import media as media_mod
from .actions import Actions
from .chat_actions import ChatActions
from .connection import AuthKeyRecord, MTProtoConnection
from .crypto import ServerRsaKey, shared_rsa_key
from .faults import Faults
from .render import photo_of
from .srp import SrpChallenge, make_password
from .updates import UpdateHub
from .world import (
    BasicGroup,
    Channel,
    Chat,
    LoginToken,
    Post,
    SentCode,
    StoredFile,
    Topic,
    User,
    World,
    now,
)

log = logging.getLogger("bridgekit.tests.telegram_server")


def forget_cached_telethon_config() -> None:
    """Drop the ``help.getConfig`` answer Telethon caches on the client *class*.

    Telethon keeps the first config it fetched for the whole process and uses its
    ``dc_options`` to switch DCs; a later server on other ports must not inherit it.
    """
    pending: list[type] = [TelegramClient]
    while pending:
        cls = pending.pop()
        if "_config" in vars(cls):
            cls._config = None  # type: ignore[attr-defined]
        pending.extend(cls.__subclasses__())


class TelegramTestServer:
    """An MTProto server for stock Telethon on 127.0.0.1, one TCP port per data center.

    ``dc_ids`` lists the data centers to serve (the first is the default one, where
    accounts live unless ``create_user(dc_id=...)`` says otherwise). ``port`` is the
    default DC's port once :meth:`start` returned. ``short_updates`` makes the server
    send plain text messages in private chats and basic groups as
    ``updateShortMessage``/``updateShortChatMessage``, as Telegram does.
    """

    def __init__(
        self,
        *,
        dc_ids: Sequence[int] = (2,),
        host: str = "127.0.0.1",
        rsa_key: ServerRsaKey | None = None,
        code_lifetime: int = 300,
        short_updates: bool = False,
    ) -> None:
        self.host = host
        self.short_updates = short_updates
        self.dc_ids = list(dc_ids)
        self.rsa_key = rsa_key or shared_rsa_key()
        self.code_lifetime = code_lifetime
        self.ports: dict[int, int] = {}
        self.world = World()
        self.faults = Faults()
        self.hub = UpdateHub(self)
        self.actions = Actions(self)
        self.chat_actions = ChatActions(self.actions)
        self.uploads = media_mod.Uploads()
        self.auth_keys: dict[int, AuthKeyRecord] = {}
        self.connections: set[MTProtoConnection] = set()
        self.sent_codes: dict[str, SentCode] = {}
        self.login_tokens: dict[bytes, LoginToken] = {}
        self.srp_challenges: dict[int, tuple[int, SrpChallenge]] = {}
        self.exported_authorizations: dict[int, tuple[int, bytes]] = {}
        # What clients called, for tests that assert on traffic: (user_id, request).
        self.calls: list[tuple[int | None, Any]] = []
        self.unsupported: list[str] = []
        self.internal_errors: list[str] = []
        self._sessions: set[tuple[int, int]] = set()
        self._servers: list[asyncio.Server] = []
        self._serve_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port per DC and register the RSA key with Telethon."""
        telethon_rsa.add_key(self.rsa_key.public_pem, old=False)
        forget_cached_telethon_config()
        for dc_id in self.dc_ids:
            server = await asyncio.start_server(
                functools.partial(self._accept, dc_id), self.host, 0
            )
            self._servers.append(server)
            self.ports[dc_id] = server.sockets[0].getsockname()[1]
        log.info("Telegram test server listening on %s ports %s", self.host, self.ports)

    async def stop(self) -> None:
        """Close every connection and listener."""
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.close()
        for task in list(self._serve_tasks):
            task.cancel()
        for task in list(self._serve_tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self) -> TelegramTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The default DC's port."""
        return self.ports[self.dc_ids[0]]

    @property
    def default_dc(self) -> int:
        """The DC where new accounts live unless told otherwise."""
        return self.dc_ids[0]

    def _accept(
        self, dc_id: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = MTProtoConnection(self, dc_id, reader, writer)
        self.connections.add(conn)
        task = asyncio.create_task(conn.serve())
        self._serve_tasks.add(task)
        task.add_done_callback(self._serve_tasks.discard)

    def connection_closed(self, conn: MTProtoConnection) -> None:
        """Called by a connection when it ends."""
        self.connections.discard(conn)

    # -- auth keys and sessions -----------------------------------------------------------

    def add_auth_key(self, record: AuthKeyRecord) -> None:
        """Remember a newly created auth key."""
        self.auth_keys[record.key_id] = record

    def forget_auth_key(self, key_id: int) -> None:
        """Forget one auth key (its next use gets the -404 transport error)."""
        self.auth_keys.pop(key_id, None)

    def register_session(self, auth: AuthKeyRecord, session_id: int) -> bool:
        """Note a client session; ``True`` if it is new (new_session_created is due)."""
        key = (auth.key_id, session_id)
        if key in self._sessions:
            return False
        self._sessions.add(key)
        return True

    def new_session(self, dc_id: int | None = None) -> MemorySession:
        """A Telethon ``MemorySession`` pointed at this server (default DC)."""
        session = MemorySession()
        dc_id = dc_id or self.default_dc
        session.set_dc(dc_id, self.host, self.ports[dc_id])
        return session

    def signed_in_session(self, user: User) -> MemorySession:
        """A session that is already signed in as ``user`` (its auth key made server-side)."""
        session = self.new_session(user.dc_id)
        key = secrets.token_bytes(256)
        record = AuthKeyRecord(key, user.dc_id, secrets.randbits(63), user_id=user.id)
        self.add_auth_key(record)
        session.auth_key = AuthKey(key)
        return session

    def bind(self, auth: AuthKeyRecord, user: User) -> None:
        """Sign an auth key in as ``user``."""
        auth.user_id = user.id
        auth.revoked_error = None
        auth.password_pending_user_id = None

    def revoke_sessions(
        self, user: User, error: str = "AUTH_KEY_UNREGISTERED", *, nudge: bool = False
    ) -> int:
        """Sign every auth key of ``user`` out; their next call gets 401 ``error``.

        A revoked client only finds out on its next call; with ``nudge`` the server
        first pushes ``updatesTooLong`` so a connected Telethon calls getDifference
        at once (and its update loop stops with the error).
        """
        if nudge:
            for conn in self.hub.connections_of(user):
                conn.push(types.UpdatesTooLong())
        count = 0
        for auth in self.auth_keys.values():
            if auth.user_id == user.id:
                auth.user_id = None
                auth.revoked_error = error
                count += 1
        return count

    def drop_connections(self, user: User | None = None) -> int:
        """Close connections from the server side (all, or only ``user``'s)."""
        dropped = 0
        for conn in list(self.connections):
            if user is None or (conn.auth is not None and conn.auth.user_id == user.id):
                conn.close()
                dropped += 1
        return dropped

    def forget_auth_keys(self, user: User | None = None) -> None:
        """Forget auth keys, as after a server-side data loss: clients get -404."""
        for key_id, auth in list(self.auth_keys.items()):
            if user is None or auth.user_id == user.id:
                del self.auth_keys[key_id]
        self.drop_connections(user)

    def is_online(self, user: User) -> bool:
        """Whether ``user`` has an open, signed-in connection."""
        return bool(self.hub.connections_of(user))

    # -- accounts -------------------------------------------------------------------------

    def create_user(
        self,
        phone: str | None,
        first_name: str,
        last_name: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        password_hint: str = "",
        about: str = "",
        dc_id: int | None = None,
    ) -> User:
        """Register an account; with ``password`` it has 2FA (SRP verifier stored)."""
        return self.world.add_user(
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            username=username,
            about=about,
            dc_id=dc_id or self.default_dc,
            password=make_password(password, password_hint) if password is not None else None,
        )

    def create_bot(self, username: str, first_name: str, token: str | None = None) -> User:
        """Register a bot; sign in with ``user.bot_token``."""
        bot = self.world.add_user(
            first_name=first_name, username=username, bot=True, dc_id=self.default_dc
        )
        bot.bot_token = token or f"{bot.id}:{secrets.token_urlsafe(24)}"
        return bot

    def set_password(self, user: User, password: str | None, hint: str = "") -> None:
        """Enable, change or (with ``None``) disable 2FA for ``user``."""
        user.password = make_password(password, hint) if password is not None else None

    def login_code(self, phone: str | None) -> str:
        """The last login code "sent" to ``phone`` (raises ``KeyError`` if none)."""
        digits = "".join(ch for ch in phone or "" if ch.isdigit())
        return self.sent_codes[digits].code

    def expire_login_code(self, phone: str | None) -> None:
        """Make the pending code for ``phone`` expired (PHONE_CODE_EXPIRED on use)."""
        digits = "".join(ch for ch in phone or "" if ch.isdigit())
        self.sent_codes[digits].expires = 0

    def accept_login_token(self, token: bytes, user: User) -> None:
        """Act as ``user``'s logged-in phone scanning a QR code (``auth.acceptLoginToken``)."""
        from .methods.auth import accept_login_token

        accept_login_token(self, token, user)

    def add_contact(self, user: User, contact: User, mutual: bool = True) -> None:
        """Put ``contact`` in ``user``'s contacts (and back if ``mutual``)."""
        user.contacts.add(contact.id)
        if mutual:
            contact.contacts.add(user.id)

    def set_online(self, user: User, online: bool = True, *, expires: int = 300) -> None:
        """Change ``user``'s presence and push ``updateUserStatus`` to their contacts and peers."""
        if online:
            user.online_until = now() + expires
        else:
            user.online_until = 0
            user.last_seen = now()
        from .render import user as render_user

        for other in self.world.users.values():
            if other is not user and (user.id in other.contacts or self._share_dialog(user, other)):
                status = render_user(user, other).status
                self.hub.push_short(other, types.UpdateUserStatus(user_id=user.id, status=status))

    def _share_dialog(self, a: User, b: User) -> bool:
        return any(
            isinstance(p.chat, User) and p.private_peer_for(b) is a for p in b.box.messages.values()
        )

    # -- messages ---------------------------------------------------------------------------

    def send_message(
        self,
        sender: User,
        to: Chat,
        text: str = "",
        *,
        entities: Sequence[Any] = (),
        media: Any = None,
        reply_to: Post | None = None,
        topic: Topic | None = None,
        fwd_from: Any = None,
        silent: bool = False,
    ) -> Post:
        """``sender`` posts a message to a user, group or channel; pushed to every member."""
        post, _ = self.actions.send(
            sender,
            to,
            text=text,
            entities=entities,
            media=media,
            reply_to=reply_to,
            topic=topic,
            fwd_from=fwd_from,
            silent=silent,
        )
        return post

    def edit_message(
        self,
        post: Post,
        text: str | None = None,
        *,
        entities: Sequence[Any] | None = None,
        media: Any = None,
        by: User | None = None,
    ) -> None:
        """Edit a message as its author (or ``by``)."""
        editor = by or post.author
        assert editor is not None
        self.actions.edit(editor, post, text=text, entities=entities, media=media)

    def delete_messages(
        self, posts: Iterable[Post], *, by: User | None = None, revoke: bool = True
    ) -> None:
        """Delete messages (for everyone unless ``revoke`` is false) as their author or ``by``."""
        posts = list(posts)
        actor = by or posts[0].author
        assert actor is not None
        self.actions.delete(actor, posts, revoke=revoke)

    def react(self, user: User, post: Post, emoji: str | None) -> None:
        """Set ``user``'s reaction on ``post`` (``None`` removes it)."""
        self.actions.react(user, post, emoji)

    def read_history(self, reader: User, chat: Chat, up_to: Post | None = None) -> None:
        """``reader`` reads ``chat`` up to ``up_to`` (or everything)."""
        max_id = up_to.id_for(reader) if up_to else 0
        self.actions.read(reader, chat, max_id)

    def set_typing(
        self, user: User, chat: Chat, action: Any = None, topic: Topic | None = None
    ) -> None:
        """``user`` starts typing (or another ``SendMessageAction``) in ``chat``."""
        self.actions.typing(
            user, chat, action or types.SendMessageTypingAction(), topic.id if topic else None
        )

    def pin_message(self, post: Post, by: User, *, unpin: bool = False) -> None:
        """Pin or unpin a message as ``by``."""
        self.actions.pin(by, post, unpin=unpin)

    def messages(self, viewer: User, chat: Chat) -> list[Post]:
        """What ``viewer`` has in ``chat``, oldest first (deleted messages excluded)."""
        return self.world.posts_in(viewer, chat)

    # -- chats ---------------------------------------------------------------------------

    def create_group(self, creator: User, title: str, members: Iterable[User] = ()) -> BasicGroup:
        """Create a basic group."""
        return self.chat_actions.create_group(creator, title, members)[0]

    def create_channel(
        self,
        creator: User,
        title: str,
        members: Iterable[User] = (),
        *,
        megagroup: bool = True,
        forum: bool = False,
        username: str | None = None,
        about: str = "",
        available_reactions: list[str] | None = None,
    ) -> Channel:
        """Create a supergroup (default), a forum (``forum=True``) or a broadcast channel."""
        return self.chat_actions.create_channel(
            creator,
            title,
            members,
            megagroup=megagroup,
            broadcast=not megagroup,
            forum=forum and megagroup,
            username=username,
            about=about,
            available_reactions=available_reactions,
        )[0]

    def add_members(self, chat: BasicGroup | Channel, users: Iterable[User], inviter: User) -> None:
        """Add users to a group or channel."""
        if isinstance(chat, Channel):
            self.chat_actions.add_to_channel(chat, users, inviter)
        else:
            self.chat_actions.add_to_group(chat, users, inviter)

    def remove_member(self, chat: BasicGroup | Channel, user: User, by: User | None = None) -> None:
        """Remove (kick, or with ``by=None`` leave) a member."""
        if isinstance(chat, Channel):
            self.chat_actions.remove_from_channel(chat, user, by or user)
        else:
            self.chat_actions.remove_from_group(chat, user, by or user)

    def edit_title(self, chat: BasicGroup | Channel, title: str, by: User) -> None:
        """Rename a group or channel."""
        self.chat_actions.edit_title(chat, title, by)

    def create_topic(self, channel: Channel, creator: User, title: str) -> Topic:
        """Open a forum topic."""
        return self.chat_actions.create_topic(channel, creator, title)[0]

    def edit_topic(
        self,
        channel: Channel,
        topic: Topic,
        by: User,
        *,
        title: str | None = None,
        closed: bool | None = None,
    ) -> None:
        """Rename, close or reopen a forum topic."""
        self.chat_actions.edit_topic(channel, topic, by, title=title, closed=closed)

    def set_chat_photo(self, chat: BasicGroup | Channel, data: bytes | None, by: User) -> None:
        """Change (or with ``None`` remove) a group/channel photo, with its service message."""
        stored = media_mod.store_photo(self.world, data, dc_id=self.default_dc) if data else None
        self.chat_actions.edit_photo(chat, stored, by)

    def invite_link(self, chat: BasicGroup | Channel, by: User) -> str:
        """A new ``https://t.me/+...`` invite link into ``chat``, made by member ``by``."""
        return self.chat_actions.create_invite(chat, by).link

    def upgrade_group(self, group: BasicGroup, by: User) -> Channel:
        """Upgrade a basic group to a supergroup (its creator ``by`` does it)."""
        return self.chat_actions.upgrade_group(group, by)[0]

    # -- files -----------------------------------------------------------------------------

    def upload_photo(self, data: bytes, mime_type: str = "image/jpeg") -> Any:
        """Store image bytes; returns a ``MessageMediaPhoto`` for ``send_message(media=...)``."""
        stored = media_mod.store_photo(self.world, data, mime_type, self.default_dc)
        return types.MessageMediaPhoto(photo=photo_of(stored))

    def upload_document(
        self,
        data: bytes,
        mime_type: str,
        *,
        file_name: str | None = None,
        attributes: Sequence[Any] = (),
    ) -> Any:
        """Store file bytes; returns a ``MessageMediaDocument`` for ``send_message(media=...)``."""
        stored = media_mod.store_document(
            self.world, data, mime_type, list(attributes), file_name, self.default_dc
        )
        return media_mod.document_media(stored)

    def expire_file_references(self) -> None:
        """Give every file a new ``file_reference``; downloads with old ones fail."""
        for stored in self.world.files.values():
            stored.file_reference = secrets.token_bytes(8)
        # Stored messages carry rendered Photo/Document objects: refresh them too.
        boxes = [u.box for u in self.world.users.values()]
        boxes += [c.box for c in self.world.channels.values()]
        for box in boxes:
            for post in box.messages.values():
                inner = getattr(post.media, "photo", None) or getattr(post.media, "document", None)
                if inner is not None and inner.id in self.world.files:
                    inner.file_reference = self.world.files[inner.id].file_reference

    def set_profile_photo(
        self, entity: User | BasicGroup | Channel, data: bytes | None
    ) -> StoredFile | None:
        """Set (or remove) the avatar of a user, group or channel."""
        stored = (
            media_mod.store_photo(self.world, data, dc_id=self.default_dc)
            if data is not None
            else None
        )
        entity.photo = stored
        return stored
