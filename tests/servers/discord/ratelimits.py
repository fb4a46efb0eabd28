"""REST rate limits the way Discord reports them.

Every route has a bucket (identified by ``X-RateLimit-Bucket``, a hash of the route),
counted per caller and per *major parameter* (channel, guild, or webhook). Each
response carries ``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket``; an
exhausted bucket answers 429 with ``retry_after`` in the body, ``Retry-After`` and
``X-RateLimit-Scope``. An optional global limit per caller answers 429 with
``"global": true`` and ``X-RateLimit-Global``. Defaults are generous so ordinary tests
never wait; tests tighten a route with :meth:`RateLimiter.set_limit`.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

#: Path parameters that split a bucket, as on Discord.
MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id")


@dataclass(frozen=True)
class BucketRule:
    """``limit`` requests per ``window`` seconds."""

    limit: int
    window: float


@dataclass
class _Bucket:
    rule: BucketRule
    remaining: int
    reset_at: float


@dataclass
class RateDecision:
    """The outcome for one request: headers to send, and whether it is refused."""

    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    is_global: bool = False
    scope: str = "user"

    @property
    def limited(self) -> bool:
        """Whether the request must be answered with 429."""
        return self.retry_after is not None


def bucket_hash(method: str, route: str) -> str:
    """The opaque bucket ID Discord would give ``method route``."""
    return hashlib.sha1(f"{method} {route}".encode(), usedforsecurity=False).hexdigest()[:32]


def rate_limit_headers(
    rule: BucketRule, remaining: int, reset_at: float, bucket: str
) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers for a bucket state."""
    now = time.time()
    return {
        "X-RateLimit-Limit": str(rule.limit),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Reset": f"{reset_at:.3f}",
        "X-RateLimit-Reset-After": f"{max(reset_at - now, 0.0):.3f}",
        "X-RateLimit-Bucket": bucket,
    }


def too_many_requests_headers(retry_after: float, scope: str, is_global: bool) -> dict[str, str]:
    """Headers that accompany every 429 (``Retry-After`` is whole seconds, rounded up)."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after))), "X-RateLimit-Scope": scope}
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    return headers


#: Generous enough that ordinary tests never wait.
DEFAULT_RULE = BucketRule(1000, 1.0)


class RateLimiter:
    """Per-route, per-caller, per-major-parameter buckets, plus an optional global limit.

    ``set_limit("/channels/{channel_id}/messages", 5, 5.0, method="POST")`` gives that
    route Discord's real message limit; routes are the templates under ``/api/v10``.
    """

    def __init__(
        self,
        default: BucketRule = DEFAULT_RULE,
        global_limit: BucketRule | None = None,
    ) -> None:
        self.default = default
        self.global_limit = global_limit
        self.rules: dict[tuple[str, str], BucketRule] = {}
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._global: dict[str, _Bucket] = {}

    def set_limit(self, route: str, limit: int, window: float, *, method: str = "*") -> None:
        """Limit ``route`` (``method`` or any) to ``limit`` requests per ``window`` s."""
        self.rules[(method.upper(), route)] = BucketRule(limit, window)
        self._buckets = {k: v for k, v in self._buckets.items() if route not in k[1]}

    def rule_for(self, method: str, route: str) -> BucketRule:
        """The rule that applies to ``method route``."""
        return (
            self.rules.get((method.upper(), route)) or self.rules.get(("*", route)) or self.default
        )

    def reset(self) -> None:
        """Forget all bucket state (full buckets again)."""
        self._buckets.clear()
        self._global.clear()

    @staticmethod
    def _take(bucket: _Bucket, now: float) -> bool:
        if now >= bucket.reset_at:
            bucket.remaining = bucket.rule.limit
            bucket.reset_at = now + bucket.rule.window
        if bucket.remaining <= 0:
            return False
        bucket.remaining -= 1
        return True

    def check(self, caller: str, method: str, route: str, major: str) -> RateDecision:
        """Count one request of ``caller`` to ``method route`` (major parameter ``major``)."""
        now = time.time()
        if self.global_limit is not None:
            gbucket = self._global.setdefault(
                caller, _Bucket(self.global_limit, self.global_limit.limit, now)
            )
            if not self._take(gbucket, now):
                retry = max(gbucket.reset_at - now, 0.001)
                return RateDecision(
                    headers=too_many_requests_headers(retry, "global", True),
                    retry_after=retry,
                    is_global=True,
                    scope="global",
                )
        rule = self.rule_for(method, route)
        hashed = bucket_hash(method.upper(), route)
        key = (caller, f"{method.upper()} {route}", major)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rule != rule:
            bucket = self._buckets[key] = _Bucket(rule, rule.limit, now + rule.window)
        allowed = self._take(bucket, now)
        headers = rate_limit_headers(rule, bucket.remaining, bucket.reset_at, hashed)
        if allowed:
            return RateDecision(headers=headers)
        retry = max(bucket.reset_at - now, 0.001)
        headers.update(too_many_requests_headers(retry, "user", False))
        return RateDecision(headers=headers, retry_after=retry)
