"""Benchmark (issues 7, 14): time spent in the state store per poll, on SQLite and PostgreSQL;
the nudge pass and a /metrics scrape with a long history of resolved incidents."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common import (
    Harness,
    Row,
    ShiftedClock,
    StoreTimer,
    bench_harness,
    fast_options,
    goal_row,
    median,
    people,
    postgres_database,
    progress,
    select,
    settle,
    title,
)
from idle import BATCH, HISTORY_AGE, insert_live
from prometheus_client import generate_latest

from tests.factories import AIKO, row
from worker.actions import Action, UpdateParent
from worker.record import IncidentRecord
from worker.snapshot import parse_incident
from worker.store import outbox_table
from worker.tick import CURSOR_KEY

INCIDENTS = 1_000
QUICK_INCIDENTS = 100
IDLE_POLLS = 20
NAG_PASSES = 5
OVERLAP_POLLS = 3
# Page work is bounded per poll: announcing a thousand incidents takes many polls.
SETTLE_POLLS = 1_000
NO_GOAL = "— (issue 7 sets none)"
# Issue 14: the nudge pass and a scrape cost what the open incidents cost, not the history.
HISTORY_OPEN, HISTORY_RESOLVED = 1_000, 10_000
QUICK_HISTORY_OPEN, QUICK_HISTORY_RESOLVED = 100, 1_000
HISTORY_ACTIONS = 3  # done actions per incident (say, its parent, link and timeline page)
HISTORY_PASSES = 5
SCRAPES = 5
HISTORY_GOAL_MS = 20.0


@dataclass
class Sample:
    store_ms: float
    total_ms: float
    calls: int
    statements: int


@dataclass
class StoreFigures:
    backend: str
    announce_s: float
    idle: list[Sample]
    overlap: list[Sample]
    nag: list[Sample]
    nudges_queued: int


def timed(timer: StoreTimer, action: Callable[[], object]) -> Sample:
    timer.reset()
    started = time.perf_counter()
    action()
    total = time.perf_counter() - started
    return Sample(timer.seconds * 1000, total * 1000, sum(timer.calls.values()), timer.statements)


def insert_open(h: Harness, count: int) -> None:
    """Open incidents with a commander (so no 'assign a commander' nudge is due)."""
    ben = h.person("Ben")
    for start in range(0, count, BATCH):
        rows = [
            {
                "Name": title(f"Open incident {i}"),
                "Status": select("Investigating"),
                "Severity": select("SEV3"),
                "Commander": people(ben),
            }
            for i in range(start, min(count, start + BATCH))
        ]
        h.box.notion.insert_pages(h.data_source_id, rows, as_user="Aiko")


def reread(h: Harness, timer: StoreTimer) -> Sample:
    """A poll that reads every row again, unchanged (as the polls in the minutes after a bulk
    change do): the cursor is moved back past the rows' last edit first."""
    back = datetime.now(UTC) - HISTORY_AGE - timedelta(minutes=5)
    h.runtime.store.set_meta(CURSOR_KEY, back.isoformat())
    return timed(timer, h.poll)


def measure(backend: str, database_url: str | None, count: int) -> StoreFigures:
    env = {"DATABASE_URL": database_url} if database_url else {}
    with bench_harness(fast_options(), **env) as h:
        clock = ShiftedClock().install(h.box)
        # Announce every incident with Notion's clock ten minutes behind, so that their
        # write-backs are history once the clock is put right (see idle.py).
        clock.offset = -HISTORY_AGE
        insert_open(h, count)
        started = time.perf_counter()
        settle(h, max_polls=SETTLE_POLLS)
        announce_s = time.perf_counter() - started
        timer = StoreTimer(h.runtime.store)
        reread(h, timer)  # takes in the worker's own write-backs (Timeline links): not timed
        overlap = [reread(h, timer) for _ in range(OVERLAP_POLLS)]
        clock.offset = timedelta(0)
        insert_live(h)
        settle(h, max_polls=SETTLE_POLLS)
        idle = [timed(timer, h.poll) for _ in range(IDLE_POLLS)]
        queued = 0
        nag: list[Sample] = []
        for _ in range(NAG_PASSES):
            timer.reset()
            started = time.perf_counter()
            report = h.runtime.nag(datetime.now(UTC))
            total = time.perf_counter() - started
            queued += report.queued
            nag.append(
                Sample(
                    timer.seconds * 1000, total * 1000, sum(timer.calls.values()), timer.statements
                )
            )
        announced = len(h.runtime.store.records("announced"))
        if announced != count + 1:
            raise RuntimeError(f"expected {count + 1} announced incidents, found {announced}")
    return StoreFigures(backend, announce_s, idle, overlap, nag, queued)


