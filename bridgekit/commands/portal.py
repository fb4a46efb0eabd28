"""Portal commands: relay settings and deleting portals."""

from __future__ import annotations

from ..user import Permission
from .processor import Command, CommandEvent


async def set_relay_command(evt: CommandEvent) -> None:
    assert evt.portal is not None
    if not evt.bridge.config.get("bridge.relay.enabled"):
        await evt.reply("Relay mode is turned off in this bridge's config (bridge.relay.enabled).")
        return
    login = evt.user.default_login()
    if login is None:
        await evt.reply("You need a login of your own to relay others through it.")
        return
    evt.portal.record.relay_login_id = login.id
    await evt.portal.save()
    await evt.reply(
        f"Messages of users without a login are now relayed through {login.remote_name}."
    )


async def unset_relay_command(evt: CommandEvent) -> None:
    assert evt.portal is not None
    evt.portal.record.relay_login_id = None
    await evt.portal.save()
    await evt.reply("This room no longer relays messages.")


async def delete_portal_command(evt: CommandEvent) -> None:
    assert evt.portal is not None
    await evt.bridge.delete_portal(evt.portal, reason=f"Deleted by {evt.user.mxid}")


COMMANDS = [
    Command(
        "set-relay",
        set_relay_command,
        "",
        "relay users without a login here",
        "Portals",
        portal_only=True,
    ),
    Command(
        "unset-relay", unset_relay_command, "", "stop relaying here", "Portals", portal_only=True
    ),
    Command(
        "delete-portal",
        delete_portal_command,
        "",
        "remove this portal room",
        "Portals",
        Permission.ADMIN,
        portal_only=True,
    ),
]
