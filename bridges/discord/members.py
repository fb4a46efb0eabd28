"""What a guild member is called in a channel's room: server nickname, role, colour.

Discord names people per server (a nickname) and shows their highest coloured role.
With ``member_name_template`` set, a ghost's membership in a guild channel's room
carries that name (its Matrix profile keeps the global name); empty keeps the global
name everywhere. Matrix clients colour names themselves, so the role's colour can
only be shown as a character: the nearest of the coloured circle emoji.
"""

from __future__ import annotations

import colorsys
import re

import discord

#: The coloured circles, by hue (degrees) from red round to purple.
_HUES = ((0, "🔴"), (30, "🟠"), (55, "🟡"), (130, "🟢"), (215, "🔵"), (280, "🟣"), (360, "🔴"))
#: Brackets left empty by a missing field ("Alice ()") are dropped.
_EMPTY_BRACKETS = re.compile(r"\s*(\(\s*\)|\[\s*\])")

FIELDS = ("nick", "name", "username", "role", "colour")


def colour_mark(colour: int) -> str:
    """The coloured circle nearest to an RGB colour (``""`` for none, which is 0)."""
    if not colour:
        return ""
    red, green, blue = ((colour >> shift) & 0xFF for shift in (16, 8, 0))
    hue, lightness, saturation = colorsys.rgb_to_hls(red / 255, green / 255, blue / 255)
    if saturation < 0.2 or lightness < 0.1 or lightness > 0.92:
        return "⚫" if lightness < 0.5 else "⚪"
    if 0.05 < hue < 0.11 and lightness < 0.4:
        return "🟤"
    degrees = hue * 360
    return min(_HUES, key=lambda entry: abs(entry[0] - degrees))[1]


def top_role(member: discord.Member) -> discord.Role | None:
    """The member's highest role other than @everyone, if any."""
    roles = [role for role in member.roles if not role.is_default()]
    return max(roles, key=lambda role: role.position) if roles else None


def room_name(template: str, user: discord.abc.User) -> str | None:
    """``user``'s name in a guild channel's room per ``template``; ``None`` when the
    template is empty or ``user`` is not a guild member (a webhook, a DM)."""
    if not template or not isinstance(user, discord.Member):
        return None
    role = top_role(user)
    coloured = next(
        (r for r in sorted(user.roles, key=lambda r: -r.position) if r.colour.value), None
    )
    name = template.format(
        nick=user.nick or user.global_name or user.name,
        name=user.global_name or user.name,
        username=user.name,
        role=role.name if role is not None else "",
        colour=colour_mark(coloured.colour.value) if coloured is not None else "",
    )
    return " ".join(_EMPTY_BRACKETS.sub("", name).split()) or None
