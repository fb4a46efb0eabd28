"""Matrix media the bridge reads: downloads with a size cap, and public links.

Networks that carry links instead of files (IRC, a relayed avatar on Discord) need an
HTTP address for Matrix media. Homeservers now serve media only to authenticated
users (Synapse since 1.120), so the bridge serves the link itself: it signs
``/_bridgekit/media/<server>/<media id>/<signature>[/<file name>]`` with a key derived
from its appservice token, and answers such a request by streaming the file from the
homeserver with its own token. Only links the bridge made are served — it is not an
open proxy for every file on the homeserver — and a file type a browser would run
(HTML, SVG, ...) is served as a download in a sandbox, never inline on the bridge's
address.

``bridge.public_media_url`` is the public address of the bridge's HTTP listener; a
reverse proxy needs to expose only the ``/_bridgekit/media/`` path of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import mmap
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

import aiohttp
from aiohttp import web
from mautrix.types import ContentURI

from .network.content import MediaTooLarge

if TYPE_CHECKING:
    from .bridge import Bridge

log = logging.getLogger("bridgekit.media")

PREFIX = "/_bridgekit/media"
_CHUNK = 64 * 1024
#: Types a browser shows without running anything: served inline, others as downloads.
_INLINE = re.compile(
    r"^(image/(png|jpeg|gif|webp|avif|bmp)|video/(mp4|webm|ogg|quicktime)"
    r"|audio/(mpeg|mp4|ogg|webm|wav|x-wav|flac|aac)|text/plain)$"
)
_MXC = re.compile(r"^mxc://([A-Za-z0-9.:\[\]-]+)/([A-Za-z0-9_-]+)$")


class MediaNotFound(Exception):
    """The homeserver has no such file (or will not give it to the bridge)."""


class MediaLinks:
    """Signed public links to Matrix media, and the HTTP handler that serves them."""

    def __init__(self, bridge: Bridge, base_url: str | None, secret: str) -> None:
        self.bridge = bridge
        self.base_url = base_url.rstrip("/") if base_url else None
        self._key = hashlib.sha256(b"bridgekit media links\0" + secret.encode()).digest()

    def _signature(self, server: str, media_id: str) -> str:
        digest = hmac.new(self._key, f"{server}/{media_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def url(self, mxc: str, filename: str | None = None) -> str | None:
        """A public link to ``mxc`` (``None`` without ``bridge.public_media_url``)."""
        found = _MXC.match(mxc)
        if self.base_url is None or found is None:
            return None
        server, media_id = found.groups()
        link = f"{self.base_url}{PREFIX}/{server}/{media_id}/{self._signature(server, media_id)}"
        if filename:
            link += "/" + quote(filename.replace("/", "_"), safe="")
        return link

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "/{server}/{media_id}/{signature}", self.serve)
        app.router.add_get(PREFIX + "/{server}/{media_id}/{signature}/{filename}", self.serve)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        server = request.match_info["server"]
        media_id = request.match_info["media_id"]
        given = request.match_info["signature"]
        if not hmac.compare_digest(given, self._signature(server, media_id)):
            raise web.HTTPNotFound(text="No such file.")
        try:
            async with open_download(self.bridge, f"mxc://{server}/{media_id}") as upstream:
                response = web.StreamResponse(headers=_safe_headers(upstream, request))
                if upstream.content_length is not None:
                    response.content_length = upstream.content_length
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(_CHUNK):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except MediaNotFound:
            raise web.HTTPNotFound(text="No such file.") from None
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("Could not fetch %s/%s for a media link: %s", server, media_id, e)
            raise web.HTTPBadGateway(text="The homeserver did not give the file.") from None


def _safe_headers(upstream: aiohttp.ClientResponse, request: web.Request) -> dict[str, str]:
    mimetype = upstream.content_type or "application/octet-stream"
    filename = request.match_info.get("filename") or request.match_info["media_id"]
    quoted = quote(filename, safe="")
    inline = _INLINE.match(mimetype) is not None
    return {
        "Content-Type": mimetype if inline else "application/octet-stream",
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; filename*=utf-8''{quoted}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "public, max-age=86400, immutable",
    }


@asynccontextmanager
async def open_download(bridge: Bridge, mxc: str) -> AsyncIterator[aiohttp.ClientResponse]:
    """The homeserver's response for ``mxc``, fetched with the bridge bot's token
    through the authenticated media API; raises ``MediaNotFound`` for a 404."""
    api = bridge.bot_intent.api
    url = api.get_download_url(ContentURI(mxc), authenticated=True)
    headers = {"Authorization": f"Bearer {api.token}"}
    params = {"allow_redirect": "true"}
    if api.as_user_id:
        params["user_id"] = str(api.as_user_id)
    async with api.session.get(url, headers=headers, params=params) as response:
        if response.status in (403, 404):
            raise MediaNotFound(mxc)
        response.raise_for_status()
        yield response


async def fetch_capped(bridge: Bridge, mxc: str, limit: int, filename: str, out: BinaryIO) -> int:
    """Stream ``mxc`` into ``out`` but stop (``MediaTooLarge``) as soon as it passes
    ``limit`` bytes, whatever size the homeserver announced; returns the size."""
    async with open_download(bridge, mxc) as response:
        if response.content_length is not None and response.content_length > limit:
            raise MediaTooLarge(response.content_length, limit, filename)
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise MediaTooLarge(size, limit, filename)
            out.write(chunk)
        return size


def decrypt_in_place(out: BinaryIO, start: int, size: int, file: dict[str, Any]) -> None:
    """Decrypt the ``size`` bytes of an encrypted attachment written to ``out`` from
    ``start`` (checking their hash), without a second copy in memory: a file on disk is
    mapped, an in-memory buffer used as it is."""
    from mautrix.crypto.attachments import decrypt_attachment

    if size == 0:
        decrypt_attachment(b"", file["key"]["k"], file["hashes"]["sha256"], file["iv"])
        return
    out.flush()
    if isinstance(out, io.BytesIO):
        with out.getbuffer() as view:
            _decrypt(view[start : start + size], file)
        return
    with mmap.mmap(out.fileno(), 0) as mapped, memoryview(mapped) as view:
        _decrypt(view[start : start + size], file)


def _decrypt(view: memoryview, file: dict[str, Any]) -> None:
    from mautrix.crypto.attachments import decrypt_attachment

    try:
        decrypt_attachment(
            view, file["key"]["k"], file["hashes"]["sha256"], file["iv"], inplace=True
        )
    finally:
        view.release()
