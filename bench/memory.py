"""Benchmark (issues 3, 14): resident memory of the worker process (`incident-worker run`) over
10,000 polls with everything in the loop — the nudge job every second, reminders and replies
through the outbox to Slack, people editing and declaring along the way."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

from common import (
    Row,
    ShiftedClock,
    at_most,
    fast_options,
    people,
    progress,
    rich,
    select,
    title,
)
from idle import HISTORY_AGE, insert_history
from process import Scene, scene, wait_settled
from traffic import kinds, worker_requests

from tests.waiting import wait_until

POLLS, QUICK_POLLS = 10_000, 1_000
CHECKPOINTS = 10
WARM_UP = 500
POLL_INTERVAL = "10ms"
HISTORY_ROWS = 20
OPEN_INCIDENTS = 3
# Reminders every 20 s per open SEV2 incident (and escalations after two), judged every second.
CADENCE = "SEV1=off,SEV2=20s,SEV3=off,SEV4=off"
NAG_INTERVAL = "1s"
EDIT_EVERY = 500  # polls; a person edits an open incident (a reply, a timeline entry)
DECLARE_EVERY = 2_500  # polls; a new incident (a parent, write-backs, a timeline page)
GROWTH_GOAL_MB = 3.0
STATUSES = ("Identified", "Monitoring", "Investigating")


class People:
    """Edits and declarations along the way, by people over HTTP."""

    def __init__(self, s: Scene, pages: list[str]) -> None:
        self.s = s
        self.pages = pages
        self.edits = 0
        self.declared = 0
        self._moves: Counter[str] = Counter()

    def edit(self) -> None:
        page = self.pages[self.edits % len(self.pages)]
        # Mostly status changes; now and then a status update, which puts off the reminders.
        if self.edits % 4 == 3:
            text = f"Update {self.edits}: still rolling back"
            self.s.edit("Ben", page, **{"Status update": rich(text)})
        else:
            status = STATUSES[self._moves[page] % len(STATUSES)]
            self._moves[page] += 1
            self.s.edit("Ben", page, Status=select(status))
        self.edits += 1

    def declare(self) -> None:
        self.declared += 1
        page = self.s.declare(
            "Aiko",
            Name=title(f"New incident {self.declared}"),
            Severity=select("SEV2"),
            Status=select("Investigating"),
            Commander=people(self.s.person("Ben")),
        )
        self.pages.append(page)


def _open_incidents(s: Scene) -> list[str]:
    clock = ShiftedClock().install(s.box)
    clock.offset = -HISTORY_AGE
    insert_history(s, HISTORY_ROWS - OPEN_INCIDENTS)
    clock.offset = timedelta(0)
    rows = [
        {
            "Name": title(f"Open incident {i}"),
            "Status": select("Investigating"),
            "Severity": select("SEV2"),
            "Commander": people(s.person("Ben")),
        }
        for i in range(OPEN_INCIDENTS)
    ]
    return s.insert(rows, as_user="Aiko")


def run(*, quick: bool) -> list[Row]:
    polls = QUICK_POLLS if quick else POLLS
    every = polls // CHECKPOINTS
    progress(f"memory: {polls:,} polls of the worker process, nudges and messages along the way")
    with scene(fast_options(), "memory") as s:
        crowd = People(s, _open_incidents(s))
        env = s.worker_env(
            fast=True,
            POLL_INTERVAL=POLL_INTERVAL,
            NAG_INTERVAL=NAG_INTERVAL,
            UPDATE_CADENCE=CADENCE,
        )
        worker = s.start_worker(env)
        s.wait_polling(worker)
        wait_settled(s, worker, quiet_s=1.0)
        # Warm up: imports, caches, connection pools, the allocator's arenas.
        warm = s.traffic.polls + WARM_UP
        crowd.edit()
        wait_until("the warm-up polls", lambda: s.traffic.polls >= warm, timeout_s=300)
        start_polls, started = s.traffic.polls, time.monotonic()
        samples = [worker.rss_mb()]
        s.traffic.clear()
        notion: Counter[str] = Counter()
        slack: Counter[str] = Counter()
        next_edit, next_declare = EDIT_EVERY, DECLARE_EVERY
        while len(samples) <= CHECKPOINTS:
            worker.check_alive()
            time.sleep(0.02)
            polled = s.traffic.polls - start_polls
            if polled >= len(samples) * every:
                samples.append(worker.rss_mb())
                # The requests are counted, then forgotten (the log lives in this process).
                requests = s.traffic.since()
                notion.update(kinds(worker_requests(requests, "notion")))
                slack.update(kinds(worker_requests(requests, "slack")))
                s.traffic.clear()
            if polled >= next_edit:
                crowd.edit()
                next_edit += EDIT_EVERY
            if polled >= next_declare:
                crowd.declare()
                next_declare += DECLARE_EVERY
            if time.monotonic() - started > polls * 0.5:
                raise RuntimeError(f"{polls:,} polls took too long ({polled:,} so far)")
        elapsed = time.monotonic() - started
        counted = s.traffic.polls - start_polls
    growth = samples[-1] - samples[0]
    met, missed_by = at_most(growth, GROWTH_GOAL_MB, "MB", 1)
    trail = " → ".join(f"{mb:.1f}" for mb in samples)
    name = f"Memory of the worker process over {polls:,} polls (POLL_INTERVAL={POLL_INTERVAL})"
    return [
        Row(
            name,
            f"RSS MB after {WARM_UP} warm-up polls → after {polls:,} more (difference)",
            f"{samples[0]:.1f} → {samples[-1]:.1f} ({growth:+.1f})",
            f"flat (≤ +{GROWTH_GOAL_MB:g} MB)",
            met,
            missed_by,
        ),
        Row(
            name,
            f"RSS MB every {every:,} polls; run time; what went on meanwhile (nudge pass every "
            f"{NAG_INTERVAL}, {CADENCE})",
            f"{trail}; {elapsed:.0f} s for {counted:,} polls; {crowd.edits} edits and "
            f"{crowd.declared} declarations by people; the worker posted "
            f"{slack.get('chat.postMessage', 0)} messages and updated "
            f"{slack.get('chat.update', 0)}, made {slack.total()} Slack calls and "
            f"{notion.total()} Notion requests but polls",
        ),
    ]
