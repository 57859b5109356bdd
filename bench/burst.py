"""Benchmark (issues 6, 14): 100 incidents declared at once against realistic rate limits, the
worker as its own process: the time until everything is done against the floor of a minimal
worker, the requests per incident by kind, and the 429s."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from common import Row, goal_row, people, progress, real_options, select, title
from process import Scene, WorkerProcess, outbox_pending, scene, settled, wait_settled
from traffic import (
    POLL_KIND,
    Request,
    count_429,
    kind_of,
    kinds,
    per_unit,
    rate_trail,
    worker_requests,
)

from tests.waiting import wait_until

INCIDENTS = 100
QUICK_INCIDENTS = 20
POLL_INTERVAL_S = 1.0
# The floor of a minimal worker, from these constants only (never from what the worker did):
# Notion allows an integration 3 requests/s on average, of which polling uses one request per
# poll; a careful worker needs 3 Notion requests per declared incident (issue 14). Slack takes
# one new message per second in a channel, and each incident needs one (its parent).
NOTION_RATE_PER_S = 3.0
POLL_REQUESTS = 1
NOTION_PER_INCIDENT = 3
SLACK_POSTS_PER_S = 1.0
SLACK_POSTS_PER_INCIDENT = 1
GOAL_RATIO = 1.1
NOTION_GOAL = 3.0  # requests per declared incident, polls not counted
SLACK_GOAL = 2.0  # calls per declared incident: the parent and its update
TIMEOUT_S = 1_500.0
QUIET_S = 5.0
WHO = ("Aiko", "Ben", "Chidi", "Dana")


def floor_s(incidents: int, poll_interval_s: float) -> tuple[float, float, float]:
    """(floor, Notion's, Slack's) in seconds for a minimal worker."""
    notion = NOTION_PER_INCIDENT * incidents / (NOTION_RATE_PER_S - POLL_REQUESTS / poll_interval_s)
    slack = SLACK_POSTS_PER_INCIDENT * incidents / SLACK_POSTS_PER_S
    return max(notion, slack), notion, slack


def declare_all(s: Scene, count: int) -> list[str]:
    """`count` rows created at once by four people (in bulk: no HTTP, no rate limit)."""
    pages: list[str] = []
    share = -(-count // len(WHO))
    for n, who in enumerate(WHO):
        rows = [
            {
                "Name": title(f"Incident {i}: checkout errors in region {i % 7}"),
                "Status": select("Investigating"),
                "Severity": select(("SEV2", "SEV3")[i % 2]),
                "Commander": people(s.person(who)),
            }
            for i in range(n * share, min(count, (n + 1) * share))
        ]
        pages += s.insert(rows, as_user=who)
    return pages


class BurstWatch:
    """How far the worker got with the burst, read from Slack's and Notion's state (no HTTP):
    when every incident had its parent, its *Slack thread* link and its *Timeline* link."""

    STAGES = ("announced", "Slack thread", "Timeline")

    def __init__(self, s: Scene, pages: list[str], started: float) -> None:
        self.s = s
        self.pages = pages
        self.started = started
        self.at: dict[str, float] = {}

    def count(self, stage: str) -> int:
        if stage == "announced":
            parents = self.s.parents()
            return sum(1 for page in self.pages if page in parents)
        return self.s.urls_written(self.pages, stage)

    def complete(self) -> bool:
        """Every stage reached by every incident (each stage's time noted when first seen)."""
        for stage in self.STAGES:
            if stage in self.at:
                continue
            if self.count(stage) < len(self.pages):
                return False
            self.at[stage] = time.monotonic() - self.started
        return True

    def line(self) -> str:
        return ", ".join(
            f"{stage} {self.at[stage]:.0f} s" if stage in self.at else f"{stage} not reached"
            for stage in self.STAGES
        )


@dataclass
class BurstFigures:
    incidents: int
    seconds: float
    stages: str
    requests: list[Request]
    started: float
    done_at: float
    polls: int
    longest_poll_gap_s: float


def longest_poll_gap(requests: list[Request], start: float, end: float) -> float:
    """The longest time without a poll between `start` and `end`."""
    times = [start, *(r.at for r in requests if r.worker and r.is_poll), end]
    return max(b - a for a, b in itertools.pairwise(times))


def wait_done(s: Scene, worker: WorkerProcess, watch: BurstWatch) -> None:
    """Until every incident is complete and the outbox has been empty, with no request but
    polls, for QUIET_S."""
    wait_until(
        "the burst to be done",
        lambda: watch.complete() and settled(s, worker, QUIET_S),
        timeout_s=TIMEOUT_S,
        every_s=0.5,
    )


def _same_as_the_log(s: Scene, mark: int, logged: tuple[int, int]) -> None:
    """The recorder saw what the sandbox's own request log saw, but for polls, which go on
    (nobody but the worker made a request meanwhile: the rows were inserted without HTTP)."""
    seen = [r for r in s.traffic.since(mark) if not r.is_poll]
    for service, log, before in (
        ("notion", s.box.notion_log, logged[0]),
        ("slack", s.box.slack_log, logged[1]),
    ):
        recorded = [r for r in seen if r.service == service]
        in_log = [
            e
            for e in log.entries()[before:]
            if kind_of(service, e["method"], e["path"]) != POLL_KIND  # type: ignore[arg-type]
        ]
        if len(in_log) != len(recorded) or any(not r.worker for r in recorded):
            raise RuntimeError(
                f"{service}: the sandbox logged {len(in_log)} requests but polls, the recorder "
                f"{len(recorded)} ({sum(not r.worker for r in recorded)} not the worker's)"
            )


def measure(count: int) -> BurstFigures:
    with scene(real_options(), "burst") as s:
        env = s.worker_env(fast=False, POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s")
        worker = s.start_worker(env)
        s.wait_polling(worker)
        wait_settled(s, worker)
        time.sleep(5)  # idle polls; the sandbox's windows move on from the start's checks
        mark = s.traffic.mark()
        logged = len(s.box.notion_log.entries()), len(s.box.slack_log.entries())
        pages = declare_all(s, count)
        started = time.monotonic()
        watch = BurstWatch(s, pages, started)
        wait_done(s, worker, watch)
        done_at = s.traffic.last_worker_request_at(mark) or time.monotonic()
        requests = [r for r in s.traffic.since(mark) if r.at <= done_at]
        if outbox_pending(worker):
            raise RuntimeError("the outbox was not empty at the end")
        _same_as_the_log(s, mark, logged)
    return BurstFigures(
        incidents=count,
        seconds=done_at - started,
        stages=watch.line(),
        requests=requests,
        started=started,
        done_at=done_at,
        polls=sum(1 for r in requests if r.worker and r.is_poll),
        longest_poll_gap_s=longest_poll_gap(requests, started, done_at),
    )


def run(*, quick: bool) -> list[Row]:
    count = QUICK_INCIDENTS if quick else INCIDENTS
    progress(f"burst: {count} incidents declared at once, realistic limits (a few minutes)")
    f = measure(count)
    floor, notion_floor, slack_floor = floor_s(count, POLL_INTERVAL_S)
    ratio = f.seconds / floor
    name = f"Burst: {count} incidents declared at once, POLL_INTERVAL={POLL_INTERVAL_S:g}s"
    notion = worker_requests(f.requests, "notion")
    slack = worker_requests(f.requests, "slack")
    notion_kinds, slack_kinds = kinds(notion), kinds(slack)
    notion_per = sum(notion_kinds.values()) / count
    slack_per = sum(slack_kinds.values()) / count
    n429 = count_429(f.requests, "notion"), count_429(f.requests, "slack")
    trail = rate_trail(f.requests, f.started, f.done_at)
    rate = NOTION_RATE_PER_S - POLL_REQUESTS / POLL_INTERVAL_S
    return [
        goal_row(
            name,
            "seconds until everything is done (parents, *Slack thread* and *Timeline* written "
            "back, timeline pages, parent updates; the outbox empty): the worker's last request "
            f"but polls; floor of a minimal worker = max({NOTION_PER_INCIDENT} Notion requests "
            f"per incident ÷ ({NOTION_RATE_PER_S:g}/s − polls {POLL_REQUESTS}/"
            f"{POLL_INTERVAL_S:g} s), {SLACK_POSTS_PER_INCIDENT} post per incident ÷ "
            f"{SLACK_POSTS_PER_S:g}/s)",
            f"{f.seconds:.1f} s = {ratio:.2f} × floor {floor:.0f} s (Notion {notion_floor:.0f} s "
            f"at {rate:g}/s, Slack {slack_floor:.0f} s)",
            value=f.seconds,
            limit=GOAL_RATIO * floor,
            goal=f"≤ {GOAL_RATIO:g} × floor ({GOAL_RATIO * floor:.0f} s)",
            unit="s",
            digits=1,
        ),
        Row(name, "every incident had its parent / *Slack thread* / *Timeline*, at", f.stages),
        goal_row(
            name,
            "429 answers until done (Notion / Slack)",
            f"{n429[0]} / {n429[1]}",
            value=sum(n429),
            limit=0,
            goal="0",
            digits=0,
        ),
        goal_row(
            name,
            "Notion requests per declared incident (polls not counted), by method and path",
            f"{notion_per:.2f}: {per_unit(notion_kinds, count)}",
            value=notion_per,
            limit=NOTION_GOAL,
            goal=f"≤ {NOTION_GOAL:g}",
        ),
        goal_row(
            name,
            "Slack calls per declared incident, by method",
            f"{slack_per:.2f}: {per_unit(slack_kinds, count)}",
            value=slack_per,
            limit=SLACK_GOAL,
            goal=f"≤ {SLACK_GOAL:g}",
        ),
        Row(
            name,
            "polls until done (the longest time without one); the worker's Notion requests / "
            "Slack calls per 30 s (polls included)",
            f"{f.polls} polls (longest gap {f.longest_poll_gap_s:.1f} s); "
            + " → ".join(f"{n}/{k}" for n, k in trail),
        ),
    ]
