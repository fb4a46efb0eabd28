"""The provisioning API's errors: an HTTP status, a Matrix-style ``errcode`` and a
message that tells the caller what to do."""

from __future__ import annotations

from typing import Any

from aiohttp import web

# Error codes of our own, namespaced as the Matrix spec asks of non-spec codes.
LOGIN_REJECTED = "IO.BRIDGEKIT.LOGIN_REJECTED"
"""The network refused the answers; the login process is still usable."""
LOGIN_FAILED = "IO.BRIDGEKIT.LOGIN_FAILED"
"""The login process is over; start a new one."""
LOGIN_CANCELLED = "IO.BRIDGEKIT.LOGIN_CANCELLED"
"""The login process was cancelled or expired while a request waited for it."""
NOT_LOGGED_IN = "IO.BRIDGEKIT.NOT_LOGGED_IN"
"""The request needs a login and the user has none that can do it."""


class ProvisioningError(Exception):
    """A request that cannot be served. ``message`` is shown to the caller as it is, so
    say what happened and what to do; ``extra`` fields are added to the JSON body."""

    def __init__(self, status: int, errcode: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.errcode = errcode
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        """The JSON error response: ``{"errcode": ..., "error": ..., **extra}``."""
        body = {"errcode": self.errcode, "error": self.message, **self.extra}
        return web.json_response(body, status=self.status)
