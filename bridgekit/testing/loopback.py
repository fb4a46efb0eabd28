"""The loopback network: a complete network plugin whose "remote side" lives in memory.

It is two things at once:

- the worked example for plugin authors: every part of the plugin interface, in
  one file, doing the simplest correct thing;
- the network that the core's own tests drive. A test acts as the remote network
  through ``LoopbackWorld`` (``world.send_message(...)``) and sees what the bridge
  sent to the network with ``world.wait_for_sent(...)``.

Accounts log in with a username and password, then a one-time code when the
account has one: a multi-step flow like most real networks.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from bridgekit.network import (
    BridgeError,
    BridgeStateEvent,
    ChatInfo,
    ChatListing,
    ChatMember,
    ChatMemberList,
    CommandContext,
    ContactListing,
    DisplayAndWaitLogin,
    DisplayType,
    EditHandling,
    EmojiID,
    EventSender,
    GroupCreating,
    GroupRequest,
    IdentifierResolving,
    InputField,
    InputFieldType,
    LoginDisplay,
    LoginError,
    LoginFlow,
    LoginHandle,
    LoginID,
    LoginProcess,
    LoginStep,
    MatrixEdit,
    MatrixEvent,
    MatrixMembership,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixMessageResponse,
    MatrixPowerLevels,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixReadReceipt,
    MatrixRoomMeta,
    MatrixTyping,
    MembershipHandling,
    MessageID,
    NetworkClient,
    NetworkCommand,
    NetworkConnector,
    NetworkName,
    PortalID,
    PortalKey,
    PowerLevelHandling,
    ReactionHandling,
    ReadReceiptHandling,
    RedactionHandling,
    RemoteEvent,
    RemoteMessage,
    RemoteUserID,
    ResolvedIdentifier,
    RoomMetaHandling,
    RoomType,
    TypingHandling,
    UserInfo,
    UserInputLogin,
    UserSearching,
)


@dataclass
class LoopbackAccount:
    """An account on the loopback network."""

    user_id: RemoteUserID
    name: str
    password: str
    code: str | None = None
    contacts: list[RemoteUserID] = field(default_factory=list)


@dataclass
class LoopbackChat:
    """A chat on the loopback network. DMs get one portal per logged-in account."""

    id: PortalID
    name: str
    members: list[RemoteUserID]
    topic: str = ""
    is_dm: bool = False
    admins: list[RemoteUserID] = field(default_factory=list)
    parent: PortalID | None = None
    is_space: bool = False


@dataclass
class SentEvent:
    """Something the bridge sent to the loopback network."""

    login_id: LoginID
    event: MatrixEvent
    remote_id: MessageID | None = None


@dataclass
class LoopbackWorld:
    """The remote network's state, which tests manipulate directly."""

    accounts: dict[str, LoopbackAccount] = field(default_factory=dict)
    chats: dict[PortalID, LoopbackChat] = field(default_factory=dict)
    clients: dict[LoginID, LoopbackClient] = field(default_factory=dict)
    sent: list[SentEvent] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add_account(
        self, username: str, password: str, name: str | None = None, code: str | None = None
    ) -> LoopbackAccount:
        account = LoopbackAccount(RemoteUserID(username), name or username, password, code)
        self.accounts[username] = account
        return account

    def add_chat(
        self,
        chat_id: str,
        name: str,
        members: list[str],
        *,
        topic: str = "",
        is_dm: bool = False,
        admins: list[str] = (),  # type: ignore[assignment]
        parent: str | None = None,
        is_space: bool = False,
    ) -> LoopbackChat:
        """A chat; ``admins`` get power level 100 in its portal, everyone else 0.
        ``parent`` names a chat made with ``is_space`` (like a Discord server holding
        channels); its portal becomes a Matrix space holding this chat's room."""
        chat = LoopbackChat(
            PortalID(chat_id),
            name,
            [RemoteUserID(m) for m in members],
            topic,
            is_dm,
            [RemoteUserID(a) for a in admins],
            PortalID(parent) if parent else None,
            is_space,
        )
        self.chats[chat.id] = chat
        return chat

    def add_contact(self, username: str, contact: str) -> None:
        """``contact`` appears in ``username``'s contact list."""
        self.accounts[username].contacts.append(RemoteUserID(contact))

    def dm_between(self, first: RemoteUserID, second: RemoteUserID) -> LoopbackChat:
        """The direct chat of two accounts, opened if they have none yet."""
        members = sorted((first, second))
        for chat in self.chats.values():
            if chat.is_dm and sorted(chat.members) == members:
                return chat
        names = [str(m) for m in members]
        return self.add_chat(f"dm-{names[0]}-{names[1]}", "", names, is_dm=True)

    def next_id(self) -> MessageID:
        return MessageID(f"m{next(self._ids)}")

    def portal_key(self, chat: LoopbackChat, login_id: LoginID) -> PortalKey:
        return PortalKey(chat.id, login_id if chat.is_dm else None)

    async def deliver(self, chat_id: str, make: Any) -> None:
        """Hand an event to every connected client whose account is in the chat.
        ``make(portal_key)`` builds the event for one client."""
        chat = self.chats[PortalID(chat_id)]
        for client in list(self.clients.values()):
            if client.connected and client.account.user_id in chat.members:
                event: RemoteEvent = make(self.portal_key(chat, client.login.id))
                await client.login.queue_remote_event(event)

    async def send_message(
        self,
        chat_id: str,
        sender: str,
        text: str,
        html: str | None = None,
        *,
        message_id: str | None = None,
        reply_to: str | None = None,
    ) -> MessageID:
        """``sender`` writes ``text`` in the chat; returns the message's ID."""
        msg_id = MessageID(message_id) if message_id else self.next_id()

        def make(key: PortalKey) -> RemoteEvent:
            return RemoteMessage.text(
                key,
                EventSender(RemoteUserID(sender)),
                msg_id,
                text,
                html,
                reply_to=MessageID(reply_to) if reply_to else None,
            )

        await self.deliver(chat_id, make)
        return msg_id

    def record(self, sent: SentEvent) -> None:
        self.sent.append(sent)
        self._changed.set()

    async def client_connected(self, client: LoopbackClient) -> None:
        """Called when a client connects; a world that replays missed messages (as real
        networks do after downtime) overrides it."""

    async def wait_for_sent(self, predicate: Any, timeout: float = 30.0) -> SentEvent:  # noqa: ASYNC109
        """The first event sent to the network that matches ``predicate``."""

        async def find() -> SentEvent:
            while True:
                for sent in self.sent:
                    if predicate(sent.event):
                        return sent
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)


