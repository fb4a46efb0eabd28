"""The single choke point every outgoing IRC line passes through.

Whatever a Matrix user types, nothing may reach the socket that the server would read as
a second command: CR, LF and NUL are never written raw. :func:`encode_line` is the only
function that turns a command into bytes; the connection writes nothing else.
irctokens does the formatting and the tag-value escaping, but it does not validate
parameters (it happily formats ``"a\\r\\nQUIT"``), hence the checks here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import irctokens

FORBIDDEN_CHARS = frozenset("\r\n\0")
# The IRCv3 message-tags spec caps what a client may send in the tags section.
MAX_CLIENT_TAG_BYTES = 4094

_COMMAND_RE = re.compile(r"^(?:[A-Za-z]+|[0-9]{3})$")
_TAG_KEY_RE = re.compile(r"^\+?(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9-]+$")
_LINE_BREAKS_RE = re.compile(r"\r\n|\r|\n")


class UnsafeLineError(ValueError):
    """A line was refused because it could inject a command or break the protocol."""


def has_forbidden(text: str) -> bool:
    """Whether ``text`` contains CR, LF or NUL."""
    return not FORBIDDEN_CHARS.isdisjoint(text)


def clean_text(text: str) -> str:
    """Make free text safe to carry inside one parameter: drop NUL, turn line breaks into
    spaces and replace lone surrogates (which UTF-8 cannot encode) with U+FFFD."""
    return replace_surrogates(_LINE_BREAKS_RE.sub(" ", text.replace("\0", "")))


def replace_surrogates(text: str) -> str:
    """Replace lone surrogates (valid in a Python str and in JSON, not in UTF-8) with
    U+FFFD, so that byte lengths computed before encoding hold after it."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def encode_line(
    command: str,
    params: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
) -> bytes:
    """Validate and serialize one line, CRLF included.

    Raises :class:`UnsafeLineError` if the command is not a word or a numeric, if any
    parameter or tag contains CR, LF or NUL, if a parameter other than the last is empty,
    contains a space or starts with ``:``, if a tag key is malformed, or if the tags are
    over the client budget. Text is encoded as UTF-8 (lone surrogates become U+FFFD).
    """
    if not _COMMAND_RE.match(command):
        raise UnsafeLineError(f"not an IRC command: {command!r}")
    params = list(params)
    for index, param in enumerate(params):
        if has_forbidden(param):
            raise UnsafeLineError(f"parameter {index} of {command} contains CR, LF or NUL")
        if index < len(params) - 1 and (not param or " " in param or param.startswith(":")):
            raise UnsafeLineError(f"middle parameter {index} of {command} is malformed")
    tag_dict: dict[str, str] | None = None
    if tags:
        tag_dict = {}
        for key, value in tags.items():
            if not _TAG_KEY_RE.match(key):
                raise UnsafeLineError(f"malformed tag key {key!r}")
            if "\0" in value:
                raise UnsafeLineError(f"tag {key} contains NUL")
            tag_dict[key] = value
    line = irctokens.build(command.upper(), params, tags=tag_dict).format()
    # Belt and braces: whatever the code above missed, a raw break never leaves here.
    if has_forbidden(line):
        raise UnsafeLineError(f"{command} line would contain CR, LF or NUL")
    if tag_dict:
        tag_bytes = len(replace_surrogates(line.partition(" ")[0]).encode("utf-8")) - 1
        if tag_bytes > MAX_CLIENT_TAG_BYTES:
            raise UnsafeLineError(f"tags of {command} exceed {MAX_CLIENT_TAG_BYTES} bytes")
    return replace_surrogates(line).encode("utf-8") + b"\r\n"


def parse_raw(text: str) -> tuple[str, list[str], dict[str, str] | None]:
    """Parse a raw line typed by an (admin) user into command, params and tags.

    Only one line is accepted: any CR, LF or NUL is refused rather than split.
    """
    if has_forbidden(text):
        raise UnsafeLineError("a raw line must be a single line")
    text = text.strip()
    if not text or text.startswith(":"):
        raise UnsafeLineError("a raw line needs a command and no source prefix")
    try:
        line = irctokens.tokenise(text)
    except (ValueError, IndexError) as e:
        raise UnsafeLineError(f"cannot parse raw line: {e}") from e
    return line.command, list(line.params), line.tags
