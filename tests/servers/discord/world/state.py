"""The world's storage, lookups, visibility rules and event emission.

Everything here is synchronous and runs on the test's event loop; operations that
change the world live in the other modules of this package and emit events through
:meth:`WorldState.emit` to whoever subscribed (the gateway).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..entities import (
    Account,
    Application,
    Attachment,
    Channel,
    Guild,
    Message,
    Sticker,
    Webhook,
)
from ..events import Event, WorldSignal
from ..permissions import base_permissions, channel_permissions
from ..protocol import ALL_PERMISSIONS, ChannelType, ErrorCode, Intents, Permissions
from ..snowflake import SnowflakeGenerator

log = logging.getLogger("bridgekit.testserver.discord.world")

T = TypeVar("T")


class NotFound(LookupError):
    """An ID that names nothing in the world; REST maps it to a 404 with ``code``."""

    def __init__(self, what: str, code: ErrorCode) -> None:
        super().__init__(f"Unknown {what}")
        self.code = code


class _Unset:
    """Type of :data:`UNSET`."""

    def __repr__(self) -> str:
        return "UNSET"


#: "Leave this field unchanged" in update methods (``None`` may be a real value).
UNSET: Any = _Unset()


def ref_id(obj: Any) -> int:
    return obj if isinstance(obj, int) else int(obj.id)


class WorldState:
    """Storage and read access for the simulated Discord.

    ``cdn_base`` is the URL prefix of the CDN routes (set by the server once it listens);
    attachment URLs carry an ``ex``/``is``/``hm`` signature like real CDN URLs, and the
    CDN refuses paths whose signature does not match.
    """

    def __init__(self) -> None:
        self.ids = SnowflakeGenerator()
        self.accounts: dict[int, Account] = {}
        self.applications: dict[int, Application] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_message_ids: dict[int, list[int]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.attachments: dict[int, Attachment] = {}
        self.standard_stickers: dict[int, Sticker] = {}
        self.cdn_base = "http://127.0.0.1"
        self.cdn_link_lifetime = 24 * 3600
        self._cdn_secret = secrets.token_bytes(16)
        self._tokens: dict[str, int] = {}
        self._listeners: list[Callable[[WorldSignal], None]] = []

    # -- events -----------------------------------------------------------------------

    def subscribe(self, listener: Callable[[WorldSignal], None]) -> None:
        """Call ``listener`` synchronously with every event and disconnect the world emits."""
        self._listeners.append(listener)

    def emit(self, signal: WorldSignal) -> None:
        """Hand ``signal`` to every subscriber."""
        if isinstance(signal, Event):
            log.debug("event %s", signal.name)
        for listener in list(self._listeners):
            listener(signal)

    # -- tokens -----------------------------------------------------------------------

    def _mint_token(self, account_id: int) -> str:
        head = base64.urlsafe_b64encode(str(account_id).encode()).decode().rstrip("=")
        return f"{head}.{secrets.token_urlsafe(5)}.{secrets.token_urlsafe(27)}"

    def _register_token(self, account: Account) -> None:
        self._tokens[account.token] = account.id

    def account_by_token(self, token: str) -> Account | None:
        """The account a token authenticates, or ``None`` (unknown or reset token)."""
        account_id = self._tokens.get(token)
        return self.accounts.get(account_id) if account_id is not None else None

    # -- lookups ----------------------------------------------------------------------

    @staticmethod
    def _get(table: dict[int, T], key: Any, what: str, code: ErrorCode) -> T:
        try:
            return table[ref_id(key)]
        except (KeyError, ValueError, TypeError):
            raise NotFound(what, code) from None

    def account(self, ref: Account | int) -> Account:
        """Look up an account by object or ID (raises :class:`NotFound`)."""
        return self._get(self.accounts, ref, "User", ErrorCode.UNKNOWN_USER)

    def application(self, ref: Application | int) -> Application:
        """Look up an application by object or ID."""
        return self._get(self.applications, ref, "Application", ErrorCode.GENERAL)

    def guild(self, ref: Guild | int) -> Guild:
        """Look up a guild by object or ID."""
        return self._get(self.guilds, ref, "Guild", ErrorCode.UNKNOWN_GUILD)

    def channel(self, ref: Channel | int) -> Channel:
        """Look up a live (not deleted) channel by object or ID."""
        channel = self._get(self.channels, ref, "Channel", ErrorCode.UNKNOWN_CHANNEL)
        if channel.deleted:
            raise NotFound("Channel", ErrorCode.UNKNOWN_CHANNEL)
        return channel

    def message(self, ref: Message | int) -> Message:
        """Look up a live (not deleted) message by object or ID."""
        message = self._get(self.messages, ref, "Message", ErrorCode.UNKNOWN_MESSAGE)
        if message.deleted:
            raise NotFound("Message", ErrorCode.UNKNOWN_MESSAGE)
        return message

    def webhook(self, ref: Webhook | int) -> Webhook:
        """Look up a webhook by object or ID."""
        return self._get(self.webhooks, ref, "Webhook", ErrorCode.UNKNOWN_WEBHOOK)

    def bot_of(self, app: Application | int) -> Account:
        """The bot user of an application."""
        return self.account(self.application(app).bot_id)

    def application_of(self, account: Account | int) -> Application | None:
        """The application whose bot ``account`` is, or ``None`` for a human account."""
        app_id = self.account(account).application_id
        return self.applications.get(app_id) if app_id is not None else None

    def sticker(self, sticker_id: int) -> Sticker:
        """Look up a standard or guild sticker."""
        if sticker_id in self.standard_stickers:
            return self.standard_stickers[sticker_id]
        for guild in self.guilds.values():
            if sticker_id in guild.stickers:
                return guild.stickers[sticker_id]
        raise NotFound("Sticker", ErrorCode.UNKNOWN_STICKER)

    def guild_channels(self, guild: Guild | int, *, threads: bool = False) -> list[Channel]:
        """Live channels of a guild, sorted by (position, id); threads only if asked."""
        gid = ref_id(guild)
        found = [
            ch
            for ch in self.channels.values()
            if ch.guild_id == gid and not ch.deleted and ch.is_thread == threads
        ]
        return sorted(found, key=lambda ch: (ch.position, ch.id))

    def guilds_of(self, account: Account | int) -> list[Guild]:
        """Guilds ``account`` is a member of, oldest first."""
        uid = ref_id(account)
        return [g for g in self.guilds.values() if uid in g.members]

    def private_channels_of(self, account: Account | int) -> list[Channel]:
        """DMs and group DMs ``account`` is a recipient of."""
        uid = ref_id(account)
        return [
            ch
            for ch in self.channels.values()
            if ch.is_private and uid in ch.recipients and not ch.deleted
        ]

    def messages_in(
        self, channel: Channel | int, *, include_deleted: bool = False
    ) -> list[Message]:
        """Messages of a channel (or thread), oldest first."""
        ids = self.channel_message_ids.get(ref_id(channel), [])
        found = [self.messages[i] for i in ids]
        return found if include_deleted else [m for m in found if not m.deleted]

    # -- permissions and visibility ---------------------------------------------------

    def permissions_in(self, account: Account | int, channel: Channel | int) -> int:
        """Effective permissions of ``account`` in ``channel`` (0 = cannot see it).

        Threads use their parent's overwrites; a private thread additionally needs
        thread membership or MANAGE_THREADS. DMs grant text permissions to recipients.
        """
        uid = ref_id(account)
        ch = self.channels[ref_id(channel)]
        if ch.is_private:
            if uid not in ch.recipients:
                return 0
            return int(
                Permissions.VIEW_CHANNEL
                | Permissions.SEND_MESSAGES
                | Permissions.READ_MESSAGE_HISTORY
                | Permissions.ADD_REACTIONS
                | Permissions.ATTACH_FILES
                | Permissions.EMBED_LINKS
            )
        guild = self.guilds.get(ch.guild_id or 0)
        if guild is None:
            return 0
        source = self.channels.get(ch.parent_id or 0) if ch.is_thread else ch
        perms = channel_permissions(guild, source.overwrites if source else [], uid)
        if ch.type == ChannelType.PRIVATE_THREAD and perms != ALL_PERMISSIONS:
            if uid not in ch.thread_member_ids and not perms & Permissions.MANAGE_THREADS:
                return 0
        return perms

    def guild_permissions(self, account: Account | int, guild: Guild | int) -> int:
        """Guild-level permissions of ``account`` (0 if not a member)."""
        return base_permissions(self.guild(guild), ref_id(account))

    def can_view(self, account: Account | int, channel: Channel | int) -> bool:
        """Whether ``account`` can see ``channel`` at all."""
        return bool(self.permissions_in(account, channel) & Permissions.VIEW_CHANNEL)

    def viewers(self, channel: Channel | int) -> frozenset[int]:
        """Every account that can currently see ``channel``."""
        ch = self.channels[ref_id(channel)]
        if ch.is_private:
            return frozenset(ch.recipients)
        guild = self.guilds.get(ch.guild_id or 0)
        if guild is None:
            return frozenset()
        return frozenset(uid for uid in guild.members if self.can_view(uid, ch))

    def receives(self, account: Account, event: Event) -> bool:
        """Whether ``account`` is in the audience of ``event`` (intents aside)."""
        if event.audience is not None:
            return account.id in event.audience
        if event.channel_id is not None:
            if event.channel_id not in self.channels:
                return False
            return self.can_view(account, event.channel_id)
        if event.guild_id is not None:
            guild = self.guilds.get(event.guild_id)
            return guild is not None and account.id in guild.members
        return False

    def has_message_content(self, account: Account) -> bool:
        """Whether REST reads by ``account`` include message content (app-level switch)."""
        if not account.bot:
            return True
        app = self.application_of(account)
        return bool(app and app.privileged_intents & Intents.MESSAGE_CONTENT)

    # -- CDN signatures ---------------------------------------------------------------

    def _cdn_mac(self, subject: str, expires: int, issued: int) -> str:
        message = f"{subject}|{expires:x}|{issued:x}".encode()
        return hmac.new(self._cdn_secret, message, hashlib.sha256).hexdigest()

    def sign_cdn(self, subject: str) -> str:
        """Return the ``ex=..&is=..&hm=..`` query that makes the CDN serve ``subject``
        (``"{channel_id}/{attachment_id}"`` for attachments)."""
        issued = int(time.time())
        expires = issued + self.cdn_link_lifetime
        return f"ex={expires:x}&is={issued:x}&hm={self._cdn_mac(subject, expires, issued)}"

    def check_cdn_signature(self, subject: str, query: dict[str, str]) -> bool:
        """Whether ``query`` is a valid, unexpired signature for ``subject``."""
        try:
            expires = int(query["ex"], 16)
            issued = int(query["is"], 16)
        except (KeyError, ValueError):
            return False
        if expires < time.time():
            return False
        return hmac.compare_digest(self._cdn_mac(subject, expires, issued), query.get("hm", ""))
