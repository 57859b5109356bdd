"""Sandbox: the Slack emulator's public face (state + Starlette app). STUB, to be built."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette

from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.workspace import Workspace


class SlackEmulator:
    def __init__(
        self,
        workspace: Workspace,
        *,
        post_rate: RateLimit | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.post_rate = post_rate or RateLimit(1.0, 5.0)
        self.clock = clock
        self.app = Starlette()

    def dump(self) -> dict[str, Any]:
        return {}

    def load(self, data: dict[str, Any]) -> None:
        del data
