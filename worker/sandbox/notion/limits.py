"""Notion emulator: the per-connection and per-workspace request limits Notion documents.

"The Notion API enforces two rate limits: a per-connection limit and a per-workspace limit"
(https://developers.notion.com/reference/request-limits). A connection has "a fixed budget of
requests per 60-second window", spent "at any pace within the window", and a refusal's
Retry-After is "the time until the window resets"; the workspace's limit is "shared across all
of the workspace's connections" and its Retry-After "can be longer than a minute". A refusal
is 429 `rate_limited` with `additional_data.rate_limit_reason` naming the limit.

Notion publishes no numbers for either (they depend on the plan): the defaults below are
assumptions, and so are the window opening with the first request after the last one ended
and a refused request spending nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.sandbox.ratelimit import FixedWindows, WindowLimit

# The values the request-limits page names (its previous revision: "for example,
# public_api_request_rate_limit or public_api_space_request_rate_limit").
CONNECTION_LIMIT_REASON = "public_api_request_rate_limit"
WORKSPACE_LIMIT_REASON = "public_api_space_request_rate_limit"
_WORKSPACE = "workspace"


@dataclass(frozen=True)
class NotionLimits:
    """Both limits; a budget of 0 switches one off. The numbers are assumptions: a
    connection gets the old "average of three requests per second" as 180 per 60-second
    window; the workspace 1,500 per 5 minutes (more than one connection can use, so only
    several together reach it)."""

    connection: WindowLimit = field(default_factory=lambda: WindowLimit(180, 60.0))
    workspace: WindowLimit = field(default_factory=lambda: WindowLimit(1_500, 300.0))

    @classmethod
    def off(cls) -> NotionLimits:
        return cls(WindowLimit(0, 60.0), WindowLimit(0, 300.0))

    @property
    def enabled(self) -> bool:
        return self.connection.enabled or self.workspace.enabled


class NotionLimiter:
    """Admits a request or says how long to wait and why; thread-safe. `clock` is monotonic
    seconds (a test may move it by hand)."""

    def __init__(self, limits: NotionLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.set_limits(limits)

    @property
    def limits(self) -> NotionLimits:
        return self._limits

    def set_limits(self, limits: NotionLimits) -> None:
        """New limits from now on, with fresh windows."""
        with self._lock:
            self._limits = limits
            self._connections = FixedWindows(limits.connection)
            self._workspace = FixedWindows(limits.workspace)

    def admit(self, token: str) -> tuple[int, str] | None:
        """None when the request may go ahead (and is counted), else (Retry-After, reason)."""
        with self._lock:
            now = self.clock()
            wait_s = self._connections.wait_s(token, now)
            if wait_s:
                return wait_s, CONNECTION_LIMIT_REASON
            wait_s = self._workspace.wait_s(_WORKSPACE, now)
            if wait_s:
                return wait_s, WORKSPACE_LIMIT_REASON
            self._connections.spend(token, now)
            self._workspace.spend(_WORKSPACE, now)
            return None

    def use_up(self, token: str | None = None) -> None:
        """Spend what is left of a connection's budget (its token) or of the workspace's
        (None) in the current window, as a burst of other requests would have."""
        with self._lock:
            now = self.clock()
            if token is None:
                self._workspace.use_up(_WORKSPACE, now)
            else:
                self._connections.use_up(token, now)
