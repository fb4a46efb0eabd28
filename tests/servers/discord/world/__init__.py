"""The simulated Discord: everything that exists and everything that happens in it.

:class:`World` is usable without any network: build accounts, guilds and channels, act
as users (send, edit, react, type), and subscribe to the events it emits. The server
(``..server``) serves a world over REST and the gateway.
"""

from __future__ import annotations

from .accounts import image_hash
from .messaging import MessageOps, Upload
from .state import UNSET, NotFound


class World(MessageOps):
    """The full world API, built up layer by layer: storage, lookups and visibility
    (``state.py``), accounts and applications (``accounts.py``), guilds, roles,
    members, emoji and stickers (``guilds.py``), channels, DMs and webhooks
    (``channels.py``), messages, reactions, typing and threads (``messaging.py``)."""


__all__ = ["UNSET", "NotFound", "Upload", "World", "image_hash"]
