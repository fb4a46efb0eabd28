"""Discord markdown ⇄ Matrix HTML.

- ``discord_to_html.render`` turns a Discord message's content into a Matrix plain
  body and HTML (bold, italic, underline, strike, spoilers, code, block quotes,
  headers, lists, links, mentions as pills, custom emoji, timestamps);
- ``html_to_discord.to_discord`` turns Matrix HTML into Discord markdown (pills of
  Discord users become ``<@id>`` mentions, links to portal rooms ``<#id>``).

Both take a small resolver for the things only the client knows (who ``<@123>``
is, which Matrix user a pill names).
"""

from __future__ import annotations

from .discord_to_html import Mention, MentionResolver, Rendered, render
from .html_to_discord import PillResolver, RoomResolver, to_discord

__all__ = [
    "Mention",
    "MentionResolver",
    "PillResolver",
    "Rendered",
    "RoomResolver",
    "render",
    "to_discord",
]
