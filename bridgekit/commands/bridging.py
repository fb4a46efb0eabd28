"""Chat commands: find people and start chats, sync the chat list, and bridge or
unbridge existing Matrix rooms.

``start-chat``, ``search``, ``list-contacts`` and ``sync`` appear only for users with
a login whose network client has the capability they need. Work on a portal runs
in the portal's queue, so it never races the chat's own events.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mautrix.errors import MatrixRequestError, MNotFound
from mautrix.types import (
    EventType,
    Membership,
    PowerLevelStateEventContent,
    RoomID,
    StateEvent,
    UserID,
)

from ..network.capabilities import (
    ChatListing,
    ChatResolving,
    ContactListing,
    GroupCreating,
    GroupRequest,
    IdentifierResolving,
    ResolvedIdentifier,
    UserSearching,
)
from ..network.errors import BridgeError
from ..network.ids import PortalID, PortalKey
from ..network.info import ChatInfo, RoomType
from ..portal.room import BRIDGE_STATE, adopt_room, ensure_room, release_room, sync_info
from ..user import Permission
from .processor import Command, CommandEvent, logins_with

if TYPE_CHECKING:
    from ..bridge import Bridge
    from ..portal import Portal
    from ..user_login import UserLogin

log = logging.getLogger("bridgekit.commands.bridging")

_MAX_LISTED = 25


def room_link(room_id: str) -> str:
    """A link to a room that Matrix clients open."""
    return f"https://matrix.to/#/{room_id}"


def _pick_login(
    evt: CommandEvent, capability: type[Any] | None, *, takes_argument: bool
) -> tuple[UserLogin | None, list[str]]:
    """The login a command acts through, and the arguments left for the command.

    A first argument that names one of the user's logins selects it (when the
    command's own argument follows it); otherwise the oldest capable login is used.
    """
    logins = logins_with(evt.user, capability)
    args = evt.args
    if args and (len(args) > 1 or not takes_argument):
        named = next((login for login in logins if login.id == args[0]), None)
        if named is not None:
            return named, args[1:]
    return (logins[0] if logins else None), args


def _network(evt: CommandEvent) -> str:
    return evt.bridge.connector.name.display_name


def _describe(found: ResolvedIdentifier) -> str:
    info = found.user_info
    name = info.name if info is not None and info.name else found.user_id
    handles = info.identifiers if info is not None and info.identifiers else [found.user_id]
    return f"{name} ({', '.join(handles)})"


# start-chat, search, list-contacts ---------------------------------------------------


async def start_chat_command(evt: CommandEvent) -> None:
    login, args = _pick_login(evt, IdentifierResolving, takes_argument=True)
    if not args:
        await evt.reply(
            "Usage: `start-chat <identifier>`, where the identifier is a username or "
            "number on the network. Send `search <name>` to look people up."
        )
        return
    assert login is not None and isinstance(login.client, IdentifierResolving)
    identifier = " ".join(args)
    try:
        found = await login.client.resolve_identifier(identifier, create_chat=True)
    except BridgeError as e:
        await evt.reply(f"Could not start a chat with `{identifier}`: {e}")
        return
    if found is None:
        await evt.reply(
            f"Nobody on {_network(evt)} has the identifier `{identifier}`. "
            "Check it, or send `search <name>` to look people up."
        )
        return
    if found.portal is None:
        await evt.reply(f"Found {_describe(found)}, but {_network(evt)} did not open a chat.")
        return
    bridge = evt.bridge
    ghost = await bridge.get_ghost(found.user_id, login)
    await ghost.update_info(found.user_info)
    portal = await bridge.get_portal(found.portal)
    existed = portal.mxid is not None
    room_id = await evt.in_portal_queue(
        portal, "start chat", functools.partial(ensure_room, portal, login, found.chat_info)
    )
    if existed:
        try:
            await bridge.bot_intent.invite_user(room_id, UserID(evt.user.mxid))
        except MatrixRequestError as e:
            log.debug("Not re-inviting %s to %s: %s", evt.user.mxid, room_id, e)
        await evt.reply(f"You already have a chat with {_describe(found)}: {room_link(room_id)}")
    else:
        await evt.reply(f"Started a chat with {_describe(found)}: {room_link(room_id)}")


async def search_command(evt: CommandEvent) -> None:
    login, args = _pick_login(evt, UserSearching, takes_argument=True)
    if not args:
        await evt.reply("Usage: `search <query>`, e.g. part of a name or username.")
        return
    assert login is not None and isinstance(login.client, UserSearching)
    query = " ".join(args)
    try:
        results = await login.client.search_users(query)
    except BridgeError as e:
        await evt.reply(f"Search failed: {e}")
        return
    if not results:
        await evt.reply(f"No {_network(evt)} users match `{query}`.")
        return
    await evt.reply(
        _listing(f"{_network(evt)} users matching `{query}`:", results)
        + "\nSend `start-chat <identifier>` to talk to one of them."
    )


async def list_contacts_command(evt: CommandEvent) -> None:
    login, _ = _pick_login(evt, ContactListing, takes_argument=False)
    assert login is not None and isinstance(login.client, ContactListing)
    try:
        contacts = await login.client.get_contact_list()
    except BridgeError as e:
        await evt.reply(f"Could not fetch your contacts: {e}")
        return
    if not contacts:
        await evt.reply(f"{login.remote_name} has no contacts.")
        return
    await evt.reply(_listing(f"Contacts of {login.remote_name}:", contacts))


def _listing(title: str, found: list[ResolvedIdentifier]) -> str:
    lines = [title, *(f"• {_describe(x)}" for x in found[:_MAX_LISTED])]
    if len(found) > _MAX_LISTED:
        lines.append(f"…and {len(found) - _MAX_LISTED} more.")
    return "\n".join(lines)


# sync ------------------------------------------------------------------------------------

_PROGRESS_EVERY = 10


async def sync_command(evt: CommandEvent) -> None:
    logins = logins_with(evt.user, ChatListing)
    if evt.args:
        logins = [login for login in logins if login.id == evt.args[0]]
        if not logins:
            await evt.reply(f"You have no login `{evt.args[0]}`. See `list-logins`.")
            return
    for login in logins:
        await _sync_login(evt, login)


async def _sync_login(evt: CommandEvent, login: UserLogin) -> None:
    client = login.client
    assert isinstance(client, ChatListing)
    try:
        keys = await client.list_chats()
    except BridgeError as e:
        await evt.reply(f"Could not list the chats of {login.remote_name}: {e}")
        return
    total = len(keys)
    if not total:
        await evt.reply(f"{login.remote_name} is in no chats.")
        return
    await evt.reply(f"Syncing {total} chats of {login.remote_name}…")
    created = 0
    failed: list[str] = []
    for done, key in enumerate(keys, start=1):
        portal = await evt.bridge.get_portal(key)
        try:
            job = functools.partial(_sync_portal, portal, login)
            created += await evt.in_portal_queue(portal, f"sync {key}", job)
        except Exception as e:
            log.warning("Could not sync %s for login %s: %s", key, login.id, e)
            failed.append(str(key))
        if done % _PROGRESS_EVERY == 0 and done < total:
            await evt.reply(f"Synced {done}/{total} chats…")
    summary = (
        f"Synced {total - len(failed)}/{total} chats of {login.remote_name}: "
        f"{created} new, {total - len(failed) - created} updated."
    )
    if failed:
        summary += f" These failed (see the bridge's logs): {', '.join(failed[:_MAX_LISTED])}."
    await evt.reply(summary)


async def _sync_portal(portal: Portal, login: UserLogin) -> int:
    """Create the portal's room, or bring it up to date; 1 if it was created."""
    if portal.mxid is None:
        await ensure_room(portal, login)
        return 1
    info = await login.client.get_chat_info(portal.key)
    await ensure_room(portal, login, info)
    await sync_info(portal, login, info)
    return 0


