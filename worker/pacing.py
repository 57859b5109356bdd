"""Pacing: client-side token buckets under a service's rate limit, and waits it asks for."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from worker.errors import LostLeadershipError


class Pacer:
    """Client-side pacing: keep the average under the API's rate so 429s never start.

    A token bucket lets `burst` requests go at once, then one every `1 / rate_per_s`. A
    service that counts requests in a fixed window (Notion: a budget per 60 s) can still
    refuse a bucket's burst on top of a window's worth at the full rate; `window` =
    (budget, seconds) caps the requests in any such stretch of time as well.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window: tuple[int, float] | None = None,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = burst
        self._stamp = clock()
        self._cap, self._window_s = window if window else (0, 0.0)
        self._sent: deque[float] = deque()  # when each of the last `_cap` requests goes
        self.requests = 0

    def delay_s(self) -> float:
        """How long a request sent now would wait (nothing is spent by asking)."""
        with self._lock:
            now = self._clock()
            tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s) - 1.0
            delay = -tokens / self.rate_per_s if tokens < 0 else 0.0
            if self._cap > 0 and self._sent:
                delay = max(delay, self._sent[-1] - now)
                if len(self._sent) >= self._cap:
                    delay = max(delay, self._sent[0] + self._window_s - now)
            return delay

    def wait(self, _request: object = None) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
            self._stamp = now
            self._tokens -= 1.0
            self.requests += 1
            delay = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
            if self._cap > 0:
                if self._sent:  # never before the one scheduled last (threads share us)
                    delay = max(delay, self._sent[-1] - now)
                if len(self._sent) >= self._cap:
                    # The window holding the last `_cap` requests must be over first.
                    delay = max(delay, self._sent[0] + self._window_s - now)
                self._sent.append(now + delay)
                while len(self._sent) > self._cap:
                    self._sent.popleft()
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


# The condition every request of this thread must meet when it is about to go (after its
# pace): a delivery lane sends only while its replica's lease is valid on its own clock.
_sending = threading.local()


@contextmanager
def sending_only_while(valid: Callable[[], bool]) -> Iterator[None]:
    """Requests made by this thread inside the block go only while `valid()`; once it is
    not, the next one (a retry too) raises LostLeadershipError instead of going. So every
    request of a replica that lost its lease started before the lease ran out, and is over
    a client timeout later: the replica taking over waits that long (worker/lease.py)."""
    before = getattr(_sending, "valid", None)
    _sending.valid = valid
    try:
        yield
    finally:
        _sending.valid = before


def may_send(_request: object = None) -> None:
    """Raise LostLeadershipError if this thread's requests may no longer go."""
    valid = getattr(_sending, "valid", None)
    if valid is not None and not valid():
        raise LostLeadershipError("the lease ran out: this replica sends nothing more")
