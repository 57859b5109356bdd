"""Sandbox: token buckets that make the emulators answer 429 the way the real services do."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """An average rate with a burst allowance; `rate_per_s <= 0` switches the limit off."""

    rate_per_s: float
    burst: float

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0


class TokenBuckets:
    """One token bucket per key (a token, a channel, a method tier), thread-safe.

    `take(key)` returns 0 when the request may proceed, otherwise the whole number of
    seconds (at least 1) the caller should put in `Retry-After`.
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    @property
    def limit(self) -> RateLimit:
        return self._limit

    def take(self, key: str) -> int:
        if not self._limit.enabled:
            return 0
        now = self._clock()
        with self._lock:
            tokens, stamp = self._state.get(key, (self._limit.burst, now))
            tokens = min(self._limit.burst, tokens + (now - stamp) * self._limit.rate_per_s)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0
            self._state[key] = (tokens, now)
            wait_s = (1.0 - tokens) / self._limit.rate_per_s
            return max(1, math.ceil(wait_s))
