"""The IRC bridge's own bot commands, added to the core's.

They work in the management room and, with the command prefix, in portal rooms
(where they act on that room's connection and channel). A user with several IRC
logins names the network first: ``join libera #python``. One module per group:
:mod:`.chats` (join, part, query, msg), :mod:`.channel` (topic, mode, kick) and
:mod:`.connection` (nick, whois, raw, reconnect, disconnect) and :mod:`.operator`
(networks, for admins).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bridgekit.network import CommandContext, NetworkCommand

from ..client import IRCClient
from .channel import kick_command, mode_command, topic_command
from .chats import join_command, msg_command, part_command, query_command
from .connection import (
    certfp_command,
    disconnect_command,
    nick_command,
    raw_command,
    reconnect_command,
    whois_command,
)
from .operator import networks_command

if TYPE_CHECKING:
    from ..connector import IRCConnector

Handler = Callable[[CommandContext, IRCClient, list[str]], Awaitable[None]]


def network_commands(connector: IRCConnector) -> list[NetworkCommand]:
    """The commands, bound to ``connector`` (which knows every login's client)."""

    def bind(handler: Handler, minimum: int) -> Callable[[CommandContext], Awaitable[None]]:
        async def run(ctx: CommandContext) -> None:
            picked = await _pick(connector, ctx, minimum)
            if picked is not None:
                await handler(ctx, *picked)

        return run

    def command(
        name: str, handler: Handler, minimum: int, text: str, args: str, **flags: bool
    ) -> NetworkCommand:
        return NetworkCommand(name, bind(handler, minimum), text, args, **flags)

    return [
        command("join", join_command, 1, "join an IRC channel", "[network] #channel [key]"),
        command("part", part_command, 1, "leave an IRC channel", "[network] [#channel] [reason]"),
        command("query", query_command, 1, "open a private chat on IRC", "[network] <nick>"),
        command(
            "msg", msg_command, 2, "send a message to a nick or channel", "[network] <to> <text>"
        ),
        command("nick", nick_command, 1, "change your IRC nick", "[network] <nick>"),
        command("whois", whois_command, 1, "show who uses a nick", "[network] <nick>"),
        command(
            "topic", topic_command, 1, "show or set a channel's topic", "[#channel] [new topic]"
        ),
        command(
            "mode",
            mode_command,
            1,
            "show or change the modes of a channel (or your own)",
            "[#channel] [+/-modes [parameters]]",
        ),
        command(
            "kick", kick_command, 1, "kick someone from a channel", "[#channel] <nick> [reason]"
        ),
        command(
            "raw",
            raw_command,
            1,
            "send a raw IRC command line",
            "[network] <line>",
            admin_only=True,
        ),
        command("reconnect", reconnect_command, 0, "connect to IRC again", "[network]"),
        command(
            "disconnect",
            disconnect_command,
            0,
            "leave IRC until you send `reconnect` (your login and rooms stay)",
            "[network]",
        ),
        command(
            "certfp",
            certfp_command,
            1,
            "make your TLS client certificate, to log in with it (CertFP, SASL EXTERNAL)",
            "[network] [external|remove]",
        ),
        NetworkCommand(
            "networks",
            lambda ctx: networks_command(connector, ctx),
            "show the configured IRC networks and their connections; `reload` takes "
            "changed network settings from the config file (admins)",
            "[reload]",
            admin_only=True,
            needs_login=False,
        ),
    ]


async def _pick(
    connector: IRCConnector, ctx: CommandContext, minimum: int
) -> tuple[IRCClient, list[str]] | None:
    """The IRC client a command acts through and the arguments left for the command:
    the portal's own login in a portal room; else a login named by the first argument
    (when more than ``minimum`` arguments follow), else the user's first login.
    Replies and returns ``None`` when there is no such login."""
    args = list(ctx.args)
    clients = connector.clients_of(ctx.user_mxid)
    chosen = connector.clients.get(ctx.login.id) if ctx.login is not None else None
    in_portal = ctx.portal is not None and ctx.portal.receiver is not None
    if not in_portal and len(args) > minimum:
        named = next((c for c in clients if args[0] in (c.network_id, c.login.id)), None)
        if named is not None:
            return named, args[1:]
    if chosen is None:
        await ctx.reply("You are not connected to IRC: send `login` first.")
        return None
    return chosen, args
