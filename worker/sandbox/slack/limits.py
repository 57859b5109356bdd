"""Sandbox Slack: rate limits, per channel for chat.postMessage and per method tier otherwise,
each counted for the app that calls (a person's token counts for that person alone).

Tier allowances are Slack's published minimums (docs.slack.dev rate-limits page): Tier 1
1/min, Tier 2 20/min, Tier 3 50/min, Tier 4 100/min, each with a minute's worth of burst.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from worker.sandbox.ratelimit import RateLimit, TokenBuckets

TIER_LIMITS = {
    1: RateLimit(1 / 60, 1),
    2: RateLimit(20 / 60, 20),
    3: RateLimit(50 / 60, 50),
    4: RateLimit(100 / 60, 100),
}
DEFAULT_POST_RATE = RateLimit(1.0, 5.0)
OFF = RateLimit(0, 0)


class RateLimiter:
    """Answers "how long must this caller wait" (0: go ahead) for one request."""

    def __init__(
        self, post_rate: RateLimit, *, tier_limits: bool, clock: Callable[[], float]
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._post = TokenBuckets(post_rate, clock)
        self._tiers = self._tier_buckets(tier_limits)

    def _tier_buckets(self, enabled: bool) -> dict[int, TokenBuckets]:
        return {
            tier: TokenBuckets(limit if enabled else OFF, self._clock)
            for tier, limit in TIER_LIMITS.items()
        }

    @property
    def post_rate(self) -> RateLimit:
        return self._post.limit

    @property
    def tier_limits(self) -> bool:
        return self._tiers[2].limit.enabled

    def configure(self, *, post_rate: RateLimit | None, tier_limits: bool | None) -> None:
        """Swap limits at run time (fresh buckets): tests turn them off or tighten them."""
        with self._lock:
            if post_rate is not None:
                self._post = TokenBuckets(post_rate, self._clock)
            if tier_limits is not None:
                self._tiers = self._tier_buckets(tier_limits)

    def wait_for_post(self, channel_id: str, who: str) -> int:
        """chat.postMessage: per channel, for each app (`who`); others' posts don't count."""
        with self._lock:
            buckets = self._post
        return buckets.take(f"{who} {channel_id}")

    def wait_for_tier(self, tier: int | None, method: str, who: str) -> int:
        """Per method, for each app (`who`), whichever of its tokens calls."""
        if tier is None:
            return 0
        with self._lock:
            buckets = self._tiers[tier]
        return buckets.take(f"{method} {who}")
