"""Commands for the bridge's operators (admins): how the configured IRC networks are
doing, and taking changed network settings without a restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridgekit.network import CommandContext

from ..settings import IRCSettings, NetworkSettings

if TYPE_CHECKING:
    from ..connector import IRCConnector


async def networks_command(connector: IRCConnector, ctx: CommandContext) -> None:
    """Each configured network: its servers, and how many logins use it, are
    connected (and to which server) or disconnected by their user; ``networks
    reload`` takes the config file's network settings."""
    if ctx.args and ctx.args[0] == "reload":
        await _reload(connector, ctx)
        return
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


def _connection_changed(old: NetworkSettings, new: NetworkSettings) -> bool:
    """Whether a connection must be made again to follow the new settings."""
    return (old.servers, old.verify_tls, old.proxy, old.flood, old.reconnect) != (
        new.servers,
        new.verify_tls,
        new.proxy,
        new.flood,
        new.reconnect,
    )


async def _reload(connector: IRCConnector, ctx: CommandContext) -> None:
    """Read the network section from the config file again and apply it: new networks
    can be logged in to, connections to networks whose servers (TLS, proxy, flood
    control) changed reconnect, other settings apply at once."""
    try:
        new = IRCSettings.parse(connector.bridge.read_network_config())
    except ValueError as e:
        await ctx.reply(f"Not reloaded: {e}")
        return
    old = connector.settings
    moved = [
        nid
        for nid, network in new.networks.items()
        if nid in old.networks and network.shared != old.networks[nid].shared
    ]
    if moved:
        await ctx.reply(
            f"Not reloaded: shared_channels changed for {', '.join(moved)}. Operator mode "
            "changes which rooms channels have: restart the bridge for that."
        )
        return
    connector.settings = new
    reconnecting = 0
    for client in list(connector.clients.values()):
        client.settings = new
        network = new.networks.get(client.network_id)
        if network is None or client.network is None or network == client.network:
            continue
        changed = _connection_changed(client.network, network)
        client.network = network
        if changed and client.conn is not None and not client.parked:
            await client.reconnect()
            reconnecting += 1
    added = sorted(set(new.networks) - set(old.networks))
    removed = sorted(set(old.networks) - set(new.networks))
    lines = [f"Reloaded the IRC settings: {len(new.networks)} networks."]
    if added:
        lines.append(f"New: {', '.join(added)}.")
    if removed:
        lines.append(
            f"No longer configured: {', '.join(removed)} (their connections stay until they "
            "log out or the bridge restarts)."
        )
    lines.append(f"{reconnecting} connections reconnect to changed servers.")
    await ctx.reply(" ".join(lines))
