"""Several Incidents databases in one worker: each announces in its own channel, each edit
reaches its incident's thread, a restart doubles nothing, and replicas on one store share
the databases, taking over a dead one's within LEASE_TTL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.harness import Databases, message_text, select
from tests.test_metrics import value
from tests.waiting import wait_until
from worker.plan import Plan
from worker.record import IncidentRecord
from worker.runtimes import Runtimes
from worker.sandbox import Sandbox
from worker.snapshot import parse_incident
from worker.store import engine_url

INCIDENTS, PLATFORM = 0, 1


@pytest.fixture
def dbs(box: Sandbox, tmp_path: Path) -> Iterator[Databases]:
    databases = Databases(box, tmp_path)
    yield databases
    databases.close()


def _texts(messages: list[dict[str, object]]) -> list[str]:
    return [message_text(m) for m in messages]  # type: ignore[arg-type]


def test_each_database_announces_in_its_channel_and_each_edit_reaches_its_thread(
    dbs: Databases,
) -> None:
    checkout = dbs.declare(INCIDENTS, "Aiko", "Checkout down", Severity=select("SEV2"))
    deploys = dbs.declare(PLATFORM, "Ben", "Deploys stuck", Severity=select("SEV3"))
    dbs.poll()
    assert ["Checkout down" in t for t in _texts(dbs.top_level(INCIDENTS))] == [True]
    assert ["Deploys stuck" in t for t in _texts(dbs.top_level(PLATFORM))] == [True]
    # The row links to its own channel's thread.
    client = dbs.client("Aiko")
    try:
        link = client.pages.retrieve(page_id=deploys)["properties"]["Slack thread"]["url"]  # type: ignore[index]
    finally:
        client.close()
    assert f"/archives/{dbs.channels[PLATFORM]}/" in link

    dbs.edit("Ben", checkout, Status=select("Identified"))
    dbs.edit("Aiko", deploys, Status=select("Monitoring"))
    dbs.poll()
    checkout_replies = _texts(dbs.thread(INCIDENTS, checkout)[1:])
    deploys_replies = _texts(dbs.thread(PLATFORM, deploys)[1:])
    assert len(checkout_replies) == 1
    assert "→ Identified" in checkout_replies[0]
    assert len(deploys_replies) == 1
    assert "→ Monitoring" in deploys_replies[0]

    dbs.restart()  # each database's cursor and incidents are its own: nothing said again
    dbs.poll()
    dbs.poll()
    assert len(dbs.top_level(INCIDENTS)) == len(dbs.top_level(PLATFORM)) == 1
    dbs.edit("Chidi", deploys, Severity=select("SEV2"))
    dbs.poll()
    assert len(dbs.thread(PLATFORM, deploys)) == 3
    assert len(dbs.thread(INCIDENTS, checkout)) == 2

    now = datetime.now(UTC)
    metrics = dbs.worker.metrics
    for name in ("Incidents", "Platform incidents"):
        assert value(metrics, "incident_worker_polls_total", outcome="ok", database=name) == 3
        assert value(metrics, "incident_worker_open_incidents", database=name) == 1
        assert value(metrics, "incident_worker_leader", database=name) == 1
    health = dbs.worker.health.check(now)
    assert health.ok
    assert {name: body["role"] for name, body in health.body["databases"].items()} == {
        "Incidents": "leader",
        "Platform incidents": "leader",
    }


def test_each_database_runs_on_its_own_thread_of_the_scheduler(dbs: Databases) -> None:
    loop = dbs.worker.loop()
    assert sorted(job.name for job in loop.jobs) == [
        "nag Incidents",
        "nag Platform incidents",
        "poll Incidents",
        "poll Platform incidents",
    ]
    import threading

    thread = threading.Thread(target=loop.run_until_stopped, daemon=True)
    thread.start()
    try:
        dbs.declare(INCIDENTS, "Aiko", "Checkout down", Severity=select("SEV2"))
        dbs.declare(PLATFORM, "Ben", "Deploys stuck", Severity=select("SEV3"))
        wait_until("both announced", lambda: dbs.top_level(INCIDENTS) and dbs.top_level(PLATFORM))
    finally:
        loop.stop()
        thread.join(15)
        assert loop.wait_idle(15)
    assert len(dbs.top_level(INCIDENTS)) == len(dbs.top_level(PLATFORM)) == 1


def test_a_row_moved_in_from_another_database_is_left_to_it(
    dbs: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    """Notion can move a page from one database to another. Its incident stays with the
    database it began in (a thread, a lease, an outbox each): the new one leaves it alone
    and says so, instead of announcing it a second time."""
    moved = dbs.declare(PLATFORM, "Aiko", "Moved over", Severity=select("SEV2"))
    incidents = dbs.worker.runtimes[INCIDENTS]
    # As if the Incidents database's worker had announced it before the move.
    client = dbs.client("Aiko")
    try:
        raw = client.pages.retrieve(page_id=moved)
    finally:
        client.close()
    snapshot = parse_incident(raw, incidents.settings)  # type: ignore[arg-type]
    record = IncidentRecord(moved, snapshot, "announced", thread_ts="1700000000.000100")
    incidents.store.save_plan(Plan(record, ()), datetime.now(UTC))
    caplog.set_level(logging.WARNING, logger="worker.tick")
    dbs.poll()
    dbs.poll()
    assert dbs.top_level(PLATFORM) == []
    assert dbs.top_level(INCIDENTS) == []
    said = [r.getMessage() for r in caplog.records if moved in r.getMessage()]
    assert len(said) == 1  # once, not every poll
    assert "an incident stays where it began" in said[0]


def test_check_reports_each_database_and_each_channel(dbs: Databases) -> None:
    from tests.e2e.harness import check

    results = check(dbs.env)
    lines = {r.name: r for r in results}
    for name in ("Incidents", "Platform incidents"):
        assert lines[f"Incidents database ({name})"].ok
        assert lines[f"property “Status” ({name})"].ok
        assert lines[f"Slack channel ({name})"].ok
    assert all(r.ok for r in results), [r.line() for r in results if not r.ok]

    missing = "0badbad0-0bad-4bad-8bad-0badbad0bad0"  # deleted, or never shared with us
    listed = f"{dbs.env['NOTION_INCIDENTS_DATABASE_ID']},{missing}"
    results = check({**dbs.env, "NOTION_INCIDENTS_DATABASE_ID": listed})
    (failed,) = [r for r in results if not r.ok]
    assert failed.name == f"Incidents database ({missing})"
    assert "••• → Connections" in failed.detail  # what to do about it


def test_once_passes_over_every_database_and_says_how_each_went(
    dbs: Databases, tmp_path: Path
) -> None:
    from tests.test_cli import cli

    dbs.close()  # `once` alone, as from a one-off dyno
    dbs.runtimes = None
    dbs.declare(PLATFORM, "Aiko", "Deploys stuck", Severity=select("SEV3"))
    result = cli(tmp_path, "once", **dbs.env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Incidents", "Platform incidents"]
    assert all(": poll:" in line for line in lines)
    assert len(dbs.top_level(PLATFORM)) == 1
    assert dbs.top_level(INCIDENTS) == []


# --- replicas on one PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def pg(postgres_url: str) -> str:
    engine = sa.create_engine(engine_url(postgres_url))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres_url


class Later:
    """The clock of both replicas: real time, moved on by `skip` (a lease running out)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def skip(self, seconds: float) -> datetime:
        self.offset += timedelta(seconds=seconds)
        return self()