class LoopbackConnector(NetworkConnector):
    """The loopback network plugin."""

    name = NetworkName("Loopback", "loopback", url="https://bridgekit.invalid/loopback")
    example_config = "# The loopback network has no settings.\nexample_setting: true\n"

    def __init__(self, world: LoopbackWorld | None = None, *, qr_login: bool = False) -> None:
        self.world = world or LoopbackWorld()
        self.qr_login = qr_login
        self.scans: asyncio.Queue[str] = asyncio.Queue()
        """Usernames put here "scan" the QR code of the oldest waiting QR login."""
        self.qr_processes: list[LoopbackQRLogin] = []

    def get_commands(self) -> list[NetworkCommand]:
        return [NetworkCommand("whoami", self._whoami, "show your loopback account")]

    async def _whoami(self, ctx: CommandContext) -> None:
        assert ctx.login is not None  # needs_login is set
        await ctx.reply(f"You are {ctx.login.remote_name} on the loopback network.")

    def get_login_flows(self) -> list[LoginFlow]:
        flows = [LoginFlow("password", "Password", "Log in with a username and password")]
        if self.qr_login:
            flows.append(LoginFlow("qr", "QR code", "Scan a code with the loopback app"))
        return flows

    async def create_login(self, user_mxid: str, flow_id: str) -> LoginProcess:
        if flow_id == "qr" and self.qr_login:
            process = LoopbackQRLogin(self.world, self.scans)
            self.qr_processes.append(process)
            return process
        return LoopbackLogin(self.world)

    async def load_user_login(self, login: LoginHandle) -> NetworkClient:
        account = self.world.accounts.get(login.metadata.get("username", ""))
        if account is None:
            raise BridgeError(f"The loopback account of login {login.id} no longer exists.")
        client = LoopbackClient(login, self.world, account)
        self.world.clients[login.id] = client
        return client


