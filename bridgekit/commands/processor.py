"""The command processor: parses messages to the bot and runs commands."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mautrix.types import Event, RoomID, TextMessageEventContent

from ..user import Permission

if TYPE_CHECKING:
    from ..bridge import Bridge
    from ..portal import Portal
    from ..user import User
    from ..user_login import UserLogin

T = TypeVar("T")

log = logging.getLogger("bridgekit.commands")


@dataclass(slots=True)
class CommandEvent:
    """One command being run: who, where, and the arguments."""

    bridge: Bridge
    user: User
    room_id: RoomID
    event_id: str
    command: str
    args: list[str]
    is_management: bool
    portal: Portal | None = None

    async def reply(self, text: str) -> None:
        """Answer in the room the command came from (as a notice)."""
        content = TextMessageEventContent(msgtype="m.notice", body=text)  # type: ignore[arg-type]
        await self.bridge.send_bot_message(self.room_id, content)

    async def in_portal_queue(
        self, portal: Portal, description: str, job: Callable[[], Awaitable[T]]
    ) -> T:
        """Run ``job`` in ``portal``'s queue, after the events queued before it, and
        return its result (or raise its error). A command sent in that very portal
        already runs in its queue, so ``job`` then runs directly."""
        if self.portal is not None and self.portal.key == portal.key:
            return await job()
        return await portal.queue.run(f"command {self.command}: {description}", job)


Handler = Callable[[CommandEvent], Awaitable[None]]


@dataclass(slots=True, frozen=True)
class Command:
    """A bot command. ``available`` hides it from ``help`` (and refuses it) when the
    network cannot do what it needs; ``portal_only`` commands need a portal room.
    ``capability`` (a protocol of ``bridgekit.network.capabilities``) limits the
    command to users with a login whose client implements it."""

    name: str
    handler: Handler
    help_args: str
    help_text: str
    section: str
    permission: Permission = Permission.USER
    available: Callable[[Bridge], bool] | None = None
    portal_only: bool = False
    capability: type[Any] | None = None


def logins_with(user: User, capability: type[Any] | None) -> list[UserLogin]:
    """The user's logins whose client has ``capability`` (all of them for ``None``),
    oldest first."""
    return [
        login for login in user.logins if capability is None or isinstance(login.client, capability)
    ]


class CommandProcessor:
    """Knows every command and runs them for users."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.commands: dict[str, Command] = {}
        from . import admin, bridging, general, login, portal

        for module in (general, login, portal, bridging, admin):
            for command in module.COMMANDS:
                self.add(command)

    def add(self, command: Command) -> None:
        """Register a command (networks may add their own)."""
        self.commands[command.name] = command

    def visible_to(self, user: User, in_portal: bool) -> list[Command]:
        """Commands ``user`` may run here, for ``help``."""
        return [
            c
            for c in self.commands.values()
            if user.permission >= c.permission
            and (c.available is None or c.available(self.bridge))
            and (in_portal or not c.portal_only)
            and (c.capability is None or logins_with(user, c.capability))
        ]

    @property
    def prefix(self) -> str:
        return str(self.bridge.config.get("bridge.command_prefix") or "")

    async def handle_in_portal(self, portal: Portal, event: Event) -> bool:
        """Run a prefixed command sent in a portal room; ``False`` if it is not one."""
        content = event.content.serialize()
        body = content.get("body")
        prefix = self.prefix
        if not isinstance(body, str) or not prefix or not body.startswith(prefix + " "):
            return False
        user = await self.bridge.get_user(str(event.sender))
        await self._run(
            RoomID(str(event.room_id)),
            user,
            body[len(prefix) :],
            False,
            str(event.event_id),
            portal,
        )
        return True

    async def handle(
        self, room_id: RoomID, user: User, body: str, is_management: bool, event_id: str
    ) -> None:
        """A message in a non-portal room: a command (prefix optional in the management
        room), or the answer to a pending login step."""
        prefix = self.prefix
        if prefix and body.startswith(prefix + " "):
            body = body[len(prefix) :]
        elif not is_management:
            return
        from .login import handle_login_input

        first = body.strip().split(maxsplit=1)[0].lower() if body.strip() else ""
        if is_management and user.pending_login is not None and first not in self.commands:
            await handle_login_input(self.bridge, user, room_id, body, event_id)
            return
        await self._run(room_id, user, body, is_management, event_id, None)

    async def _run(
        self,
        room_id: RoomID,
        user: User,
        text: str,
        is_management: bool,
        event_id: str,
        portal: Portal | None,
    ) -> None:
        try:
            parts = shlex.split(text)
        except ValueError:
            parts = text.split()
        evt_args = parts[1:] if parts else []
        name = parts[0].lower() if parts else ""
        event = CommandEvent(
            self.bridge, user, room_id, event_id, name, evt_args, is_management, portal
        )
        if user.permission < Permission.RELAY:
            await event.reply("You are not allowed to use this bridge.")
            return
        command = self.commands.get(name)
        if command is None or (command.available and not command.available(self.bridge)):
            await event.reply(f"Unknown command `{name}`. Send `help` for the list of commands.")
            return
        if user.permission < command.permission:
            await event.reply(f"`{name}` needs the {command.permission.name.lower()} level.")
            return
        if command.portal_only and portal is None:
            await event.reply(f"`{name}` only works in a portal room.")
            return
        if command.capability is not None and not logins_with(user, command.capability):
            if user.logins:
                network = self.bridge.connector.name.display_name
                await event.reply(f"The {network} network cannot do `{name}`.")
            else:
                await event.reply(f"`{name}` needs a login: send `login` to connect an account.")
            return
        log.info("%s ran %s", user.mxid, name)
        try:
            await command.handler(event)
        except Exception:
            log.exception("Command %s failed", name)
            await event.reply(f"`{name}` failed because of an error in the bridge; see its logs.")