def test_replicas_share_the_databases_and_one_takes_over_a_dead_ones_within_the_lease_ttl(
    box: Sandbox, pg: str, tmp_path: Path
) -> None:
    ttl_s = 30.0
    dbs = Databases(box, tmp_path, database_url=pg, start=False, LEASE_TTL="30s")
    clock = Later()
    first = dbs.start_worker(clock=clock)
    second = dbs.start_worker(clock=clock)
    try:

        def passes(*replicas: Runtimes) -> list[list[bool]]:
            now = clock.skip(5)  # a pass every 5 s
            return [[r.poll(now) is not None for r in replica.runtimes] for replica in replicas]

        assert passes(first, second) == [[True, True], [False, False]]  # the first took both
        assert passes(first, second) == [[True, False], [False, True]]  # then shared them
        checkout = dbs.declare(INCIDENTS, "Aiko", "Checkout down", Severity=select("SEV2"))
        deploys = dbs.declare(PLATFORM, "Ben", "Deploys stuck", Severity=select("SEV3"))
        assert passes(first, second) == [[True, False], [False, True]]
        assert len(dbs.top_level(INCIDENTS)) == len(dbs.top_level(PLATFORM)) == 1
        body = second.health.check(clock()).body["databases"]
        assert body["Incidents"]["role"] == "standby"
        assert body["Incidents"]["held_by"] == first.runtimes[0].lease.holder

        # The first replica dies (no clean stop: its leases stay until they run out).
        dbs.edit("Ben", checkout, Status=select("Identified"))
        dbs.edit("Aiko", deploys, Status=select("Monitoring"))
        died_at = clock()
        while not all(passes(second)[0]):
            assert clock() - died_at <= timedelta(seconds=ttl_s + 5), "no takeover"
        assert clock() - died_at > timedelta(seconds=ttl_s - 5)  # not before it ran out
        assert passes(second) == [[True, True]]
        thread = _texts(dbs.thread(INCIDENTS, checkout, second))
        assert len(thread) == 2  # the parent and the one reply: nothing doubled
        assert "→ Identified" in thread[1]
        assert len(dbs.thread(PLATFORM, deploys, second)) == 2
        assert len(dbs.top_level(INCIDENTS)) == len(dbs.top_level(PLATFORM)) == 1
    finally:
        second.close()
        for runtime in first.runtimes:  # what a dead process leaves: nothing to release
            runtime.lease.token = None
        first.close()


