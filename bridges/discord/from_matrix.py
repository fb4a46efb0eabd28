"""Matrix → Discord: messages, edits, deletions, reactions and typing.

The login's owner writes as the bot. Relayed Matrix users (no login of their own,
in a room with a relay) write through the channel's webhook with their own name and
avatar, and their edits and deletions go through the same webhook; where webhooks
are not allowed they fall back to the bot with the relay format.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bridgekit.network import (
    BridgeError,
    EmojiID,
    MatrixEdit,
    MatrixMembership,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixMessageResponse,
    MatrixPinChange,
    MatrixReaction,
    MatrixReactionRemove,
    MatrixRoomMeta,
    MessageID,
    MessageRecord,
    RelayInfo,
)

from .formatting import to_discord
from .webhooks import WebhooksUnavailable

if TYPE_CHECKING:
    from .client import DiscordClient

log = logging.getLogger("bridgekit.discord.from_matrix")

MAX_TEXT = 2000
"""Discord's limit of a message's content, in characters."""

#: Mentions a Matrix message may make: people, never roles, and @everyone/@here only
#: when its sender has the Matrix room's power to notify everyone (``@room``).
_MENTIONS = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=True)
_MENTIONS_EVERYONE = discord.AllowedMentions(
    everyone=True, roles=False, users=True, replied_user=True
)
_AT_ROOM = re.compile(r"(?<![\w@])@room\b")


def _mentions(msg: MatrixMessage) -> discord.AllowedMentions:
    return _MENTIONS_EVERYONE if msg.may_notify_room else _MENTIONS


def _everyone(text: str, msg: MatrixMessage) -> str:
    """Matrix's ``@room`` is Discord's ``@everyone``, for senders who may use it."""
    return _AT_ROOM.sub("@everyone", text) if msg.may_notify_room else text


_REPLY_FALLBACK = re.compile(r"\A(?:> .*\n)+\n")
_UNKNOWN_WEBHOOK = 10015
_THREAD_NAME = 100


async def send_message(client: DiscordClient, msg: MatrixMessage) -> MatrixMessageResponse:
    """Post a Matrix message in its channel (or in the Discord thread of its Matrix
    thread); returns the (first) Discord message ID."""
    channel = await client.text_channel(msg.portal)
    thread = await _thread_of(client, channel, msg) if msg.thread_root is not None else None
    if msg.relay is not None and client.settings.relay_webhooks:
        try:
            return await _send_via_webhook(client, channel, thread, msg, msg.relay)
        except WebhooksUnavailable as e:
            log.warning("No webhook in channel %s (%s); relaying as the bot", channel.id, e)
    text = _everyone(await matrix_text(client, msg.body, msg.html, msg.msgtype, msg.content), msg)
    if msg.media is not None and msg.body == msg.media.filename:
        text = ""
    async with _files(client, channel, msg) as files:
        return await _send_as_bot(client, channel, thread, msg, text, files)


async def _send_as_bot(
    client: DiscordClient,
    channel: discord.TextChannel,
    thread: discord.Thread | None,
    msg: MatrixMessage,
    text: str,
    files: list[discord.File],
) -> MatrixMessageResponse:
    reference = None
    target_id = thread.id if thread is not None else channel.id
    if msg.reply_to is not None and _channel_of(msg.reply_to, channel.id) == target_id:
        reference = discord.MessageReference(
            message_id=int(msg.reply_to.id), channel_id=target_id, fail_if_not_exists=False
        )
    destination: discord.abc.Messageable = thread if thread is not None else channel
    chunks = split_text(text) or [""]
    sent: list[discord.Message] = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        sent.append(
            await destination.send(
                content=chunk or None,
                files=files if last else None,  # type: ignore[arg-type]
                reference=reference if index == 0 else None,  # type: ignore[arg-type]
                allowed_mentions=_mentions(msg),
                nonce=nonce_for(msg.event_id, index),
            )
        )
    return _response(sent, _thread_meta(thread))


def nonce_for(event_id: str, part: int) -> str:
    """The nonce of part ``part`` of the Discord message sent for a Matrix event: the
    same on every attempt. discord.py sends it with ``enforce_nonce``, so when the
    homeserver offers an event again after a crash, Discord answers with the message
    it already has instead of posting a second one. (At most 25 characters.)"""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:22]
    return f"{digest}{part:03}"


def _channel_of(record: MessageRecord, channel_id: int) -> int:
    """The Discord channel a bridged message is in: its thread, or the portal's channel."""
    thread_id = record.metadata.get("thread_id")
    return int(thread_id) if thread_id else channel_id


def _thread_meta(thread: discord.Thread | None) -> dict[str, Any]:
    return {"thread_id": str(thread.id)} if thread is not None else {}


