"""What a command acts on when the user does not name it: the room's chat."""

from __future__ import annotations

from bridgekit.network import CommandContext

from .. import ids
from ..client import IRCClient


def portal_target(ctx: CommandContext, client: IRCClient) -> str | None:
    """The channel name or nick of the portal the command was sent in, if any."""
    if ctx.portal is None:
        return None
    folded = ids.target_of(client.network_id, ctx.portal)
    return client.nick_for(folded) if folded is not None else None


def take_channel(ctx: CommandContext, client: IRCClient, args: list[str]) -> str | None:
    """The channel a command is about: its first argument when that is a channel name
    (which is then removed from ``args``), else the channel of the portal room."""
    conn = client.conn
    if conn is None:
        return None
    if args and conn.is_channel(args[0]):
        return args.pop(0)
    target = portal_target(ctx, client)
    return target if target is not None and conn.is_channel(target) else None