class LoopbackLogin(LoginProcess, UserInputLogin):
    """Username and password, then a code if the account has one."""

    def __init__(self, world: LoopbackWorld) -> None:
        self.world = world
        self.account: LoopbackAccount | None = None

    async def start(self) -> LoginStep:
        return LoginStep.user_input(
            "credentials",
            "Log in to the loopback network.",
            InputField("username", "username", InputFieldType.USERNAME, pattern=r"[a-z0-9_]+"),
            InputField("password", "password", InputFieldType.PASSWORD),
        )

    async def submit_user_input(self, values: dict[str, str]) -> LoginStep:
        if self.account is None:
            account = self.world.accounts.get(values["username"])
            if account is None or account.password != values["password"]:
                raise LoginError("Wrong username or password. Check them and try again.")
            self.account = account
            if account.code is not None:
                return LoginStep.user_input(
                    "code",
                    "Enter the code the loopback network sent you.",
                    InputField("code", "code", InputFieldType.CODE, pattern=r"\d{6}"),
                )
        elif values.get("code") != self.account.code:
            raise LoginError("That code is wrong. Type the newest code.")
        account = self.account
        return LoginStep.done(
            LoginID(f"loopback-{account.user_id}"), account.name, {"username": account.user_id}
        )


class LoopbackQRLogin(LoginProcess, DisplayAndWaitLogin):
    """A QR login, as phone-app networks have: the test "scans" the code by putting a
    username into the connector's ``scans`` queue."""

    def __init__(self, world: LoopbackWorld, scans: asyncio.Queue[str]) -> None:
        self.world = world
        self.scans = scans
        self.cancelled = False

    async def start(self) -> LoginStep:
        return LoginStep.display_and_wait(
            "qr", "Scan this code with the app.", LoginDisplay(DisplayType.QR, "loopback://qr/1")
        )

    async def wait(self) -> LoginStep:
        account = self.world.accounts[await self.scans.get()]
        return LoginStep.done(
            LoginID(f"loopback-{account.user_id}"), account.name, {"username": account.user_id}
        )

    async def cancel(self) -> None:
        self.cancelled = True