async def _thread_of(
    client: DiscordClient, channel: discord.TextChannel, msg: MatrixMessage
) -> discord.Thread:
    """The Discord thread of a Matrix thread: the thread started from its root message
    (a thread from a message takes the message's ID), created when there is none."""
    root = msg.thread_root
    assert root is not None
    thread_id = _channel_of(root, int(root.id))
    thread = channel.guild.get_thread(thread_id)
    if thread is not None:
        return thread
    try:
        found = await client.require_discord().fetch_channel(thread_id)
        if isinstance(found, discord.Thread):
            return found
    except discord.NotFound:
        pass
    except discord.Forbidden:
        raise BridgeError("The bot may not see the Discord thread of this Matrix thread.") from None
    name = " ".join(msg.body.split())[:_THREAD_NAME] or "Thread"
    try:
        return await channel.get_partial_message(int(root.id)).create_thread(name=name)
    except discord.Forbidden:
        raise BridgeError(
            "The bot may not create threads in this channel (it needs the "
            "“Create Public Threads” permission)."
        ) from None


async def _send_via_webhook(
    client: DiscordClient,
    channel: discord.TextChannel,
    thread: discord.Thread | None,
    msg: MatrixMessage,
    relay: RelayInfo,
) -> MatrixMessageResponse:
    raw = msg.content
    body = str(raw.get("body") or "")
    html = raw.get("formatted_body") if raw.get("format") == "org.matrix.custom.html" else None
    text = _everyone(await matrix_text(client, body, html, msg.msgtype, raw), msg)
    if msg.media is not None and body == msg.media.filename:
        text = ""
    if msg.reply_to is not None:
        text = f"-# ↪ {_jump_url(channel, msg.reply_to)}\n{text}"
    async with _files(client, channel, msg) as files:
        return await _send_as_webhook(client, channel, thread, msg, relay, text, files)


async def _send_as_webhook(
    client: DiscordClient,
    channel: discord.TextChannel,
    thread: discord.Thread | None,
    msg: MatrixMessage,
    relay: RelayInfo,
    text: str,
    files: list[discord.File],
) -> MatrixMessageResponse:
    hook = await client.webhooks.for_channel(channel)
    username = _webhook_name(relay.display_name)
    avatar_url = relay.avatar_public_url or discord.utils.MISSING
    chunks = split_text(text) or [""]
    sent: list[discord.Message] = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        try:
            sent.append(
                await hook.send(
                    content=chunk or discord.utils.MISSING,
                    files=files if last else discord.utils.MISSING,
                    allowed_mentions=_mentions(msg),
                    wait=True,
                    username=username,
                    avatar_url=avatar_url,
                    thread=thread if thread is not None else discord.utils.MISSING,
                )
            )
        except discord.NotFound as e:
            if e.code == _UNKNOWN_WEBHOOK:
                await client.webhooks.forget(channel.id)
                raise BridgeError("The channel's webhook was deleted; send it again.") from None
            raise
    metadata = {
        "webhook_id": str(hook.id),
        "matrix_sender": relay.sender_mxid,
        **_thread_meta(thread),
    }
    return _response(sent, metadata)


def _response(sent: list[discord.Message], metadata: dict[str, Any]) -> MatrixMessageResponse:
    first = sent[0]
    if len(sent) > 1:
        metadata["extra_ids"] = [str(m.id) for m in sent[1:]]
    return MatrixMessageResponse(
        MessageID(str(first.id)), int(first.created_at.timestamp() * 1000), metadata
    )


class PillResolvers(Protocol):
    """What turning Matrix HTML into Discord markdown asks a client."""

    def discord_user_of(self, mxid: str) -> str | None:
        """The Discord user ID a Matrix user (a ghost, the login's owner) stands for."""
        ...

    async def channel_of_room(self, room_id: str) -> str | None:
        """The Discord channel ID whose portal is ``room_id``."""
        ...


async def matrix_text(
    client: PillResolvers, body: str, html: str | None, msgtype: str, content: dict[str, Any]
) -> str:
    """The Discord markdown of a Matrix message's text (without a reply fallback)."""
    if html:
        text = await to_discord(html, client.discord_user_of, client.channel_of_room)
    else:
        relates = content.get("m.relates_to") or {}
        text = _REPLY_FALLBACK.sub("", body, count=1) if relates.get("m.in_reply_to") else body
    if msgtype == "m.emote" and text:
        text = f"_{text}_"
    return text


def split_text(text: str) -> list[str]:
    """Text in pieces Discord takes (at most 2000 characters, cut at line ends)."""
    chunks: list[str] = []
    while len(text) > MAX_TEXT:
        cut = text.rfind("\n", 0, MAX_TEXT)
        cut = cut if cut > 0 else MAX_TEXT
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        chunks.append(text)
    return chunks


