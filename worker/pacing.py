"""Pacing: client-side token buckets under a service's rate limit, and waits it asks for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Client-side pacing: keep the average under the API's rate so 429s never start."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = burst
        self._stamp = clock()
        self.requests = 0

    def wait(self, _request: object = None) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
            self._stamp = now
            self._tokens -= 1.0
            self.requests += 1
            delay = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if delay > 0:
            self._sleep(delay)


class Hold:
    """A service asked us to wait (HTTP 429 or 529 with `Retry-After`): until when, and why.

    Every call looks here first, so that nothing is sent before the wait is over: asking
    again early only earns another refusal (and may spend budget). Monotonic seconds from
    `clock`; thread-safe.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._until = 0.0
        self.reason = ""

    def wait(self, seconds: float, reason: str) -> bool:
        """Hold for `seconds` from now (never shortening a longer wait). True when this
        starts a wait (none was running), so the caller says so once."""
        with self._lock:
            now = self.clock()
            started = self._until <= now
            if now + seconds > self._until:
                self._until = now + seconds
                self.reason = reason
            return started

    def remaining_s(self) -> float:
        """Seconds still to wait; 0 when calls may go."""
        with self._lock:
            return max(0.0, self._until - self.clock())
