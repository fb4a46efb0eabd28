"""One logged-in Discord bot: its connection, and the plugin interface's client side.

discord.py keeps the gateway alive by itself: it RESUMEs after a drop, reconnects
with its own exponential backoff, and waits before it IDENTIFYs again. This class
only restarts the whole client when discord.py gives up on a transient error (with
a backoff of its own, 5 s doubling to 5 min, with jitter), and stops for good when
Discord refuses the token (401, close code 4004) or an intent (4014), telling the
user what to do. That way a broken login never turns into an identify storm.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

import aiohttp
import discord

from bridgekit.network import (
    BridgeError,
    BridgeStateEvent,
    ChatInfo,
    ChatListing,
    EditHandling,
    EmojiID,
    LoginHandle,
    MatrixEdit,
    MatrixMembership,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixMessageResponse,
    MatrixPinChange,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixRoomMeta,
    MatrixTyping,
    MembershipHandling,
    NetworkClient,
    PinHandling,
    PortalKey,
    ReactionHandling,
    RedactionHandling,
    RemoteUserID,
    RoomCapabilities,
    RoomMetaHandling,
    TypingHandling,
    UserInfo,
)

from . import from_matrix, guilds
from .backfill import Backfill
from .gateway import GatewayListener
from .login import TOKEN_REFUSED, intents_help, invite_url, missing_intents
from .settings import GuildMode
from .to_matrix import chat_info, guild_info, portal_key, user_info
from .webhooks import WebhookPool

if TYPE_CHECKING:
    from .connector import DiscordConnector

log = logging.getLogger("bridgekit.discord.client")

_FIRST_RETRY = 5.0
_MAX_RETRY = 300.0
_FATAL_CLOSE = {
    4010: "Discord refused the bridge's shard settings (close code 4010).",
    4011: "This bot is in too many servers for one connection (close code 4011, sharding).",
    4012: "Discord refused the gateway version (close code 4012). Update the bridge.",
    4013: "Discord refused the bridge's intents as invalid (close code 4013).",
}


class DiscordClient(
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    TypingHandling,
    RoomMetaHandling,
    MembershipHandling,
    PinHandling,
    ChatListing,
):
    """A bot login: one gateway connection, shared channels as portals."""

    def __init__(self, login: LoginHandle, connector: DiscordConnector) -> None:
        super().__init__(login)
        self.connector = connector
        self.settings = connector.settings
        self.bot_id = int(login.id)
        self.discord: GatewayListener | None = None
        self.stopping = False
        self.webhooks = WebhookPool(self)
        self.backfill = Backfill(self)
        self.emoji_mxcs: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._credentials_ok = True
        self._caught_up = False

    # Identity -----------------------------------------------------------------------

    @property
    def token(self) -> str:
        return str(self.login.metadata.get("token") or "")

    @property
    def application_id(self) -> int | None:
        value = self.login.metadata.get("application_id")
        return int(value) if value else None

    def invite_url(self) -> str:
        """The link that adds this bot to a server."""
        return invite_url(self.application_id or self.bot_id)

    def is_this_user(self, user_id: RemoteUserID) -> bool:
        return user_id == str(self.bot_id)

    def ghost_mxid(self, user_id: RemoteUserID) -> str:
        """The Matrix ID of a Discord user's ghost, for pills."""
        return self.connector.bridge.ghost_mxid(user_id)

    def discord_user_of(self, mxid: str) -> str | None:
        """The Discord user a Matrix pill stands for: a ghost, or this login's owner."""
        if mxid == self.login.user_mxid:
            return str(self.bot_id)
        found = self.connector.bridge.ghost_id(mxid)
        return str(found) if found and str(found).isdigit() else None

    async def channel_of_room(self, room_id: str) -> str | None:
        """The Discord channel whose portal is ``room_id`` (for room links)."""
        portal = await self.connector.bridge.portal_of_room(room_id)
        return str(portal.id) if portal is not None and str(portal.id).isdigit() else None

    # Connection ---------------------------------------------------------------------

    async def connect(self) -> None:
        if not self.token:
            self._credentials_ok = False
            await self.login.set_state(BridgeStateEvent.BAD_CREDENTIALS, TOKEN_REFUSED)
            return
        self.stopping = False
        self._stopped.clear()
        self._task = asyncio.create_task(self._run(), name=f"discord bot {self.bot_id}")

    async def _run(self) -> None:
        delay = _FIRST_RETRY
        while not self.stopping:
            listener = GatewayListener(self)
            self.discord = listener
            await self.login.set_state(BridgeStateEvent.CONNECTING)
            problem = "the connection ended"
            try:
                await listener.start(self.token, reconnect=True)
            except discord.LoginFailure:
                return await self._refused(TOKEN_REFUSED)
            except discord.PrivilegedIntentsRequired:
                missing = missing_intents(listener.application_flags) or None
                return await self._refused(intents_help(self.application_id, missing))
            except discord.ConnectionClosed as e:
                if e.code == 4004:
                    return await self._refused(TOKEN_REFUSED)
                if e.code in _FATAL_CLOSE:
                    await self.login.set_state(BridgeStateEvent.UNKNOWN_ERROR, _FATAL_CLOSE[e.code])
                    return None
                problem = f"gateway closed with code {e.code}"
            except (
                OSError,
                aiohttp.ClientError,
                discord.HTTPException,
                discord.GatewayNotFound,
                TimeoutError,
            ) as e:
                problem = f"{type(e).__name__}: {e}"
            finally:
                if not listener.is_closed():
                    await listener.close()
            if self.stopping:
                return None
            wait = delay * random.uniform(0.8, 1.2)
            log.warning("Bot %s: %s; reconnecting in %.0f s", self.bot_id, problem, wait)
            await self.login.set_state(
                BridgeStateEvent.TRANSIENT_DISCONNECT, f"Reconnecting to Discord: {problem}"
            )
            try:
                await asyncio.wait_for(self._stopped.wait(), wait)
            except TimeoutError:
                delay = min(delay * 2, _MAX_RETRY)
        return None

    async def _refused(self, message: str) -> None:
        log.warning("Discord refused bot %s: %s", self.bot_id, message.split(".")[0])
        self._credentials_ok = False
        await self.login.set_state(BridgeStateEvent.BAD_CREDENTIALS, message)

    async def after_ready(self, listener: GatewayListener) -> None:
        """Once per process, after the first READY: say how to invite the bot if it
        is in no server, bridge the ``everything`` guilds and catch up on history."""
        if self._caught_up:
            return
        self._caught_up = True
        if not listener.guilds:
            await self.login.notify_user(
                f"The bot is connected but in no Discord server yet. Invite it with "
                f"{self.invite_url()} , then send `guilds list`."
            )
        for guild in listener.guilds:
            if guilds.mode_of(self, guild.id) == GuildMode.EVERYTHING:
                await guilds.create_portals(self, guild)
        await self.backfill.catch_up(listener)

    async def disconnect(self) -> None:
        self.stopping = True
        self._stopped.set()
        try:
            await self.backfill.flush()
        except Exception:
            log.exception("Could not save the channel positions of bot %s", self.bot_id)
        listener, task = self.discord, self._task
        if listener is not None and not listener.is_closed():
            try:
                await asyncio.wait_for(listener.close(), 10)
            except Exception:
                log.exception("Could not close the connection of bot %s", self.bot_id)
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:
                log.exception("The connection task of bot %s failed", self.bot_id)

    def is_logged_in(self) -> bool:
        return self._credentials_ok

    @property
    def running(self) -> bool:
        """Whether the connection loop runs (connected, or going to reconnect)."""
        return self._task is not None and not self._task.done()

    def require_discord(self) -> GatewayListener:
        """The live discord.py client; raises ``BridgeError`` while reconnecting."""
        listener = self.discord
        if listener is None or listener.is_closed() or listener.user is None:
            raise BridgeError("Not connected to Discord right now; send it again in a moment.")
        return listener

    async def text_channel_by_id(self, channel_id: int) -> discord.TextChannel:
        """A guild text channel the bot can see; ``BridgeError`` otherwise."""
        listener = self.require_discord()
        channel = listener.get_channel(channel_id)
        if channel is None:
            try:
                channel = await listener.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                channel = None
        if not isinstance(channel, discord.TextChannel):
            raise BridgeError("The bot cannot see this Discord channel (any more).")
        return channel

    async def text_channel(self, portal: PortalKey) -> discord.TextChannel:
        """The channel of a portal."""
        return await self.text_channel_by_id(int(portal.id))

    # Chats and users ----------------------------------------------------------------

    async def get_chat_info(self, portal: PortalKey) -> ChatInfo:
        guild = self.require_discord().get_guild(int(portal.id)) if portal.id.isdigit() else None
        if guild is not None:
            return guild_info(guild)
        return chat_info(self, await self.text_channel(portal))

    async def get_user_info(self, user_id: RemoteUserID) -> UserInfo | None:
        listener = self.require_discord()
        if not user_id.isdigit():
            return None
        user = listener.get_user(int(user_id))
        if user is None:
            try:
                user = await listener.fetch_user(int(user_id))
            except discord.NotFound:
                return None
        return user_info(user)

    async def list_chats(self) -> list[PortalKey]:
        listener = self.require_discord()
        return [
            portal_key(channel.id)
            for guild in listener.guilds
            if guilds.mode_of(self, guild.id) == GuildMode.EVERYTHING
            for channel in guilds.bridgeable_channels(self, guild)
        ]

    def get_capabilities(self, portal: PortalKey) -> RoomCapabilities:
        return RoomCapabilities(
            edits=True,
            reactions=True,
            replies=True,
            media=True,
            max_text_length=from_matrix.MAX_TEXT,
            max_file_size=self.settings.max_upload_size,
        )

    # Matrix → Discord ---------------------------------------------------------------

    async def handle_matrix_message(self, msg: MatrixMessage) -> MatrixMessageResponse:
        return await from_matrix.send_message(self, msg)

    async def handle_matrix_edit(self, edit: MatrixEdit) -> None:
        await from_matrix.edit_message(self, edit)

    async def handle_matrix_message_remove(self, removal: MatrixMessageRemove) -> None:
        await from_matrix.delete_message(self, removal)

    async def handle_matrix_pins(self, change: MatrixPinChange) -> None:
        await from_matrix.set_pins(self, change)

    async def handle_matrix_reaction(self, reaction: MatrixReaction) -> EmojiID | None:
        return await from_matrix.add_reaction(self, reaction)

    async def handle_matrix_reaction_remove(self, removal: MatrixReactionRemove) -> None:
        await from_matrix.remove_reaction(self, removal)

    async def handle_matrix_typing(self, typing: MatrixTyping) -> None:
        if typing.typing:
            await from_matrix.typing(self, typing.portal.id)

    async def handle_matrix_room_meta(self, change: MatrixRoomMeta) -> None:
        await from_matrix.room_meta(self, change)

    async def handle_matrix_membership(self, change: MatrixMembership) -> None:
        await from_matrix.membership(self, change)
