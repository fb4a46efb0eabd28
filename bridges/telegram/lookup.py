"""Finding Telegram users: by username or phone number (``start-chat``), or by name
(``search``); and chats, for ``bridge <chat>``."""

from __future__ import annotations

import re
from typing import Any

from telethon import errors
from telethon.tl import functions, types

from bridgekit.network import BridgeError

_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{4,}$")
_LINK = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/", re.IGNORECASE)
_NOT_FOUND = (
    errors.UsernameNotOccupiedError,
    errors.UsernameInvalidError,
    errors.PhoneNotOccupiedError,
)


async def find_user(client: Any, identifier: str) -> Any | None:
    """The user an identifier names: ``@username``, ``username``, ``t.me/username``,
    ``telegram:@username`` or a phone number with its country code. ``None`` when
    nobody has it; ``BridgeError`` when Telegram refuses to look."""
    text = identifier.strip().removeprefix("telegram:")
    try:
        if _PHONE.match(text):
            phone = re.sub(r"\D", "", text)
            result = await client(functions.contacts.ResolvePhoneRequest(phone))
        else:
            username = _LINK.sub("", text).lstrip("@").split("/")[0].split("?")[0]
            if not username:
                return None
            result = await client(functions.contacts.ResolveUsernameRequest(username))
    except _NOT_FOUND:
        return None
    except errors.FloodWaitError as e:
        raise BridgeError(f"Telegram asks to wait {e.seconds} seconds before looking again.") from e
    except errors.RPCError as e:
        raise BridgeError(f"Telegram could not look that up ({e.message}).") from e
    if not isinstance(result.peer, types.PeerUser):
        return None  # a channel or group, not a person
    return next((u for u in result.users if u.id == result.peer.user_id), None)


_BOT_API_ID = re.compile(r"^-(100)?([0-9]+)$")


async def find_chat(client: Any, identifier: str, dialog_limit: int) -> Any | None:
    """The peer of the chat an identifier names: a public ``@name`` or ``t.me`` link,
    a Bot API style ID (``-100…`` for channels and supergroups, ``-…`` for basic
    groups), or the exact title of one of the account's recent chats (any case).
    ``None`` when none matches; ``BridgeError`` when several chats have that title."""
    text = identifier.strip()
    numeric = _BOT_API_ID.match(text)
    if numeric:
        number = int(numeric.group(2))
        return types.PeerChannel(number) if numeric.group(1) else types.PeerChat(number)
    if text.startswith("@") or _LINK.match(text):
        username = _LINK.sub("", text).lstrip("@").split("/")[0].split("?")[0]
        try:
            result = await client(functions.contacts.ResolveUsernameRequest(username))
        except _NOT_FOUND:
            return None
        except errors.RPCError as e:
            raise BridgeError(f"Telegram could not look that up ({e.message}).") from e
        return result.peer
    wanted = text.casefold()
    matches = [
        dialog
        async for dialog in client.iter_dialogs(limit=dialog_limit)
        if (dialog.name or "").casefold() == wanted
    ]
    if len(matches) > 1:
        raise BridgeError(
            f"{len(matches)} of your chats are called “{text}”; name it by its link or ID."
        )
    return matches[0].dialog.peer if matches else None


async def search_users(client: Any, query: str, limit: int = 20) -> list[Any]:
    """Users whose name or username matches ``query``: the account's contacts and
    chats first, then the rest of Telegram."""
    try:
        found = await client(functions.contacts.SearchRequest(q=query, limit=limit))
    except errors.QueryTooShortError:
        return []
    except errors.RPCError as e:
        raise BridgeError(f"Telegram could not search ({e.message}).") from e
    users = {u.id: u for u in found.users}
    peers = [*found.my_results, *found.results]
    ids = dict.fromkeys(p.user_id for p in peers if isinstance(p, types.PeerUser))
    return [users[i] for i in ids if isinstance(users.get(i), types.User)]