@dataclass
class HistoryFigures:
    fill_s: float
    pruned: int
    first_pass: Sample
    nag: list[Sample]
    everyone: Sample
    scrapes_ms: list[float]


def _history_record(
    n: int, is_open: bool, now: datetime, long_ago: datetime, h: Harness
) -> IncidentRecord:
    """An announced incident: open ones have a commander, a severity and a recent status
    update (no reminder due), resolved ones were resolved long ago."""
    page = f"{n:08x}-0000-4000-8000-{n:012x}"
    fields = (
        {"status": "Investigating", "severity": "SEV3", "declared_at": now - timedelta(hours=1)}
        if is_open
        else {"status": "Resolved", "severity": "SEV2", "resolved_at": long_ago}
    )
    snapshot = parse_incident(row(page, commander=[AIKO], **fields), h.runtime.settings)
    return IncidentRecord(
        page_id=page,
        snapshot=snapshot,
        phase="announced",
        thread_ts=f"{1_700_000_000 + n}.000100",
        last_update_at=(now - timedelta(minutes=1)) if is_open else long_ago,
        first_seen_at=long_ago,
    )


def fill_history(h: Harness, open_count: int, resolved_count: int, now: datetime) -> None:
    """Write the incidents and their done actions straight into the store, in one
    transaction (announcing eleven thousand incidents through the sandbox would take an
    hour). The resolved incidents' actions were done 90 days ago: past OUTBOX_RETENTION."""
    store = h.runtime.store
    long_ago = now - timedelta(days=90)
    with store.transaction() as conn:
        for n in range(open_count + resolved_count):
            record = _history_record(n, n < open_count, now, long_ago, h)
            # The store's own writes, in one transaction: a bulk fill for the bench only.
            store._upsert(conn, record, long_ago)
            for step in range(HISTORY_ACTIONS):
                action = Action(f"bench:{record.page_id}:{step}", record.page_id, UpdateParent())
                store._insert_action(conn, action, long_ago)
            done_at = now if n < open_count else long_ago
            conn.execute(
                outbox_table.update()
                .where(outbox_table.c.page_id == record.page_id)
                .values(state="done", done_at=done_at.timestamp())
            )


def timed_scrape(h: Harness) -> float:
    """One /metrics answer (what the web server sends), in ms."""
    started = time.perf_counter()
    generate_latest(h.runtime.metrics.registry)
    return (time.perf_counter() - started) * 1000


def measure_history(database_url: str | None, open_count: int, resolved: int) -> HistoryFigures:
    env = {"DATABASE_URL": database_url} if database_url else {}
    with bench_harness(fast_options(), **env) as h:
        h.poll()  # a poll cursor, so that the nag pass looks at the trash as it does live
        now = datetime.now(UTC)
        started = time.perf_counter()
        fill_history(h, open_count, resolved, now)
        fill_s = time.perf_counter() - started
        before = h.runtime.store.outbox_counts().get("done", 0)
        timer = StoreTimer(h.runtime.store)
        # The first pass prunes what was done for the resolved incidents (the pass looks once
        # an hour) and judges every incident, as the first pass after the upgrade does.
        first = timed(timer, lambda: h.runtime.nag(datetime.now(UTC)))
        pruned = before - h.runtime.store.outbox_counts().get("done", 0)
        queued: list[int] = []

        def nag_pass() -> None:
            report = h.runtime.nag(datetime.now(UTC))
            queued.append(report.queued if report is not None else -1)

        nag = [timed(timer, nag_pass) for _ in range(HISTORY_PASSES)]
        # The worst case: every incident judged in one pass (as after a restart with other
        # reminder settings); a resolved one is then never read again.
        h.runtime.store.judge_all_again()
        everyone = timed(timer, nag_pass)
        if set(queued) != {0}:
            raise RuntimeError(f"expected nag passes with nothing due, got {queued}")
        scrapes = [timed_scrape(h) for _ in range(SCRAPES)]
        text = generate_latest(h.runtime.metrics.registry).decode()
        if f"incident_worker_open_incidents {float(open_count)}" not in text:
            raise RuntimeError(f"/metrics does not count {open_count} open incidents")
    return HistoryFigures(fill_s, pruned, first, nag, everyone, scrapes)


