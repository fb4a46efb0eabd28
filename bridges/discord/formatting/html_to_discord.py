"""Matrix HTML → Discord markdown, on mautrix's HTML parser.

mautrix's ``MatrixParser`` walks the HTML; ``DiscordMarkdown`` decides how each
entity is written in Discord's dialect (``__underline__``, ``||spoiler||``, ``- ``
lists, at most ``###`` headers). Text outside code is escaped so that a literal
``*`` typed on Matrix does not become emphasis on Discord.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from mautrix.types import RoomID, UserID
from mautrix.util.formatter import EntityType, MarkdownString, MatrixParser, RecursionContext

from bridgekit.network.content import defuse_html

__all__ = ["PillResolver", "RoomResolver", "to_discord"]

PillResolver = Callable[[str], str | None]
"""Maps a pill's Matrix user ID to the Discord user ID to mention (``None``: keep
the pill's text)."""

RoomResolver = Callable[[str], Awaitable[str | None]]
"""Maps a linked Matrix room ID to the Discord channel of its portal (``None``: keep
the link)."""

_SPECIAL = re.compile(r"([\\*_~`|])")
_URL = re.compile(r"https?://\S+")


def _escape(text: str) -> str:
    """Escape markdown characters, leaving URLs intact (Discord links them)."""
    out: list[str] = []
    pos = 0
    for url in _URL.finditer(text):
        out.append(_SPECIAL.sub(r"\\\1", text[pos : url.start()]))
        out.append(url.group(0))
        pos = url.end()
    out.append(_SPECIAL.sub(r"\\\1", text[pos:]))
    return "".join(out)


class DiscordMarkdown(MarkdownString):
    """A markdown string in Discord's dialect."""

    def format(self, entity_type: EntityType, **kwargs: Any) -> DiscordMarkdown:
        if entity_type == EntityType.ITALIC:
            self.text = f"*{self.text}*"
        elif entity_type == EntityType.UNDERLINE:
            self.text = f"__{self.text}__"
        elif entity_type == EntityType.SPOILER:
            self.text = f"||{self.text}||"
        elif entity_type == EntityType.INLINE_CODE:
            fence = "``" if "`" in self.text else "`"
            self.text = f"{fence}{self.text}{fence}"
        elif entity_type == EntityType.PREFORMATTED:
            self.text = f"```{kwargs.get('language', '')}\n{self.text.rstrip(chr(10))}\n```"
        elif entity_type == EntityType.HEADER:
            self.text = f"{'#' * min(int(kwargs['size']), 3)} {self.text}"
        elif entity_type in (EntityType.USER_MENTION, EntityType.COLOR):
            pass
        else:
            super().format(entity_type, **kwargs)
        return self


class _Parser(MatrixParser[DiscordMarkdown]):
    fs = DiscordMarkdown

    def __init__(self, resolve: PillResolver, resolve_room: RoomResolver | None) -> None:
        self.resolve = resolve
        self.resolve_room = resolve_room

    def list_bullet(self, depth: int) -> str:
        return "- "

    async def user_pill_to_fstring(
        self, msg: DiscordMarkdown, user_id: UserID
    ) -> DiscordMarkdown | None:
        discord_id = self.resolve(str(user_id))
        if discord_id is not None:
            return DiscordMarkdown(f"<@{discord_id}>")
        return msg

    async def room_id_link_to_fstring(
        self, msg: DiscordMarkdown, room_id: RoomID
    ) -> DiscordMarkdown | None:
        channel_id = await self.resolve_room(str(room_id)) if self.resolve_room else None
        if channel_id is not None:
            return DiscordMarkdown(f"<#{channel_id}>")
        return msg

    async def text_to_fstring(
        self, text: str, ctx: RecursionContext, strip_leading_whitespace: bool = False
    ) -> DiscordMarkdown:
        fs = await super().text_to_fstring(text, ctx, strip_leading_whitespace)
        if not ctx.preserve_whitespace:
            fs.text = _escape(fs.text)
        return fs


async def to_discord(
    html: str, resolve: PillResolver, resolve_room: RoomResolver | None = None
) -> str:
    """Discord markdown for a Matrix message's ``formatted_body``: pills of Discord
    users become ``<@id>``, links to portal rooms become ``<#channel>``."""
    parsed = await _Parser(resolve, resolve_room).parse(defuse_html(html))
    return parsed.text.strip()
