"""Matrix room changes carried to IRC: the topic, power levels as channel statuses,
and memberships (leaving parts the channel; kicking, banning or inviting a ghost does
it on IRC). Functions of :class:`~bridges.irc.client.IRCClient`'s handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridgekit.network import (
    BridgeError,
    MatrixMembership,
    MatrixPowerLevels,
    MatrixRoomMeta,
    RemoteChatDelete,
)

from . import ids, to_matrix

if TYPE_CHECKING:
    from .client import IRCClient


async def room_meta(client: IRCClient, change: MatrixRoomMeta) -> None:
    """``RoomMetaHandling``: a topic set on Matrix becomes the channel's topic."""
    conn = client.require_connection()
    target = client.target_of(conn, change.portal)
    if change.topic is None:
        raise BridgeError("IRC channels have no name or avatar to change, only a topic.")
    if not conn.is_channel(target):
        raise BridgeError("Private chats on IRC have no topic.")
    await client.set_topic(target, change.topic)


async def power_levels(client: IRCClient, change: MatrixPowerLevels) -> None:
    """``PowerLevelHandling``: a ghost's new power level becomes the channel status
    it stands for (``power_levels``): ``+o``, ``+v``..., the old one taken away. The
    server checks that the user may; its refusal reaches them."""
    conn = client.require_connection()
    target = client.target_of(conn, change.portal)
    if not conn.is_channel(target):
        return
    by_symbol = {symbol: mode for mode, symbol in conn.prefix_modes.items()}
    for user_id, level in change.users.items():
        folded = ids.nick_of(client.network_id, user_id)
        if folded is None:
            continue
        nick = client.nick_for(folded)
        held = to_matrix.prefixes_of(conn, target, nick)
        wanted = client.settings.status_for(level, "".join(by_symbol))
        remove = [by_symbol[s] for s in held if s in by_symbol and s != wanted]
        add = [by_symbol[wanted]] if wanted is not None and wanted not in held else []
        if remove:
            conn.set_mode(target, "-" + "".join(remove), *([nick] * len(remove)))
        if add:
            conn.set_mode(target, "+" + "".join(add), nick)


async def membership(client: IRCClient, change: MatrixMembership) -> None:
    """``MembershipHandling``: leaving a room parts its channel (or closes the
    private chat); kicking, banning or inviting a ghost does it on IRC."""
    folded = ids.target_of(client.network_id, change.portal)
    conn = client.conn
    if folded is None or conn is None:
        return
    is_channel = conn.is_channel(folded)
    if change.target_mxid == client.login.user_mxid:
        if change.membership != "leave":
            return
        joined = client.in_channel(folded) if is_channel else None
        if joined is not None:
            conn.part(joined, "Left the Matrix room")  # the part deletes the portal
        else:
            await client.login.queue_remote_event(RemoteChatDelete(portal=change.portal))
        return
    nick_folded = ids.nick_of(client.network_id, change.target_user or "")
    if nick_folded is None or not is_channel:
        return
    conn = client.require_connection()
    channel, nick = client.target_of(conn, change.portal), client.nick_for(nick_folded)
    if change.membership == "invite":
        conn.invite(nick, channel)
    elif change.membership == "ban":
        conn.set_mode(channel, "+b", f"{nick}!*@*")
        conn.kick(channel, nick, change.reason)
    elif change.membership == "leave" and change.prev_membership == "join":
        conn.kick(channel, nick, change.reason)
