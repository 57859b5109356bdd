"""Sandbox: token buckets and fixed windows, so the emulators answer 429 as the real ones do."""

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


@dataclass(frozen=True)
class WindowLimit:
    """A fixed budget of requests per window; `budget <= 0` switches the limit off."""

    budget: int
    window_s: float

    @property
    def enabled(self) -> bool:
        return self.budget > 0 and self.window_s > 0


class FixedWindows:
    """One fixed window per key: the first request opens it, `budget` requests fit in it (at
    any pace, a burst included), and it resets `window_s` after it opened. Not thread-safe on
    its own: the caller checks and spends under one lock.
    """

    def __init__(self, limit: WindowLimit) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[float, int]] = {}  # key → (opened at, requests spent)

    def wait_s(self, key: str, now: float) -> int:
        """0 when a request fits now, else the whole seconds (at least 1) until the reset."""
        if not self.limit.enabled:
            return 0
        opened, spent = self._current(key, now)
        if spent < self.limit.budget:
            return 0
        return max(1, math.ceil(opened + self.limit.window_s - now))

    def spend(self, key: str, now: float) -> None:
        if self.limit.enabled:
            opened, spent = self._current(key, now)
            self._windows[key] = (opened, spent + 1)

    def use_up(self, key: str, now: float) -> None:
        """Spend what is left of the current window (opening one if none is open)."""
        if self.limit.enabled:
            opened, _spent = self._current(key, now)
            self._windows[key] = (opened, self.limit.budget)

    def _current(self, key: str, now: float) -> tuple[float, int]:
        opened, spent = self._windows.get(key, (now, 0))
        if now >= opened + self.limit.window_s:
            return now, 0
        return opened, spent
