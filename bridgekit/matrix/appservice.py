"""mautrix's appservice server, with the transaction endpoint handed to bridgekit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from mautrix.appservice import AppService

TransactionHandler = Callable[[web.Request], Awaitable[web.Response]]


class BridgeAppService(AppService):
    """An ``AppService`` whose transaction endpoint stores events before answering.

    mautrix acknowledges a transaction even when handling it failed; bridgekit must
    answer 200 only after every event is safely stored, so it takes the endpoint over
    (``MatrixHandler.handle_transaction``) and keeps everything else.
    """

    transaction_handler: TransactionHandler | None = None

    async def _http_handle_transaction(self, request: web.Request) -> web.Response:
        if self.transaction_handler is None:
            return await super()._http_handle_transaction(request)
        return await self.transaction_handler(request)
