"""Commands for the bridge's operators (admins): how the configured IRC networks are
doing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridgekit.network import CommandContext

if TYPE_CHECKING:
    from ..connector import IRCConnector


async def networks_command(connector: IRCConnector, ctx: CommandContext) -> None:
    """Each configured network: its servers, and how many logins use it, are
    connected (and to which server) or disconnected by their user."""
    networks = connector.settings.networks
    if not networks:
        await ctx.reply("No IRC networks are configured (network.networks in the config).")
        return
    lines = ["IRC networks:"]
    for network in networks.values():
        clients = [c for c in connector.clients.values() if c.network_id == network.id]
        connected = [c for c in clients if c.conn is not None and c.conn.connected]
        parked = sum(1 for c in clients if c.parked)
        servers = ", ".join(str(s) for s in network.servers)
        on = sorted({str(c.conn.server) for c in connected if c.conn and c.conn.server})
        status = f"{len(clients)} login{'s' if len(clients) != 1 else ''}"
        status += f", {len(connected)} connected"
        if on:
            status += f" (to {', '.join(on)})"
        if parked:
            status += f", {parked} disconnected by their user"
        lines.append(f"• {network.name} (`{network.id}`): {servers} — {status}")
    custom = [c for c in connector.clients.values() if c.network_id not in networks]
    if custom:
        lines.append(f"• other servers (users' own): {len(custom)} logins")
    await ctx.reply("\n".join(lines))
