"""Matrix → Discord for a user login: what the owner writes in a DM room goes out as
their Discord account. Text goes through the same HTML → markdown conversion as in
guild rooms, and every message carries the same nonce as there (one per Matrix event
and piece), so a message offered again after a crash is not posted twice."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bridgekit.network import (
    BridgeError,
    EmojiID,
    MatrixEdit,
    MatrixMessage,
    MatrixMessageRemove,
    MatrixMessageResponse,
    MatrixReaction,
    MatrixReactionRemove,
    MessageID,
)

from ..from_matrix import MAX_TEXT, matrix_text, nonce_for, split_text
from ..useraccount import DiscordHTTPError, Emoji, Message

if TYPE_CHECKING:
    from .client import UserLoginClient

log = logging.getLogger("bridgekit.discord.dms.from_matrix")

_CANNOT_MESSAGE = 50007
_UNKNOWN_MESSAGE = 10008


def _channel(msg: MatrixMessage | MatrixEdit | MatrixMessageRemove | MatrixReaction) -> int:
    return int(msg.portal.id)


async def send_message(client: UserLoginClient, msg: MatrixMessage) -> MatrixMessageResponse:
    """Post a Matrix message (a long one in pieces, a file with the last piece)."""
    rest = client.require_rest()
    channel_id = _channel(msg)
    text = await matrix_text(client, msg.body, msg.html, msg.msgtype, msg.content)
    if msg.media is not None and msg.body == msg.media.filename:
        text = ""
    reply_to = int(msg.reply_to.id) if msg.reply_to is not None else None
    chunks = split_text(text) or [""]
    sent: list[Message] = []
    try:
        for index, chunk in enumerate(chunks[:-1]):
            sent.append(
                await rest.send_message(
                    channel_id,
                    chunk,
                    nonce=nonce_for(msg.event_id, index),
                    reply_to=reply_to if index == 0 else None,
                )
            )
        last = len(chunks) - 1
        sent.append(
            await _send_last(client, msg, chunks[-1], last, reply_to if last == 0 else None)
        )
    except DiscordHTTPError as e:
        if e.code == _CANNOT_MESSAGE:
            raise BridgeError("Discord does not let you message this user.") from None
        raise
    first = sent[0]
    metadata: dict[str, Any] = {}
    if len(sent) > 1:
        metadata["extra_ids"] = [str(m.id) for m in sent[1:]]
    return MatrixMessageResponse(MessageID(str(first.id)), first.timestamp_ms, metadata)


async def _send_last(
    client: UserLoginClient, msg: MatrixMessage, text: str, index: int, reply_to: int | None
) -> Message:
    rest = client.require_rest()
    nonce = nonce_for(msg.event_id, index)
    media = msg.media
    if media is None:
        return await rest.send_message(_channel(msg), text, nonce=nonce, reply_to=reply_to)
    limit = client.settings.max_upload_size
    if media.size is not None and media.size > limit:
        raise _too_large(media.filename, media.size, limit)
    async with media.open() as file:
        if file.size > limit:
            raise _too_large(media.filename, file.size, limit)
        return await rest.send_message(
            _channel(msg),
            text,
            nonce=nonce,
            reply_to=reply_to,
            files=[(media.filename, file.path)],
        )


def _too_large(filename: str, size: int, limit: int) -> BridgeError:
    return BridgeError(
        f"The file {filename} is {size / 1_048_576:.1f} MiB; the bridge sends files up to "
        f"{limit / 1_048_576:.1f} MiB to Discord."
    )


async def edit_message(client: UserLoginClient, edit: MatrixEdit) -> None:
    """Edit one of the owner's messages."""
    text = await matrix_text(client, edit.body, edit.html, edit.msgtype, {})
    if len(text) > MAX_TEXT:
        raise BridgeError(f"Discord messages hold at most {MAX_TEXT} characters.")
    channel_id, message_id = _channel(edit), int(edit.target.id)
    client.echoes.expect("edit", message_id)
    try:
        await client.require_rest().edit_message(channel_id, message_id, text)
    except DiscordHTTPError as e:
        client.echoes.forget("edit", message_id)
        if e.status == 403:
            raise BridgeError("You can only edit your own messages on Discord.") from None
        raise


async def delete_message(client: UserLoginClient, removal: MatrixMessageRemove) -> None:
    """Delete one of the owner's messages (every piece of a long one)."""
    target = removal.target
    ids = [int(target.id), *(int(i) for i in target.metadata.get("extra_ids", []))]
    for message_id in ids:
        client.echoes.expect("delete", message_id)
        try:
            await client.require_rest().delete_message(_channel(removal), message_id)
        except DiscordHTTPError as e:
            client.echoes.forget("delete", message_id)
            if e.code == _UNKNOWN_MESSAGE:
                log.debug("Message %s was already gone", message_id)
            elif e.status == 403:
                raise BridgeError("You can only delete your own messages in a DM.") from None
            else:
                raise


def _emoji(reaction: MatrixReaction) -> Emoji:
    key = reaction.key
    if not key.startswith("mxc://"):
        return Emoji(key)
    name, _, emoji_id = (reaction.emoji_id or "").rpartition(":")
    if not emoji_id.isdigit():
        raise BridgeError("Only unicode emoji and Discord's own custom emoji can be sent there.")
    return Emoji(name, int(emoji_id))


async def add_reaction(client: UserLoginClient, reaction: MatrixReaction) -> EmojiID | None:
    """React as the owner."""
    emoji = _emoji(reaction)
    message_id = int(reaction.target.id)
    client.echoes.expect("react", message_id, emoji.key)
    try:
        await client.require_rest().add_reaction(_channel(reaction), message_id, emoji)
    except DiscordHTTPError as e:
        client.echoes.forget("react", message_id, emoji.key)
        if e.status == 400:
            raise BridgeError(f"Discord does not take {reaction.key} as a reaction.") from None
        raise
    return EmojiID(emoji.key)


async def remove_reaction(client: UserLoginClient, removal: MatrixReactionRemove) -> None:
    """Take back the owner's reaction."""
    emoji_id = str(removal.target.emoji_id)
    name, _, custom = emoji_id.rpartition(":")
    emoji = Emoji(name, int(custom)) if custom.isdigit() and name else Emoji(emoji_id)
    message_id = int(removal.target.message_id)
    client.echoes.expect("unreact", message_id, emoji.key)
    try:
        await client.require_rest().remove_reaction(int(removal.portal.id), message_id, emoji)
    except DiscordHTTPError as e:
        client.echoes.forget("unreact", message_id, emoji.key)
        if e.code != _UNKNOWN_MESSAGE:
            raise