# bridge, unbridge --------------------------------------------------------------------------


async def _room_levels(
    bridge: Bridge, room_id: RoomID
) -> tuple[PowerLevelStateEventContent, StateEvent | None]:
    """The room's power levels and create event, fresh from the homeserver (the
    create event decides who has creator power in room version 12)."""
    intent = bridge.bot_intent
    levels = await intent.get_power_levels(room_id, ignore_cache=True)
    try:
        create = await intent.get_state_event(room_id, EventType.ROOM_CREATE, format="event")
    except MatrixRequestError:
        return levels, None
    return levels, create if isinstance(create, StateEvent) else None


def _admin_level(levels: PowerLevelStateEventContent) -> int:
    """The level a room admin has: enough to change the power levels."""
    return levels.get_event_level(EventType.ROOM_POWER_LEVELS)


async def _is_encrypted(bridge: Bridge, room_id: RoomID) -> bool:
    try:
        await bridge.bot_intent.get_state_event(room_id, EventType.ROOM_ENCRYPTION)
    except MNotFound:
        return False
    return True


async def _chat_key(login: UserLogin, chat_id: str) -> tuple[PortalKey, ChatInfo]:
    """The portal key and info of a chat named by its ID (or, where the network can
    resolve them, a link, name or title). Raises ``BridgeError``."""
    client = login.client
    if isinstance(client, ChatResolving):
        resolved = await client.resolve_chat(chat_id)
        if resolved is not None:
            return resolved, await client.get_chat_info(resolved)
    if isinstance(client, ChatListing):
        # The network's own keys are exact (a DM's receiver, an IRC bouncer channel).
        key = next((k for k in await client.list_chats() if k.id == chat_id), None)
        if key is None:
            raise BridgeError(f"{login.remote_name} is not in a chat with the ID `{chat_id}`.")
        return key, await client.get_chat_info(key)
    key = PortalKey(PortalID(chat_id))
    info = await client.get_chat_info(key)
    if info.type == RoomType.DM:
        key = PortalKey(key.id, login.id)
    return key, info


