"""Discord markdown → Matrix plain body + HTML.

Discord's markdown is its own dialect (``__underline__``, ``||spoilers||``, ``>>>``
quotes, ``<@id>`` mentions, ``<t:…>`` timestamps), so it is parsed here rather than
by a CommonMark library. Inline syntax is read with one regular expression whose
alternatives are tried in priority order at the earliest position, recursively for
the contents of emphasis; code is never parsed further.

The plain body keeps the markdown as the sender wrote it, with mentions, custom
emoji and timestamps made readable (``<@123>`` → ``@Alice``), which is what clients
without HTML should show.
"""

from __future__ import annotations

import datetime
import html
import re
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CUSTOM_EMOJI", "Mention", "MentionResolver", "Rendered", "render"]


@dataclass(frozen=True, slots=True)
class Mention:
    """A mentioned Discord user: the Matrix user standing for them (``None``: no pill)
    and the name to show."""

    mxid: str | None
    name: str


class MentionResolver(Protocol):
    """What the renderer asks the client about the things a message refers to."""

    def user(self, user_id: str) -> Mention | None:
        """The user with this snowflake, or ``None`` if unknown."""
        ...

    def role(self, role_id: str) -> str | None:
        """A role's name, or ``None`` if unknown."""
        ...

    def channel(self, channel_id: str) -> tuple[str, str | None] | None:
        """A channel's name and a link to it (``None``: no link), or ``None``."""
        ...

    def emoji(self, name: str, emoji_id: str, animated: bool) -> str | None:
        """The ``mxc://`` URI of a custom emoji's image to show inline, or ``None``
        to show ``:name:`` as text."""
        ...


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message's text for Matrix: ``html`` is ``None`` when it has no formatting."""

    body: str
    html: str | None


CUSTOM_EMOJI = re.compile(r"<(a?):(\w{2,32}):(\d+)>")
"""A custom emoji in message content: groups are ``a`` (animated), name, ID."""

_FENCE = re.compile(r"```(?:([A-Za-z0-9_+#.-]+)\n)?\n?(.*?)```", re.DOTALL)
_QUOTE_REST = re.compile(r"^>>>[ \n](.*)$", re.DOTALL)
_QUOTE_LINE = re.compile(r"^>(?: (.*))?$")
_HEADER = re.compile(r"^(#{1,3}) +(\S.*)$")
_SUBTEXT = re.compile(r"^-# +(\S.*)$")
_BULLET = re.compile(r"^\s*[-*] +(\S.*)$")
_NUMBERED = re.compile(r"^\s*(\d{1,9})\. +(\S.*)$")

_INLINE = re.compile(
    r"(?P<escape>\\(?P<escape_c>[^\w\s]))"
    r"|(?P<code>(?P<code_d>``?)(?P<code_t>[^`].*?)(?P=code_d)(?!`))"
    r"|(?P<user><@!?(?P<user_id>\d+)>)"
    r"|(?P<role><@&(?P<role_id>\d+)>)"
    r"|(?P<channel><#(?P<channel_id>\d+)>)"
    r"|(?P<emoji><(?P<emoji_a>a?):(?P<emoji_name>\w{2,32}):(?P<emoji_id>\d+)>)"
    r"|(?P<time><t:(?P<time_v>-?\d{1,13})(?::(?P<time_s>[tTdDfFR]))?>)"
    r"|(?P<autolink><(?P<autolink_u>https?://[^\s>]+)>)"
    r"|(?P<link>\[(?P<link_t>[^\]\n]+)\]\(<?(?P<link_u>https?://[^\s)>]+)>?\))"
    r"|(?P<url>https?://[^\s<]*[^\s<.,:;\"')\]!?*_~|])"
    r"|(?P<spoiler>\|\|(?P<spoiler_t>.+?)\|\|)"
    r"|(?P<bold>\*\*(?P<bold_t>.+?)\*\*(?!\*))"
    r"|(?P<underline>__(?P<underline_t>.+?)__(?!_))"
    r"|(?P<strike>~~(?P<strike_t>.+?)~~)"
    r"|(?P<italic>\*(?P<italic_t>[^\s*](?:.*?[^\s])??)\*(?!\*))"
    r"|(?P<italic_u>\b_(?P<italic_u_t>[^_].*?)_\b)",
    re.DOTALL,
)

