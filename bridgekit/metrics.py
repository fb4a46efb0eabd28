"""Prometheus metrics of one bridge, served at ``/metrics`` on the appservice listener.

Each bridge has its own registry, so several bridges in one process (tests, the
demo) never share counters.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from .bridge import Bridge


class BridgeMetrics:
    """The bridge's counters, gauges and histograms."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.registry = CollectorRegistry()
        self.events = Counter(
            "bridgekit_events_total",
            "Events bridged, by direction (to_matrix, to_network) and type.",
            ["direction", "type"],
            registry=self.registry,
        )
        self.failures = Counter(
            "bridgekit_event_failures_total",
            "Events that could not be bridged, by direction and type.",
            ["direction", "type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bridgekit_event_seconds",
            "Time to handle one event in its portal's queue, by direction.",
            ["direction"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        logins = Gauge(
            "bridgekit_logins_connected",
            "Logins whose connection state is CONNECTED.",
            registry=self.registry,
        )
        logins.set_function(self._connected_logins)
        Gauge(
            "bridgekit_portals_loaded", "Portals loaded in memory.", registry=self.registry
        ).set_function(lambda: len(bridge.portals))
        Gauge(
            "bridgekit_ghosts_loaded", "Ghosts loaded in memory.", registry=self.registry
        ).set_function(lambda: len(bridge.ghosts))

    def _connected_logins(self) -> float:
        from .network.handles import BridgeStateEvent

        return sum(
            1 for login in self.bridge.logins.values() if login.state == BridgeStateEvent.CONNECTED
        )

    @asynccontextmanager
    async def track(self, direction: str, event_type: str) -> AsyncIterator[None]:
        """Count and time handling one event; an exception counts as a failure."""
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.failures.labels(direction, event_type).inc()
            raise
        else:
            self.events.labels(direction, event_type).inc()
        finally:
            self.latency.labels(direction).observe(time.perf_counter() - start)

    def add_route(self, app: web.Application) -> None:
        """Serve ``/metrics`` when ``metrics.enabled``; with ``metrics.token`` set, only to
        requests that carry it as a bearer token."""
        token = self.bridge.config.get("metrics.token") or ""

        async def metrics(request: web.Request) -> web.Response:
            if token:
                given = request.headers.get("Authorization", "")
                if not hmac.compare_digest(given, f"Bearer {token}"):
                    return web.json_response(
                        {"errcode": "M_UNKNOWN_TOKEN", "error": "Wrong or missing metrics token."},
                        status=401,
                    )
            return web.Response(
                body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app.router.add_get("/metrics", metrics)
