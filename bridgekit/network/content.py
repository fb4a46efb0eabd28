"""Converted message content: what a remote message becomes on Matrix.

A remote message converts into one or more *parts*, each one Matrix event (Telegram
"photo with a caption" is one part; a Discord message with text and three
attachments is four). The core stores one mapping row per part, so later edits,
reactions and deletions find every Matrix event of the message.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from .ids import MessageID, PartID


@dataclass(slots=True)
class ConvertedPart:
    """One Matrix event of a converted message.

    ``content`` is the Matrix event content (``{"msgtype": "m.text", "body": ...}``).
    ``event_type`` is ``m.room.message`` unless the part is, say, an ``m.sticker``.
    ``metadata`` is stored with the part's mapping row for the network's own use.
    """

    content: dict[str, Any]
    part_id: PartID = ""  # type: ignore[assignment]
    event_type: str = "m.room.message"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ConvertedMessage:
    """A remote message converted to Matrix. ``reply_to`` and ``thread_root`` name
    remote messages; the core resolves them to Matrix events through the mapping
    tables (and drops them quietly when the target was never bridged)."""

    parts: list[ConvertedPart]
    reply_to: MessageID | None = None
    thread_root: MessageID | None = None

    @classmethod
    def text(
        cls,
        body: str,
        html: str | None = None,
        *,
        msgtype: str = "m.text",
        reply_to: MessageID | None = None,
        thread_root: MessageID | None = None,
    ) -> ConvertedMessage:
        """A single text part: the common case, in one call."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        return cls([ConvertedPart(content)], reply_to=reply_to, thread_root=thread_root)


class MediaUploader(ABC):
    """What the core lends a network while it converts a message: a way to put
    media on the homeserver without touching the homeserver itself."""

    @property
    @abstractmethod
    def max_size(self) -> int:
        """The largest file the bridge accepts, in bytes: check a remote file's size
        against it before downloading the file."""

    @abstractmethod
    async def upload(self, data: bytes, mimetype: str, filename: str) -> dict[str, Any]:
        """Upload ``data`` and return the content fields that reference it:
        ``{"url": "mxc://..."}`` in plaintext rooms, ``{"file": {...}}`` in encrypted
        ones. Merge them into the part's content. Raises ``MediaTooLarge`` when the
        data is over the bridge's configured limit."""


class MediaTooLarge(Exception):
    """Media over the configured size limit. The message says the size and the limit."""

    def __init__(self, size: int, limit: int, filename: str | None = None) -> None:
        name = f"{filename} " if filename else ""
        super().__init__(
            f"The file {name}is {size / 1_048_576:.1f} MiB; this bridge accepts files "
            f"up to {limit / 1_048_576:.1f} MiB."
        )
        self.size = size
        self.limit = limit
        self.filename = filename


_DECLARATION = re.compile(r"<!(?!--)")


def defuse_html(html: str) -> str:
    """``html`` with markup declarations (``<!DOCTYPE``, ``<![CDATA[``...) turned into
    text. They have no place in a Matrix message, and Python's ``html.parser`` (which
    mautrix's formatter uses too) raises on malformed ones such as ``<![0``: run
    Matrix HTML through this before parsing it. Comments (``<!--``) are kept."""
    return _DECLARATION.sub("&lt;!", html)
