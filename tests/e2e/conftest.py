"""End-to-end fixtures: a sandbox without rate limits and a harness on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.ratelimit import RateLimit


def fast_options(**overrides: object) -> SandboxOptions:
    """The sandbox with Notion's and Slack's rate limits off (tests that need them say so)."""
    options: dict[str, object] = {
        "notion_rate": RateLimit(0, 0),
        "slack_post_rate": RateLimit(0, 0),
        "slack_tier_limits": False,
    }
    options.update(overrides)
    return SandboxOptions(**options)  # type: ignore[arg-type]


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox(fast_options()) as sandbox:
        yield sandbox


@pytest.fixture
def h(box: Sandbox, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(box, tmp_path)
    yield harness
    harness.close()
