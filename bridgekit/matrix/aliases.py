"""Room alias queries: public portals that open when someone joins them by alias.

With ``appservice.alias_prefix`` set, the registration claims ``#<prefix>.*`` and the
homeserver asks the bridge about such an alias the first time someone uses it. A
connector with ``AliasResolving`` names the public chat behind it; the core creates
the portal's room with that alias and answers, and the homeserver then finds the
alias and lets the user in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mautrix.types import RoomAlias, RoomID

from ..network.capabilities import AliasResolving
from ..portal.room import ensure_room

if TYPE_CHECKING:
    from ..bridge import Bridge

log = logging.getLogger("bridgekit.matrix.aliases")


def alias_name(bridge: Bridge, alias: str) -> str | None:
    """The network's name for ``alias`` (the localpart after the prefix), or ``None``
    when the alias is not in the bridge's namespace."""
    prefix = str(bridge.config.get("appservice.alias_prefix") or "")
    localpart, _, server = alias.removeprefix("#").partition(":")
    if not prefix or server != bridge.domain or not localpart.startswith(prefix):
        return None
    name = localpart[len(prefix) :]
    return name or None


async def query_alias(bridge: Bridge, alias: RoomAlias) -> dict[str, Any] | None:
    """``GET /_matrix/app/v1/rooms/{alias}``: create the public portal room behind
    ``alias`` and return something truthy, or ``None`` for "no such room" (404)."""
    connector = bridge.connector
    name = alias_name(bridge, str(alias))
    if name is None or not isinstance(connector, AliasResolving):
        return None
    chat = await connector.resolve_alias(name)
    login = bridge.logins.get(chat.login) if chat is not None else None
    if chat is None or login is None:
        log.info("No public chat behind %s", alias)
        return None
    portal = await bridge.get_portal(chat.portal)
    if portal.mxid is not None:
        # The room exists but lost its alias (someone removed it): give it back.
        await bridge.bot_intent.add_room_alias(
            RoomID(portal.mxid), str(alias).removeprefix("#").partition(":")[0], override=True
        )
        return {"room_id": portal.mxid}
    info = await login.client.get_chat_info(chat.portal)
    info.alias = name
    room_id = await ensure_room(portal, login, info)
    log.info("Opened %s for %s as %s", room_id, chat.portal, alias)
    return {"room_id": room_id}
