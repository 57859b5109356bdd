"""Benchmark (issues 3, 11, 14): seconds from a person's edit in Notion to its reply in Slack,
with the worker as its own process (`incident-worker run`) at POLL_INTERVAL=1s against
realistic rate limits — idle, while a nudge pass of 50 reminders goes out, and while a burst of
100 declarations is worked through — and the requests one mirrored change costs."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from burst import BurstWatch, declare_all
from common import (
    Row,
    fast_options,
    goal_row,
    median,
    people,
    percentile,
    progress,
    real_options,
    select,
    title,
)
from process import Scene, WorkerProcess, outbox_pending, sample_edit, scene, wait_settled
from traffic import Request, kinds, per_unit, worker_requests

from tests.e2e.harness import message_text
from tests.waiting import wait_until
from worker.sandbox import NotionLimits
from worker.sandbox.ratelimit import RateLimit

POLL_INTERVAL_S = 1.0
GOAL_S = POLL_INTERVAL_S + 1.0
IDLE_SAMPLES, QUICK_IDLE_SAMPLES = 20, 6
REMINDERS, QUICK_REMINDERS = 50, 10
BURST, QUICK_BURST = 100, 20
# Each edit moves the incident on; none of them resolves it.
STATUSES = ("Identified", "Monitoring", "Investigating")
# A worker that queues replies behind the load may keep one waiting for minutes.
LOAD_REPLY_TIMEOUT_S = 400.0
LOAD_TIMEOUT_S = 1_500.0
# Reminders: an update is overdue 20 s after the announcement (SEV2); the target is SEV3,
# which has no cadence, so its thread holds only the replies to the edits.
CADENCE = "SEV1=off,SEV2=20s,SEV3=off,SEV4=off"
CADENCE_S = 20.0
NOTION_PER_CHANGE, SLACK_PER_CHANGE = 1.0, 2.0


@dataclass
class Target:
    """The incident a person keeps editing, and its thread."""

    page: str
    ts: str
    rng: random.Random
    seconds: list[float] = field(default_factory=list)

    def sample(self, s: Scene, timeout_s: float = 60.0) -> float:
        status = STATUSES[len(self.seconds) % len(STATUSES)]
        took = sample_edit(
            s,
            self.page,
            self.ts,
            lambda: s.edit("Ben", self.page, Status=select(status)),
            timeout_s=timeout_s,
        )
        self.seconds.append(took)
        return took


def declare_target(s: Scene, severity: str = "SEV2") -> str:
    return s.declare(
        "Aiko",
        Name=title("Payments timing out"),
        Severity=select(severity),
        Status=select("Investigating"),
        Commander=people(s.person("Ben")),
    )


def start_real(s: Scene, **settings: str) -> WorkerProcess:
    env = s.worker_env(fast=False, POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s", **settings)
    worker = s.start_worker(env)
    s.wait_polling(worker)
    return worker


def latency_row(load: str, seconds: list[float], note: str = "") -> Row:
    if not seconds:
        return Row(f"Edit → Slack reply, {load}", "seconds", "no edit could be made", "", False)
    p95 = percentile(seconds, 0.95)
    return goal_row(
        f"Edit → Slack reply, {load}, POLL_INTERVAL={POLL_INTERVAL_S:g}s",
        f"seconds, p50 / p95 / max of {len(seconds)} edits{note}",
        f"{median(seconds):.2f} / {p95:.2f} / {max(seconds):.2f}",
        value=p95,
        limit=GOAL_S,
        goal=f"p95 ≤ {GOAL_S:g} s",
        unit="s",
    )


# --- idle, and what a mirrored change costs ------------------------------------------------


@dataclass
class IdleFigures:
    seconds: list[float]
    changes: list[Request]
    resolved: list[Request]


def idle(samples: int) -> IdleFigures:
    with scene(real_options(), "latency-idle") as s:
        worker = start_real(s)
        page = declare_target(s)
        target = Target(page, s.thread_ts(page), random.Random(3))
        wait_settled(s, worker)
        mark = s.traffic.mark()
        for _ in range(samples):
            # The worker done with the previous edit, then an edit at a random moment of the
            # poll cycle.
            wait_until("the outbox to empty", lambda: outbox_pending(worker) == 0, every_s=0.05)
            time.sleep(POLL_INTERVAL_S + target.rng.uniform(0, POLL_INTERVAL_S))
            target.sample(s)
        wait_settled(s, worker)
        changes = s.traffic.since(mark)
        mark = s.traffic.mark()
        sample_edit(s, page, target.ts, lambda: s.edit("Ben", page, Status=select("Resolved")))
        wait_settled(s, worker, quiet_s=5.0)
        resolved = s.traffic.since(mark)
    return IdleFigures(target.seconds, changes, resolved)


def change_rows(what: str, requests: list[Request], changes: int) -> list[Row]:
    name = f"Mirrored change: {what}"
    notion = kinds(worker_requests(requests, "notion"))
    slack = kinds(worker_requests(requests, "slack"))
    notion_per, slack_per = sum(notion.values()) / changes, sum(slack.values()) / changes
    over = f" (over {changes} changes)" if changes > 1 else ""
    return [
        goal_row(
            name,
            f"Notion requests per change, polls not counted{over}, by method and path",
            f"{notion_per:.2f}: {per_unit(notion, changes)}",
            value=notion_per,
            limit=NOTION_PER_CHANGE,
            goal=f"≤ {NOTION_PER_CHANGE:g}",
        ),
        goal_row(
            name,
            f"Slack calls per change{over}, by method",
            f"{slack_per:.2f}: {per_unit(slack, changes)}",
            value=slack_per,
            limit=SLACK_PER_CHANGE,
            goal=f"≤ {SLACK_PER_CHANGE:g} (the reply, the parent's update)",
        ),
    ]


# --- while a nudge pass goes out -----------------------------------------------------------


@dataclass
class NudgeFigures:
    seconds: list[float]
    reminders: int
    once: int
    all_sent_s: float


def _overdue_reminders(s: Scene, threads: list[str]) -> list[int]:
    return [sum("overdue" in message_text(m) for m in s.replies(ts)) for ts in threads]


def _announce_quietly(s: Scene, count: int) -> tuple[list[str], str]:
    """`count` open SEV2 incidents and the target, announced by a worker with no limits
    (no reminder yet: its one nudge pass ran at its start); then that worker stops."""
    rows = [
        {
            "Name": title(f"Shard {i} degraded"),
            "Status": select("Investigating"),
            "Severity": select("SEV2"),
            "Commander": people(s.person("Ben")),
        }
        for i in range(count)
    ]
    pages = s.insert(rows, as_user="Aiko")
    target = declare_target(s, severity="SEV3")
    env = s.worker_env(
        fast=True, POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s", UPDATE_CADENCE=CADENCE, NAG_INTERVAL="1h"
    )
    worker = s.start_worker(env)
    s.wait_polling(worker)
    wait_until(
        "the incidents to be announced",
        lambda: len(set(s.parents()) & {*pages, target}) == count + 1,
        timeout_s=120,
    )
    wait_settled(s, worker)
    worker.stop()
    return pages, target


def nudges(count: int) -> NudgeFigures:
    with scene(fast_options(), "latency-nudges") as s:
        pages, page = _announce_quietly(s, count)
        announced = time.monotonic()
        parents = s.parents()
        threads = [parents[p] for p in pages]
        target = Target(page, parents[page], random.Random(11))
        # Realistic limits from now on, and the worker pacing itself again.
        s.box.notion.set_limits(NotionLimits())
        s.box.slack.set_rate_limits(post_rate=RateLimit(1.0, 5.0), tier_limits=True)
        # Every update overdue when the worker starts again: its first nudge pass (the only
        # one, NAG_INTERVAL=1h) has all the reminders due at once.
        time.sleep(max(0.0, announced + CADENCE_S + 1.0 - time.monotonic()))
        worker = start_real(s, UPDATE_CADENCE=CADENCE, NAG_INTERVAL="1h")
        started = time.monotonic()
        wait_until("a reminder", lambda: sum(_overdue_reminders(s, threads)) > 0, timeout_s=60)
        # Edit at random moments for as long as reminders are still going out.
        deadline = started + LOAD_TIMEOUT_S
        while sum(_overdue_reminders(s, threads)) < count and time.monotonic() < deadline:
            worker.check_alive()
            time.sleep(target.rng.uniform(0, POLL_INTERVAL_S))
            target.sample(s, LOAD_REPLY_TIMEOUT_S)
        wait_until(
            "every reminder",
            lambda: sum(_overdue_reminders(s, threads)) >= count,
            timeout_s=LOAD_TIMEOUT_S,
        )
        all_sent_s = time.monotonic() - started
        time.sleep(3 * POLL_INTERVAL_S)  # a duplicate would show by now
        sent = _overdue_reminders(s, threads)
    return NudgeFigures(target.seconds, count, sum(1 for n in sent if n == 1), all_sent_s)


# --- while a burst is worked through -------------------------------------------------------


def during_burst(count: int) -> tuple[list[float], float]:
    with scene(real_options(), "latency-burst") as s:
        worker = start_real(s)
        page = declare_target(s)
        target = Target(page, s.thread_ts(page), random.Random(14))
        wait_settled(s, worker)
        pages = declare_all(s, count)
        started = time.monotonic()
        watch = BurstWatch(s, pages, started)
        done: Callable[[], bool] = lambda: watch.complete() and outbox_pending(worker) == 0  # noqa: E731
        # Edits while the burst is worked through (an edit's own work may still be pending
        # when its reply shows: the loop ends when the burst is done, not the outbox).
        while not watch.complete() and time.monotonic() < started + LOAD_TIMEOUT_S:
            worker.check_alive()
            time.sleep(POLL_INTERVAL_S + target.rng.uniform(0, POLL_INTERVAL_S))
            target.sample(s, LOAD_REPLY_TIMEOUT_S)
        wait_until("the burst and the edits' work", done, timeout_s=LOAD_TIMEOUT_S, every_s=0.5)
        return target.seconds, time.monotonic() - started


def run(*, quick: bool) -> list[Row]:
    samples = QUICK_IDLE_SAMPLES if quick else IDLE_SAMPLES
    reminders = QUICK_REMINDERS if quick else REMINDERS
    burst = QUICK_BURST if quick else BURST
    progress(f"latency: idle, {samples} edits (about a minute)")
    figures = idle(samples)
    rows = [latency_row("idle", figures.seconds)]
    progress(f"latency: while a nudge pass of {reminders} reminders goes out")
    n = nudges(reminders)
    rows.append(
        latency_row(
            f"while {reminders} reminders due at once go out",
            n.seconds,
            " made while reminders were still being sent",
        )
    )
    rows.append(
        Row(
            f"Nudge pass of {reminders} reminders due at once (Slack: 1 post/s in the channel)",
            "reminders sent exactly once; seconds until the last was (from the worker's start)",
            f"{n.once} of {n.reminders}; {n.all_sent_s:.1f} s",
            f"{n.reminders} of {n.reminders}",
            n.once == n.reminders,
            f"{n.reminders - n.once} not exactly once" if n.once != n.reminders else "",
        )
    )
    progress(f"latency: while a burst of {burst} declarations is worked through (minutes)")
    seconds, burst_s = during_burst(burst)
    rows.append(
        latency_row(
            f"while a burst of {burst} declarations is worked through",
            seconds,
            f" made during the burst's {burst_s:.0f} s",
        )
    )
    rows += change_rows(
        "an edit of one field (Status) of an announced incident", figures.changes, samples
    )
    rows += change_rows("its Status set to Resolved", figures.resolved, 1)
    return rows
