"""Optional capabilities of a network client, one small protocol each.

"Does this network support edits?" is one check: ``isinstance(client,
EditHandling)``. A client implements a capability simply by having the method.
When a client lacks a capability, the core tells the Matrix user that the event was
not bridged (or stays silent where that is the convention, as for typing).

The ``handle_matrix_*`` methods run in the portal's queue, like
``NetworkClient.handle_matrix_message``. The look-up methods (resolving identifiers,
searching, listing contacts or chats) run when a user sends a bot command, outside
any portal queue: they may block on network I/O, but keep them bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .events import RemoteMessage
from .ids import EmojiID, LoginID, MessageID, PortalKey, RemoteUserID
from .info import ChatInfo, UserInfo
from .matrix import (
    MatrixEdit,
    MatrixMembership,
    MatrixMessageRemove,
    MatrixPinChange,
    MatrixPowerLevels,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixReadReceipt,
    MatrixRoomMeta,
    MatrixTyping,
)


@runtime_checkable
class EditHandling(Protocol):
    """The network can edit messages."""

    async def handle_matrix_edit(self, edit: MatrixEdit) -> None:
        """Edit ``edit.target`` on the network."""
        ...


@runtime_checkable
class ReactionHandling(Protocol):
    """The network has reactions."""

    async def handle_matrix_reaction(self, reaction: MatrixReaction) -> EmojiID | None:
        """React; return the network's ID for the emoji (``None``: use the key)."""
        ...

    async def handle_matrix_reaction_remove(self, removal: MatrixReactionRemove) -> None:
        """Take a reaction back."""
        ...


@runtime_checkable
class RedactionHandling(Protocol):
    """The network can delete messages."""

    async def handle_matrix_message_remove(self, removal: MatrixMessageRemove) -> None:
        """Delete ``removal.target`` on the network."""
        ...


@runtime_checkable
class ReadReceiptHandling(Protocol):
    """The network has read markers."""

    async def handle_matrix_read_receipt(self, receipt: MatrixReadReceipt) -> None:
        """Mark the chat read up to ``receipt.target``."""
        ...


@runtime_checkable
class TypingHandling(Protocol):
    """The network shows typing."""

    async def handle_matrix_typing(self, typing: MatrixTyping) -> None:
        """Start or stop typing."""
        ...


@runtime_checkable
class PinHandling(Protocol):
    """The network can pin messages."""

    async def handle_matrix_pins(self, change: MatrixPinChange) -> None:
        """Pin ``change.pinned`` and unpin ``change.unpinned``; raise ``BridgeError``
        saying what the network refused."""
        ...


@runtime_checkable
class RoomMetaHandling(Protocol):
    """The network can rename a chat, set its topic or its avatar."""

    async def handle_matrix_room_meta(self, change: MatrixRoomMeta) -> None:
        """Apply the change; raise ``BridgeError`` for the parts the network refuses."""
        ...


@runtime_checkable
class MembershipHandling(Protocol):
    """The network can invite, kick and ban."""

    async def handle_matrix_membership(self, change: MatrixMembership) -> None:
        """Apply a membership change made on Matrix."""
        ...


@runtime_checkable
class PowerLevelHandling(Protocol):
    """The network has roles that map to power levels."""

    async def handle_matrix_power_levels(self, change: MatrixPowerLevels) -> None:
        """Apply changed levels."""
        ...


@dataclass(slots=True)
class FetchResult:
    """A page of history, oldest first, and whether there is more before it."""

    messages: list[RemoteMessage]
    has_more: bool


@runtime_checkable
class BackfillingNetwork(Protocol):
    """The network can fetch history."""

    async def fetch_messages(
        self, portal: PortalKey, after: MessageID | None, limit: int
    ) -> FetchResult:
        """Messages after ``after`` (``None``: the newest ``limit``), oldest first."""
        ...