@asynccontextmanager
async def _files(
    client: DiscordClient, channel: discord.TextChannel, msg: MatrixMessage
) -> AsyncIterator[list[discord.File]]:
    """The message's attachment as Discord files, read from disk while they are sent
    (never the whole file in memory)."""
    media = msg.media
    if media is None:
        yield []
        return
    limit = min(client.settings.max_upload_size, channel.guild.filesize_limit)
    if media.size is not None and media.size > limit:
        raise _too_large(media.filename, media.size, limit)
    async with media.open() as file:
        if file.size > limit:
            raise _too_large(media.filename, file.size, limit)
        yield [discord.File(file.path, filename=media.filename)]


def _too_large(filename: str, size: int, limit: int) -> BridgeError:
    return BridgeError(
        f"The file {filename} is {size / 1_048_576:.1f} MiB; Discord takes files up to "
        f"{limit / 1_048_576:.1f} MiB in this server."
    )


def _webhook_name(name: str) -> str:
    """A display name Discord accepts for a webhook message (2 to 80 characters, without
    the reserved words "discord" and "clyde")."""
    cleaned = re.sub(r"(?i)(disc)(ord)|(cl)(yde)", r"\1\3_\2\4", name).strip()
    return (cleaned or "Matrix user").ljust(2, "_")[:80]


def _jump_url(channel: discord.TextChannel, target: MessageRecord) -> str:
    where = _channel_of(target, channel.id)
    return f"https://discord.com/channels/{channel.guild.id}/{where}/{target.id}"


def _check_own(target: MessageRecord, relay: RelayInfo | None, sender_mxid: str) -> None:
    """A relayed user may only change their own messages."""
    if relay is not None and target.metadata.get("matrix_sender") != sender_mxid:
        raise BridgeError("You can only edit or delete your own messages.")


async def edit_message(client: DiscordClient, edit: MatrixEdit) -> None:
    """Edit a message the bridge sent (as the bot or through the channel's webhook)."""
    _check_own(edit.target, edit.relay, edit.sender_mxid)
    channel = await client.text_channel(edit.portal)
    where = _channel_of(edit.target, channel.id)
    webhook_id = edit.target.metadata.get("webhook_id")
    if webhook_id is not None:
        # The webhook shows the sender's name: edit with the raw new text, not the
        # relay-formatted one.
        raw = edit.content or {}
        body = str(raw.get("body", edit.body))
        html = raw.get("formatted_body") if raw.get("format") == "org.matrix.custom.html" else None
        text = await matrix_text(client, body, html, edit.msgtype, {})
        hook = client.webhooks.get(int(webhook_id))
        if hook is None:
            raise BridgeError("The webhook of that message is gone; it cannot be edited.")
        await hook.edit_message(
            int(edit.target.id),
            content=text,
            allowed_mentions=_MENTIONS,
            thread=discord.Object(where) if where != channel.id else discord.utils.MISSING,
        )
        return
    text = await matrix_text(client, edit.body, edit.html, edit.msgtype, {})
    if len(text) > MAX_TEXT:
        raise BridgeError(f"Discord messages hold at most {MAX_TEXT} characters.")
    message = _partial(client, where, edit.target.id)
    try:
        await message.edit(content=text, allowed_mentions=_MENTIONS)
    except discord.Forbidden:
        raise BridgeError("Discord lets the bot edit only its own messages.") from None


def _partial(client: DiscordClient, channel_id: int, message_id: str) -> discord.PartialMessage:
    """A message by ID in a channel or thread, without fetching it."""
    channel = client.require_discord().get_partial_messageable(channel_id)
    return channel.get_partial_message(int(message_id))


async def delete_message(client: DiscordClient, removal: MatrixMessageRemove) -> None:
    """Delete a message (and the other pieces of a long one) on Discord."""
    target = removal.target
    _check_own(target, removal.relay, removal.sender_mxid)
    channel = await client.text_channel(removal.portal)
    where = _channel_of(target, channel.id)
    ids = [int(target.id), *(int(i) for i in target.metadata.get("extra_ids", []))]
    webhook_id = target.metadata.get("webhook_id")
    hook = client.webhooks.get(int(webhook_id)) if webhook_id is not None else None
    for message_id in ids:
        try:
            if hook is not None:
                await hook.delete_message(
                    message_id,
                    thread=discord.Object(where) if where != channel.id else discord.utils.MISSING,
                )
            else:
                await _partial(client, where, str(message_id)).delete()
        except discord.NotFound:
            log.debug("Message %s was already gone", message_id)
        except discord.Forbidden:
            raise BridgeError("The bot may not delete that message on Discord.") from None


