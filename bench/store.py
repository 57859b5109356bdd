"""Benchmark (issue 7): time spent in the state store per poll, on SQLite and PostgreSQL."""

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
    median,
    people,
    postgres_database,
    progress,
    select,
    settle,
    title,
)
from idle import BATCH, HISTORY_AGE, insert_live

from worker.tick import CURSOR_KEY

INCIDENTS = 1_000
QUICK_INCIDENTS = 100
IDLE_POLLS = 20
NAG_PASSES = 5
OVERLAP_POLLS = 3
# Page work is bounded per poll: announcing a thousand incidents takes many polls.
SETTLE_POLLS = 1_000
NO_GOAL = "— (issue 7 sets none)"


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
