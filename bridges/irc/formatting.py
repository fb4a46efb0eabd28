"""mIRC formatting codes ⇄ Matrix HTML.

IRC → Matrix: :func:`irc_to_matrix` turns bold ``\\x02``, italic ``\\x1d``, underline
``\\x1f``, strikethrough ``\\x1e``, monospace ``\\x11``, colours ``\\x03fg,bg`` (0-98, 99 =
default) and ``\\x04rrggbb,rrggbb``, reverse ``\\x16`` and reset ``\\x0f`` into a plain
body and, when there is formatting, Matrix HTML.

Matrix → IRC: :func:`html_to_irc` parses HTML with :mod:`html.parser` (never regexes),
maps inline styles to codes, block elements to lines (paragraphs, ``<br>``, quotes as
``> ``, lists as bullets, ``<pre>`` as monospace lines), drops ``<mx-reply>``, and writes
links as ``text (url)``. Hostile input (unbalanced, deeply nested, huge) never raises and
the output stays linear in the input: nesting beyond :data:`MAX_DEPTH` is flattened.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any

from bridgekit.network.content import defuse_html

BOLD, ITALIC, UNDERLINE, STRIKE, MONO = "\x02", "\x1d", "\x1f", "\x1e", "\x11"
COLOR, HEX_COLOR, REVERSE, RESET = "\x03", "\x04", "\x16", "\x0f"

#: The 99 colours of mIRC's palette (0-15 classic, 16-98 extended); 99 means "default".
PALETTE: tuple[str, ...] = (
    # 0-15
    "ffffff", "000000", "00007f", "009300", "ff0000", "7f0000", "9c009c", "fc7f00",
    "ffff00", "00fc00", "009393", "00ffff", "0000fc", "ff00ff", "7f7f7f", "d2d2d2",
    # 16-27
    "470000", "472100", "474700", "324700", "004700", "00472c", "004747", "002747",
    "000047", "2e0047", "470047", "47002a",
    # 28-39
    "740000", "743a00", "747400", "517400", "007400", "007449", "007474", "004074",
    "000074", "4b0074", "740074", "740045",
    # 40-51
    "b50000", "b56300", "b5b500", "7db500", "00b500", "00b571", "00b5b5", "0063b5",
    "0000b5", "7500b5", "b500b5", "b5006b",
    # 52-63
    "ff0000", "ff8c00", "ffff00", "b2ff00", "00ff00", "00ffa0", "00ffff", "008cff",
    "0000ff", "a500ff", "ff00ff", "ff0098",
    # 64-75
    "ff5959", "ffb459", "ffff71", "cfff60", "6fff6f", "65ffc9", "6dffff", "59b4ff",
    "5959ff", "c459ff", "ff66ff", "ff59bc",
    # 76-87
    "ff9c9c", "ffd39c", "ffff9c", "e2ff9c", "9cff9c", "9cffdb", "9cffff", "9cd3ff",
    "9c9cff", "dc9cff", "ff9cff", "ff94d3",
    # 88-98
    "000000", "131313", "282828", "363636", "4d4d4d", "656565", "818181", "9f9f9f",
    "bcbcbc", "e2e2e2", "ffffff",
)  # fmt: skip

#: Nesting deeper than this is flattened (its formatting ignored, its text kept).
MAX_DEPTH = 64
_MAX_QUOTE_MARKS = 3
_MAX_INDENT = 4

_CODES_RE = re.compile(
    r"\x03(?:(\d{1,2})(?:,(\d{1,2}))?)?"
    r"|\x04(?:([0-9A-Fa-f]{6})(?:,([0-9A-Fa-f]{6}))?)?"
    r"|[\x02\x1d\x1f\x1e\x11\x16\x0f]"
)
# Other C0 controls (CTCP's \x01, bell...) mean nothing in Matrix text.
_OTHER_CONTROLS_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HTML_SPACE_RE = re.compile(r"[ \t\n\r\f]+")
_HEX_RE = re.compile(r"^#?([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")
_TOGGLES = ((BOLD, "bold"), (ITALIC, "italic"), (UNDERLINE, "underline"), (STRIKE, "strike"))


@dataclass(frozen=True, slots=True)
class Style:
    """Formatting in effect for a run of text; colours are ``rrggbb`` hex or ``None``."""

    bold: bool = False
    italic: bool = False
    underline: bool = False
    strike: bool = False
    mono: bool = False
    reverse: bool = False
    fg: str | None = None
    bg: str | None = None


PLAIN = Style()


@dataclass(frozen=True, slots=True)
class MatrixText:
    """A message for Matrix: ``body`` is plain text, ``html`` the ``formatted_body``
    (``None`` when the text has no formatting)."""

    body: str
    html: str | None


# IRC → Matrix


def parse_irc(text: str) -> list[tuple[str, Style]]:
    """Split IRC text into runs of plain text and the style applying to each."""
    runs: list[tuple[str, Style]] = []
    style = PLAIN
    position = 0
    for match in _CODES_RE.finditer(text):
        if match.start() > position:
            _append_run(runs, text[position : match.start()], style)
        position = match.end()
        style = _apply_code(style, match)
    if position < len(text):
        _append_run(runs, text[position:], style)
    return runs


def _append_run(runs: list[tuple[str, Style]], text: str, style: Style) -> None:
    text = _OTHER_CONTROLS_RE.sub("", text)
    if not text:
        return
    if runs and runs[-1][1] == style:
        runs[-1] = (runs[-1][0] + text, style)
    else:
        runs.append((text, style))


def _apply_code(style: Style, match: re.Match[str]) -> Style:
    code = match.group(0)[0]
    if code == RESET:
        return PLAIN
    if code == COLOR:
        fg_code, bg_code = match.group(1), match.group(2)
        if fg_code is None:
            return replace(style, fg=None, bg=None)
        fg = _palette(fg_code)
        return replace(style, fg=fg, bg=_palette(bg_code) if bg_code else style.bg)
    if code == HEX_COLOR:
        fg_hex, bg_hex = match.group(3), match.group(4)
        if fg_hex is None:
            return replace(style, fg=None, bg=None)
        return replace(style, fg=fg_hex.lower(), bg=bg_hex.lower() if bg_hex else style.bg)
    if code == MONO:
        return replace(style, mono=not style.mono)
    if code == REVERSE:
        return replace(style, reverse=not style.reverse)
    attribute = dict(_TOGGLES)[code]
    changes: dict[str, Any] = {attribute: not getattr(style, attribute)}
    return replace(style, **changes)


def _palette(code: str) -> str | None:
    index = int(code)
    return PALETTE[index] if index < len(PALETTE) else None


def strip_formatting(text: str) -> str:
    """``text`` without formatting codes or other control characters (tabs and line
    breaks are kept)."""
    return "".join(run for run, _ in parse_irc(text))


def irc_to_matrix(text: str) -> MatrixText:
    """The Matrix body and HTML of an IRC message (HTML only if it is formatted)."""
    runs = parse_irc(text)
    body = "".join(run for run, _ in runs)
    if all(style == PLAIN or _looks_plain(style) for _, style in runs):
        return MatrixText(body, None)
    parts: list[str] = []
    previous_space = True
    for index, (run, style) in enumerate(runs):
        last = index == len(runs) - 1
        escaped, previous_space = _escape_spaces(run, previous_space, last)
        parts.append(_wrap(escaped, style))
    return MatrixText(body, "".join(parts))


def _looks_plain(style: Style) -> bool:
    # Reverse without colours has no HTML rendering, so it alone is not formatting.
    return replace(style, reverse=False) == PLAIN


def _escape_spaces(text: str, previous_space: bool, last: bool) -> tuple[str, bool]:
    """HTML-escape ``text`` keeping IRC spacing: a space that HTML would collapse or
    trim (after another space, at the start, at the very end) becomes ``&nbsp;``."""
    out: list[str] = []
    for position, char in enumerate(text.replace("\t", " ")):
        if char == "\n":
            out.append("<br>")
            previous_space = True
        elif char == " ":
            at_end = last and position == len(text) - 1
            out.append("&nbsp;" if previous_space or at_end else " ")
            previous_space = True
        else:
            out.append(html.escape(char, quote=False))
            previous_space = False
    return "".join(out), previous_space


def _wrap(escaped: str, style: Style) -> str:
    fg, bg = (style.bg, style.fg) if style.reverse else (style.fg, style.bg)
    if style.mono:
        escaped = f"<code>{escaped}</code>"
    if style.strike:
        escaped = f"<del>{escaped}</del>"
    if style.underline:
        escaped = f"<u>{escaped}</u>"
    if style.italic:
        escaped = f"<em>{escaped}</em>"
    if style.bold:
        escaped = f"<strong>{escaped}</strong>"
    if fg or bg:
        attributes = ""
        if fg:
            attributes += f' data-mx-color="#{fg}"'
        if bg:
            attributes += f' data-mx-bg-color="#{bg}"'
        escaped = f"<span{attributes}>{escaped}</span>"
    return escaped


# Matrix → IRC


def nearest_color(hex_color: str) -> int:
    """The mIRC colour index for ``#rrggbb``: an exact palette match, else the nearest
    of the 16 classic colours (the ones every client renders)."""
    value = hex_color.lstrip("#").lower()
    if value in PALETTE:
        return PALETTE.index(value)
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))

    def distance(index: int) -> int:
        candidate = PALETTE[index]
        r, g, b = (int(candidate[i : i + 2], 16) for i in (0, 2, 4))
        return (r - red) ** 2 + (g - green) ** 2 + (b - blue) ** 2

    return min(range(16), key=distance)


def _parse_color(value: str | None) -> str | None:
    if not value:
        return None
    match = _HEX_RE.match(value.strip())
    if match is None:
        return None
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(char * 2 for char in digits)
    return digits


LinkResolver = Callable[[str], "str | None"]

_INLINE_STYLES: dict[str, dict[str, Any]] = {
    "b": {"bold": True},
    "strong": {"bold": True},
    "i": {"italic": True},
    "em": {"italic": True},
    "cite": {"italic": True},
    "u": {"underline": True},
    "ins": {"underline": True},
    "del": {"strike": True},
    "s": {"strike": True},
    "strike": {"strike": True},
    "code": {"mono": True},
    "pre": {"mono": True},
}
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset(
    {"p", "div", "blockquote", "ul", "ol", "li", "pre", "table", "tr", "hr", "details"} | _HEADINGS
)
_SKIPPED = frozenset({"mx-reply", "script", "style", "head", "title", "template"})
_VOID = frozenset({"br", "img", "hr", "wbr", "input", "meta", "link", "area", "col"})


@dataclass(slots=True)
class _Frame:
    tag: str
    style: Style
    href: str | None = None
    link_text: list[str] = field(default_factory=list)
    counter: int | None = None
    bullet: str | None = None


class _HtmlToIrc(HTMLParser):
    def __init__(self, link_resolver: LinkResolver | None) -> None:
        super().__init__(convert_charrefs=True)
        self._resolver = link_resolver
        self._stack: list[_Frame] = []
        self._out: list[str] = []
        self._emitted = PLAIN
        self._line_start = True
        self._last_space = True
        self._skip = 0
        self._overflow = 0
        self._pending_bullet: str | None = None
        self._skip_link = False

    # Output

    def _style(self) -> Style:
        return self._stack[-1].style if self._stack else PLAIN

    def _in(self, tag: str) -> bool:
        return any(frame.tag == tag for frame in self._stack)

    def _prefix(self) -> str:
        quotes = sum(1 for frame in self._stack if frame.tag == "blockquote")
        lists = sum(1 for frame in self._stack if frame.tag in ("ul", "ol"))
        # Deeper nesting adds no meaning on IRC, only width: the markers are capped.
        prefix = "> " * min(quotes, _MAX_QUOTE_MARKS) + "  " * min(max(0, lists - 1), _MAX_INDENT)
        if self._pending_bullet is not None:
            prefix += self._pending_bullet
            self._pending_bullet = None
        return prefix

    def _newline(self) -> None:
        # Every IRC message starts unformatted, so the next line re-emits its codes.
        self._emitted = PLAIN
        self._out.append("\n")
        self._line_start = True
        self._last_space = True

    def _block_break(self) -> None:
        if not self._line_start:
            self._newline()

    def _write(self, text: str) -> None:
        if not text:
            return
        if self._line_start:
            prefix = self._prefix()
            if prefix:
                self._out.append(prefix)
            self._line_start = False
        self._out.append(_transition(self._emitted, self._style(), text[0]))
        self._emitted = self._style()
        self._out.append(text)
        self._last_space = text.endswith(" ")
        for frame in self._stack:
            if frame.href is not None:
                frame.link_text.append(text)

    # Parser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip:
            if tag in _SKIPPED:
                self._skip += 1
            return
        if tag in _SKIPPED:
            self._skip = 1
            return
        attributes = dict(attrs)
        if tag in _VOID:
            self._void(tag, attributes)
            return
        if len(self._stack) >= MAX_DEPTH:
            self._overflow += 1
            return
        if tag in _BLOCKS:
            self._block_break()
        frame = _Frame(tag, self._frame_style(tag, attributes))
        if tag == "a":
            href = attributes.get("href") or ""
            resolved = self._resolver(href) if self._resolver and href else None
            if resolved is not None:
                self._stack.append(frame)
                self._write(_clean(resolved))
                self._skip = 1
                self._stack.pop()
                self._skip_link = True
                return
            frame.href = href
        elif tag == "ol":
            start = attributes.get("start") or "1"
            frame.counter = int(start) if start.isdigit() else 1
        elif tag == "li":
            self._pending_bullet = self._bullet()
        elif tag in ("td", "th") and not self._line_start:
            self._write(" | ")
        self._stack.append(frame)

    def _frame_style(self, tag: str, attributes: dict[str, str | None]) -> Style:
        style = self._style()
        if tag in _INLINE_STYLES:
            style = replace(style, **_INLINE_STYLES[tag])
        elif tag in _HEADINGS:
            style = replace(style, bold=True)
        if tag in ("font", "span"):
            fg = _parse_color(attributes.get("data-mx-color") or attributes.get("color"))
            bg = _parse_color(attributes.get("data-mx-bg-color"))
            if "data-mx-spoiler" in attributes:
                fg = bg = PALETTE[1]
            style = replace(style, fg=fg or style.fg, bg=bg or style.bg)
        return style

    def _bullet(self) -> str:
        for frame in reversed(self._stack):
            if frame.tag == "ol" and frame.counter is not None:
                frame.counter += 1
                return f"{frame.counter - 1}. "
            if frame.tag == "ul":
                return "• "
        return "• "

    def _void(self, tag: str, attributes: dict[str, str | None]) -> None:
        if tag == "br":
            self._newline()
        elif tag == "hr":
            self._block_break()
            self._write("---")
            self._newline()
        elif tag == "img":
            alt = attributes.get("alt") or attributes.get("title") or attributes.get("src")
            if alt:
                self._write(_clean(alt))

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in _SKIPPED or (tag == "a" and self._skip_link):
                self._skip -= 1
                if not self._skip:
                    self._skip_link = False
            return
        if self._overflow:
            self._overflow -= 1
            return
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth].tag == tag:
                break
        else:
            return
        while len(self._stack) > depth:
            self._close(self._stack.pop())

    def _close(self, frame: _Frame) -> None:
        if frame.href is not None:
            text = "".join(frame.link_text).strip()
            href = frame.href
            if href and text not in (href, href.removeprefix("mailto:")):
                self._write(f" ({_clean(href)})" if text else _clean(href))
        if frame.tag in _BLOCKS:
            self._block_break()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        data = _clean(data)
        if self._in("pre"):
            lines = data.split("\n")
            for index, line in enumerate(lines):
                if index:
                    self._newline()
                self._write(line)
            return
        text = _HTML_SPACE_RE.sub(" ", data)
        if self._line_start or self._last_space:
            text = text.lstrip(" ")
        self._write(text)

    def result(self) -> str:
        self.close()
        while self._stack:
            self._close(self._stack.pop())
        lines = "".join(self._out).split("\n")
        text = "\n".join(line.rstrip(" ") for line in lines).strip("\n")
        return text.replace("\xa0", " ")


def _clean(text: str) -> str:
    """Text from HTML carries no IRC control codes of its own (they would format it)."""
    return _OTHER_CONTROLS_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _transition(current: Style, wanted: Style, next_char: str) -> str:
    """The codes that change the emitted formatting from ``current`` to ``wanted``.

    Colours use two digits and, when the text starts with a digit or a comma, a
    background too, so the text cannot be read as part of the colour code.
    """
    if current == wanted:
        return ""
    if wanted == PLAIN:
        return RESET
    codes = [
        code
        for code, attribute in _TOGGLES
        if getattr(current, attribute) != getattr(wanted, attribute)
    ]
    if current.mono != wanted.mono:
        codes.append(MONO)
    if (current.fg, current.bg) != (wanted.fg, wanted.bg):
        codes.append(_color_code(wanted.fg, wanted.bg, next_char))
    return "".join(codes)


def _color_code(fg: str | None, bg: str | None, next_char: str) -> str:
    if fg is None and bg is None:
        return f"{COLOR}99,99" if next_char.isdigit() or next_char == "," else COLOR
    fg_index = nearest_color(fg) if fg else 99
    code = f"{COLOR}{fg_index:02d}"
    if bg is not None:
        code += f",{nearest_color(bg):02d}"
    elif next_char == ",":
        code += ",99"
    return code


def html_to_irc(text: str, *, link_resolver: LinkResolver | None = None) -> str:
    """Convert Matrix HTML to IRC text with formatting codes; lines are separated by
    ``\\n`` (the sender splits them into messages).

    ``link_resolver(href)`` may return the text to use for a link instead of its
    content, e.g. a nick for a matrix.to user pill; ``None`` keeps the link.
    """
    parser = _HtmlToIrc(link_resolver)
    parser.feed(defuse_html(text))
    return parser.result()