async def set_pins(client: DiscordClient, change: MatrixPinChange) -> None:
    """Pin and unpin messages in the channel (the bot needs "Manage Messages")."""
    channel = await client.text_channel(change.portal)
    wanted = [(r, True) for r in change.pinned] + [(r, False) for r in change.unpinned]
    for record, pin in wanted:
        message = _partial(client, _channel_of(record, channel.id), record.id)
        try:
            if pin:
                await message.pin()
            else:
                await message.unpin()
        except discord.NotFound:
            log.debug("Message %s is gone; not %s", record.id, "pinned" if pin else "unpinned")
        except discord.Forbidden:
            raise BridgeError(
                "The bot may not pin messages on Discord (it needs “Manage Messages”)."
            ) from None


async def add_reaction(client: DiscordClient, reaction: MatrixReaction) -> EmojiID | None:
    """React as the bot: with a unicode emoji, or with a Discord custom emoji that came
    from Discord (a Matrix user clicking a reaction bridged from there)."""
    key = reaction.key
    emoji: str | discord.PartialEmoji = key
    if key.startswith("mxc://"):
        name, _, emoji_id = (reaction.emoji_id or "").rpartition(":")
        if not emoji_id.isdigit():
            raise BridgeError(
                "Only unicode emoji and the Discord server's own emoji can be sent to Discord."
            )
        emoji = discord.PartialEmoji(name=name, id=int(emoji_id))
    channel = await client.text_channel(reaction.portal)
    message = _partial(client, _channel_of(reaction.target, channel.id), reaction.target.id)
    try:
        await message.add_reaction(emoji)
    except discord.HTTPException as e:
        if e.status == 400:
            raise BridgeError(f"Discord does not take {emoji} as a reaction.") from None
        raise
    return reaction.emoji_id if isinstance(emoji, discord.PartialEmoji) else EmojiID(key)


async def remove_reaction(client: DiscordClient, removal: MatrixReactionRemove) -> None:
    """Take back the bot's reaction."""
    channel = await client.text_channel(removal.portal)
    record = await client.connector.bridge.get_message(removal.portal, removal.target.message_id)
    where = _channel_of(record, channel.id) if record is not None else channel.id
    message = _partial(client, where, removal.target.message_id)
    listener = client.require_discord()
    if listener.user is None:
        return
    try:
        await message.remove_reaction(removal.target.emoji_id, listener.user)
    except discord.NotFound:
        log.debug("Reaction on %s was already gone", removal.target.message_id)


async def typing(client: DiscordClient, portal_id: str) -> None:
    """Show the bot typing (Discord shows it for ten seconds, or until it writes)."""
    channel = await client.text_channel_by_id(int(portal_id))
    await channel.typing()


async def room_meta(client: DiscordClient, change: MatrixRoomMeta) -> None:
    """Rename the channel or set its topic (needs Manage Channels); channels have no
    avatar of their own (the room shows the server's icon)."""
    if change.avatar is not None:
        raise BridgeError("Discord channels have no picture of their own; it stays on Matrix.")
    channel = await client.text_channel(change.portal)
    try:
        if change.name is not None:
            name = _channel_name(client.settings.channel_name_template, change.name)
            if not name:
                raise BridgeError("Discord channels need a name; it was not cleared there.")
            await channel.edit(name=name)
        if change.topic is not None:
            await channel.edit(topic=change.topic)
    except discord.Forbidden:
        raise BridgeError(
            "The bot may not change this channel on Discord (it needs the “Manage "
            "Channels” permission there)."
        ) from None


def _channel_name(template: str, room_name: str) -> str:
    """The channel name in a room name made from the template (``#{name}``), without
    the template's decoration; other room names are taken as they are."""
    before, _, after = template.partition("{name}")
    if "{guild}" not in before + after and room_name.startswith(before):
        room_name = room_name[len(before) :]
        if after and room_name.endswith(after):
            room_name = room_name[: -len(after)]
    return room_name.strip()


async def membership(client: DiscordClient, change: MatrixMembership) -> None:
    """A Discord user's ghost kicked on Matrix is kicked from the server (needs Kick
    Members and a role above theirs); other changes have no Discord counterpart."""
    if change.target_user is None or change.sender_mxid == change.target_mxid:
        return
    if change.membership == "ban":
        raise BridgeError("Bans are not sent to Discord; kick the user to remove them there.")
    if change.membership != "leave" or change.prev_membership != "join":
        return
    channel = await client.text_channel(change.portal)
    try:
        await channel.guild.kick(discord.Object(int(change.target_user)), reason=change.reason)
    except discord.NotFound:
        log.debug("Member %s was already gone", change.target_user)
    except discord.Forbidden:
        raise BridgeError(
            "The bot may not kick that user on Discord (it needs the “Kick Members” "
            "permission and a role above theirs)."
        ) from None
