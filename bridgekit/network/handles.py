"""What the core lends a network: handles on its logins and on the bridge.

A network never talks to the homeserver itself. Everything it needs from the core —
reporting remote events, saving login metadata, telling the user something, looking
up what was bridged — goes through these handles.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from .ids import LoginID, MessageID, PortalKey, RemoteUserID
from .matrix import MessageRecord

if TYPE_CHECKING:
    from mautrix.util.async_db import Database

    from .events import RemoteEvent
    from .login import LoginComplete


class BridgeStateEvent(StrEnum):
    """A login's connection state, as shown by ``ping`` and pushed to the homeserver."""

    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    TRANSIENT_DISCONNECT = "TRANSIENT_DISCONNECT"
    BAD_CREDENTIALS = "BAD_CREDENTIALS"
    LOGGED_OUT = "LOGGED_OUT"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


class LoginHandle(Protocol):
    """One logged-in remote account, as the network client sees it."""

    @property
    def id(self) -> LoginID:
        """The login's ID (from ``LoginComplete``)."""
        ...

    @property
    def user_mxid(self) -> str:
        """The Matrix user who owns this login."""
        ...

    @property
    def remote_name(self) -> str:
        """A human name for the account (a phone number, ``nick@network``)."""
        ...

    @property
    def metadata(self) -> dict[str, Any]:
        """The network's own data for this login (session strings, server names...).
        Mutate it, then call ``save``."""
        ...

    async def save(self) -> None:
        """Persist ``metadata`` and ``remote_name``."""
        ...

    async def set_remote_name(self, name: str) -> None:
        """Change the human name of the account (after a nick change) and save it."""
        ...

    async def queue_remote_event(self, event: RemoteEvent) -> None:
        """Hand a remote event to the core. It is queued on its portal and handled in
        order; this returns once it is queued (not handled). Safe to call from any
        task; never raises for a bad event (the core logs it)."""
        ...

    async def set_state(self, state: BridgeStateEvent, message: str | None = None) -> None:
        """Report the connection state. ``BAD_CREDENTIALS`` and ``LOGGED_OUT`` also tell
        the user in their management room, with ``message`` (say what to do)."""
        ...

    async def notify_user(self, text: str) -> None:
        """Send the owner a notice in their management room."""
        ...


class BridgeHandle(Protocol):
    """The bridge as a whole, handed to ``NetworkConnector.start``."""

    @property
    def database(self) -> Database:
        """The bridge's database, for the network's own tables (give them their own
        ``UpgradeTable`` with its own version table name)."""
        ...

    @property
    def network_config(self) -> dict[str, Any]:
        """The ``network:`` section of the config, already validated."""
        ...

    def read_network_config(self) -> dict[str, Any]:
        """The ``network:`` section as the config file says now, for a network that
        applies changes without a restart (validate it before using it). Raises
        ``ValueError`` saying why the file cannot be read."""
        ...

    async def get_message(self, portal: PortalKey, message_id: MessageID) -> MessageRecord | None:
        """The first part of a bridged message, or ``None``."""
        ...

    def get_login(self, login_id: LoginID) -> LoginHandle | None:
        """A loaded login by ID."""
        ...

    @property
    def bot_mxid(self) -> str:
        """The bridge bot's Matrix ID. A login owned by the bot is the bridge's own
        (a relay connection): it has no management room and no space."""
        ...

    async def add_login(self, user_mxid: str, done: LoginComplete) -> LoginHandle:
        """Store and connect a login that the network opens by itself, without a
        login flow: the bridge's own account (owned by ``bot_mxid``) or one opened on
        a user's behalf (an IRC connection for a Matrix user who speaks in a shared
        channel). Raises ``LoginError`` when the user may not log in, or another user
        has that login. Call it after ``NetworkConnector.logins_loaded``."""
        ...

    def ghost_mxid(self, user_id: RemoteUserID) -> str:
        """The Matrix ID of a remote user's ghost (for pills and mentions)."""
        ...

    def ghost_id(self, mxid: str) -> RemoteUserID | None:
        """The remote user a Matrix ID stands for, or ``None`` if it is no ghost."""
        ...

    async def find_portal_room(self, portal: PortalKey) -> str | None:
        """The Matrix room of a portal, or ``None`` if it has none (for room links)."""
        ...

    async def portal_of_room(self, room_id: str) -> PortalKey | None:
        """The portal a Matrix room belongs to, or ``None`` (to turn room links into
        the network's chat mentions)."""
        ...

    async def send_notice(self, portal: PortalKey, text: str) -> None:
        """Tell the people in a portal's room something (a notice from the bridge bot),
        e.g. that a message is held by a rate limit. Does nothing without a room."""
        ...

    async def upload_media(self, data: bytes, mimetype: str, filename: str) -> str:
        """Put a file on the homeserver (unencrypted, for sharing as a link) and return
        its ``mxc://`` URI; raises ``MediaTooLarge`` over the bridge's limit. Use
        ``public_media_url`` to turn it into an HTTP link."""
        ...

    def public_media_url(self, mxc: str, filename: str | None = None) -> str | None:
        """A public HTTP link to unencrypted media ``mxc``, served by the bridge itself
        (``None`` unless the operator set ``bridge.public_media_url``). ``filename``
        becomes the link's last segment, the name a browser saves the file as."""
        ...
