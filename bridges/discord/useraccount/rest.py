"""REST with a user token: the raw token as ``Authorization`` (no ``Bot`` prefix),
which discord.py's HTTP client cannot send.

Rate limits are honoured the simple way: a 429 is waited out (``Retry-After``, or
the body's ``retry_after``) and the request sent again, a few times at most. The
token is never part of an error message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from .models import Emoji, Message, PrivateChannel, User

log = logging.getLogger("bridgekit.discord.useraccount.rest")

#: A browser's User-Agent: Discord's own clients are browsers (or Electron).
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
_MAX_TRIES = 5
_LONGEST_WAIT = 60.0
_TIMEOUT = aiohttp.ClientTimeout(total=60)


class TokenRefused(Exception):
    """Discord refused the token (HTTP 401, gateway close 4004)."""


class DiscordHTTPError(Exception):
    """Discord answered with an error: ``status`` (HTTP), ``code`` (Discord's JSON
    error code, 0 when there is none) and its message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {message} (code {code})")
        self.status = status
        self.code = code
        self.message = message


class UserREST:
    """The REST calls the bridge makes as a user account.

    ``api_base`` is e.g. ``https://discord.com/api/v10``. The session is created on
    first use and closed by :meth:`close`.
    """

    def __init__(self, api_base: str, token: str) -> None:
        self.api_base = api_base.rstrip("/")
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=_TIMEOUT, headers={"User-Agent": USER_AGENT}
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        files: list[tuple[str, Path]] | None = None,
    ) -> Any:
        """One API call; returns the decoded JSON (``None`` for 204). Raises
        ``TokenRefused`` on 401 and ``DiscordHTTPError`` on other errors."""
        headers = {"Authorization": self._token}
        for attempt in range(1, _MAX_TRIES + 1):
            data: Any = None
            handles = []
            if files:
                data = aiohttp.FormData()
                data.add_field(
                    "payload_json", json.dumps(json_body or {}), content_type="application/json"
                )
                for index, (filename, path_on_disk) in enumerate(files):
                    handle = path_on_disk.open("rb")
                    handles.append(handle)
                    data.add_field(f"files[{index}]", handle, filename=filename)
            try:
                async with self.session.request(
                    method,
                    self.api_base + path,
                    json=json_body if not files else None,
                    data=data,
                    params=params,
                    headers=headers,
                ) as response:
                    if response.status == 429 and attempt < _MAX_TRIES:
                        wait = await _retry_after(response)
                        log.info("Rate limited on %s %s; waiting %.2f s", method, path, wait)
                        await asyncio.sleep(wait)
                        continue
                    return await _result(response)
            finally:
                for handle in handles:
                    handle.close()
        raise DiscordHTTPError(429, 0, "Still rate limited")  # pragma: no cover - loop returns

    # Users ---------------------------------------------------------------------------

    async def me(self) -> User:
        """The account the token belongs to (``TokenRefused`` if none)."""
        return User.from_json(await self.request("GET", "/users/@me"))

    async def user(self, user_id: int) -> User:
        return User.from_json(await self.request("GET", f"/users/{user_id}"))

    # Channels ------------------------------------------------------------------------

    async def private_channels(self) -> list[PrivateChannel]:
        """The account's DMs and group DMs."""
        found = (
            PrivateChannel.from_json(c) for c in await self.request("GET", "/users/@me/channels")
        )
        return [c for c in found if c is not None]

    async def channel(self, channel_id: int) -> PrivateChannel | None:
        """A private channel by ID (``None`` for a guild channel)."""
        return PrivateChannel.from_json(await self.request("GET", f"/channels/{channel_id}"))

    async def typing(self, channel_id: int) -> None:
        await self.request("POST", f"/channels/{channel_id}/typing")

    # Messages ------------------------------------------------------------------------

    async def messages(
        self, channel_id: int, *, after: int | None = None, limit: int = 50
    ) -> list[Message]:
        """Up to ``limit`` (at most 100) messages, after ``after`` if given, oldest first."""
        params = {"limit": str(max(1, min(limit, 100)))}
        if after is not None:
            params["after"] = str(after)
        raw = await self.request("GET", f"/channels/{channel_id}/messages", params=params)
        found = (Message.from_json(m) for m in raw)
        return sorted((m for m in found if m is not None), key=lambda m: m.id)

    async def send_message(
        self,
        channel_id: int,
        content: str,
        *,
        nonce: str,
        reply_to: int | None = None,
        files: list[tuple[str, Path]] | None = None,
    ) -> Message:
        """Post a message. The ``nonce`` is enforced: sending the same nonce again soon
        after returns the first message instead of posting a second."""
        body: dict[str, Any] = {"content": content, "nonce": nonce, "enforce_nonce": True}
        if reply_to is not None:
            body["message_reference"] = {
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
                "fail_if_not_exists": False,
            }
        if files:
            body["attachments"] = [{"id": i, "filename": name} for i, (name, _) in enumerate(files)]
        raw = await self.request(
            "POST", f"/channels/{channel_id}/messages", json_body=body, files=files
        )
        message = Message.from_json(raw)
        if message is None:
            raise DiscordHTTPError(500, 0, "Discord answered without the message")
        return message

    async def edit_message(self, channel_id: int, message_id: int, content: str) -> None:
        await self.request(
            "PATCH", f"/channels/{channel_id}/messages/{message_id}", json_body={"content": content}
        )

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/messages/{message_id}")

    async def add_reaction(self, channel_id: int, message_id: int, emoji: Emoji) -> None:
        await self.request("PUT", _reaction_path(channel_id, message_id, emoji))

    async def remove_reaction(self, channel_id: int, message_id: int, emoji: Emoji) -> None:
        await self.request("DELETE", _reaction_path(channel_id, message_id, emoji))

    # CDN -----------------------------------------------------------------------------

    async def download(self, url: str) -> bytes:
        """A file from Discord's CDN (no token: CDN links are signed)."""
        async with self.session.get(url) as response:
            if response.status >= 400:
                raise DiscordHTTPError(response.status, 0, "The file could not be fetched")
            return await response.read()


def _reaction_path(channel_id: int, message_id: int, emoji: Emoji) -> str:
    return f"/channels/{channel_id}/messages/{message_id}/reactions/{quote(emoji.key)}/@me"


async def _retry_after(response: aiohttp.ClientResponse) -> float:
    header = response.headers.get("Retry-After")
    wait: float | None = None
    try:
        body = await response.json(content_type=None)
        wait = float(body.get("retry_after"))
    except (ValueError, TypeError, AttributeError, aiohttp.ContentTypeError):
        wait = None
    if wait is None and header is not None:
        try:
            wait = float(header)
        except ValueError:
            wait = None
    return min(max(wait if wait is not None else 1.0, 0.0), _LONGEST_WAIT)


async def _result(response: aiohttp.ClientResponse) -> Any:
    if response.status == 401:
        raise TokenRefused()
    if response.status == 204:
        return None
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        body = None
    if response.status >= 400:
        code = int(body.get("code", 0)) if isinstance(body, dict) else 0
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
        raise DiscordHTTPError(response.status, code, message or response.reason or "error")
    return body
