"""Matrix → IRC: the text a Matrix message becomes on IRC.

Pure functions, no I/O: the client decides where the text goes and sends it. HTML is
converted with :func:`formatting.html_to_irc` (pills of IRC users become their nicks);
media becomes a link (IRC has no attachments); a reply starts with the nick it
answers; an edit is a short ``* new text`` correction; a message longer than the
configured number of lines becomes its first line and a link to the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from bridgekit.network import MatrixEdit, MatrixMessage

from .formatting import LinkResolver, html_to_irc, strip_formatting
from .protocol import MessageKind, split_text

_KINDS: dict[str, MessageKind] = {"m.emote": "action", "m.notice": "notice"}
_MATRIX_TO = "https://matrix.to/#/"


def kind_of(msgtype: str) -> MessageKind:
    """The IRC message kind of a Matrix msgtype (everything but emotes and notices is
    a PRIVMSG)."""
    return _KINDS.get(msgtype, "privmsg")


def pill_resolver(nicks: Mapping[str, str]) -> LinkResolver:
    """A link resolver turning ``matrix.to`` links of the Matrix users in ``nicks``
    (Matrix ID → IRC nick) into their nicks; other links stay links."""

    def resolve(href: str) -> str | None:
        if not href.startswith(_MATRIX_TO):
            return None
        mxid = unquote(href[len(_MATRIX_TO) :]).split("?", 1)[0]
        return nicks.get(mxid)

    return resolve


def strip_reply_fallback(body: str) -> str:
    """``body`` without the ``> <@user> quoted text`` lines older clients put before a
    reply (IRC readers get ``nick: `` instead)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> <"):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and not lines[index].strip():
        index += 1
    return "\n".join(lines[index:])


def render_text(body: str, html: str | None, resolver: LinkResolver) -> str:
    """The IRC text (lines separated by ``\\n``) of a Matrix body and its HTML."""
    if html is not None:
        return html_to_irc(html, link_resolver=resolver)
    return body


def render_message(
    msg: MatrixMessage, resolver: LinkResolver, reply_nick: str | None = None
) -> str:
    """The IRC text of a Matrix message; ``reply_nick`` is the nick of the IRC user
    whose message it answers."""
    body = strip_reply_fallback(msg.body) if msg.reply_to is not None else msg.body
    if msg.media is not None:
        media = msg.media
        link = media.public_url or media.url
        caption = body.strip() if body.strip() and body != media.filename else ""
        text = f"{caption or media.filename} {link}"
    else:
        text = render_text(body, msg.html, resolver)
    if reply_nick and not text.lower().startswith(f"{reply_nick.lower()}:"):
        text = f"{reply_nick}: {text}"
    return text


_NICK_CHARS = re.compile(r"[^A-Za-z0-9_\-\[\]\\`^{}|]")
#: Relay nicks are kept short: the server adds its separator and may limit nicks.
_RELAY_NAME_MAX = 20


def relay_nick(display_name: str, separator: str) -> str:
    """The nick a relayed Matrix user speaks under with ``draft/relaymsg``: their name
    in nick characters, then the server's separator and ``m`` (``Dave/m``)."""
    name = _NICK_CHARS.sub("", display_name.replace(" ", "_"))[:_RELAY_NAME_MAX]
    if not name or name[0].isdigit() or name[0] == "-":
        name = f"m{name}"[:_RELAY_NAME_MAX]
    return f"{name}{separator}m"


def render_edit(edit: MatrixEdit, resolver: LinkResolver) -> str:
    """The correction line of an edit: ``* `` and the new text."""
    return f"* {render_text(edit.body, edit.html, resolver)}"


def line_count(text: str, budget: int) -> int:
    """How many IRC messages ``text`` takes when one carries ``budget`` bytes."""
    return len(split_text(text, budget))


def paste_text(text: str) -> bytes:
    """The file a long message is uploaded as: its text without IRC formatting codes."""
    return (strip_formatting(text).strip("\n") + "\n").encode()


def with_note(text: str, note: str, budget: int) -> str:
    """The first line of ``text`` followed by ``note``, fitted into one message of
    ``budget`` bytes (the line is shortened, never the note)."""
    parts = split_text(text, budget)
    room = budget - len(note.encode())
    first = split_text(parts[0], room)[0] if parts and room >= 4 else ""
    return f"{first.rstrip()}{note}"


def paste_line(text: str, link: str, budget: int) -> str:
    """The one IRC message that stands for a long ``text`` uploaded to ``link``."""
    return with_note(text, f" (full message: {link})", budget)


def cut_to_lines(text: str, budget: int, max_lines: int) -> tuple[str, int]:
    """``text`` as it may go to IRC without a link, and the number of IRC lines left
    out: text that needs more than ``max_lines`` messages is cut to its first one and a
    note of how many were left out (when the whole text could not be uploaded)."""
    parts = split_text(text, budget)
    if len(parts) <= max_lines:
        return text, 0
    omitted = len(parts) - 1
    note = f" (message cut: {omitted} more line{'s' if omitted != 1 else ''} not shown)"
    return with_note(text, note, budget), omitted


def own_text(content: dict[str, Any]) -> tuple[str, str | None]:
    """A Matrix message's own text and HTML, as its sender wrote them (without the
    "name: " the relay format puts before a relayed message's body)."""
    body = str(content.get("body") or "")
    html = content.get("formatted_body")
    if content.get("format") != "org.matrix.custom.html" or not isinstance(html, str):
        html = None
    return body, html
