"""Shared fixtures: a fresh sandbox per test, served on loopback ports."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from worker.sandbox import Sandbox, SandboxOptions

# slack-sdk honours HTTPS_PROXY; loopback must never go through a proxy.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions()) as box:
        yield box