class LoopbackClient(
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    RoomMetaHandling,
    TypingHandling,
    ReadReceiptHandling,
    MembershipHandling,
    PowerLevelHandling,
    IdentifierResolving,
    UserSearching,
    ContactListing,
    ChatListing,
    GroupCreating,
):
    """One logged-in loopback account."""

    def __init__(self, login: LoginHandle, world: LoopbackWorld, account: LoopbackAccount) -> None:
        super().__init__(login)
        self.world = world
        self.account = account
        self.connected = False

    async def connect(self) -> None:
        self.connected = True
        await self.login.set_state(BridgeStateEvent.CONNECTED)
        await self.world.client_connected(self)

    async def disconnect(self) -> None:
        self.connected = False

    def is_logged_in(self) -> bool:
        return True

    def is_this_user(self, user_id: RemoteUserID) -> bool:
        return user_id == self.account.user_id

    async def get_chat_info(self, portal: PortalKey) -> ChatInfo:
        chat = self.world.chats.get(portal.id)
        if chat is None or self.account.user_id not in chat.members:
            raise BridgeError(f"{self.account.name} is in no chat with the ID {portal.id}.")
        members = [
            ChatMember(
                user_id=m,
                is_from_me=m == self.account.user_id,
                power_level=100 if m in chat.admins else 0,
            )
            for m in chat.members
        ]
        return ChatInfo(
            name=None if chat.is_dm else chat.name,
            topic=chat.topic,
            members=ChatMemberList(members, is_full=True),
            type=RoomType.SPACE if chat.is_space else RoomType.DM if chat.is_dm else RoomType.GROUP,
            parent=chat.parent,
        )

    async def get_user_info(self, user_id: RemoteUserID) -> UserInfo | None:
        account = self.world.accounts.get(user_id)
        if account is not None:
            return _user_info(account)
        return UserInfo(name=str(user_id))

    async def resolve_identifier(
        self, identifier: str, create_chat: bool
    ) -> ResolvedIdentifier | None:
        # Identifiers are usernames, bare or as shown in profiles ("loopback:bob").
        account = self.world.accounts.get(identifier.strip().removeprefix("loopback:"))
        if account is None:
            return None
        if account.user_id == self.account.user_id:
            raise BridgeError("That is your own account.")
        found = ResolvedIdentifier(account.user_id, _user_info(account))
        if create_chat:
            chat = self.world.dm_between(self.account.user_id, account.user_id)
            found.portal = self.world.portal_key(chat, self.login.id)
            found.chat_info = await self.get_chat_info(found.portal)
        return found

    async def search_users(self, query: str) -> list[ResolvedIdentifier]:
        needle = query.casefold()
        return [
            ResolvedIdentifier(account.user_id, _user_info(account))
            for account in sorted(self.world.accounts.values(), key=lambda a: a.user_id)
            if account.user_id != self.account.user_id
            and (needle in account.user_id.casefold() or needle in account.name.casefold())
        ]

    async def create_group(self, request: GroupRequest) -> PortalKey:
        """A new chat named ``request.name`` with this account and the participants
        (each must be an account of the world)."""
        unknown = [str(p) for p in request.participants if str(p) not in self.world.accounts]
        if unknown:
            raise BridgeError(f"No such loopback account: {', '.join(unknown)}")
        chat_id = f"group-{next(self.world._ids)}"
        members = [str(self.account.user_id), *(str(p) for p in request.participants)]
        chat = self.world.add_chat(chat_id, request.name, members, admins=[members[0]])
        return self.world.portal_key(chat, self.login.id)

    async def get_contact_list(self) -> list[ResolvedIdentifier]:
        contacts = []
        for user_id in self.account.contacts:
            pair = sorted((user_id, self.account.user_id))
            dm = next(
                (c for c in self.world.chats.values() if c.is_dm and sorted(c.members) == pair),
                None,
            )
            portal = self.world.portal_key(dm, self.login.id) if dm is not None else None
            account = self.world.accounts[user_id]
            contacts.append(ResolvedIdentifier(user_id, _user_info(account), portal))
        return contacts

    async def list_chats(self) -> list[PortalKey]:
        return [
            self.world.portal_key(chat, self.login.id)
            for chat in self.world.chats.values()
            if self.account.user_id in chat.members
        ]

    async def handle_matrix_message(self, msg: MatrixMessage) -> MatrixMessageResponse:
        if msg.body == "fail please":
            raise BridgeError("The loopback network refused this message.")
        remote_id = self.world.next_id()
        self.world.record(SentEvent(self.login.id, msg, remote_id))
        return MatrixMessageResponse(remote_id)

    async def handle_matrix_edit(self, edit: MatrixEdit) -> None:
        self.world.record(SentEvent(self.login.id, edit))

    async def handle_matrix_reaction(self, reaction: MatrixReaction) -> EmojiID | None:
        self.world.record(SentEvent(self.login.id, reaction))
        return None

    async def handle_matrix_reaction_remove(self, removal: MatrixReactionRemove) -> None:
        self.world.record(SentEvent(self.login.id, removal))

    async def handle_matrix_message_remove(self, removal: MatrixMessageRemove) -> None:
        self.world.record(SentEvent(self.login.id, removal))

    async def handle_matrix_room_meta(self, change: MatrixRoomMeta) -> None:
        self.world.record(SentEvent(self.login.id, change))

    async def handle_matrix_typing(self, typing: MatrixTyping) -> None:
        self.world.record(SentEvent(self.login.id, typing))

    async def handle_matrix_read_receipt(self, receipt: MatrixReadReceipt) -> None:
        self.world.record(SentEvent(self.login.id, receipt))

    async def handle_matrix_membership(self, change: MatrixMembership) -> None:
        self.world.record(SentEvent(self.login.id, change))

    async def handle_matrix_power_levels(self, change: MatrixPowerLevels) -> None:
        self.world.record(SentEvent(self.login.id, change))


def _user_info(account: LoopbackAccount) -> UserInfo:
    return UserInfo(name=account.name, identifiers=[f"loopback:{account.user_id}"])
