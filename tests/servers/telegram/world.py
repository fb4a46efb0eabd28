"""The in-memory Telegram world: accounts, basic groups, channels, messages and files.

Telegram numbers messages per *message box*: every account has one common box for
its private chats and basic groups (so one private message has a different ID for
its sender and its recipient), and every channel/supergroup has its own box. A
:class:`Post` is one message as it was sent; each box that holds it knows it under
its own ID (``post.ids[box]``). Every box also has its own ``pts`` and a log of the
updates that advanced it, which ``updates.getDifference`` and
``updates.getChannelDifference`` replay.

This module is plain data plus lookups; rendering to TL objects lives in
:mod:`.render`, update logging and pushing in :mod:`.updates`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from telethon.tl import types

from .rpc import RpcError, bad_request


def _access_hash() -> int:
    return secrets.randbits(63)


def now() -> int:
    """The server clock, in whole seconds as Telegram dates are."""
    return int(time.time())


@dataclass(eq=False)
class LogEntry:
    """One pts-advancing update in a box's log, rendered per viewer on demand."""

    pts: int
    pts_count: int
    date: int
    render: Callable[[User, LogEntry], Any]
    # Set for "new message" entries, which getDifference returns in ``new_messages``.
    post: Post | None = None


@dataclass(eq=False)
class MessageBox:
    """A message ID sequence with its pts and update log (an account's or a channel's)."""

    pts: int = 1
    next_id: int = 1
    messages: dict[int, Post] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)

    def allocate_id(self) -> int:
        """The next message ID in this box."""
        msg_id = self.next_id
        self.next_id += 1
        return msg_id


@dataclass(eq=False)
class SrpPassword:
    """A 2FA password as the server keeps it: the SRP verifier and its salts, never the text."""

    salt1: bytes
    salt2: bytes
    verifier: int
    hint: str = ""


@dataclass(eq=False)
class User:
    """An account (person or bot) and its per-account update state."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    phone: str | None = None
    bot: bool = False
    bot_token: str | None = None
    about: str = ""
    dc_id: int = 2
    password: SrpPassword | None = None
    photo: StoredFile | None = None
    access_hash: int = field(default_factory=_access_hash)
    online_until: int = 0
    last_seen: int = field(default_factory=now)
    contacts: set[int] = field(default_factory=set)
    random_ids: set[int] = field(default_factory=set)
    box: MessageBox = field(default_factory=MessageBox)
    seq: int = 0
    qts: int = 0
    date: int = field(default_factory=now)
    # Highest message ID (in this account's box or the channel's) read per dialog key.
    read_inbox: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """First and last name, as clients show them."""
        return " ".join(x for x in (self.first_name, self.last_name) if x)


@dataclass(eq=False)
class BasicGroup:
    """A basic group ("chat"): messages live in each member's own box."""

    id: int
    title: str
    creator_id: int
    members: dict[int, tuple[int, int]] = field(default_factory=dict)  # user -> (inviter, date)
    admins: set[int] = field(default_factory=set)
    date: int = field(default_factory=now)
    version: int = 1
    about: str = ""
    photo: StoredFile | None = None
    available_reactions: list[str] | None = None
    migrated_to: Channel | None = None


@dataclass
class ChannelMember:
    """A channel participant."""

    user_id: int
    inviter_id: int
    date: int
    admin: bool = False
    rank: str | None = None


GENERAL_TOPIC_ID = 1
"""Forum messages without a topic are in "General", whose ID is 1."""


@dataclass(eq=False)
class Topic:
    """A forum topic; its ID is the ID of the service message that created it."""

    id: int
    title: str
    creator_id: int
    date: int
    icon_color: int = 0x6FB9F0
    closed: bool = False


