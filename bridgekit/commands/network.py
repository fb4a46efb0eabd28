"""Commands contributed by the network plugin, adapted to the core's processor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..network.commands import NetworkCommand
from ..network.handles import LoginHandle
from ..network.ids import PortalKey
from ..user import Permission
from .processor import Command, CommandEvent

if TYPE_CHECKING:
    from .processor import CommandProcessor


@dataclass(slots=True)
class _Context:
    event: CommandEvent
    login: LoginHandle | None

    @property
    def args(self) -> list[str]:
        return self.event.args

    @property
    def user_mxid(self) -> str:
        return self.event.user.mxid

    @property
    def portal(self) -> PortalKey | None:
        return self.event.portal.key if self.event.portal else None

    @property
    def is_admin(self) -> bool:
        return self.event.user.permission >= Permission.ADMIN

    async def reply(self, text: str) -> None:
        await self.event.reply(text)


def _adapt(spec: NetworkCommand) -> Command:
    async def run(evt: CommandEvent) -> None:
        logins = evt.user.logins
        login = None
        if evt.portal is not None:
            receiver = evt.portal.key.receiver
            in_chat = set(await evt.bridge.portals_db.logins_in(evt.portal.key))
            login = next((x for x in logins if x.id == receiver or x.id in in_chat), None)
        login = login or (logins[0] if logins else None)
        if spec.needs_login and login is None:
            await evt.reply(f"`{spec.name}` needs a login: send `login` to the bot first.")
            return
        await spec.handler(_Context(evt, login))

    return Command(
        spec.name,
        run,
        spec.help_args,
        spec.help_text,
        "Network",
        Permission.ADMIN if spec.admin_only else Permission.USER,
        portal_only=spec.portal_only,
    )


def register_network_commands(processor: CommandProcessor, commands: list[NetworkCommand]) -> None:
    """Add the network's commands (a network command may not replace a core one)."""
    for spec in commands:
        if spec.name in processor.commands:
            raise ValueError(f"The network's command {spec.name!r} clashes with a core command.")
        processor.add(_adapt(spec))
