"""Two worker processes on one PostgreSQL: one acts, the other takes over when it dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.harness import Harness, rich, select
from tests.waiting import wait_until
from worker.runtime import Runtime
from worker.sandbox import Sandbox
from worker.store import engine_url, lease_table


@pytest.fixture
def pg(postgres_url: str) -> str:
    engine = sa.create_engine(engine_url(postgres_url))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres_url


class Replicas:
    def __init__(self, h: Harness, database_url: str, tmp_path: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "NO_PROXY": "127.0.0.1,localhost",
            "NOTION_TOKEN": h.box.workspace.notion_token,
            "SLACK_BOT_TOKEN": h.box.workspace.slack_token,
            "NOTION_INCIDENTS_DATABASE_ID": h.database_id,
            "SLACK_CHANNEL_ID": h.channel,
            "NOTION_BASE_URL": h.box.notion_base_url,
            "SLACK_BASE_URL": h.box.slack_base_url,
            "DATABASE_URL": database_url,
            "POLL_INTERVAL": "500ms",
            "NAG_INTERVAL": "500ms",
            "LEASE_TTL": "4s",
            "NOTION_REQUESTS_PER_SECOND": "1000",
            "SLACK_POSTS_PER_SECOND": "1000",
            "UPDATE_CADENCE": "SEV1=off,SEV2=off,SEV3=off,SEV4=off",
        }
        self.cwd = tmp_path
        self.engine = sa.create_engine(engine_url(database_url))
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "run", "--skip-checks"],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def leader_pid(self) -> int | None:
        try:
            with self.engine.connect() as conn:
                query = sa.select(lease_table.c.holder, lease_table.c.expires_at_ms)
                row = conn.execute(query).first()
        except sa.exc.ProgrammingError:
            return None  # the workers have not migrated the schema yet
        if row is None or not row[0] or row[1] < time.time() * 1000:
            return None
        return int(str(row[0]).split(":")[1])

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.engine.dispose()


def _texts(h: Harness, page: str) -> list[str]:
    return h.replies_text(page)


def test_two_replicas_one_acts_and_the_other_takes_over(
    box: Sandbox, pg: str, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path)  # only for setup and for acting as people
    h.runtime.close()
    replicas = Replicas(h, pg, tmp_path)
    try:
        a, b = replicas.start(), replicas.start()
        wait_until("a leader", lambda: replicas.leader_pid() in (a.pid, b.pid))
        page = h.declare("Aiko", "Replicated incident", Severity=select("SEV2"))
        wait_until("the announcement", lambda: len(h.top_level()) == 1)
        h.edit("Ben", page, Status=select("Identified"))
        record: dict[str, Any] = {}

        def replies(n: int) -> bool:
            record["replies"] = _threads(box, h)
            return len(record["replies"]) >= n

        wait_until("the first reply", lambda: replies(1))
        leader = replicas.leader_pid()
        assert leader in (a.pid, b.pid)
        survivor = b if leader == a.pid else a
        os.kill(leader, signal.SIGKILL)  # type: ignore[arg-type]
        h.edit("Ben", page, **{"Status update": rich("Mitigation rolling out")})
        h.edit("Chidi", page, Severity=select("SEV1"))
        started = time.monotonic()
        wait_until("the survivor to take over", lambda: replicas.leader_pid() == survivor.pid)
        takeover_s = time.monotonic() - started
        wait_until("both edits mirrored", lambda: replies(3), timeout_s=30)
        h.edit("Ben", page, Status=select("Resolved"))
        wait_until("the resolution", lambda: replies(5), timeout_s=30)
        # Everything the resolution led to has been sent: anything doubled is in Slack now.
        wait_until("an empty outbox", lambda: _unsent(pg) == 0)
        assert len(h.top_level()) == 3  # the parent and two broadcasts (escalation, resolution)
        texts = _threads(box, h)
        assert len(texts) == len(set(texts)), texts  # no reply twice
        assert len(texts) == 5, texts
        assert takeover_s < 10.0
        assert survivor.poll() is None
    finally:
        replicas.stop()


def _unsent(database_url: str) -> int:
    """Actions in the replicas' store not yet done (waiting, being sent, or paused)."""
    engine = sa.create_engine(engine_url(database_url))
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending', 'paused')"
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def _threads(box: Sandbox, h: Harness) -> list[str]:
    from tests.e2e.harness import message_text

    top = [m for m in h.top_level() if m.get("subtype") != "thread_broadcast"]
    if not top:
        return []
    return [message_text(m) for m in box.slack.thread(h.channel, top[0]["ts"])[1:]]


def test_sigterm_releases_the_lease_and_exits_cleanly(
    box: Sandbox, pg: str, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path)
    h.runtime.close()
    replicas = Replicas(h, pg, tmp_path)
    try:
        a = replicas.start()
        wait_until("a leader", lambda: replicas.leader_pid() == a.pid)
        started = time.monotonic()
        a.send_signal(signal.SIGTERM)
        assert a.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
        assert replicas.leader_pid() is None  # released at once, not left to expire
        b = replicas.start()
        wait_until("the next leader", lambda: replicas.leader_pid() == b.pid, timeout_s=5)
    finally:
        replicas.stop()


def _said(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


def test_a_standby_replica_says_once_that_it_stands_by_and_again_when_that_changes(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker.runtime")
    h.poll()  # the first replica leads
    second = Runtime.build(h.settings())
    second.start()
    try:
        now = datetime.now(UTC)
        for step in range(4):  # polls and nudge passes: said once, not every pass
            assert second.poll(now + timedelta(seconds=step)) is None
            assert second.nag(now + timedelta(seconds=step)) is None
        (standing,) = [r for r in caplog.records if "standing by" in r.getMessage()]
        assert standing.levelno == logging.INFO
        assert "another worker holds the lease" in standing.getMessage()
        assert h.runtime.lease.holder in standing.getMessage()  # which one, for the operator

        h.runtime.lease.release()  # the leader stops (a deploy, a scale-down)
        caplog.clear()
        assert second.poll(now + timedelta(seconds=5)) is not None
        assert len(_said(caplog, "leading as")) == 1  # it took over, and says so
        assert h.runtime.poll(now + timedelta(seconds=6)) is None
        assert h.runtime.poll(now + timedelta(seconds=7)) is None
        assert len(_said(caplog, "standing by")) == 1  # the first one now stands by, once
        assert second.poll(now + timedelta(seconds=8)) is not None
        assert len(_said(caplog, "leading as")) == 1  # still leading: nothing more
    finally:
        second.close()
