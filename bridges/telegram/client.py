"""One logged-in Telegram account: its connection, and the capabilities the core uses.

The connection runs in a background task that (re)connects with back-off, reports
the state to the core, and stops for good when Telegram no longer accepts the
session (revoked, logged out elsewhere, account deleted): the login is then marked
``LOGGED_OUT`` and its owner told, while the bridge keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from telethon import errors, utils
from telethon.tl import functions, types

from bridgekit.network import (
    BridgeError,
    BridgeStateEvent,
    ChatInfo,
    ChatListing,
    ChatResolving,
    Checkpoints,
    ContactListing,
    EditHandling,
    EmojiID,
    GroupCreating,
    GroupRequest,
    IdentifierResolving,
    LoginHandle,
    MatrixEdit,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixMessageResponse,
    MatrixPinChange,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixReadReceipt,
    MatrixRoomMeta,
    MatrixTyping,
    NetworkClient,
    PinHandling,
    PortalKey,
    ReactionHandling,
    ReadReceiptHandling,
    RedactionHandling,
    RemoteUserID,
    ResolvedIdentifier,
    RoomCapabilities,
    RoomMetaHandling,
    TypingHandling,
    UserInfo,
    UserSearching,
)

from .chat_info import get_chat_info, get_user_info, user_info
from .connection import BridgeTelegramClient, make_client
from .flood import describe_wait
from .from_matrix import MAX_TEXT, MatrixToTelegram
from .ids import ChatRef, user_id
from .lookup import find_chat, find_user, search_users
from .session import BridgeSession, load_session, save_session
from .store import UpdateState
from .updates import UpdateHandlers

if TYPE_CHECKING:
    from .connector import TelegramConnector

log = logging.getLogger("bridgekit.telegram.client")

_CONNECT_WAIT = 30.0
#: How often, while connected, the update position is checkpointed and new entities saved.
_CHECKPOINT_INTERVAL = 2.0
_MAX_BACKOFF = 60.0
_SESSION_ENDED = (errors.UnauthorizedError, errors.AuthKeyError)


class TelegramNetworkClient(
    NetworkClient,
    EditHandling,
    RedactionHandling,
    ReactionHandling,
    TypingHandling,
    ReadReceiptHandling,
    RoomMetaHandling,
    PinHandling,
    ChatListing,
    ChatResolving,
    ContactListing,
    GroupCreating,
    IdentifierResolving,
    UserSearching,
):
    """A Telegram account on the bridge (user or bot)."""

    def __init__(self, login: LoginHandle, connector: TelegramConnector) -> None:
        super().__init__(login)
        self.connector = connector
        self.settings = connector.settings
        self.store = connector.store
        self.mentions = connector.mentions
        self.me_id = int(login.id)
        self.telegram: BridgeTelegramClient | None = None
        self.session: BridgeSession | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._ended = False
        self._tasks: set[asyncio.Future[Any]] = set()
        self.checkpoints: Checkpoints[list[UpdateState]] = Checkpoints()
        self.handlers = UpdateHandlers(self)
        self.outgoing = MatrixToTelegram(self)
        self._background: set[asyncio.Task[None]] = set()

    # Connection ------------------------------------------------------------------------

    async def connect(self) -> None:
        self._stopping = False
        self._runner = asyncio.create_task(self._run(), name=f"telegram login {self.login.id}")

    async def _gap(self, channel_id: int | None) -> None:
        """Telegram will not send what was missed (a catch-up answered "too long"):
        tell the user, without holding up Telethon's update loop."""
        where = "in your chats" if channel_id is None else "in one of your channels or groups"
        text = (
            "Too much happened on Telegram while the bridge was away for Telegram to send "
            f"it all: messages from that time {where} may be missing from your rooms."
        )
        task = asyncio.create_task(self.login.notify_user(text))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self) -> None:
        backoff = 1.0
        self.session = await load_session(self.store, self.login)
        while not self._stopping:
            client = make_client(self.settings, self.session)
            client.on_gap = self._gap
            self.handlers.register(client)
            try:
                await self.login.set_state(BridgeStateEvent.CONNECTING)
                await client.connect()
                # Telethon's is_user_authorized() takes any error (a FLOOD_WAIT too) for
                # "logged out"; asking directly lets those errors be told apart.
                state = await client(functions.updates.GetStateRequest())
                if not self.session.get_update_states():
                    # A new login: the position to catch up from after a crash.
                    await self.store.save_update_states(self.login.id, [_account_state(state)])
                self.telegram = client
                self._connected.set()
                await self.login.set_state(BridgeStateEvent.CONNECTED)
                await save_session(self.store, self.login, self.session, update_state=False)
                backoff = 1.0
                await self._supervise(client)
            except _SESSION_ENDED as e:
                await self._end(type(e).__name__)
                return
            except errors.FloodWaitError as e:
                # Telegram wants a pause before this account connects again.
                await self._transient(f"Telegram asked to wait {describe_wait(e.seconds)}")
                await self._sleep(float(e.seconds))
                continue
            except (TimeoutError, ConnectionError, OSError) as e:
                await self._transient(f"connection lost ({type(e).__name__})")
            except Exception as e:
                log.exception("Telegram connection of login %s failed", self.login.id)
                await self._transient(f"unexpected error ({type(e).__name__})")
            finally:
                self._connected.clear()
                self.telegram = None
                with contextlib.suppress(Exception):
                    await client.disconnect()
            await self._sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _supervise(self, client: BridgeTelegramClient) -> None:
        """Wait until the client disconnects; meanwhile checkpoint the update position
        (see ``checkpoint``) and save newly learnt entities (access hashes, which a
        crash would otherwise lose). Raises the error that ended the connection (a
        revoked session, for one)."""
        done = asyncio.ensure_future(client.run_until_disconnected())
        try:
            while True:
                finished, _ = await asyncio.wait({done}, timeout=_CHECKPOINT_INTERVAL)
                if finished:
                    done.result()
                    if not self._stopping:
                        raise ConnectionError("disconnected")
                    return
                await self._checkpoint(client)
                assert self.session is not None
                await save_session(self.store, self.login, self.session, update_state=False)
        finally:
            if not done.done():
                done.cancel()

    async def _checkpoint(self, client: BridgeTelegramClient) -> None:
        ready = self.checkpoints.take()
        if ready is not None:
            await self.store.save_update_states(self.login.id, ready)
        position = client.update_position()
        if position is not None:
            self.checkpoints.offer(position)

    async def _transient(self, why: str) -> None:
        if not self._stopping:
            log.info("Telegram login %s disconnected: %s", self.login.id, why)
            await self.login.set_state(BridgeStateEvent.TRANSIENT_DISCONNECT, why)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the client is stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), seconds)

    async def _end(self, reason: str) -> None:
        """Telegram no longer accepts this session: stop, and tell the user."""
        if self._ended:
            return
        self._ended = True
        self._stopping = True
        self._stop_requested.set()
        log.warning("Telegram ended the session of login %s: %s", self.login.id, reason)
        await self.login.set_state(
            BridgeStateEvent.LOGGED_OUT,
            f"Telegram ended this session ({reason}), for example because it was terminated "
            "from another device. Send `login` to log in again.",
        )

    async def session_ended(self, error: Exception) -> None:
        """A call found the session revoked: end the connection too."""
        await self._end(type(error).__name__)
        client = self.telegram
        if client is not None:
            # Not awaited: the caller is handling a Matrix event in a portal's queue,
            # which need not wait for Telethon to shut down.
            task = asyncio.get_running_loop().create_task(client.disconnect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def disconnect(self) -> None:
        self._stopping = True
        self._stop_requested.set()
        client = self.telegram
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                await asyncio.wait_for(runner, 10)
            except (TimeoutError, asyncio.CancelledError):
                runner.cancel()
            except Exception:
                log.exception("Telegram connection of login %s ended badly", self.login.id)
        if self.session is not None and not self._ended:
            try:
                # The position Telethon stopped at, unless some of what it received is
                # still unbridged: then the last checkpoint stands.
                update_state = self.checkpoints.all_handled
                await save_session(self.store, self.login, self.session, update_state=update_state)
            except Exception:
                log.exception("Could not save the Telegram session of login %s", self.login.id)

    def is_logged_in(self) -> bool:
        return not self._ended

    async def logout_remote(self) -> None:
        client = self.telegram
        self._ended = True
        if client is not None:
            try:
                await client.log_out()
            except Exception as e:
                log.warning("Could not end the Telegram session of %s: %s", self.login.id, e)
        await self.store.forget_login(self.login.id)

    async def connected_client(self) -> BridgeTelegramClient:
        """The Telethon client, waiting a little for a connection in progress."""
        if self._ended:
            raise BridgeError(
                "Your Telegram session has ended. Send `login` to the bridge bot to log in again."
            )
        try:
            await asyncio.wait_for(self._connected.wait(), _CONNECT_WAIT)
        except TimeoutError:
            raise BridgeError(
                "The bridge is not connected to Telegram right now. Try again in a minute."
            ) from None
        assert self.telegram is not None
        return self.telegram

    # Information ---------------------------------------------------------------------------

    def is_this_user(self, user_id: RemoteUserID) -> bool:
        return user_id == str(self.me_id)

    async def get_chat_info(self, portal: PortalKey) -> ChatInfo:
        client = await self.connected_client()
        try:
            chat = self.connector.migrations.chat_of(portal)
            return await get_chat_info(client, chat, self.me_id)
        except _SESSION_ENDED as e:
            await self.session_ended(e)
            raise BridgeError("Your Telegram session has ended.") from e
        except (ValueError, errors.RPCError) as e:
            raise BridgeError(f"Could not read this Telegram chat: {e}") from e

    async def get_user_info(self, user_id: RemoteUserID) -> UserInfo | None:
        client = await self.connected_client()
        return await get_user_info(client, user_id)

    async def chat_name(self, chat: ChatRef) -> str:
        """A chat's title (or the other user's name) for notices."""
        client = self.telegram
        if client is not None:
            with contextlib.suppress(Exception):
                entity = await client.get_entity(chat.peer)
                title = getattr(entity, "title", None)
                if title:
                    return f"“{title}”"
                names = (getattr(entity, "first_name", None), getattr(entity, "last_name", None))
                name = " ".join(x for x in names if x)
                if name:
                    return f"your chat with {name}"
        return "a Telegram chat"

    def get_capabilities(self, portal: PortalKey) -> RoomCapabilities:
        return RoomCapabilities(
            formatting=True,
            edits=True,
            reactions=True,
            replies=True,
            media=True,
            max_text_length=MAX_TEXT,
        )

    # Matrix → Telegram ----------------------------------------------------------------------

    async def handle_matrix_message(self, msg: MatrixMessage) -> MatrixMessageResponse:
        return await self.outgoing.send(msg)

    async def handle_matrix_edit(self, edit: MatrixEdit) -> None:
        await self.outgoing.edit(edit)

    async def handle_matrix_message_remove(self, removal: MatrixMessageRemove) -> None:
        await self.outgoing.remove(removal)

    async def handle_matrix_pins(self, change: MatrixPinChange) -> None:
        await self.outgoing.pins(change)

    async def handle_matrix_reaction(self, reaction: MatrixReaction) -> EmojiID | None:
        return await self.outgoing.react(reaction)

    async def handle_matrix_reaction_remove(self, removal: MatrixReactionRemove) -> None:
        await self.outgoing.unreact(removal)

    async def handle_matrix_typing(self, typing: MatrixTyping) -> None:
        await self.outgoing.typing(typing)

    async def handle_matrix_read_receipt(self, receipt: MatrixReadReceipt) -> None:
        await self.outgoing.read(receipt)

    async def handle_matrix_room_meta(self, change: MatrixRoomMeta) -> None:
        await self.outgoing.room_meta(change)

    async def list_chats(self) -> list[PortalKey]:
        client = await self.connected_client()
        keys: list[PortalKey] = []
        try:
            dialogs = await client.get_dialogs(limit=self.settings.sync_limit)
        except errors.RPCError as e:
            raise BridgeError(f"Telegram did not list your chats ({e.message}).") from e
        for dialog in dialogs:
            entity: Any = dialog.entity
            if getattr(entity, "migrated_to", None) or getattr(entity, "deactivated", False):
                continue
            chat = ChatRef.from_peer(dialog.dialog.peer)
            keys.append(self.connector.migrations.portal_key(chat, self.login.id))
        return keys

    async def resolve_chat(self, identifier: str) -> PortalKey | None:
        try:
            ChatRef.from_portal_id(identifier)
            return None  # a portal ID: the core's own lookup takes it
        except ValueError:
            pass
        client = await self.connected_client()
        peer = await find_chat(client, identifier, self.settings.sync_limit)
        if peer is None:
            return None
        chat = ChatRef.from_peer(peer)
        if chat.kind == "user":
            raise BridgeError("That is a person: use `start-chat` for private chats.")
        return self.connector.migrations.portal_key(chat, self.login.id)

    async def resolve_identifier(
        self, identifier: str, create_chat: bool
    ) -> ResolvedIdentifier | None:
        client = await self.connected_client()
        user = await find_user(client, identifier)
        if user is None:
            return None
        if user.id == self.me_id:
            raise BridgeError("That is your own account.")
        found = ResolvedIdentifier(user_id(user.id), user_info(user, client))
        if create_chat:
            chat = ChatRef("user", user.id)
            found.portal = chat.portal_key(self.login.id)
            found.chat_info = await get_chat_info(client, chat, self.me_id)
        return found

    async def create_group(self, request: GroupRequest) -> PortalKey:
        """A new basic group with the participants (Telegram upgrades it to a
        supergroup when it grows)."""
        client = await self.connected_client()
        users = []
        for participant in request.participants:
            try:
                users.append(await client.get_input_entity(types.PeerUser(int(participant))))
            except (ValueError, TypeError):
                raise BridgeError(
                    f"The bridge does not know the Telegram user {participant}; "
                    "start a chat with them first."
                ) from None
        try:
            result = await client(functions.messages.CreateChatRequest(users, request.name))
        except errors.RPCError as e:
            raise BridgeError(f"Telegram did not create the group ({e.message}).") from e
        updates = getattr(result, "updates", result)
        chat = next((c for c in getattr(updates, "chats", []) if isinstance(c, types.Chat)), None)
        if chat is None:
            raise BridgeError("Telegram created the group but did not say which it is.")
        return self.connector.migrations.portal_key(ChatRef("chat", chat.id), self.login.id)

    async def get_contact_list(self) -> list[ResolvedIdentifier]:
        """The account's Telegram contacts; ``portal`` is their private chat's (a
        private chat exists with anyone, so a room appears when it is used)."""
        client = await self.connected_client()
        try:
            result = await client(functions.contacts.GetContactsRequest(hash=0))
        except errors.RPCError as e:
            raise BridgeError(f"Telegram did not list your contacts ({e.message}).") from e
        users = sorted(
            (u for u in getattr(result, "users", []) if u.id != self.me_id),
            key=lambda u: utils.get_display_name(u).casefold(),
        )
        return [
            ResolvedIdentifier(
                user_id(u.id), user_info(u), ChatRef("user", u.id).portal_key(self.login.id)
            )
            for u in users
        ]

    async def search_users(self, query: str) -> list[ResolvedIdentifier]:
        client = await self.connected_client()
        return [
            ResolvedIdentifier(user_id(user.id), user_info(user))
            for user in await search_users(client, query)
            if user.id != self.me_id
        ]


def _account_state(state: Any) -> UpdateState:
    date = int(state.date.timestamp()) if state.date else 0
    return UpdateState(0, state.pts, state.qts, date, state.seq)
