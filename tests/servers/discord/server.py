"""The Discord API v10 test server: a :class:`~.world.World` served over REST, the
gateway and a CDN on 127.0.0.1, with rate limits and fault injection.

Typical use (see README.md)::

    server = DiscordTestServer(heartbeat_interval=1.0)
    await server.start()
    app = server.create_application("Bridge", privileged_intents=Intents.MESSAGE_CONTENT)
    bot = server.bot_of(app)
    alice = server.create_user("alice")
    guild = server.create_guild("Guild", owner=alice)
    server.add_member(guild, bot)
    general = server.create_text_channel(guild, "general")
    with use_test_server(server):        # points discord.py here
        ...                              # run a stock discord.Client with bot.token
    server.send_message(alice, general, "hello")   # arrives as on_message
    await server.stop()
"""

from __future__ import annotations

import logging
import socket

from aiohttp import web

from .faults import Faults
from .gateway import Gateway
from .ratelimits import DEFAULT_RULE, BucketRule, RateLimiter
from .rest import RequestRecord, build_app
from .world import World

log = logging.getLogger("bridgekit.testserver.discord")


class DiscordTestServer(World):
    """A world plus the network around it.

    All world operations (``create_guild``, ``send_message``, ``add_reaction``...) are
    methods of the server itself, so the test acts as Discord through one object.
    ``server.gateway`` holds sessions and gateway records, ``server.rate_limits`` the
    REST buckets, ``server.faults`` the fault API, ``server.requests`` every REST call,
    ``server.internal_errors`` tracebacks of bugs in the server itself (answered 500).

    Arguments: ``heartbeat_interval`` (seconds, in HELLO), ``max_upload_size`` (bytes
    per message, else 413), ``cdn_require_signature`` (refuse unsigned attachment
    URLs), ``default_rate_limit`` / ``global_rate_limit`` (see :mod:`.ratelimits`);
    the remaining keywords configure the :class:`~.gateway.Gateway`.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: float = 41.25,
        max_upload_size: int = 10 * 1024 * 1024,
        cdn_require_signature: bool = True,
        default_rate_limit: BucketRule = DEFAULT_RULE,
        global_rate_limit: BucketRule | None = None,
        resume_window: float | None = None,
        identify_interval: float = 0.0,
        session_start_limit: int = 1000,
    ) -> None:
        super().__init__()
        self.max_upload_size = max_upload_size
        self.cdn_require_signature = cdn_require_signature
        self.gateway = Gateway(
            self,
            heartbeat_interval=heartbeat_interval,
            resume_window=resume_window,
            identify_interval=identify_interval,
            session_start_limit=session_start_limit,
        )
        self.rate_limits = RateLimiter(default_rate_limit, global_rate_limit)
        self.faults = Faults(self.gateway)
        self.requests: list[RequestRecord] = []
        self.internal_errors: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (also the CDN base)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``discord.http.Route.BASE`` must be: ``<base_url>/api/v10``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """The gateway websocket URL (``DiscordWebSocket.DEFAULT_GATEWAY``)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.cdn_base = self.base_url
        self.gateway.public_url = self.gateway_url
        self._runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        log.info("Discord test server listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close gateway connections and stop listening."""
        await self.gateway.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def requests_to(self, route: str, method: str | None = None) -> list[RequestRecord]:
        """Recorded REST requests to a route template (``/channels/{channel_id}/messages``)."""
        return [
            r
            for r in self.requests
            if r.route == route and (method is None or r.method == method.upper())
        ]
