"""One user-token login: the owner's own Discord account, for their DMs and group DMs.

The connection is the user-account client of ``..useraccount`` (discord.py cannot log
in with a user token). It reconnects by itself; this class stops for good when
Discord refuses the token (401, close 4004) and tells the user what to do. Guilds are
never bridged through a user login: a bot login does that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bridgekit.network import (
    BridgeError,
    BridgeStateEvent,
    ChatInfo,
    EditHandling,
    EmojiID,
    LoginHandle,
    MatrixEdit,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixMessageResponse,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixTyping,
    NetworkClient,
    PortalKey,
    ReactionHandling,
    RedactionHandling,
    RemoteUserID,
    RoomCapabilities,
    TypingHandling,
    UserInfo,
)

from ..from_matrix import MAX_TEXT
from ..login import USER_LOGIN_OFF, USER_LOGIN_SCOPE, USER_TOKEN_REFUSED
from ..settings import Endpoints
from ..useraccount import (
    DiscordHTTPError,
    GatewayRefused,
    PrivateChannel,
    TokenRefused,
    User,
    UserGateway,
    UserREST,
)
from . import from_matrix
from .backfill import DMBackfill
from .echoes import OwnEchoes
from .events import DMEvents
from .to_matrix import chat_info, user_info

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..connector import DiscordConnector

log = logging.getLogger("bridgekit.discord.dms.client")


class UserLoginClient(
    NetworkClient, EditHandling, ReactionHandling, RedactionHandling, TypingHandling
):
    """A user login: its DMs and group DMs are portals of its own (the receiver is
    the login), the other people are the same ghosts as in guild channels."""

    def __init__(self, login: LoginHandle, connector: DiscordConnector) -> None:
        super().__init__(login)
        self.connector = connector
        self.settings = connector.settings
        self.endpoints: Endpoints = connector.settings.endpoints()
        self.user_id = int(login.id)
        self.channels: dict[int, PrivateChannel] = {}
        self.users: dict[int, User] = {}
        self.echoes = OwnEchoes()
        self.events = DMEvents(self)
        self.backfill = DMBackfill(self)
        self.rest: UserREST | None = None
        self.gateway: UserGateway | None = None
        self._task: asyncio.Task[None] | None = None
        self._credentials_ok = True

    # Identity -----------------------------------------------------------------------

    @property
    def token(self) -> str:
        return str(self.login.metadata.get("token") or "")

    def is_this_user(self, user_id: RemoteUserID) -> bool:
        return user_id == str(self.user_id)

    def ghost_mxid(self, user_id: RemoteUserID) -> str:
        return self.connector.bridge.ghost_mxid(user_id)

    def discord_user_of(self, mxid: str) -> str | None:
        """The Discord user a Matrix pill stands for: a ghost, or the owner."""
        if mxid == self.login.user_mxid:
            return str(self.user_id)
        found = self.connector.bridge.ghost_id(mxid)
        return str(found) if found and str(found).isdigit() else None

    async def channel_of_room(self, room_id: str) -> str | None:
        portal = await self.connector.bridge.portal_of_room(room_id)
        return str(portal.id) if portal is not None and str(portal.id).isdigit() else None

    # Connection ---------------------------------------------------------------------

    async def connect(self) -> None:
        if not self.settings.user_login:
            self._credentials_ok = False
            await self.login.set_state(BridgeStateEvent.BAD_CREDENTIALS, USER_LOGIN_OFF)
            return
        if not self.token:
            self._credentials_ok = False
            await self.login.set_state(BridgeStateEvent.BAD_CREDENTIALS, USER_TOKEN_REFUSED)
            return
        self.rest = UserREST(self.endpoints.api_base, self.token)
        self.gateway = UserGateway(self.endpoints.gateway_url, self.token, self.events.handle)
        self._task = asyncio.create_task(self._run(), name=f"discord user {self.user_id}")

    async def _run(self) -> None:
        assert self.gateway is not None
        await self.login.set_state(BridgeStateEvent.CONNECTING)
        try:
            await self.gateway.run()
        except TokenRefused:
            log.warning("Discord refused the token of user login %s", self.user_id)
            self._credentials_ok = False
            await self.login.set_state(BridgeStateEvent.BAD_CREDENTIALS, USER_TOKEN_REFUSED)
        except GatewayRefused as e:
            log.warning("Discord closed user login %s with %d", self.user_id, e.code)
            await self.login.set_state(
                BridgeStateEvent.UNKNOWN_ERROR,
                f"Discord closed the connection of your account (close code {e.code}). "
                "Send `login user` to connect again.",
            )

    async def disconnect(self) -> None:
        gateway, task = self.gateway, self._task
        try:
            if gateway is not None:
                await gateway.stop()
            await self.events.stop()
            await self.backfill.flush()
        except Exception:
            log.exception("Could not stop user login %s cleanly", self.user_id)
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:
                log.exception("The connection task of user login %s failed", self.user_id)
        if self.rest is not None:
            await self.rest.close()

    def is_logged_in(self) -> bool:
        return self._credentials_ok

    @property
    def running(self) -> bool:
        """Whether the connection loop runs (connected, or going to reconnect)."""
        return self._task is not None and not self._task.done()

    def require_rest(self) -> UserREST:
        """The REST client; ``BridgeError`` when the login is not usable."""
        if self.rest is None or not self._credentials_ok:
            raise BridgeError("Your Discord account is not connected; log in again.")
        return self.rest

    async def welcome(self) -> None:
        """Once per login: say what a user login bridges, and what it does not."""
        if self.login.metadata.get("welcomed"):
            return
        self.login.metadata["welcomed"] = True
        await self.login.save()
        await self.login.notify_user(USER_LOGIN_SCOPE)

    # What the login knows -----------------------------------------------------------

    def remember_users(self, users: Iterable[User]) -> None:
        for user in users:
            self.users[user.id] = user

    def remember_channel(self, channel: PrivateChannel) -> PrivateChannel:
        """Keep a private channel (without the owner among its recipients)."""
        channel = channel.without(self.user_id)
        self.channels[channel.id] = channel
        self.remember_users(channel.recipients)
        return channel

    async def private_channel(self, channel_id: int) -> PrivateChannel | None:
        """A DM or group DM of the account, asked for when not known yet; ``None``
        for anything else."""
        found = self.channels.get(channel_id)
        if found is not None:
            return found
        try:
            fetched = await self.require_rest().channel(channel_id)
        except DiscordHTTPError as e:
            log.debug("Channel %s not found: %s", channel_id, e.status)
            return None
        return self.remember_channel(fetched) if fetched is not None else None

    # Chats and users ----------------------------------------------------------------

    async def get_chat_info(self, portal: PortalKey) -> ChatInfo:
        channel = await self.private_channel(int(portal.id)) if portal.id.isdigit() else None
        if channel is None:
            raise BridgeError("This Discord conversation is not among your DMs any more.")
        return chat_info(self, channel)

    async def get_user_info(self, user_id: RemoteUserID) -> UserInfo | None:
        if not user_id.isdigit():
            return None
        user = self.users.get(int(user_id))
        if user is None:
            try:
                user = await self.require_rest().user(int(user_id))
            except DiscordHTTPError:
                return None
            self.users[user.id] = user
        return user_info(self, user)

    def get_capabilities(self, portal: PortalKey) -> RoomCapabilities:
        return RoomCapabilities(
            edits=True,
            reactions=True,
            replies=True,
            media=True,
            max_text_length=MAX_TEXT,
            max_file_size=self.settings.max_upload_size,
        )

    # Matrix → Discord ---------------------------------------------------------------

    async def handle_matrix_message(self, msg: MatrixMessage) -> MatrixMessageResponse:
        return await from_matrix.send_message(self, msg)

    async def handle_matrix_edit(self, edit: MatrixEdit) -> None:
        await from_matrix.edit_message(self, edit)

    async def handle_matrix_message_remove(self, removal: MatrixMessageRemove) -> None:
        await from_matrix.delete_message(self, removal)

    async def handle_matrix_reaction(self, reaction: MatrixReaction) -> EmojiID | None:
        return await from_matrix.add_reaction(self, reaction)

    async def handle_matrix_reaction_remove(self, removal: MatrixReactionRemove) -> None:
        await from_matrix.remove_reaction(self, removal)

    async def handle_matrix_typing(self, typing: MatrixTyping) -> None:
        if typing.typing:
            await self.require_rest().typing(int(typing.portal.id))
