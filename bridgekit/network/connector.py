"""The two things every network plugin must implement: a connector and a client."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .commands import NetworkCommand
from .handles import BridgeHandle, LoginHandle
from .ids import PortalKey, RemoteUserID
from .info import ChatInfo, UserInfo
from .login import LoginFlow, LoginProcess
from .matrix import MatrixMessage, MatrixMessageResponse


@dataclass(slots=True, frozen=True)
class NetworkName:
    """How the network presents itself.

    ``network_id`` is a short lowercase name (``telegram``) used in defaults: the bot
    is ``@<network_id>bot``, ghosts ``@<network_id>_<id>``. ``beeper_id``-style
    protocol IDs are the same ``network_id`` in ``m.bridge`` state."""

    display_name: str
    network_id: str
    url: str = ""
    icon_mxc: str = ""


@dataclass(slots=True, frozen=True)
class RoomCapabilities:
    """What a portal can carry, used to tell Matrix users what will not get through.
    Sizes are bytes; ``None`` means no limit beyond the bridge's own."""

    formatting: bool = True
    edits: bool = False
    reactions: bool = False
    replies: bool = False
    threads: bool = False
    media: bool = False
    max_text_length: int | None = None
    max_file_size: int | None = None


class NetworkClient(ABC):
    """One logged-in account on the network (a Telegram session, an IRC connection, a
    Discord token). Created by ``NetworkConnector.load_user_login``; the core calls
    ``connect`` once and ``disconnect`` at shutdown or logout.

    Methods for Matrix → network events run inside the portal's queue: they may
    block (await network I/O), and events of that portal wait for them, so keep them
    bounded (use timeouts). Raise ``bridgekit.network.BridgeError`` with a message for
    the user to have it shown in the room.
    """

    def __init__(self, login: LoginHandle) -> None:
        self.login = login

    @abstractmethod
    async def connect(self) -> None:
        """Start the connection in the background and return promptly; report progress
        with ``login.set_state``. Reconnecting after drops is the client's job."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close the connection. Must not raise."""

    @abstractmethod
    def is_logged_in(self) -> bool:
        """Whether the account's credentials are still valid."""

    async def logout_remote(self) -> None:
        """End the session on the network (revoke the token, terminate the session)
        when the user logs out. Default: nothing to revoke."""

    @abstractmethod
    async def get_chat_info(self, portal: PortalKey) -> ChatInfo:
        """Everything needed to create or resync a portal's room."""

    @abstractmethod
    async def get_user_info(self, user_id: RemoteUserID) -> UserInfo | None:
        """A remote user's profile for their ghost, or ``None`` if unknown."""

    @abstractmethod
    async def handle_matrix_message(self, msg: MatrixMessage) -> MatrixMessageResponse:
        """Send a Matrix message to the network and return the remote message's ID."""

    def is_this_user(self, user_id: RemoteUserID) -> bool:
        """Whether ``user_id`` is the logged-in account itself."""
        return False

    def get_capabilities(self, portal: PortalKey) -> RoomCapabilities:
        """What ``portal`` supports. The default derives from the optional
        capability protocols this client implements."""
        from .capabilities import EditHandling, ReactionHandling

        return RoomCapabilities(
            edits=isinstance(self, EditHandling), reactions=isinstance(self, ReactionHandling)
        )


class NetworkConnector(ABC):
    """The network plugin: one instance per bridge process.

    Registered under the ``bridgekit.networks`` entry-point group, and found by
    name. The core calls, in order: ``load_config``, ``start``, then
    ``load_user_login`` for each stored login; ``stop`` at shutdown.
    """

    name: NetworkName
    """Who this network is."""

    example_config: str = ""
    """The network's section of the example config, as YAML text (indented as the
    contents of the ``network:`` key). Merged into the bridge's example config."""

    def load_config(self, section: dict[str, Any]) -> None:
        """Validate and keep the ``network:`` config section. Raise ``ValueError`` with a
        message naming the field and what is expected on a bad value."""
        self.config = section

    async def start(self, bridge: BridgeHandle) -> None:
        """Called once before any login is loaded: create tables, open shared
        resources. ``bridge`` is valid for the lifetime of the process."""
        self.bridge = bridge

    async def logins_loaded(self) -> None:
        """Called once after every stored login is loaded and connecting, before the
        bridge takes Matrix events: the place to open the bridge's own logins
        (``BridgeHandle.add_login``)."""

    async def stop(self) -> None:
        """Release shared resources. Clients are disconnected before this."""

    def get_commands(self) -> list[NetworkCommand]:
        """Bot commands the network adds (see ``bridgekit.network.commands``)."""
        return []

    @abstractmethod
    def get_login_flows(self) -> list[LoginFlow]:
        """The ways to log in, in the order they should be offered."""

    @abstractmethod
    async def create_login(self, user_mxid: str, flow_id: str) -> LoginProcess:
        """Start a login with ``flow_id`` (one of ``get_login_flows``) for a user."""

    @abstractmethod
    async def load_user_login(self, login: LoginHandle) -> NetworkClient:
        """Build (do not connect) the client of a stored or just-completed login."""