def _history_rows(backend: str, f: HistoryFigures, open_count: int, resolved: int) -> list[Row]:
    name = f"History, {backend}, {open_count:,} open and {resolved:,} resolved incidents"
    nag_ms = median([s.total_ms for s in f.nag])
    scrape_ms = median(f.scrapes_ms)
    goal = f"≤ {HISTORY_GOAL_MS:.0f} ms (issue 14)"
    return [
        goal_row(
            name,
            f"nudge pass, no reminder due (none of the incidents is read): store ms of pass "
            f"ms, median of {HISTORY_PASSES}",
            _line(f.nag),
            value=nag_ms,
            limit=HISTORY_GOAL_MS,
            goal=goal,
            unit="ms",
            digits=1,
        ),
        goal_row(
            name,
            f"/metrics scrape: ms, median of {SCRAPES}",
            f"{scrape_ms:.1f} ms",
            value=scrape_ms,
            limit=HISTORY_GOAL_MS,
            goal=goal,
            unit="ms",
            digits=1,
        ),
        Row(
            name,
            "first nudge pass (as after the upgrade to schema version 7): prunes the resolved "
            "incidents' done actions (90 days old), judges every incident once",
            f"{f.pruned:,} pruned; {_line([f.first_pass])}",
            NO_GOAL.replace("issue 7", "issue 14"),
        ),
        Row(
            name,
            f"a nudge pass judging all {open_count + resolved:,} incidents again (after a "
            "change of reminder settings): store ms of pass ms",
            _line([f.everyone]),
            NO_GOAL.replace("issue 7", "issue 14"),
        ),
    ]


def _line(samples: list[Sample]) -> str:
    store = median([s.store_ms for s in samples])
    total = median([s.total_ms for s in samples])
    calls = max(s.calls for s in samples)
    statements = max(s.statements for s in samples)
    return f"{store:.1f} ms of {total:.1f} ms ({calls:,} calls, {statements:,} SQL statements)"


def _backends() -> list[tuple[str, AbstractContextManager[str | None]]]:
    return [("SQLite", nullcontext(None)), ("PostgreSQL", postgres_database())]


def run(*, quick: bool) -> list[Row]:
    count = QUICK_INCIDENTS if quick else INCIDENTS
    rows: list[Row] = []
    open_count, resolved = (
        (QUICK_HISTORY_OPEN, QUICK_HISTORY_RESOLVED) if quick else (HISTORY_OPEN, HISTORY_RESOLVED)
    )
    for backend, database in _backends():
        progress(f"store: {backend}, {open_count:,} open and {resolved:,} resolved incidents")
        with database as url:
            history = measure_history(url, open_count, resolved)
        progress(f"store: {backend}: history written in {history.fill_s:.0f} s")
        rows += _history_rows(backend, history, open_count, resolved)
    for backend, database in _backends():
        progress(f"store: {backend}, announcing {count:,} incidents, then idle polls and nags")
        with database as url:
            f = measure(backend, url, count)
        name = f"State store, {backend}, {count:,} open incidents"
        rows += [
            Row(
                name,
                f"(a) idle poll: store ms of poll ms, median of {IDLE_POLLS}",
                _line(f.idle),
                NO_GOAL,
            ),
            Row(
                name,
                f"(b) nag pass over {count:,} incidents: store ms of pass ms, median of "
                f"{NAG_PASSES} ({f.nudges_queued} nudges due)",
                _line(f.nag),
                NO_GOAL,
            ),
            Row(
                name,
                f"a poll reading all {count:,} rows again, unchanged (as after a bulk "
                f"change): store ms of poll ms, median of {OVERLAP_POLLS}",
                _line(f.overlap),
                NO_GOAL,
            ),
        ]
    return rows