@dataclass(eq=False)
class Channel:
    """A broadcast channel or a supergroup (``megagroup``), optionally a forum."""

    id: int
    title: str
    creator_id: int
    broadcast: bool = False
    megagroup: bool = True
    forum: bool = False
    username: str | None = None
    about: str = ""
    photo: StoredFile | None = None
    access_hash: int = field(default_factory=_access_hash)
    date: int = field(default_factory=now)
    members: dict[int, ChannelMember] = field(default_factory=dict)
    box: MessageBox = field(default_factory=MessageBox)
    topics: dict[int, Topic] = field(default_factory=dict)
    available_reactions: list[str] | None = None
    migrated_from: BasicGroup | None = None


Chat = User | BasicGroup | Channel
"""Where a message is sent: a user (private chat), a basic group or a channel."""


@dataclass(eq=False)
class StoredFile:
    """Bytes the server serves through ``upload.getFile``, as a photo or a document."""

    id: int
    data: bytes
    mime_type: str
    kind: str  # "photo" or "document"
    attributes: list[Any] = field(default_factory=list)
    width: int = 0
    height: int = 0
    dc_id: int = 2
    date: int = field(default_factory=now)
    access_hash: int = field(default_factory=_access_hash)
    file_reference: bytes = field(default_factory=lambda: secrets.token_bytes(8))


@dataclass(eq=False)
class Post:
    """One message as sent; ``ids`` maps each box holding it to its ID there."""

    chat: Chat
    # The visible sender (``from_id``); ``None`` for broadcast channel posts.
    sender: User | None
    date: int
    # The account that created the post (sees it as outgoing, may edit it).
    author: User | None = None
    text: str = ""
    entities: list[Any] = field(default_factory=list)
    media: Any = None
    action: Any = None
    reply_to: Post | None = None
    topic: Topic | None = None
    fwd_from: Any = None
    silent: bool = False
    edit_date: int | None = None
    pinned: bool = False
    random_id: int | None = None
    # reactions[user_id] = emoji; one reaction per user, like a non-premium account.
    reactions: dict[int, tuple[str, int]] = field(default_factory=dict)
    ids: dict[MessageBox, int] = field(default_factory=dict)

    @property
    def is_channel(self) -> bool:
        """Whether the post lives in a channel box (one ID for everybody)."""
        return isinstance(self.chat, Channel)

    def box_for(self, viewer: User) -> MessageBox:
        """The box in which ``viewer`` sees this post."""
        return self.chat.box if isinstance(self.chat, Channel) else viewer.box

    def id_for(self, viewer: User) -> int:
        """The message ID ``viewer`` knows this post by; raises if they do not have it."""
        try:
            return self.ids[self.box_for(viewer)]
        except KeyError:
            raise KeyError(f"user {viewer.id} does not have this message") from None

    def private_peer_for(self, viewer: User) -> User:
        """In a private chat, the other side as seen by ``viewer``."""
        assert isinstance(self.chat, User) and self.sender is not None
        return self.sender if self.chat is viewer else self.chat

    @property
    def text_or_action(self) -> str:
        """The text, or the service action's class name, for assertion messages."""
        return type(self.action).__name__ if self.action is not None else self.text


@dataclass
class SentCode:
    """A login code "sent" to a phone; tests read ``code`` instead of an SMS."""

    phone: str
    code: str
    phone_code_hash: str
    expires: int


@dataclass
class LoginToken:
    """A QR login token exported by a not-yet-signed-in auth key."""

    token: bytes
    key_id: int
    dc_id: int
    expires: int
    accepted_by: int | None = None


@dataclass
class Invite:
    """An invite link (``https://t.me/+<hash>``) into a group or channel."""

    hash: str
    chat: BasicGroup | Channel
    creator_id: int
    date: int = field(default_factory=now)
    revoked: bool = False

    @property
    def link(self) -> str:
        """The link as Telegram shows it."""
        return f"https://t.me/+{self.hash}"