_EMPHASIS = {
    "spoiler": ("<span data-mx-spoiler>", "</span>", "||"),
    "bold": ("<strong>", "</strong>", "**"),
    "underline": ("<u>", "</u>", "__"),
    "strike": ("<del>", "</del>", "~~"),
    "italic": ("<em>", "</em>", "*"),
    "italic_u": ("<em>", "</em>", "_"),
}

_TIME_FORMATS = {
    "t": "%H:%M",
    "T": "%H:%M:%S",
    "d": "%Y-%m-%d",
    "D": "%d %B %Y",
    "f": "%d %B %Y %H:%M",
    "F": "%A, %d %B %Y %H:%M",
    "R": "%d %B %Y %H:%M",
}


def render(content: str, resolver: MentionResolver) -> Rendered:
    """Discord message content as a Matrix body and (when formatted) HTML."""
    return _Renderer(resolver).render(content)


def _escape(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>")


class _Renderer:
    def __init__(self, resolver: MentionResolver) -> None:
        self.resolver = resolver
        self.formatted = False

    def render(self, content: str) -> Rendered:
        out: list[str] = []
        pos = 0
        for fence in _FENCE.finditer(content):
            before = content[pos : fence.start()]
            if pos:
                before = before.removeprefix("\n")
            out.append(self.blocks(before.removesuffix("\n")))
            language, code = fence.group(1), fence.group(2).removesuffix("\n")
            css = f' class="language-{html.escape(language)}"' if language else ""
            out.append(f"<pre><code{css}>{html.escape(code, quote=False)}</code></pre>")
            self.formatted = True
            pos = fence.end()
        rest = content[pos:]
        out.append(self.blocks(rest.removeprefix("\n") if pos else rest))
        body = self._plain_body(content)
        return Rendered(body, "".join(out) if self.formatted else None)

    def _plain_body(self, content: str) -> str:
        """The content with mentions, emoji and timestamps readable (code kept as is)."""
        pieces: list[str] = []
        pos = 0
        for fence in _FENCE.finditer(content):
            pieces.append(self.inline(content[pos : fence.start()])[0])
            pieces.append(fence.group(0))
            pos = fence.end()
        pieces.append(self.inline(content[pos:])[0])
        return "".join(pieces)

    # Blocks: quotes, headers, lists, paragraphs -----------------------------------

    def blocks(self, text: str) -> str:
        """The HTML of text that holds no code fence: quotes, headers and lists are
        block elements, everything between them runs of inline text."""
        if not text:
            return ""
        out: list[str] = []
        paragraph: list[str] = []
        lines = text.split("\n")
        i = 0

        def flush() -> None:
            if paragraph:
                out.append(self.inline("\n".join(paragraph))[1])
                paragraph.clear()

        while i < len(lines):
            line = lines[i]
            if line.startswith(">>>") and (rest := _QUOTE_REST.match("\n".join(lines[i:]))):
                flush()
                self._quote(out, rest.group(1))
                break
            if _QUOTE_LINE.match(line):
                flush()
                quoted: list[str] = []
                while i < len(lines) and (m := _QUOTE_LINE.match(lines[i])):
                    quoted.append(m.group(1) or "")
                    i += 1
                self._quote(out, "\n".join(quoted))
                continue
            if header := _HEADER.match(line):
                flush()
                level = len(header.group(1))
                out.append(f"<h{level}>{self.inline(header.group(2))[1]}</h{level}>")
                self.formatted = True
            elif subtext := _SUBTEXT.match(line):
                flush()
                out.append(f"<sub>{self.inline(subtext.group(1))[1]}</sub>")
                self.formatted = True
            elif _BULLET.match(line) or _NUMBERED.match(line):
                flush()
                i = self._list(out, lines, i)
                continue
            else:
                paragraph.append(line)
            i += 1
        flush()
        return "".join(out)

    def _quote(self, out: list[str], text: str) -> None:
        out.append(f"<blockquote>{_Renderer(self.resolver).blocks(text)}</blockquote>")
        self.formatted = True

    def _list(self, out: list[str], lines: list[str], i: int) -> int:
        numbered = _NUMBERED.match(lines[i])
        pattern = _NUMBERED if numbered else _BULLET
        items: list[str] = []
        while i < len(lines) and (m := pattern.match(lines[i])):
            items.append(f"<li>{self.inline(m.group(m.lastindex or 1))[1]}</li>")
            i += 1
        if numbered:
            start = int(numbered.group(1))
            attr = f' start="{start}"' if start != 1 else ""
            out.append(f"<ol{attr}>{''.join(items)}</ol>")
        else:
            out.append(f"<ul>{''.join(items)}</ul>")
        self.formatted = True
        return i

    # Inline syntax -----------------------------------------------------------------

    def inline(self, text: str) -> tuple[str, str]:
        """``(plain, html)`` of a run of inline markdown."""
        plain: list[str] = []
        rich: list[str] = []
        pos = 0
        while (m := _INLINE.search(text, pos)) is not None:
            before = text[pos : m.start()]
            plain.append(before)
            rich.append(_escape(before))
            token_plain, token_html = self._token(m)
            plain.append(token_plain)
            rich.append(token_html)
            pos = m.end()
        plain.append(text[pos:])
        rich.append(_escape(text[pos:]))
        return "".join(plain), "".join(rich)

    def _token(self, m: re.Match[str]) -> tuple[str, str]:
        kind = m.lastgroup or ""
        whole = m.group(0)
        if kind == "escape":
            return m["escape_c"], html.escape(m["escape_c"], quote=False)
        if kind == "code":
            self.formatted = True
            return whole, f"<code>{html.escape(m['code_t'], quote=False)}</code>"
        if kind == "user":
            return self._user(m["user_id"])
        if kind == "role":
            name = self.resolver.role(m["role_id"])
            shown = f"@{name}" if name is not None else "@deleted-role"
            return shown, html.escape(shown, quote=False)
        if kind == "channel":
            return self._channel(m["channel_id"])
        if kind == "emoji":
            return self._emoji(m["emoji_name"], m["emoji_id"], bool(m["emoji_a"]))
        if kind == "time":
            shown = _timestamp(int(m["time_v"]), m["time_s"] or "f")
            return shown, html.escape(shown, quote=False)
        if kind in ("autolink", "url"):
            url = m["autolink_u"] if kind == "autolink" else whole
            self.formatted = True
            return url, f'<a href="{html.escape(url)}">{html.escape(url, quote=False)}</a>'
        if kind == "link":
            label_plain, label_html = self.inline(m["link_t"])
            self.formatted = True
            url = m["link_u"]
            return f"{label_plain} ({url})", f'<a href="{html.escape(url)}">{label_html}</a>'
        if kind in _EMPHASIS:
            opening, closing, marker = _EMPHASIS[kind]
            inner_plain, inner_html = self.inline(m[f"{kind}_t"])
            self.formatted = True
            return f"{marker}{inner_plain}{marker}", f"{opening}{inner_html}{closing}"
        return whole, _escape(whole)

    def _user(self, user_id: str) -> tuple[str, str]:
        mention = self.resolver.user(user_id)
        if mention is None:
            return f"@{user_id}", f"@{user_id}"
        shown = f"@{mention.name}"
        if mention.mxid is None:
            return shown, html.escape(shown, quote=False)
        self.formatted = True
        href = html.escape(f"https://matrix.to/#/{mention.mxid}")
        return shown, f'<a href="{href}">{html.escape(mention.name, quote=False)}</a>'

    def _channel(self, channel_id: str) -> tuple[str, str]:
        found = self.resolver.channel(channel_id)
        if found is None:
            return "#unknown-channel", "#unknown-channel"
        name, link = found
        shown = f"#{name}"
        if link is None:
            return shown, html.escape(shown, quote=False)
        self.formatted = True
        return shown, f'<a href="{html.escape(link)}">{html.escape(shown, quote=False)}</a>'

    def _emoji(self, name: str, emoji_id: str, animated: bool) -> tuple[str, str]:
        shown = f":{name}:"
        mxc = self.resolver.emoji(name, emoji_id, animated)
        if mxc is None:
            return shown, shown
        self.formatted = True
        return shown, (
            f'<img data-mx-emoticon src="{html.escape(mxc)}" alt="{shown}" '
            f'title="{shown}" height="32">'
        )


def _timestamp(seconds: int, style: str) -> str:
    try:
        when = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"<t:{seconds}:{style}>"
    return when.strftime(_TIME_FORMATS.get(style, _TIME_FORMATS["f"])) + " UTC"
