"""Discord's permission computation (guild base permissions, then channel overwrites).

Follows the documented algorithm: the owner and ADMINISTRATOR get everything; otherwise
@everyone's and the member's roles are OR-ed, then the channel's @everyone overwrite, the
role overwrites (combined) and the member overwrite are applied in that order. Without
VIEW_CHANNEL a member has no permission at all in the channel.
"""

from __future__ import annotations

from collections.abc import Iterable

from .entities import Guild, Overwrite
from .protocol import ALL_PERMISSIONS, Permissions


def base_permissions(guild: Guild, user_id: int) -> int:
    """Permissions of ``user_id`` in ``guild`` before channel overwrites (0 if not a member)."""
    if guild.owner_id == user_id:
        return ALL_PERMISSIONS
    member = guild.members.get(user_id)
    if member is None:
        return 0
    everyone = guild.roles.get(guild.id)
    perms = everyone.permissions if everyone else 0
    for role_id in member.roles:
        role = guild.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    if perms & Permissions.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return perms


def channel_permissions(guild: Guild, overwrites: Iterable[Overwrite], user_id: int) -> int:
    """Permissions of ``user_id`` in a guild channel with ``overwrites``."""
    perms = base_permissions(guild, user_id)
    if perms == ALL_PERMISSIONS:
        return perms
    member = guild.members.get(user_id)
    if member is None:
        return 0
    by_id = {ow.id: ow for ow in overwrites}
    everyone = by_id.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.roles:
        ow = by_id.get(role_id)
        if ow is not None and ow.type == 0:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    own = by_id.get(user_id)
    if own is not None and own.type == 1:
        perms = (perms & ~own.deny) | own.allow
    if not perms & Permissions.VIEW_CHANNEL:
        return 0
    return perms
