"""Splitting text into IRC messages that fit the server's line length.

The limit that matters is the line the server relays to other clients, prefixed with our
hostmask: ``:nick!user@host PRIVMSG #chan :text\\r\\n`` must fit in LINELEN bytes
(512 unless the server advertises ``LINELEN``); tags have their own budget and do not
count. Cuts happen on UTF-8 code point boundaries, never inside an mIRC colour code,
preferably after a space and not before a combining mark.

The invariant, checked by the property tests: for ``parts = split_text(text, n)``, every
part is non-empty and at most ``n`` bytes of UTF-8, and ``"\\n".join`` of the parts of each
input line, concatenated per line, gives back the input with NUL removed, line breaks
(CRLF, CR, LF) normalised and empty lines dropped: see :func:`normalized_lines`.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

from .safety import replace_surrogates

DEFAULT_LINELEN = 512
# RFC 1123 caps hostnames at 63 bytes per label; servers cap the whole host at 63-64.
MAX_HOST_LENGTH = 64
DEFAULT_USERLEN = 10
# The smallest budget that still fits any code point.
MIN_BUDGET = 4
# How far back a cut may move to keep a combining sequence together before giving up.
_MAX_CLUSTER_BACKTRACK = 32

_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_COLOR_CODE_RE = re.compile(
    rb"\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
)
_ZWJ = "\u200d"


def relay_prefix_length(
    nick: str,
    user: str | None = None,
    host: str | None = None,
    *,
    userlen: int = DEFAULT_USERLEN,
) -> int:
    """Bytes of ``:nick!user@host `` as the server will prefix our lines when relaying.

    Unknown parts are estimated high: the username at ``userlen`` plus an ident ``~``,
    the host at the longest a server allows.
    """
    user_len = len(user.encode("utf-8")) if user else userlen + 1
    host_len = len(host.encode("utf-8")) if host else MAX_HOST_LENGTH
    return 1 + len(nick.encode("utf-8")) + 1 + user_len + 1 + host_len + 1


def text_budget(
    command: str,
    target: str,
    prefix_length: int,
    *,
    linelen: int = DEFAULT_LINELEN,
    overhead: int = 0,
) -> int:
    """Bytes left for the text of ``COMMAND target :text`` after the relay prefix, the
    command, the target, the CRLF and ``overhead`` (e.g. the CTCP ACTION wrapper)."""
    fixed = len(f"{command} {target} :".encode()) + 2
    return linelen - prefix_length - fixed - overhead


def normalized_lines(text: str) -> list[str]:
    """The lines :func:`split_text` sends: NUL removed, CRLF/CR/LF as breaks, lone
    surrogates replaced, empty lines dropped."""
    text = replace_surrogates(text.replace("\0", ""))
    return [line for line in _LINE_BREAK_RE.split(text) if line]


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split ``text`` into messages of at most ``max_bytes`` UTF-8 bytes each.

    Every line of the input becomes one or more messages; empty lines are dropped (IRC
    cannot send them). A space at a cut stays at the end of the earlier part, so the parts
    of one line concatenate back to it exactly. Raises ``ValueError`` if ``max_bytes`` is
    below :data:`MIN_BUDGET`.
    """
    if max_bytes < MIN_BUDGET:
        raise ValueError(f"a message budget of {max_bytes} bytes cannot hold text")
    parts: list[str] = []
    for line in normalized_lines(text):
        parts.extend(_split_line(line, max_bytes))
    return parts


def _split_line(line: str, max_bytes: int) -> list[str]:
    data = line.encode("utf-8")
    if len(data) <= max_bytes:
        return [line]
    code_spans = [(m.start(), m.end()) for m in _COLOR_CODE_RE.finditer(data)]
    code_starts = [start for start, _ in code_spans]
    parts: list[str] = []
    start = 0
    while len(data) - start > max_bytes:
        end = _choose_cut(data, start, start + max_bytes, code_spans, code_starts)
        parts.append(data[start:end].decode("utf-8"))
        start = end
    parts.append(data[start:].decode("utf-8"))
    return parts


def _choose_cut(
    data: bytes,
    start: int,
    limit: int,
    code_spans: list[tuple[int, int]],
    code_starts: list[int],
) -> int:
    """The end of the next part: ``start < cut <= limit`` on a code point boundary."""
    hard = _code_point_floor(data, limit)
    space = data.rfind(b" ", start, hard)
    if space > start:
        return space + 1
    cut = _keep_cluster(data, start, hard)
    cut = _outside_color_code(cut, start, code_spans, code_starts)
    if cut <= start:
        # Defensive: a budget of at least MIN_BUDGET always fits one code point.
        cut = _code_point_floor(data, limit)
    return cut


def _code_point_floor(data: bytes, index: int) -> int:
    """The largest code point boundary at or before ``index``."""
    while index < len(data) and index > 0 and data[index] & 0xC0 == 0x80:
        index -= 1
    return index


def _outside_color_code(
    cut: int, start: int, code_spans: list[tuple[int, int]], code_starts: list[int]
) -> int:
    """Move ``cut`` before a colour code it would split (``\\x03`` and its digits)."""
    i = bisect.bisect_right(code_starts, cut) - 1
    if i >= 0:
        span_start, span_end = code_spans[i]
        if span_start < cut < span_end and span_start > start:
            return span_start
    return cut


def _keep_cluster(data: bytes, start: int, cut: int) -> int:
    """Move ``cut`` back so a combining mark, variation selector or ZWJ-joined character
    stays with its base character, within a bounded distance."""
    candidate = cut
    while candidate - start > 0 and cut - candidate <= _MAX_CLUSTER_BACKTRACK:
        if not _is_extending(data, candidate):
            return candidate
        candidate = _code_point_floor(data, candidate - 1)
    return cut


def _is_extending(data: bytes, index: int) -> bool:
    """Whether the code point at ``index`` belongs to the cluster before it."""
    if index >= len(data) or index == 0:
        return False
    following = _code_point_at(data, index)
    previous = _code_point_at(data, _code_point_floor(data, index - 1))
    if previous == _ZWJ or following == _ZWJ:
        return True
    if unicodedata.combining(following) or unicodedata.category(following) in ("Mn", "Me", "Mc"):
        return True
    code = ord(following)
    return 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F


def _code_point_at(data: bytes, index: int) -> str:
    end = index + 1
    while end < len(data) and data[end] & 0xC0 == 0x80:
        end += 1
    return data[index:end].decode("utf-8")
