"""Commands about the user's chats: join, part, query and msg."""

from __future__ import annotations

from bridgekit.network import BridgeError, CommandContext, RemoteChatResync

from ..client import IRCClient
from ..protocol import ChannelSyncedEvent, ReplyEvent, UnsafeLineError
from .targets import portal_target


async def join_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Join a channel; its portal room is created once the server lets us in."""
    if not args:
        await ctx.reply("Usage: `join #channel [key]`.")
        return
    channel, key = args[0], (args[1] if len(args) > 1 else None)
    joined = client.in_channel(channel)
    if joined is not None:
        await client.resync(joined)
        await ctx.reply(f"You are already in {joined}; its room is up to date.")
        return
    try:
        outcome = await client.join(channel, key)
    except BridgeError as e:
        await ctx.reply(str(e))
        return
    if isinstance(outcome, ChannelSyncedEvent):
        await ctx.reply(f"Joined {outcome.channel}: you are invited to its room.")
    elif isinstance(outcome, ReplyEvent):
        await ctx.reply(f"{client.network_name} did not let you join {channel}: {outcome.message}")
    else:
        await ctx.reply(
            f"Asked {client.network_name} to join {channel}. Its room appears once the server "
            "lets you in."
        )


async def part_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Leave a channel (the one of the room, in a portal); its portal goes away."""
    channel = args[0] if args else portal_target(ctx, client)
    conn = client.conn
    if channel is None or conn is None or not conn.is_channel(channel):
        await ctx.reply("Usage: `part #channel [reason]` (or `part` in the channel's room).")
        return
    joined = client.in_channel(channel)
    if joined is None:
        await ctx.reply(f"You are not in {channel}.")
        return
    conn.part(joined, " ".join(args[1:]) or None)
    await ctx.reply(f"Leaving {joined}.")


async def query_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Open the private chat with a nick (its portal room)."""
    if len(args) != 1:
        await ctx.reply("Usage: `query <nick>`.")
        return
    try:
        found = await client.resolve_identifier(args[0], create_chat=True)
    except BridgeError as e:
        await ctx.reply(str(e))
        return
    if found is None or found.portal is None:
        await ctx.reply(f"Nobody uses the nick {args[0]} on {client.network_name} right now.")
        return
    await client.login.queue_remote_event(
        RemoteChatResync(portal=found.portal, info=found.chat_info, create=True)
    )
    name = found.user_info.name if found.user_info else args[0]
    await ctx.reply(f"Opened a private chat with {name}: you are invited to its room.")


async def msg_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Send a message to a nick (opening the private chat's room) or to a channel
    you are in; it shows up in that room as yours."""
    if len(args) < 2:
        await ctx.reply("Usage: `msg <nick or #channel> <text>`.")
        return
    target, text = args[0], " ".join(args[1:])
    try:
        conn = client.require_connection()
        if conn.is_channel(target):
            joined = client.in_channel(target)
            if joined is None:
                await ctx.reply(f"You are not in {target}: send `join {target}` first.")
                return
            conn.send_message(joined, text)
            await ctx.reply(f"Sent to {joined}.")
            return
        found = await client.resolve_identifier(target, create_chat=True)
    except (BridgeError, UnsafeLineError) as e:
        await ctx.reply(str(e))
        return
    if found is None or found.portal is None:
        await ctx.reply(f"Nobody uses the nick {target} on {client.network_name} right now.")
        return
    await client.login.queue_remote_event(
        RemoteChatResync(portal=found.portal, info=found.chat_info, create=True)
    )
    name = (found.user_info.name if found.user_info else None) or target
    conn.send_message(name, text)
    await ctx.reply(f"Sent to {name}; the private chat's room has the conversation.")
