"""Sandbox: the Notion emulator's public face (state + Starlette app). STUB, to be built."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette

from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.workspace import Workspace


def _utc_now() -> datetime:
    return datetime.now(UTC)


class NotionEmulator:
    def __init__(
        self,
        workspace: Workspace,
        *,
        rate_limit: RateLimit | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.workspace = workspace
        self.rate_limit = rate_limit or RateLimit(3.0, 10.0)
        self.clock = clock
        self.app = Starlette()

    def dump(self) -> dict[str, Any]:
        return {}

    def load(self, data: dict[str, Any]) -> None:
        del data
