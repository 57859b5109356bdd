"""Pacing: client-side token buckets that keep a client under a service's rate limit."""

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
