"""General commands: help, ping, version, cancel."""

from __future__ import annotations

from .. import __version__
from ..user import Permission
from .processor import Command, CommandEvent


async def help_command(evt: CommandEvent) -> None:
    prefix = "" if evt.is_management else f"{evt.bridge.commands.prefix} "
    sections: dict[str, list[str]] = {}
    for command in evt.bridge.commands.visible_to(evt.user, evt.portal is not None):
        args = f" {command.help_args}" if command.help_args else ""
        sections.setdefault(command.section, []).append(
            f"  {prefix}{command.name}{args} — {command.help_text}"
        )
    lines = []
    for section, entries in sections.items():
        lines.append(f"{section}:")
        lines.extend(sorted(entries))
    await evt.reply("\n".join(lines))


async def ping_command(evt: CommandEvent) -> None:
    logins = evt.user.logins
    if not logins:
        await evt.reply("You are not logged in. Send `login` to connect an account.")
        return
    lines = [f"{login.remote_name} ({login.id}): {login.state.value}" for login in logins]
    await evt.reply("\n".join(lines))


async def version_command(evt: CommandEvent) -> None:
    name = evt.bridge.connector.name
    await evt.reply(f"bridgekit {__version__}, {name.display_name} bridge")


async def cancel_command(evt: CommandEvent) -> None:
    pending = evt.user.pending_login
    if pending is None:
        await evt.reply("There is nothing to cancel.")
        return
    evt.user.pending_login = None
    await pending.process.cancel()
    await evt.reply("Login cancelled.")


COMMANDS = [
    Command("help", help_command, "", "show this list", "General", Permission.RELAY),
    Command("ping", ping_command, "", "show the state of your logins", "General"),
    Command("version", version_command, "", "show the bridge version", "General", Permission.RELAY),
    Command("cancel", cancel_command, "", "cancel a login in progress", "General"),
]