class World:
    """All entities of the test server, with ID allocation and lookups."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.groups: dict[int, BasicGroup] = {}
        self.channels: dict[int, Channel] = {}
        self.files: dict[int, StoredFile] = {}
        self.invites: dict[str, Invite] = {}
        # IDs above 2**32 catch clients that squeeze IDs into 32 bits.
        self._next_user_id = 7_000_000_001
        self._next_group_id = 900_000_001
        self._next_channel_id = 1_900_000_001
        self._next_file_id = 5_000_000_000_001

    # -- creation ---------------------------------------------------------------

    def add_user(self, **fields: Any) -> User:
        """Create an account; checks that phone and username are free."""
        if fields.get("phone") and self.user_by_phone(fields["phone"]):
            raise ValueError(f"phone {fields['phone']} is already registered")
        if fields.get("username") and self.resolve_username(fields["username"]):
            raise ValueError(f"username {fields['username']} is taken")
        user = User(id=self._next_user_id, **fields)
        self._next_user_id += 1
        self.users[user.id] = user
        return user

    def add_group(self, title: str, creator: User) -> BasicGroup:
        """Create a basic group with only its creator."""
        group = BasicGroup(id=self._next_group_id, title=title, creator_id=creator.id)
        self._next_group_id += 1
        group.members[creator.id] = (creator.id, group.date)
        self.groups[group.id] = group
        return group

    def add_channel(self, title: str, creator: User, **fields: Any) -> Channel:
        """Create a channel or supergroup with only its creator (an admin)."""
        if fields.get("username") and self.resolve_username(fields["username"]):
            raise ValueError(f"username {fields['username']} is taken")
        channel = Channel(id=self._next_channel_id, title=title, creator_id=creator.id, **fields)
        self._next_channel_id += 1
        channel.members[creator.id] = ChannelMember(creator.id, creator.id, channel.date, True)
        self.channels[channel.id] = channel
        return channel

    def add_file(self, data: bytes, mime_type: str, kind: str, **fields: Any) -> StoredFile:
        """Store file bytes to be served by ``upload.getFile``."""
        stored = StoredFile(self._next_file_id, data, mime_type, kind, **fields)
        self._next_file_id += 1
        self.files[stored.id] = stored
        return stored

    # -- lookups ----------------------------------------------------------------

    def user_by_phone(self, phone: str) -> User | None:
        """The account registered with ``phone`` (digits compared, ``+`` ignored)."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        for user in self.users.values():
            if user.phone and "".join(ch for ch in user.phone if ch.isdigit()) == digits:
                return user
        return None

    def resolve_username(self, username: str) -> User | Channel | None:
        """The user or channel that owns ``username`` (case-insensitive)."""
        wanted = username.lower().lstrip("@")
        candidates: list[User | Channel] = [*self.users.values(), *self.channels.values()]
        for entity in candidates:
            if entity.username and entity.username.lower() == wanted:
                return entity
        return None

    def user_by_bot_token(self, token: str) -> User | None:
        """The bot whose token is ``token``."""
        return next((u for u in self.users.values() if u.bot and u.bot_token == token), None)

    def members_of(self, chat: Chat) -> list[User]:
        """The accounts that receive a chat's messages."""
        if isinstance(chat, User):
            return [chat]
        return [self.users[uid] for uid in chat.members]

    def audience(self, post: Post) -> list[User]:
        """The accounts that see ``post``."""
        if isinstance(post.chat, User):
            assert post.sender is not None
            return [post.sender] if post.sender is post.chat else [post.sender, post.chat]
        return self.members_of(post.chat)

    def channels_of(self, user: User) -> Iterator[Channel]:
        """The channels and supergroups ``user`` is a member of."""
        return (ch for ch in self.channels.values() if user.id in ch.members)

    def groups_of(self, user: User) -> Iterator[BasicGroup]:
        """The basic groups ``user`` is a member of."""
        return (g for g in self.groups.values() if user.id in g.members)

    # -- input entities -----------------------------------------------------------

    def input_user(self, viewer: User, peer: Any) -> User:
        """Resolve an ``InputUser``/``InputPeerUser``, checking its access hash."""
        if isinstance(peer, types.InputUserSelf | types.InputPeerSelf):
            return viewer
        if isinstance(peer, types.InputUser | types.InputPeerUser):
            user = self.users.get(peer.user_id)
            if user is None:
                raise bad_request("USER_ID_INVALID")
            # Telegram accepts access_hash 0 for one's contacts (Telethon relies on it).
            known = user is viewer or (peer.access_hash == 0 and user.id in viewer.contacts)
            if not known and peer.access_hash != user.access_hash:
                raise bad_request("USER_ID_INVALID")
            return user
        if isinstance(peer, types.InputUserFromMessage | types.InputPeerUserFromMessage):
            user = self.users.get(peer.user_id)
            if user is None:
                raise bad_request("USER_ID_INVALID")
            return user
        raise bad_request("USER_ID_INVALID")

    def input_channel(self, viewer: User, peer: Any) -> Channel:
        """Resolve an ``InputChannel``/``InputPeerChannel``, checking its access hash."""
        if isinstance(peer, types.InputChannel | types.InputPeerChannel):
            channel = self.channels.get(peer.channel_id)
            if channel is None or peer.access_hash != channel.access_hash:
                raise bad_request("CHANNEL_INVALID")
            return channel
        if isinstance(peer, types.InputChannelFromMessage | types.InputPeerChannelFromMessage):
            channel = self.channels.get(peer.channel_id)
            if channel is None:
                raise bad_request("CHANNEL_INVALID")
            return channel
        raise bad_request("CHANNEL_INVALID")

    def input_peer(self, viewer: User, peer: Any) -> Chat:
        """Resolve any ``InputPeer`` to a chat ``viewer`` may address."""
        if isinstance(peer, types.InputPeerChat):
            group = self.groups.get(peer.chat_id)
            if group is None:
                raise bad_request("CHAT_ID_INVALID")
            return group
        if isinstance(peer, types.InputPeerChannel | types.InputPeerChannelFromMessage):
            return self.input_channel(viewer, peer)
        if isinstance(peer, types.InputPeerEmpty):
            raise bad_request("PEER_ID_INVALID")
        try:
            return self.input_user(viewer, peer)
        except RpcError:
            raise bad_request("PEER_ID_INVALID") from None

    # -- messages ------------------------------------------------------------------

    def posts_in(self, viewer: User, chat: Chat) -> list[Post]:
        """The messages of ``chat`` visible to ``viewer``, oldest first."""
        if isinstance(chat, Channel):
            return [chat.box.messages[i] for i in sorted(chat.box.messages)]
        out = []
        for msg_id in sorted(viewer.box.messages):
            post = viewer.box.messages[msg_id]
            if isinstance(chat, BasicGroup):
                if post.chat is chat:
                    out.append(post)
            elif isinstance(post.chat, User) and post.private_peer_for(viewer) is chat:
                out.append(post)
        return out

    def post_by_id(self, viewer: User, chat: Chat | None, msg_id: int) -> Post | None:
        """The post ``viewer`` knows as ``msg_id``, if it belongs to ``chat`` (any chat if None)."""
        box = chat.box if isinstance(chat, Channel) else viewer.box
        post = box.messages.get(msg_id)
        if post is None or chat is None or isinstance(chat, Channel):
            return post
        return post if self.chat_of_post_for(viewer, post) is chat else None

    def dialog_key(self, viewer: User, chat: Chat) -> tuple[str, int]:
        """The key under which ``viewer`` keeps read state for ``chat``."""
        if isinstance(chat, User):
            return ("user", chat.id)
        if isinstance(chat, BasicGroup):
            return ("chat", chat.id)
        return ("channel", chat.id)

    def chat_of_post_for(self, viewer: User, post: Post) -> Chat:
        """The dialog ``post`` belongs to, from ``viewer``'s side."""
        if isinstance(post.chat, User):
            return post.private_peer_for(viewer)
        return post.chat
