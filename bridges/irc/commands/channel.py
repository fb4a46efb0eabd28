"""Commands about a channel: topic, mode and kick.

In a portal room they act on its channel; elsewhere the channel comes first
(``topic #python``). What the server answers, or why it refused, is the reply.
"""

from __future__ import annotations

from bridgekit.network import BridgeError, CommandContext

from ..client import IRCClient
from ..protocol import IRCEvent, KickEvent, ModeChange, ModeEvent, ReplyEvent
from .targets import take_channel


async def topic_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Show the channel's topic, or set it (on IRC and in the room)."""
    channel = take_channel(ctx, client, args)
    if channel is None:
        await ctx.reply("Usage: `topic #channel [new topic]` (or `topic [new topic]` in its room).")
        return
    joined = client.in_channel(channel)
    if joined is None:
        await ctx.reply(f"You are not in {channel}.")
        return
    if not args:
        topic = client.topics.get(client.casefold(joined))
        await ctx.reply(f"The topic of {joined}: {topic}" if topic else f"{joined} has no topic.")
        return
    try:
        topic = await client.set_topic(joined, " ".join(args))
    except BridgeError as e:
        await ctx.reply(str(e))
        return
    await client.share_topic(joined, topic)
    await ctx.reply(f"Set the topic of {joined}.")


async def mode_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Show or change the modes of a channel, or of the user's own nick."""
    conn = client.conn
    target: str | None
    if conn is not None and args and client.casefold(args[0]) == client.casefold(conn.nick):
        target = args.pop(0)
    else:
        target = take_channel(ctx, client, args)
    if target is None:
        await ctx.reply(
            "Usage: `mode #channel [+/-modes [parameters]]`, e.g. `mode #chat +v bob` (in the "
            "channel's room the channel may be left out)."
        )
        return
    try:
        outcome = await client.mode(target, args)
    except BridgeError as e:
        await ctx.reply(str(e))
        return
    await ctx.reply(_mode_answer(client, target, outcome))


def _mode_answer(client: IRCClient, target: str, outcome: IRCEvent | None) -> str:
    if isinstance(outcome, ModeEvent):
        changes = ", ".join(_change(change) for change in outcome.changes)
        return f"Modes of {outcome.target} changed: {changes}."
    if isinstance(outcome, ReplyEvent) and outcome.code == "324":
        return f"Modes of {target}: {' '.join(outcome.params[1:])}"
    if isinstance(outcome, ReplyEvent) and outcome.code == "221":
        return f"Your modes: {' '.join(outcome.params)}"
    if isinstance(outcome, ReplyEvent):
        return f"{client.network_name} refused: {outcome.message}"
    return f"Sent to {client.network_name}, which did not answer (nothing may have changed)."


def _change(change: ModeChange) -> str:
    letter = f"{'+' if change.adding else '-'}{change.char}"
    return f"{letter} {change.param}" if change.param else letter


async def kick_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Kick someone from a channel (you must be one of its operators)."""
    channel = take_channel(ctx, client, args)
    if channel is None or not args:
        await ctx.reply(
            "Usage: `kick #channel <nick> [reason]` (or `kick <nick> [reason]` in its room)."
        )
        return
    joined = client.in_channel(channel)
    if joined is None:
        await ctx.reply(f"You are not in {channel}.")
        return
    nick, reason = args[0], " ".join(args[1:]) or None
    try:
        outcome = await client.kick(joined, nick, reason)
    except BridgeError as e:
        await ctx.reply(str(e))
        return
    if isinstance(outcome, KickEvent):
        await ctx.reply(f"Kicked {outcome.nick} from {outcome.channel}.")
    elif isinstance(outcome, ReplyEvent):
        await ctx.reply(f"{client.network_name} refused to kick {nick}: {outcome.message}")
    else:
        await ctx.reply(f"Asked {client.network_name} to kick {nick} from {joined}.")
