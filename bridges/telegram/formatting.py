"""Telegram message entities ⇄ Matrix HTML.

Telegram formats text with entities: (type, offset, length) triples whose offsets
count UTF-16 code units, so an emoji outside the Basic Multilingual Plane counts
twice. Matrix formats with HTML. Both directions work on "surrogate" strings (astral
characters split into their two UTF-16 halves, Telethon's ``add_surrogate``), where
a Python index is a Telegram offset.

- Telegram → Matrix: entities may overlap without nesting; an entity that crosses
  the end of the one it starts in is split there, so the HTML always nests.
- Matrix → Telegram: mautrix's ``MatrixParser`` reads the HTML (paragraphs, lists,
  replies' fallbacks, pills, spoilers...) into text and entities.

Mentions: a Telegram user becomes a pill to their ghost, and a pill to a ghost
becomes a Telegram mention, when the caller can map between the two
(``MentionMapper``); otherwise the mention's text stays as it is.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mautrix.types import UserID
from mautrix.util.formatter import EntityString, EntityType, MatrixParser, SimpleEntity
from telethon.helpers import add_surrogate, del_surrogate
from telethon.tl import types

from bridgekit.network.content import defuse_html


@dataclass(frozen=True, slots=True)
class MentionMapper:
    """Maps Telegram users to Matrix IDs and back; either side may be unknown."""

    to_mxid: Callable[[int], str | None] = lambda _: None
    from_mxid: Callable[[str], int | None] = lambda _: None


NO_MENTIONS = MentionMapper()


# Telegram → Matrix ----------------------------------------------------------------------


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    entity: Any


def telegram_to_html(
    text: str, entities: Sequence[Any] | None, mentions: MentionMapper = NO_MENTIONS
) -> str | None:
    """The Matrix HTML of a Telegram text with entities, or ``None`` when the text has
    no formatting worth sending as HTML."""
    if not text or not entities:
        return None
    units = add_surrogate(text)
    spans = [
        _Span(e.offset, min(e.offset + e.length, len(units)), e)
        for e in entities
        if e.length > 0 and _is_formatting(e)
    ]
    if not spans:
        return None
    spans.sort(key=lambda s: (s.start, -s.end))
    return del_surrogate(_render(units, spans, 0, len(units), mentions, in_code=False))


def _is_formatting(entity: Any) -> bool:
    return isinstance(entity, tuple(_SIMPLE_TAGS) + _LINK_ENTITIES + (types.MessageEntityPre,))


_SIMPLE_TAGS: dict[type, tuple[str, str]] = {
    types.MessageEntityBold: ("<strong>", "</strong>"),
    types.MessageEntityItalic: ("<em>", "</em>"),
    types.MessageEntityUnderline: ("<u>", "</u>"),
    types.MessageEntityStrike: ("<del>", "</del>"),
    types.MessageEntityCode: ("<code>", "</code>"),
    types.MessageEntitySpoiler: ("<span data-mx-spoiler>", "</span>"),
    types.MessageEntityBlockquote: ("<blockquote>", "</blockquote>"),
}
_LINK_ENTITIES: tuple[type, ...] = (
    types.MessageEntityUrl,
    types.MessageEntityTextUrl,
    types.MessageEntityEmail,
    types.MessageEntityPhone,
    types.MessageEntityMention,
    types.MessageEntityMentionName,
)


def _escape(text: str, in_code: bool) -> str:
    escaped = html.escape(text, quote=False)
    return escaped if in_code else escaped.replace("\n", "<br/>")


def _render(
    units: str, spans: list[_Span], start: int, end: int, mentions: MentionMapper, in_code: bool
) -> str:
    out: list[str] = []
    pos = start
    pending = spans
    while pending:
        span = pending[0]
        out.append(_escape(units[pos : span.start], in_code))
        children: list[_Span] = []
        later: list[_Span] = []
        for other in pending[1:]:
            if other.start >= span.end:
                later.append(other)
            elif other.end <= span.end:
                children.append(other)
            else:
                # Crosses the end of ``span``: the part inside nests, the rest comes after.
                children.append(_Span(other.start, span.end, other.entity))
                later.append(_Span(span.end, other.end, other.entity))
        code = in_code or isinstance(span.entity, types.MessageEntityCode | types.MessageEntityPre)
        inner = _render(units, children, span.start, span.end, mentions, code)
        out.append(_wrap(span.entity, inner, units[span.start : span.end], mentions))
        pos = span.end
        pending = sorted(later, key=lambda s: (s.start, -s.end))
    out.append(_escape(units[pos:end], in_code))
    return "".join(out)


def _wrap(entity: Any, inner: str, text: str, mentions: MentionMapper) -> str:
    simple = _SIMPLE_TAGS.get(type(entity))
    if simple is not None:
        return f"{simple[0]}{inner}{simple[1]}"
    if isinstance(entity, types.MessageEntityPre):
        language = f' class="language-{html.escape(entity.language)}"' if entity.language else ""
        return f"<pre><code{language}>{inner}</code></pre>"
    plain = del_surrogate(text)
    href: str | None = None
    if isinstance(entity, types.MessageEntityUrl):
        href = plain if "://" in plain else f"https://{plain}"
    elif isinstance(entity, types.MessageEntityTextUrl):
        href = entity.url
    elif isinstance(entity, types.MessageEntityEmail):
        href = f"mailto:{plain}"
    elif isinstance(entity, types.MessageEntityPhone):
        href = f"tel:{plain}"
    elif isinstance(entity, types.MessageEntityMention):
        href = f"https://t.me/{plain.lstrip('@')}"
    elif isinstance(entity, types.MessageEntityMentionName):
        mxid = mentions.to_mxid(entity.user_id)
        href = f"https://matrix.to/#/{mxid}" if mxid else None
    if href is None:
        return inner
    return f'<a href="{html.escape(href)}">{inner}</a>'


# Matrix → Telegram ----------------------------------------------------------------------


class _TelegramString(EntityString[SimpleEntity, EntityType]):
    pass


class _Parser(MatrixParser[_TelegramString]):
    fs = _TelegramString

    def __init__(self, mentions: MentionMapper) -> None:
        self.mentions = mentions

    async def user_pill_to_fstring(
        self, msg: _TelegramString, user_id: UserID
    ) -> _TelegramString | None:
        telegram_id = self.mentions.from_mxid(str(user_id))
        if telegram_id is None:
            return msg  # not a Telegram user: the pill's text stays, unlinked
        msg.format(EntityType.USER_MENTION, user_id=telegram_id)
        return msg


async def html_to_telegram(
    text_html: str, mentions: MentionMapper = NO_MENTIONS
) -> tuple[str, list[Any]]:
    """Plain text and Telegram entities (UTF-16 offsets) for Matrix HTML. Mentions are
    ``MessageEntityMentionName``; the sender turns them into input entities."""
    parsed = await _Parser(mentions).parse(defuse_html(text_html))
    text = parsed.text
    units = _utf16_prefix(text)
    entities = []
    for entity in sorted(parsed.entities, key=lambda e: (e.offset, -e.length)):
        start, end = entity.offset, min(entity.offset + entity.length, len(text))
        if end <= start:
            continue
        offset, length = units[start], units[end] - units[start]
        converted = _telegram_entity(entity, offset, length, text[start:end])
        if converted is not None:
            entities.append(converted)
    return text, entities


def _utf16_prefix(text: str) -> list[int]:
    """``prefix[i]`` is the number of UTF-16 code units in ``text[:i]``."""
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + (2 if ord(ch) > 0xFFFF else 1))
    return prefix


def _telegram_entity(entity: SimpleEntity, offset: int, length: int, text: str) -> Any | None:
    kind, extra = entity.type, entity.extra_info
    simple: dict[EntityType, Any] = {
        EntityType.BOLD: types.MessageEntityBold,
        EntityType.HEADER: types.MessageEntityBold,
        EntityType.ITALIC: types.MessageEntityItalic,
        EntityType.UNDERLINE: types.MessageEntityUnderline,
        EntityType.STRIKETHROUGH: types.MessageEntityStrike,
        EntityType.INLINE_CODE: types.MessageEntityCode,
        EntityType.SPOILER: types.MessageEntitySpoiler,
        EntityType.BLOCKQUOTE: types.MessageEntityBlockquote,
        EntityType.EMAIL: types.MessageEntityEmail,
    }
    if kind in simple:
        return simple[kind](offset, length)
    if kind == EntityType.PREFORMATTED:
        return types.MessageEntityPre(offset, length, str(extra.get("language") or ""))
    if kind == EntityType.URL:
        url = str(extra.get("url") or "")
        if not url or url == text:
            return types.MessageEntityUrl(offset, length)
        return types.MessageEntityTextUrl(offset, length, url)
    if kind == EntityType.USER_MENTION and isinstance(extra.get("user_id"), int):
        return types.MessageEntityMentionName(offset, length, extra["user_id"])
    return None