def _lease_holders(engine: sa.Engine) -> dict[str, int]:
    """Lease name → the pid of its live holder (the workers write host:pid:random)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT name, holder, expires_at_ms FROM leader_lease")
            ).all()
    except sa.exc.ProgrammingError:
        return {}  # not migrated yet
    now_ms = datetime.now(UTC).timestamp() * 1000
    return {str(n): int(str(h).split(":")[1]) for n, h, e in rows if h and e > now_ms}


def _unsent(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending', 'paused')"
        return int(conn.execute(sa.text(query)).scalar_one())


@pytest.mark.slow
def test_two_worker_processes_take_a_database_each_and_the_survivor_takes_both(
    box: Sandbox, pg: str, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    dbs = Databases(box, tmp_path, database_url=pg, start=False)
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "NO_PROXY": "127.0.0.1,localhost",
        **dbs.env,
        "POLL_INTERVAL": "500ms",
        "NAG_INTERVAL": "500ms",
        "LEASE_TTL": "4s",
        "UPDATE_CADENCE": "SEV1=off,SEV2=off,SEV3=off,SEV4=off",
    }
    engine = sa.create_engine(engine_url(pg))
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "worker", "run", "--skip-checks"]
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
        procs.append(proc)
        return proc

    try:
        a, b = start(), start()
        wait_until(
            "a database each",
            lambda: set(_lease_holders(engine).values()) == {a.pid, b.pid},
            # Handed over at once, or — given up while an action was under way — a client
            # timeout (NOTION_TIMEOUT, 30 s) later.
            timeout_s=45,
        )
        checkout = dbs.declare(INCIDENTS, "Aiko", "Checkout down", Severity=select("SEV2"))
        deploys = dbs.declare(PLATFORM, "Ben", "Deploys stuck", Severity=select("SEV3"))
        wait_until("both announced", lambda: dbs.top_level(INCIDENTS) and dbs.top_level(PLATFORM))
        holders = _lease_holders(engine)
        victim = holders["worker"]  # the one acting on the first database
        survivor = b if victim == a.pid else a
        os.kill(victim, signal.SIGKILL)
        dbs.edit("Ben", checkout, Status=select("Identified"))
        dbs.edit("Aiko", deploys, Status=select("Monitoring"))
        wait_until(
            "the survivor to hold both",
            lambda: (
                set(_lease_holders(engine).values()) == {survivor.pid}
                and len(_lease_holders(engine)) == 2
            ),
            timeout_s=15,
        )

        def thread(database: int) -> list[str]:
            parents = [m for m in dbs.top_level(database) if m.get("subtype") is None]
            return _texts(box.slack.thread(dbs.channels[database], str(parents[0]["ts"])))

        wait_until(
            "both replies", lambda: len(thread(INCIDENTS)) >= 2 and len(thread(PLATFORM)) >= 2
        )
        wait_until("an empty outbox", lambda: _unsent(engine) == 0)
        assert len(thread(INCIDENTS)) == len(thread(PLATFORM)) == 2  # nothing doubled
        assert len(dbs.top_level(INCIDENTS)) == len(dbs.top_level(PLATFORM)) == 1
        assert survivor.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        engine.dispose()
