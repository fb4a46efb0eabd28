"""Commands about the user's own connection: nick, whois, raw, reconnect, disconnect."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bridgekit.network import BridgeError, CommandContext

from ..certs import fingerprints, new_certificate
from ..client import IRCClient
from ..login import NICK_PATTERN
from ..protocol import NickEvent, ReplyEvent, UnsafeLineError


async def nick_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Change the nick (kept for reconnects)."""
    if len(args) != 1 or not re.fullmatch(NICK_PATTERN, args[0]):
        await ctx.reply("Usage: `nick <new nick>` (letters, digits and -_[]\\`^{|}).")
        return
    try:
        outcome = await client.change_nick(args[0])
    except BridgeError as e:
        await ctx.reply(str(e))
        return
    if isinstance(outcome, NickEvent):
        await ctx.reply(f"You are now {outcome.new_nick} on {client.network_name}.")
    elif isinstance(outcome, ReplyEvent):
        await ctx.reply(f"{client.network_name} refused the nick: {outcome.message}")
    else:
        await ctx.reply(f"Asked {client.network_name} for the nick {args[0]}.")


async def whois_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Show what the server tells about a nick."""
    if len(args) != 1:
        await ctx.reply("Usage: `whois <nick>`.")
        return
    nick = args[0]
    try:
        lines = await client.whois(nick)
    except BridgeError as e:
        await ctx.reply(str(e))
        return
    if lines is None:
        await ctx.reply(f"{client.network_name} did not answer. Try again later.")
    elif any(line.code in ("401", "406") for line in lines):
        await ctx.reply(f"Nobody uses the nick {nick} on {client.network_name} right now.")
    else:
        await ctx.reply("\n".join(describe_whois(nick, lines)) or f"Nothing is known of {nick}.")


def describe_whois(nick: str, lines: list[ReplyEvent]) -> list[str]:
    """The WHOIS numerics about ``nick`` as lines for people."""
    text: list[str] = []
    for line in lines:
        params = line.params
        if line.code == "311" and len(params) >= 5:
            nick = params[0]
            text.insert(0, f"{nick} is {nick}!{params[1]}@{params[2]} ({params[4]})")
        elif line.code == "319" and len(params) >= 2:
            text.append(f"channels: {params[1]}")
        elif line.code == "312" and len(params) >= 3:
            text.append(f"server: {params[1]} ({params[2]})")
        elif line.code == "330" and len(params) >= 2:
            text.append(f"logged in as {params[1]}")
        elif line.code == "301" and len(params) >= 2:
            text.append(f"away: {params[1]}")
        elif line.code == "317" and len(params) >= 3 and params[1].isdigit():
            idle = f"idle {_duration(int(params[1]))}"
            if params[2].isdigit():
                since = datetime.fromtimestamp(int(params[2]), UTC)
                idle += f", connected since {since:%Y-%m-%d %H:%M} UTC"
            text.append(idle)
        elif line.code != "318" and len(params) >= 2:
            text.append(params[-1])
    return text


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


async def raw_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Send one raw IRC line (admins only)."""
    if not args:
        await ctx.reply("Usage: `raw <IRC command line>`, e.g. `raw MODE #channel +o nick`.")
        return
    try:
        client.require_connection().send_raw(" ".join(args))
    except (BridgeError, UnsafeLineError) as e:
        await ctx.reply(f"Not sent: {e}")
        return
    await ctx.reply("Sent. Errors the server answers with appear in your management room.")


async def reconnect_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Drop the connection (if any) and connect again."""
    await ctx.reply(f"Reconnecting to {client.network_name}…")
    await client.reconnect()


async def disconnect_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Quit IRC, keeping the login and its rooms, until ``reconnect``."""
    if client.parked:
        await ctx.reply(f"You are already disconnected from {client.network_name}.")
        return
    await client.park()
    await ctx.reply(
        f"Disconnected from {client.network_name}. Your rooms stay; send `reconnect` to "
        "connect again and rejoin your channels."
    )


async def certfp_command(ctx: CommandContext, client: IRCClient, args: list[str]) -> None:
    """Make (or show) the login's TLS client certificate for CertFP; ``external`` logs
    in with it from then on (SASL EXTERNAL), ``remove`` forgets it."""
    meta = client.login.metadata
    action = args[0].lower() if args else ""
    network = client.network_name
    if action == "remove":
        meta.pop("client_cert", None)
        if (meta.get("sasl") or {}).get("mechanism") == "EXTERNAL":
            meta.pop("sasl", None)
        await client.login.save()
        await ctx.reply(f"Forgot your client certificate for {network}; send `reconnect`.")
        return
    pem = meta.get("client_cert")
    if action == "external":
        if not pem:
            await ctx.reply("You have no client certificate yet: send `certfp` first.")
            return
        meta["sasl"] = {"mechanism": "EXTERNAL"}  # and the stored password is gone
        await client.login.save()
        await ctx.reply(f"Logging in to {network} with your certificate (SASL EXTERNAL)…")
        await client.reconnect()
        return
    if action:
        await ctx.reply("Usage: `certfp`, `certfp external` or `certfp remove`.")
        return
    made = not pem
    if not pem:
        pem = new_certificate(f"{meta.get('nick', 'bridgekit')} on {network}")
        meta["client_cert"] = pem
        await client.login.save()
    sha256, sha512 = fingerprints(pem)
    await ctx.reply(
        f"{'Made a' if made else 'Your'} client certificate for {network}.\n"
        f"SHA-512 fingerprint: {sha512}\nSHA-256 fingerprint: {sha256}\n"
        "1. Send `reconnect`: your connection then presents it.\n"
        "2. Register it with the network's services: in your chat with NickServ "
        "(`query NickServ`) send `CERT ADD` (it adds the certificate of your connection).\n"
        "3. Send `certfp external` to log in with it from then on (SASL EXTERNAL), "
        "without a password."
    )
