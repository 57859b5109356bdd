"""Shared fixtures: a fresh sandbox per test, served on loopback ports, and a harness on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, fast_options
from tests.postgres import throwaway_database
from worker.sandbox import Sandbox, SandboxOptions

# slack-sdk honours HTTPS_PROXY; loopback must never go through a proxy.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions()) as box:
        yield box


@pytest.fixture
def box() -> Iterator[Sandbox]:
    """The sandbox with its rate limits off (tests that need them say so)."""
    with Sandbox(fast_options()) as sandbox:
        yield sandbox


@pytest.fixture
def h(box: Sandbox, tmp_path: Path) -> Iterator[Harness]:
    """An Incidents database in `box` and a worker on it, state in `tmp_path`."""
    harness = Harness(box, tmp_path)
    yield harness
    harness.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session (never skipped: CI has one)."""
    with throwaway_database("iw_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The same contract tests run on both state-store backends."""
    import sqlalchemy as sa

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    url: str = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return url
