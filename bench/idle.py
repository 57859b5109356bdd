"""Benchmark (issue 3): what an idle poll costs as the Incidents database grows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from common import (
    Harness,
    Row,
    ShiftedClock,
    bench_harness,
    fast_options,
    median,
    people,
    progress,
    select,
    settle,
    title,
)

SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
POLLS = 50
QUICK_POLLS = 10
# The worker re-reads rows edited in the POLL_OVERLAP (60 s) before its cursor, and
# Notion rounds last_edited_time down to the minute: history ten minutes old is outside.
HISTORY_AGE = timedelta(minutes=10)
BULK_AGE = timedelta(minutes=2, seconds=30)
BATCH = 1_000


@dataclass
class IdleFigures:
    rows: int
    first_poll_s: float
    first_poll_requests: int
    requests: list[int]
    rows_read: list[int]
    slack_requests: int
    process_ms: list[float]
    thread_ms: list[float]
    wall_ms: list[float]


def insert_history(h: Harness, count: int) -> None:
    """Resolved incidents of the past, inserted in bulk (no HTTP, no rate limit)."""
    for start in range(0, count, BATCH):
        rows = [
            {
                "Name": title(f"Past incident {i}"),
                "Status": select("Resolved"),
                "Severity": select("SEV3"),
            }
            for i in range(start, min(count, start + BATCH))
        ]
        h.box.notion.insert_pages(h.data_source_id, rows, as_user="Aiko")


def insert_live(h: Harness) -> None:
    live = {
        "Name": title("Checkout latency"),
        "Status": select("Investigating"),
        "Severity": select("SEV3"),
        "Commander": people(h.person("Ben")),
    }
    h.box.notion.insert_pages(h.data_source_id, [live], as_user="Aiko")


def idle_polls(
    h: Harness, polls: int
) -> tuple[list[int], list[int], list[float], list[float], list[float]]:
    requests: list[int] = []
    rows_read: list[int] = []
    process_ms: list[float] = []
    thread_ms: list[float] = []
    wall_ms: list[float] = []
    for _ in range(polls):
        wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
        report = h.poll()
        thread_ms.append((time.thread_time() - own) * 1000)
        process_ms.append((time.process_time() - cpu) * 1000)
        wall_ms.append((time.perf_counter() - wall) * 1000)
        requests.append(report.notion_requests)
        rows_read.append(report.rows)
    return requests, rows_read, process_ms, thread_ms, wall_ms


def measure(size: int, polls: int, *, history: bool = True) -> IdleFigures:
    """`size` rows, all but one resolved; with `history` they were last edited long ago and
    the one open incident is the newest edit (the usual shape of a database in use).
    Without it every row came from one bulk import, the newest edit, and nothing since (a
    cursor kept at the newest edit would re-read them all at every poll)."""
    with bench_harness(fast_options()) as h:
        clock = ShiftedClock().install(h.box)
        if history:
            clock.offset = -HISTORY_AGE
            insert_history(h, size - 1)
            clock.offset = timedelta(0)
            insert_live(h)
        else:
            # Imported just beyond the poll overlap (a minute, plus Notion's minute rounding):
            # the newest edit of the database, and nothing since.
            clock.offset = -BULK_AGE
            insert_history(h, size)
            clock.offset = timedelta(0)
        started = time.perf_counter()
        first = h.poll()  # the first run: resolved rows adopted silently, the open one announced
        first_poll_s = time.perf_counter() - started
        settle(h)
        slack_before = h.runtime.slack.requests
        requests, rows_read, process_ms, thread_ms, wall_ms = idle_polls(h, polls)
        return IdleFigures(
            rows=size,
            first_poll_s=first_poll_s,
            first_poll_requests=first.notion_requests,
            requests=requests,
            rows_read=rows_read,
            slack_requests=h.runtime.slack.requests - slack_before,
            process_ms=process_ms,
            thread_ms=thread_ms,
            wall_ms=wall_ms,
        )


def _flat(values: list[float]) -> bool:
    """Flat: the largest median within 1.5 times the smallest, plus 1 ms of timer noise."""
    return max(values) <= 1.5 * min(values) + 1.0


def run(*, quick: bool) -> list[Row]:
    sizes = QUICK_SIZES if quick else SIZES
    polls = QUICK_POLLS if quick else POLLS
    rows: list[Row] = []
    figures: list[IdleFigures] = []
    for size in sizes:
        progress(f"idle: {size:,} rows, {polls} idle polls")
        f = measure(size, polls)
        figures.append(f)
        name = f"Idle poll, {size:,} rows"
        rows.append(
            Row(
                name,
                f"Notion requests per idle poll (median / max of {polls}; rows read; Slack calls)",
                f"{median([float(r) for r in f.requests]):g} / {max(f.requests)} "
                f"({max(f.rows_read)} rows read; {f.slack_requests} Slack calls)",
                "1",
                max(f.requests) == 1 and f.slack_requests == 0,
            )
        )
        rows.append(
            Row(
                name,
                "CPU ms per idle poll, median: process (worker thread); wall ms",
                f"{median(f.process_ms):.1f} ({median(f.thread_ms):.1f}); "
                f"wall {median(f.wall_ms):.1f}",
                "flat",
            )
        )
    first, last = figures[0], figures[-1]
    thread = [median(f.thread_ms) for f in figures]
    process = [median(f.process_ms) for f in figures]
    rows.append(
        Row(
            f"Idle poll, {first.rows:,} → {last.rows:,} rows",
            "CPU ms per idle poll: worker thread (whole process, incl. the in-process emulator)",
            " → ".join(f"{t:.1f}" for t in thread)
            + " ("
            + " → ".join(f"{p:.1f}" for p in process)
            + ")",
            "flat",
            _flat(thread),
        )
    )
    rows.append(
        Row(
            f"First run over {last.rows:,} rows",
            f"adoption poll: Notion requests, seconds ({last.rows - 1:,} resolved rows adopted "
            "silently, the one open incident announced)",
            f"{last.first_poll_requests} requests, {last.first_poll_s:.1f} s",
        )
    )
    size = 100 if quick else 1_000
    progress(f"idle: {size:,} rows from one bulk import, {QUICK_POLLS} idle polls")
    bulk = measure(size, QUICK_POLLS, history=False)
    rows.append(
        Row(
            f"Idle poll, {size:,} rows from one bulk import {BULK_AGE.seconds // 60} min ago, "
            "nothing edited since",
            "Notion requests per idle poll (rows read); CPU ms process (worker thread)",
            f"{max(bulk.requests)} ({max(bulk.rows_read)} rows read); "
            f"{median(bulk.process_ms):.0f} ({median(bulk.thread_ms):.0f})",
            "1",
            max(bulk.requests) == 1,
        )
    )
    return rows
