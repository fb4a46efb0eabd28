"""Who a provisioning request acts for.

Two kinds of caller are accepted, as ``provisioning`` in the config allows:

- an integration manager or other trusted service holding the shared secret
  (``Authorization: Bearer <secret>``), naming the user it acts for with
  ``?user_id=@user:example.org``;
- a user's own client or a web front end holding a Matrix OpenID token of that
  user (``Authorization: Bearer openid:<token>``), which the homeserver vouches for
  (``GET /_matrix/federation/v1/openid/userinfo``).

The result is only *who* the caller is; what that user may do is still decided by
their bridge permission level (``Bridge.permission_of``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from .errors import ProvisioningError

if TYPE_CHECKING:
    from ..bridge import Bridge

log = logging.getLogger("bridgekit.provisioning.auth")

OPENID_PREFIX = "openid:"
USER_ID_RE = re.compile(r"^@[^:\s]+:[^\s]+$")

# A verified OpenID token is trusted this long without asking the homeserver again
# (the homeserver itself issues them for an hour), so a front end polling a login
# does not cost a homeserver request each time.
_OPENID_CACHE_SECONDS = 300.0
_OPENID_CACHE_SIZE = 1024
_OPENID_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Authenticator:
    """Checks a request's credentials and returns the Matrix user it acts for.

    ``shared_secret`` empty disables shared-secret access; ``allow_openid`` false
    disables OpenID tokens. Every failure raises ``ProvisioningError`` (401 for
    missing or wrong credentials, 400 for a missing/malformed ``user_id``, 403 for
    an OpenID caller naming someone else, 502 when the homeserver cannot be asked).
    """

    def __init__(self, bridge: Bridge, shared_secret: str, allow_openid: bool) -> None:
        self.bridge = bridge
        self.shared_secret = shared_secret
        self.allow_openid = allow_openid
        self._openid_cache: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def user_of(self, request: web.Request) -> str:
        """The Matrix user ID ``request`` acts for."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ProvisioningError(
                401,
                "M_MISSING_TOKEN",
                "Authenticate with 'Authorization: Bearer <shared secret>' (and ?user_id=) "
                "or 'Authorization: Bearer openid:<OpenID token>'.",
            )
        requested = request.query.get("user_id")
        if token.startswith(OPENID_PREFIX):
            mxid = await self._openid_user(token.removeprefix(OPENID_PREFIX))
            if requested and requested != mxid:
                raise ProvisioningError(
                    403,
                    "M_FORBIDDEN",
                    "An OpenID token can only act for its own user; drop ?user_id= or use "
                    "that user's token.",
                )
            return mxid
        if not self.shared_secret or not hmac.compare_digest(
            token.encode(), self.shared_secret.encode()
        ):
            raise ProvisioningError(
                401,
                "M_UNKNOWN_TOKEN",
                "The shared secret is wrong. Use provisioning.shared_secret from the "
                "bridge's config, or an OpenID token.",
            )
        if not requested:
            raise ProvisioningError(
                400,
                "M_MISSING_PARAM",
                "Name the user to act for with ?user_id=@user:example.org.",
            )
        if not USER_ID_RE.match(requested):
            raise ProvisioningError(
                400,
                "M_INVALID_PARAM",
                f"user_id {requested!r} is not a Matrix user ID; use the form @user:example.org.",
            )
        return requested

    async def _openid_user(self, token: str) -> str:
        """The user the homeserver says ``token`` belongs to."""
        if not self.allow_openid:
            raise ProvisioningError(
                401,
                "M_UNKNOWN_TOKEN",
                "This bridge does not accept OpenID tokens (provisioning.allow_openid is off).",
            )
        if not token:
            raise ProvisioningError(401, "M_MISSING_TOKEN", "The OpenID token is empty.")
        # Keyed by a hash, so the cache never holds a usable token.
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._openid_cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        mxid = await self._ask_homeserver(token)
        self._openid_cache[key] = (mxid, now + _OPENID_CACHE_SECONDS)
        self._openid_cache.move_to_end(key)
        while len(self._openid_cache) > _OPENID_CACHE_SIZE:
            self._openid_cache.popitem(last=False)
        return mxid

    async def _ask_homeserver(self, token: str) -> str:
        address = str(self.bridge.config["homeserver.address"]).rstrip("/")
        url = f"{address}/_matrix/federation/v1/openid/userinfo"
        try:
            async with self.bridge.appservice.http_session.get(
                url, params={"access_token": token}, timeout=_OPENID_TIMEOUT
            ) as response:
                status = response.status
                data = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            # Only the type: aiohttp's messages can carry the URL, and so the token.
            log.warning("Could not check an OpenID token with the homeserver: %s", type(e).__name__)
            raise ProvisioningError(
                502, "M_UNKNOWN", "Could not check the OpenID token with the homeserver; try again."
            ) from None
        if status in (401, 403):
            raise ProvisioningError(
                401,
                "M_UNKNOWN_TOKEN",
                "The OpenID token is not valid (it may have expired). Request a new one from "
                "the homeserver and try again.",
            )
        if status != 200:
            log.warning(
                "The homeserver answered HTTP %d to an OpenID token check: does its listener "
                "at homeserver.address serve the 'openid' (or 'federation') resource?",
                status,
            )
            raise ProvisioningError(
                502, "M_UNKNOWN", "The homeserver could not check the OpenID token; try again."
            )
        sub = data.get("sub") if isinstance(data, dict) else None
        domain = self.bridge.domain
        if not isinstance(sub, str) or not USER_ID_RE.match(sub) or not sub.endswith(f":{domain}"):
            raise ProvisioningError(
                401,
                "M_UNKNOWN_TOKEN",
                f"The OpenID token does not belong to a user of {domain}.",
            )
        return sub