class RoomBridgingError(BridgeError):
    """Bridging or unbridging a room was refused; ``reason`` is ``forbidden``,
    ``conflict`` (the room or chat is bridged already) or ``invalid``."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


async def check_may_bridge(bridge: Bridge, user_mxid: str, room_id: RoomID) -> None:
    """Raise ``RoomBridgingError`` unless the room is not bridged yet, ``user_mxid`` is
    its admin, and the bot has the power to manage it."""
    prefix = bridge.commands.prefix
    current = await bridge.get_portal_by_mxid(room_id)
    if current is not None:
        raise RoomBridgingError(
            f"This room is already bridged to {current.record.name or current.key}. "
            f"Send `{prefix} unbridge` first to bridge another chat here.",
            "conflict",
        )
    levels, create = await _room_levels(bridge, room_id)
    needed = _admin_level(levels)
    if levels.get_user_level(UserID(user_mxid), create) < needed:
        raise RoomBridgingError(
            f"Only an admin of this room (power level {needed}) can bridge it.", "forbidden"
        )
    # The bot sets the bridge state, invites and removes ghosts and sets their levels.
    bot_needs = max(needed, levels.invite, levels.kick, levels.get_event_level(BRIDGE_STATE))
    bot_has = levels.get_user_level(bridge.bot_mxid, create)
    if bot_has < bot_needs:
        raise RoomBridgingError(
            f"I need power level {bot_needs} in this room to manage it (I have {bot_has}). "
            f"Give it to {bridge.bot_mxid}, then try again."
        )


async def bridge_room(
    bridge: Bridge,
    user_mxid: str,
    login: UserLogin,
    room_id: RoomID,
    chat_id: str,
    *,
    in_queue: Callable[[Portal, Callable[[], Awaitable[str | None]]], Awaitable[str | None]],
    key: PortalKey | None = None,
) -> Portal:
    """Make the existing Matrix room ``room_id`` the portal of ``chat_id``, on behalf of
    ``user_mxid`` (who must be a room admin) through ``login``. ``in_queue`` runs the
    adoption in the portal's queue; ``key`` skips resolving ``chat_id`` (a chat just
    created). Raises ``RoomBridgingError`` saying what to do."""
    await check_may_bridge(bridge, user_mxid, room_id)
    if key is not None:
        info = await login.client.get_chat_info(key)
    else:
        try:
            key, info = await _chat_key(login, chat_id)
        except BridgeError as e:
            raise RoomBridgingError(f"Cannot bridge `{chat_id}`: {e}") from e
    portal = await bridge.get_portal(key)
    encrypted = await _is_encrypted(bridge, room_id)

    async def adopt() -> str | None:
        if portal.mxid is not None:
            return portal.mxid
        await adopt_room(portal, login, room_id, info, encrypted=encrypted)
        return None

    existing = await in_queue(portal, adopt)
    if existing is not None:
        raise RoomBridgingError(
            f"`{chat_id}` is already bridged to {room_link(existing)}. Send "
            f"`{bridge.commands.prefix} unbridge` there (or `delete-portal`) before bridging "
            "it here.",
            "conflict",
        )
    return portal


async def check_may_unbridge(bridge: Bridge, user_mxid: str, portal: Portal) -> None:
    """Raise ``RoomBridgingError`` unless ``user_mxid`` is an admin of the portal's room
    or of the bridge (``release_room`` then unbridges it)."""
    assert portal.mxid is not None
    levels, create = await _room_levels(bridge, RoomID(portal.mxid))
    needed = _admin_level(levels)
    is_admin = levels.get_user_level(UserID(user_mxid), create) >= needed
    if not is_admin and bridge.permission_of(user_mxid) < Permission.ADMIN:
        raise RoomBridgingError(
            f"Only an admin of this room (power level {needed}) or of the bridge can unbridge it.",
            "forbidden",
        )


async def bridge_command(evt: CommandEvent) -> None:
    bridge = evt.bridge
    prefix = bridge.commands.prefix
    if evt.portal is not None:
        await evt.reply(
            f"This room is already bridged to {evt.portal.record.name or evt.portal.key}. "
            f"Send `{prefix} unbridge` first to bridge another chat here."
        )
        return
    if evt.is_management:
        await evt.reply(
            "This is your management room. Invite me to the room you want to bridge, "
            f"then send `{prefix} bridge <chat>` there."
        )
        return
    login, args = _pick_login(evt, None, takes_argument=True)
    if login is None:
        await evt.reply("You need a login to bridge a chat: send `login` in your management room.")
        return
    if not args:
        await evt.reply(f"Usage: `{prefix} bridge <chat>` in the room that should become it.")
        return
    chat = " ".join(args)

    async def in_queue(portal: Portal, job: Callable[[], Awaitable[str | None]]) -> str | None:
        return await evt.in_portal_queue(portal, "bridge", job)

    try:
        portal = await bridge_room(
            bridge, evt.user.mxid, login, evt.room_id, chat, in_queue=in_queue
        )
    except RoomBridgingError as e:
        await evt.reply(str(e))
        return
    await evt.reply(f"This room is now bridged to {portal.record.name or chat} on {_network(evt)}.")


async def create_group_command(evt: CommandEvent) -> None:
    """Make a new remote group of this Matrix room: named like the room (or as given),
    with the people whose ghosts are in it, and bridge the room to it."""
    bridge = evt.bridge
    prefix = bridge.commands.prefix
    how = (
        "Create a Matrix room, invite me (with power level 100) and the ghosts of the "
        f"people who should be in the group, then send `{prefix} create-group [name]` there."
    )
    if evt.is_management or evt.portal is not None:
        await evt.reply(how if evt.is_management else "This room is already bridged.")
        return
    login, args = _pick_login(evt, GroupCreating, takes_argument=True)
    if login is None:
        await evt.reply(f"None of your logins can create groups on {_network(evt)}.")
        return
    assert isinstance(login.client, GroupCreating)
    try:
        await check_may_bridge(bridge, evt.user.mxid, evt.room_id)
    except RoomBridgingError as e:
        await evt.reply(str(e))
        return
    members = await bridge.bot_intent.get_room_members(
        evt.room_id, allowed_memberships=(Membership.JOIN, Membership.INVITE)
    )
    participants = [
        remote for remote in (bridge.ghost_id(str(m)) for m in members) if remote is not None
    ]
    if not participants:
        await evt.reply(how)
        return
    name = " ".join(args) or await _room_name(bridge, evt.room_id) or "New group"
    try:
        key = await login.client.create_group(GroupRequest(name, participants))
    except BridgeError as e:
        await evt.reply(f"Could not create the group: {e}")
        return

    async def in_queue(portal: Portal, job: Callable[[], Awaitable[str | None]]) -> str | None:
        return await evt.in_portal_queue(portal, "create-group", job)

    try:
        await bridge_room(
            bridge, evt.user.mxid, login, evt.room_id, name, in_queue=in_queue, key=key
        )
    except RoomBridgingError as e:
        await evt.reply(f"The group was created, but this room could not be bridged to it: {e}")
        return
    await evt.reply(f"Created the {_network(evt)} group {name}; this room is bridged to it.")


async def _room_name(bridge: Bridge, room_id: RoomID) -> str | None:
    try:
        content = await bridge.bot_intent.get_state_event(room_id, EventType.ROOM_NAME)
    except MNotFound:
        return None
    name = getattr(content, "name", None)
    return str(name) if name else None


async def unbridge_command(evt: CommandEvent) -> None:
    portal = evt.portal
    assert portal is not None and portal.mxid is not None
    try:
        await check_may_unbridge(evt.bridge, evt.user.mxid, portal)
    except RoomBridgingError as e:
        await evt.reply(str(e))
        return
    name = portal.record.name or portal.key.id
    await evt.reply(
        f"This room is no longer bridged to {name}. The remote users and I are leaving; "
        "the room stays yours."
    )
    await release_room(portal, reason=f"Unbridged by {evt.user.mxid}")


COMMANDS = [
    Command(
        "start-chat",
        start_chat_command,
        "<identifier>",
        "start a direct chat with someone on the network",
        "Chats",
        capability=IdentifierResolving,
    ),
    Command(
        "search",
        search_command,
        "<query>",
        "search the network's users",
        "Chats",
        capability=UserSearching,
    ),
    Command(
        "list-contacts",
        list_contacts_command,
        "",
        "list your contacts on the network",
        "Chats",
        capability=ContactListing,
    ),
    Command(
        "sync",
        sync_command,
        "[login ID]",
        "create or update the portals of all your chats",
        "Chats",
        capability=ChatListing,
    ),
    Command(
        "bridge",
        bridge_command,
        "<chat>",
        "bridge the room this is sent in to a remote chat",
        "Portals",
    ),
    Command(
        "create-group",
        create_group_command,
        "[name]",
        "create a group on the network with the people whose ghosts are in this room",
        "Portals",
        capability=GroupCreating,
    ),
    Command(
        "unbridge",
        unbridge_command,
        "",
        "disconnect this room from its remote chat (the room stays)",
        "Portals",
        portal_only=True,
    ),
]
