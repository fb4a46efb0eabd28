"""Bridge administration commands: delete-all-portals."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from .. import space
from ..user import Permission
from .processor import Command, CommandEvent

if TYPE_CHECKING:
    from ..portal import Portal

log = logging.getLogger("bridgekit.commands.admin")

_PROGRESS_EVERY = 25


async def delete_all_portals_command(evt: CommandEvent) -> None:
    if evt.portal is not None:
        await evt.reply(
            "Send `delete-all-portals` in your management room: it deletes this room too."
        )
        return
    bridge = evt.bridge
    records = await bridge.portals_db.all_with_room()
    total = len(records)
    if not total:
        await evt.reply("There are no portals to delete.")
        return
    if evt.args != ["confirm"]:
        await evt.reply(
            f"This deletes all {total} portal rooms: their users are removed and the rooms "
            "abandoned, and the bridged messages are forgotten. Send "
            "`delete-all-portals confirm` to go ahead."
        )
        return
    await evt.reply(f"Deleting {total} portals…")
    failed = 0
    for done, record in enumerate(records, start=1):
        portal = await bridge.get_portal(record.key)
        try:
            await evt.in_portal_queue(portal, "delete", functools.partial(_delete, portal, evt))
        except Exception:
            log.exception("Could not delete portal %s", record.key)
            failed += 1
        if done % _PROGRESS_EVERY == 0 and done < total:
            await evt.reply(f"Deleted {done}/{total} portals…")
    message = f"Deleted {total - failed}/{total} portals."
    if failed:
        message += " The others failed; see the bridge's logs."
    await evt.reply(message)


async def _delete(portal: Portal, evt: CommandEvent) -> None:
    await space.remove_portal(portal)
    await evt.bridge.delete_portal(portal, reason=f"All portals deleted by {evt.user.mxid}")


COMMANDS = [
    Command(
        "delete-all-portals",
        delete_all_portals_command,
        "",
        "delete every portal room of the bridge",
        "Administration",
        Permission.ADMIN,
    ),
]
