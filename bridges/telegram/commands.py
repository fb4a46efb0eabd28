"""The Telegram bridge's own bot commands.

``join <invite link | @username>`` joins a chat the way a Telegram app does — a private
invite link (``https://t.me/+…``, ``t.me/joinchat/…``, ``tg://join?invite=…``) or a
public group or channel by username — and creates its portal, to which the user is
invited.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from telethon import errors
from telethon.tl import functions, types

from bridgekit.network import BridgeError, CommandContext, NetworkCommand, RemoteChatResync

from .flood import describe_wait
from .ids import ChatRef

if TYPE_CHECKING:
    from .connector import TelegramConnector

_INVITE = re.compile(
    r"^(?:(?:https?://)?(?:t\.me|telegram\.me)/(?:\+|joinchat/)|tg://join\?invite=)([\w-]+)/?$"
)
_PUBLIC = re.compile(r"^(?:@|(?:https?://)?(?:t\.me|telegram\.me)/)([A-Za-z]\w{3,31})/?$")
USAGE = "Usage: `join <invite link>` (https://t.me/+…) or `join @username` of a public chat."


def commands(connector: TelegramConnector) -> list[NetworkCommand]:
    """The network's bot commands."""

    async def join(ctx: CommandContext) -> None:
        assert ctx.login is not None  # needs_login is set
        if len(ctx.args) != 1:
            await ctx.reply(USAGE)
            return
        client = connector.clients.get(ctx.login.id)
        if client is None:
            await ctx.reply("Your Telegram login is not running; send `ping` to see why.")
            return
        try:
            chat = await _join(await client.connected_client(), ctx.args[0].strip())
        except BridgeError as e:
            await ctx.reply(str(e))
            return
        ref = ChatRef("channel" if isinstance(chat, types.Channel) else "chat", chat.id)
        key = connector.migrations.portal_key(ref, ctx.login.id)
        await ctx.login.queue_remote_event(RemoteChatResync(portal=key, create=True))
        await ctx.reply(f"Joined {chat.title}. Its room is on its way: watch for the invite.")

    return [
        NetworkCommand(
            "join",
            join,
            "join a Telegram group or channel by invite link or username",
            "<invite link | @username>",
        )
    ]


async def _join(client: Any, target: str) -> Any:
    """Join the chat ``target`` names; returns the chat. Raises ``BridgeError``."""
    invite = _INVITE.match(target)
    public = _PUBLIC.match(target)
    try:
        if invite is not None:
            return await _join_invite(client, invite[1])
        if public is None:
            raise BridgeError(f"`{target}` is not an invite link or username. {USAGE}")
        username = public[1]
        entity = await client.get_entity(username)
        if not isinstance(entity, types.Channel):
            raise BridgeError(f"@{username} is a person, not a group: use `start-chat`.")
        await client(functions.channels.JoinChannelRequest(entity))
        return entity
    except errors.FloodWaitError as e:
        raise BridgeError(f"Telegram asks to wait {describe_wait(e.seconds)} first.") from e
    except errors.ChannelsTooMuchError as e:
        raise BridgeError("You are in too many groups and channels; leave one first.") from e
    except (errors.InviteHashInvalidError, errors.InviteHashEmptyError) as e:
        raise BridgeError("That invite link is not valid (mistyped, or revoked).") from e
    except errors.InviteHashExpiredError as e:
        raise BridgeError("That invite link has expired or reached its limit.") from e
    except errors.InviteRequestSentError as e:
        raise BridgeError(
            "The chat's admins approve new members: your request to join was sent."
        ) from e
    except (errors.UsernameInvalidError, errors.UsernameNotOccupiedError, ValueError) as e:
        raise BridgeError(f"Nobody on Telegram has the username `{target}`.") from e
    except errors.RPCError as e:
        raise BridgeError(f"Telegram refused to join `{target}` ({e.message}).") from e


async def _join_invite(client: Any, invite_hash: str) -> Any:
    preview = await client(functions.messages.CheckChatInviteRequest(hash=invite_hash))
    if isinstance(preview, types.ChatInviteAlready | types.ChatInvitePeek):
        return preview.chat  # already a member: its portal is created or refreshed
    try:
        result = await client(functions.messages.ImportChatInviteRequest(hash=invite_hash))
    except errors.UserAlreadyParticipantError:
        preview = await client(functions.messages.CheckChatInviteRequest(hash=invite_hash))
        return preview.chat
    chats = [c for c in getattr(result, "chats", []) if isinstance(c, types.Chat | types.Channel)]
    if not chats:
        raise BridgeError("Telegram joined the chat but did not say which it was; send `sync`.")
    return chats[0]