@dataclass(slots=True)
class ResolvedIdentifier:
    """A remote user found by an identifier; ``portal`` is set when a chat with them
    exists or was created."""

    user_id: RemoteUserID
    user_info: UserInfo | None = None
    portal: PortalKey | None = None
    chat_info: ChatInfo | None = None


@runtime_checkable
class IdentifierResolving(Protocol):
    """The network can find users by username/phone/nick and start chats."""

    async def resolve_identifier(
        self, identifier: str, create_chat: bool
    ) -> ResolvedIdentifier | None:
        """Find the user that ``identifier`` (a username, phone number, nick...) names.

        Return ``None`` when nobody has it. With ``create_chat`` also open (or find) a
        direct chat with them and set ``portal`` to its key; ``chat_info`` may carry
        the chat's info to save a ``get_chat_info`` call. Raise ``BridgeError`` with
        a message for the user when the identifier is malformed or the chat cannot
        be opened."""
        ...


@runtime_checkable
class ChatResolving(Protocol):
    """The network can find a chat from what a user would type to name it: a link, a
    public name, a title. Used by the ``bridge`` command (and the provisioning API) to
    bridge an existing Matrix room; without it, users name chats by their portal ID."""

    async def resolve_chat(self, identifier: str) -> PortalKey | None:
        """The portal key of the chat ``identifier`` names for this login, or ``None``
        when it names none. Raise ``BridgeError`` with a message for the user when it
        is ambiguous (say, two chats with that title) or the chat cannot be reached."""
        ...


@runtime_checkable
class ContactListing(Protocol):
    """The network has a contact list."""

    async def get_contact_list(self) -> list[ResolvedIdentifier]:
        """Every contact of the account (``portal`` set where a chat with them exists)."""
        ...


@runtime_checkable
class UserSearching(Protocol):
    """The network can search its users."""

    async def search_users(self, query: str) -> list[ResolvedIdentifier]:
        """Users matching ``query``, best match first (an empty list when none do)."""
        ...


@runtime_checkable
class ChatListing(Protocol):
    """The network can list the chats the account is in (for the ``sync`` command)."""

    async def list_chats(self) -> list[PortalKey]:
        """The portal key of every chat the account is in, most recently active first.

        The core creates a portal room for each key that has none (with
        ``get_chat_info``) and brings existing rooms up to date. Keys must be the same
        ones the client uses in its remote events (a DM's key carries the login as
        its receiver). Raise ``BridgeError`` with a message for the user if the list
        cannot be fetched."""
        ...


@dataclass(slots=True)
class GroupRequest:
    """A group to create: a name and remote participants."""

    name: str
    participants: list[RemoteUserID] = field(default_factory=list)


@runtime_checkable
class GroupCreating(Protocol):
    """The network can create group chats."""

    async def create_group(self, request: GroupRequest) -> PortalKey:
        """Create the group and return its portal key."""
        ...


@runtime_checkable
class PresenceHandling(Protocol):
    """The network shows the Matrix user's presence."""

    async def handle_matrix_presence(self, presence: str) -> None:
        """``online``, ``offline`` or ``unavailable``."""
        ...


@dataclass(slots=True)
class PublicChat:
    """A public chat found by its room alias: the portal, and the login whose client
    describes it (``get_chat_info``) and bridges it."""

    portal: PortalKey
    login: LoginID


@runtime_checkable
class AliasResolving(Protocol):
    """A capability of the *connector*: public chats reachable by room alias.

    When someone joins ``#<appservice.alias_prefix><name>:server`` and the alias does
    not exist yet, the homeserver asks the bridge; the core calls
    :meth:`resolve_alias` with ``name`` and creates the portal's room under that alias
    (public, see ``ChatInfo.alias``). This runs while the homeserver waits: keep it
    to a few seconds.
    """

    async def resolve_alias(self, name: str) -> PublicChat | None:
        """The public chat called ``name``, or ``None`` if there is none."""
        ...
