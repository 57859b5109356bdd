"""Benchmark (issues 3, 14): what an idle poll costs as the Incidents database grows — Notion
requests, and CPU of the worker as its own process (`incident-worker run`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from common import Row, ShiftedClock, fast_options, goal_row, people, progress, select, title
from process import Scene, scene, wait_settled
from traffic import worker_requests

from tests.waiting import wait_until
from worker.sandbox import Sandbox
from worker.sandbox.workspace import SandboxPerson

SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
POLLS = 300
QUICK_POLLS = 60
# Short, so that many polls are measured in a few seconds; an idle poll takes a few ms.
POLL_INTERVAL = "50ms"
CPU_GOAL_MS = 5.0
# The worker re-reads rows edited in the POLL_OVERLAP (60 s) before its cursor, and
# Notion rounds last_edited_time down to the minute: history ten minutes old is outside.
HISTORY_AGE = timedelta(minutes=10)
BULK_AGE = timedelta(minutes=2, seconds=30)
BATCH = 1_000


class HasRows(Protocol):
    """A sandbox with an Incidents data source and its people (a Scene or a Harness)."""

    box: Sandbox
    data_source_id: str

    def person(self, name: str) -> SandboxPerson: ...


def insert_history(h: HasRows, count: int) -> None:
    """Resolved incidents of the past, inserted in bulk (no HTTP, no rate limit)."""
    for start in range(0, count, BATCH):
        rows: list[dict[str, Any]] = [
            {
                "Name": title(f"Past incident {i}"),
                "Status": select("Resolved"),
                "Severity": select("SEV3"),
            }
            for i in range(start, min(count, start + BATCH))
        ]
        h.box.notion.insert_pages(h.data_source_id, rows, as_user="Aiko")


def insert_live(h: HasRows) -> None:
    live = {
        "Name": title("Checkout latency"),
        "Status": select("Investigating"),
        "Severity": select("SEV3"),
        "Commander": people(h.person("Ben")),
    }
    h.box.notion.insert_pages(h.data_source_id, [live], as_user="Aiko")


@dataclass
class IdleFigures:
    rows: int
    first_run_s: float
    first_run_queries: int
    first_run_other: int
    polls: int
    notion_per_poll: float
    slack_requests: int
    cpu_ms_per_poll: float
    rss_mb: float


def _fill(s: Scene, size: int, *, history: bool) -> None:
    """`size` rows, all but one resolved; with `history` they were last edited long ago and
    the one open incident is the newest edit (the usual shape of a database in use).
    Without it every row came from one bulk import, the newest edit, and nothing since (a
    cursor kept at the newest edit would re-read them all at every poll)."""
    clock = ShiftedClock().install(s.box)
    if history:
        clock.offset = -HISTORY_AGE
        insert_history(s, size - 1)
        clock.offset = timedelta(0)
        insert_live(s)
    else:
        # Imported just beyond the poll overlap (a minute, plus Notion's minute rounding).
        clock.offset = -BULK_AGE
        insert_history(s, size)
        clock.offset = timedelta(0)


def measure(size: int, polls: int, *, history: bool = True) -> IdleFigures:
    with scene(fast_options(), f"idle-{size}") as s:
        _fill(s, size, history=history)
        started = time.monotonic()
        mark = s.traffic.mark()
        # No nudge pass during the measure (NAG_INTERVAL 1h: one, at the start).
        env = s.worker_env(fast=True, POLL_INTERVAL=POLL_INTERVAL, NAG_INTERVAL="1h")
        worker = s.start_worker(env)
        s.wait_polling(worker)
        wait_settled(s, worker, quiet_s=2.0)
        # The first run: checks, adoption of the history, the open incident announced.
        first_end = s.traffic.last_worker_request_at(mark) or time.monotonic()
        first = s.traffic.since(mark)
        mark, polls_before, cpu_before = s.traffic.mark(), s.traffic.polls, worker.cpu_s()
        wait_until(
            f"{polls} idle polls",
            lambda: s.traffic.polls >= polls_before + polls,
            timeout_s=polls * 1.0 + 60,
            every_s=0.05,
        )
        cpu_after, polls_after = worker.cpu_s(), s.traffic.polls
        rss = worker.rss_mb()
        idle = s.traffic.since(mark)
        counted = polls_after - polls_before
        return IdleFigures(
            rows=size,
            first_run_s=first_end - started,
            first_run_queries=sum(1 for r in worker_requests(first, "notion") if r.is_poll),
            first_run_other=sum(1 for r in worker_requests(first, "notion") if not r.is_poll),
            polls=counted,
            notion_per_poll=len(worker_requests(idle, "notion")) / counted,
            slack_requests=len(worker_requests(idle, "slack")),
            cpu_ms_per_poll=(cpu_after - cpu_before) * 1000 / counted,
            rss_mb=rss,
        )


def _flat(values: list[float]) -> bool:
    """Flat: the largest within 1.5 times the smallest, plus 1 ms of timer noise."""
    return max(values) <= 1.5 * min(values) + 1.0


def run(*, quick: bool) -> list[Row]:
    sizes = QUICK_SIZES if quick else SIZES
    polls = QUICK_POLLS if quick else POLLS
    rows: list[Row] = []
    figures: list[IdleFigures] = []
    for size in sizes:
        progress(f"idle: {size:,} rows, {polls} idle polls of the worker process")
        f = measure(size, polls)
        figures.append(f)
        name = f"Idle poll, {size:,} rows"
        rows.append(
            goal_row(
                name,
                f"Notion requests per idle poll (over {f.polls} polls; Slack calls meanwhile)",
                f"{f.notion_per_poll:.2f} ({f.slack_requests} Slack calls)",
                value=f.notion_per_poll + f.slack_requests,
                limit=1.0,
                goal="1",
            )
        )
        rows.append(
            goal_row(
                name,
                f"CPU ms per idle poll, worker process (user + system over {f.polls} polls at "
                f"POLL_INTERVAL={POLL_INTERVAL}); its RSS",
                f"{f.cpu_ms_per_poll:.2f} ms; RSS {f.rss_mb:.0f} MB",
                value=f.cpu_ms_per_poll,
                limit=CPU_GOAL_MS,
                goal=f"≤ {CPU_GOAL_MS:g} ms",
                unit="ms",
            )
        )
    first, last = figures[0], figures[-1]
    cpu = [f.cpu_ms_per_poll for f in figures]
    rows.append(
        Row(
            f"Idle poll, {first.rows:,} → {last.rows:,} rows",
            "CPU ms per idle poll, worker process",
            " → ".join(f"{c:.2f}" for c in cpu),
            "flat (largest ≤ 1.5 × smallest + 1 ms)",
            _flat(cpu),
            "" if _flat(cpu) else f"{max(cpu) / min(cpu):.1f} × the smallest",
        )
    )
    rows.append(
        Row(
            f"First run over {last.rows:,} rows",
            f"from the worker's start to the end of its first run ({last.rows - 1:,} resolved "
            "rows adopted silently, the open incident announced): seconds; Notion queries "
            f"(pages of rows, and polls every {POLL_INTERVAL}), other Notion requests",
            f"{last.first_run_s:.1f} s; {last.first_run_queries} queries, "
            f"{last.first_run_other} other requests",
        )
    )
    size = 100 if quick else 1_000
    progress(f"idle: {size:,} rows from one bulk import, {QUICK_POLLS} idle polls")
    bulk = measure(size, QUICK_POLLS, history=False)
    rows.append(
        goal_row(
            f"Idle poll, {size:,} rows from one bulk import {BULK_AGE.seconds // 60} min ago, "
            "nothing edited since",
            "Notion requests per idle poll; CPU ms per poll, worker process",
            f"{bulk.notion_per_poll:.2f}; {bulk.cpu_ms_per_poll:.2f} ms",
            value=bulk.notion_per_poll,
            limit=1.0,
            goal="1",
        )
    )
    return rows
