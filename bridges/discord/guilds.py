"""Which guilds are bridged, and the ``guilds`` bot command that changes it.

Each guild has a mode (``settings.GuildMode``): ``on-message`` (the default: a
channel gets its room at its first message), ``everything`` (every text channel
gets a room now, and new channels too) or ``nothing``. Modes set with the command
are kept in the login's metadata.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bridgekit.network import CommandContext, NetworkCommand, RemoteChatResync

from .settings import GuildMode
from .to_matrix import portal_key

if TYPE_CHECKING:
    from .client import DiscordClient
    from .connector import DiscordConnector

log = logging.getLogger("bridgekit.discord.guilds")

USAGE = (
    "Usage: `guilds list`, `guilds bridge <guild ID> [everything|on-message]`, "
    "`guilds unbridge <guild ID>`."
)


def mode_of(client: DiscordClient, guild_id: int) -> GuildMode:
    """The guild's mode: as set with the command, else the configured default."""
    stored = client.login.metadata.get("guilds", {}).get(str(guild_id))
    return GuildMode(stored) if stored else client.settings.default_guild_mode


async def set_mode(client: DiscordClient, guild_id: int, mode: GuildMode) -> None:
    """Remember a guild's mode."""
    client.login.metadata.setdefault("guilds", {})[str(guild_id)] = mode.value
    await client.login.save()


def bridgeable_channels(client: DiscordClient, guild: discord.Guild) -> list[discord.TextChannel]:
    """The guild's text channels the bot can read, in the guild's order."""
    me = guild.me
    return [
        channel
        for channel in sorted(guild.text_channels, key=lambda c: (c.position, c.id))
        if me is None or channel.permissions_for(me).read_messages
    ]


async def create_portals(client: DiscordClient, guild: discord.Guild) -> int:
    """Queue a room for every readable text channel of the guild; returns how many."""
    channels = bridgeable_channels(client, guild)
    for channel in channels:
        await client.login.queue_remote_event(
            RemoteChatResync(portal=portal_key(channel.id), create=True)
        )
    return len(channels)


def commands(connector: DiscordConnector) -> list[NetworkCommand]:
    """The network's bot commands."""

    async def guilds(ctx: CommandContext) -> None:
        assert ctx.login is not None  # needs_login is set
        if ctx.login.id in connector.user_clients:
            await ctx.reply(
                "Your login is a user login, which bridges only your DMs and group DMs. "
                "Servers are bridged through a bot login: send `login bot`."
            )
            return
        client = connector.clients.get(ctx.login.id)
        if client is None or client.discord is None or not client.discord.is_ready():
            await ctx.reply("The bot is not connected to Discord right now; try again soon.")
            return
        args = [a.lower() for a in ctx.args]
        if not args or args[0] == "list":
            await _list(ctx, client)
        elif args[0] in ("bridge", "unbridge") and len(args) >= 2:
            await _bridge(ctx, client, args)
        else:
            await ctx.reply(USAGE)

    return [
        NetworkCommand(
            "guilds",
            guilds,
            "list the bot's Discord servers, or choose which are bridged",
            "list | bridge <guild ID> [mode] | unbridge <guild ID>",
        )
    ]


async def _list(ctx: CommandContext, client: DiscordClient) -> None:
    listener = client.require_discord()
    if not listener.guilds:
        await ctx.reply(f"The bot is in no server yet. Invite it: {client.invite_url()}")
        return
    lines = [
        f"{guild.id} — {guild.name}: {mode_of(client, guild.id).value}, "
        f"{len(bridgeable_channels(client, guild))} text channels"
        for guild in sorted(listener.guilds, key=lambda g: g.name.casefold())
    ]
    await ctx.reply("The bot's servers:\n" + "\n".join(lines))


async def _bridge(ctx: CommandContext, client: DiscordClient, args: list[str]) -> None:
    listener = client.require_discord()
    guild = listener.get_guild(int(args[1])) if args[1].isdigit() else None
    if guild is None:
        await ctx.reply(f"The bot is in no server with the ID {args[1]}. See `guilds list`.")
        return
    if args[0] == "unbridge":
        await set_mode(client, guild.id, GuildMode.NOTHING)
        await ctx.reply(f"{guild.name} is no longer bridged. Its existing rooms stay.")
        return
    try:
        mode = GuildMode(args[2]) if len(args) > 2 else GuildMode.EVERYTHING
    except ValueError:
        await ctx.reply(USAGE)
        return
    if mode == GuildMode.NOTHING:
        await ctx.reply(USAGE)
        return
    await set_mode(client, guild.id, mode)
    if mode == GuildMode.ON_MESSAGE:
        await ctx.reply(f"Channels of {guild.name} get a room at their first message.")
        return
    count = await create_portals(client, guild)
    log.info("Bridging %d channels of guild %s", count, guild.id)
    await ctx.reply(f"Bridging {count} channels of {guild.name}: you will be invited to them.")
