"""One webhook per channel, through which relayed Matrix users speak as themselves.

A channel's webhook is created the first time a Matrix user is relayed there (or an
earlier one of this bot is reused) and remembered in the login's metadata, tokens
included, so it survives restarts. Messages that come back from these webhooks are
the bridge's own echoes and are never bridged again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from .client import DiscordClient

log = logging.getLogger("bridgekit.discord.webhooks")

WEBHOOK_NAME = "Matrix bridge"


class WebhooksUnavailable(Exception):
    """The bot may not manage webhooks in the channel (no Manage Webhooks permission)."""


class WebhookPool:
    """The webhooks of one bot login, by channel."""

    def __init__(self, client: DiscordClient) -> None:
        self.client = client
        self._hooks: dict[int, discord.Webhook] = {}
        self._bound_to: discord.Client | None = None
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def _stored(self) -> dict[str, Any]:
        stored: dict[str, Any] = self.client.login.metadata.setdefault("webhooks", {})
        return stored

    def owns(self, webhook_id: int | None) -> bool:
        """Whether a message's ``webhook_id`` is one of ours."""
        if webhook_id is None:
            return False
        return any(int(entry["id"]) == webhook_id for entry in self._stored.values())

    def get(self, webhook_id: int) -> discord.Webhook | None:
        """A known webhook by ID (for edits and deletes of its messages)."""
        for channel_id, entry in self._stored.items():
            if int(entry["id"]) == webhook_id:
                return self._partial(int(channel_id), entry)
        return None

    async def for_channel(self, channel: discord.TextChannel) -> discord.Webhook:
        """The channel's webhook, created when there is none yet.

        Raises ``WebhooksUnavailable`` when the bot lacks Manage Webhooks."""
        async with self._locks[channel.id]:
            entry = self._stored.get(str(channel.id))
            if entry is not None:
                return self._partial(channel.id, entry)
            try:
                hook = await self._reuse(channel) or await channel.create_webhook(
                    name=WEBHOOK_NAME, reason="Matrix users' messages"
                )
            except discord.Forbidden as e:
                raise WebhooksUnavailable(str(e)) from None
            if hook.token is None:
                raise WebhooksUnavailable("Discord returned a webhook without a token")
            self._stored[str(channel.id)] = {"id": str(hook.id), "token": hook.token}
            await self.client.login.save()
            log.info("Using webhook %s in channel %s", hook.id, channel.id)
            return self._partial(channel.id, self._stored[str(channel.id)])

    async def forget(self, channel_id: int) -> None:
        """Drop a webhook that Discord no longer knows (someone deleted it)."""
        self._hooks.pop(channel_id, None)
        if self._stored.pop(str(channel_id), None) is not None:
            await self.client.login.save()

    async def _reuse(self, channel: discord.TextChannel) -> discord.Webhook | None:
        """A webhook this bot made earlier in the channel (its metadata was lost)."""
        for hook in await channel.webhooks():
            if hook.user is not None and hook.user.id == self.client.bot_id and hook.token:
                return hook
        return None

    def _partial(self, channel_id: int, entry: dict[str, Any]) -> discord.Webhook:
        listener = self.client.require_discord()
        if listener is not self._bound_to:
            # Webhook objects use their client's HTTP session: a new connection
            # (a new discord.py client) needs new ones.
            self._hooks.clear()
            self._bound_to = listener
        hook = self._hooks.get(channel_id)
        if hook is None or hook.id != int(entry["id"]):
            hook = discord.Webhook.partial(int(entry["id"]), str(entry["token"]), client=listener)
            self._hooks[channel_id] = hook
        return hook
