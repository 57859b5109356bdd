"""Benchmark (issue 11): seconds from an edit to its reply while many reminders are going out
at Slack's pace (one message a second in the channel) — bulk work must not delay it."""

from __future__ import annotations

import random
import time

from common import (
    Harness,
    Row,
    bench_harness,
    fast_options,
    median,
    people,
    percentile,
    progress,
    select,
    settle,
)

from tests.e2e.harness import message_text
from tests.waiting import wait_until
from worker.sandbox.ratelimit import RateLimit

REMINDERS = 24
QUICK_REMINDERS = 8
POLL_INTERVAL_S = 1.0
WATCH_EVERY_S = 0.05
TIMEOUT_S = 90.0
STATUSES = ("Identified", "Monitoring", "Investigating")


def thread_ts(h: Harness, page: str) -> str:
    record = h.runtime.store.get_record(page)
    if record is None or not record.thread_ts:
        raise RuntimeError(f"{page} was not announced")
    return record.thread_ts


def replies(h: Harness, ts: str) -> list[str]:
    return [message_text(m) for m in h.box.slack.thread(h.channel, ts)[1:]]


def reminders_per_thread(h: Harness, threads: list[str]) -> list[int]:
    return [sum("no commander" in r for r in replies(h, ts)) for ts in threads]


def one_sample(h: Harness, page: str, thread: str, status: str) -> float:
    before = len(replies(h, thread))
    h.edit("Ben", page, Status=select(status))
    edited = time.perf_counter()
    wait_until(
        "the reply",
        lambda: len(replies(h, thread)) > before,
        timeout_s=TIMEOUT_S,
        every_s=WATCH_EVERY_S,
    )
    return time.perf_counter() - edited


def run(*, quick: bool) -> list[Row]:
    count = QUICK_REMINDERS if quick else REMINDERS
    progress(f"backlog: {count} reminders due at once at 1 message/s, edits meanwhile")
    rng = random.Random(11)
    seconds: list[float] = []
    # Announced without limits (quick), then Slack's real limits and the worker's own pace.
    with bench_harness(
        fast_options(), POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s", COMMANDER_GRACE="1h"
    ) as h:
        pages = [
            h.declare("Aiko", f"Shard {i} degraded", Severity=select("SEV3")) for i in range(count)
        ]
        target = h.declare(
            "Aiko",
            "Payments timing out",
            Severity=select("SEV2"),
            Status=select("Investigating"),
            Commander=people(h.person("Ben")),
        )
        settle(h)
        threads = [thread_ts(h, page) for page in pages]
        target_thread = thread_ts(h, target)
        h.box.slack.set_rate_limits(post_rate=RateLimit(1.0, 5.0), tier_limits=True)
        h.env.update(
            SLACK_POSTS_PER_SECOND="1",
            SLACK_TIER_PACING="on",
            COMMANDER_GRACE="1s",
            NAG_INTERVAL="1h",  # one nudge pass: the calls, not their escalations
        )
        # The grace runs from the declaration: on a quick machine the one nudge pass could
        # come within it (the next is an hour away).
        time.sleep(1.5)
        h.restart()
        with h.on_scheduler():
            started = time.monotonic()
            wait_until(
                "a reminder",
                lambda: sum(reminders_per_thread(h, threads)) > 0,
                timeout_s=30,
                every_s=WATCH_EVERY_S,
            )
            # Edit at random moments for as long as reminders are still going out.
            while sum(reminders_per_thread(h, threads)) < count:
                time.sleep(rng.uniform(0, POLL_INTERVAL_S))
                status = STATUSES[len(seconds) % len(STATUSES)]
                seconds.append(one_sample(h, target, target_thread, status))
            all_sent_s = time.monotonic() - started
            time.sleep(2 * POLL_INTERVAL_S)  # a duplicate would show by now
            sent = reminders_per_thread(h, threads)
    goal = POLL_INTERVAL_S + 3.0
    once = sum(1 for n in sent if n == 1)
    return [
        Row(
            f"Edit → Slack reply while {count} reminders go out (1 message/s), "
            f"POLL_INTERVAL={POLL_INTERVAL_S:g}s",
            f"seconds, median / p90 / max of {len(seconds)} edits made while reminders "
            "were still being sent",
            f"{median(seconds):.2f} / {percentile(seconds, 0.9):.2f} / {max(seconds):.2f}",
            f"≤ {goal:g} s",
            max(seconds) <= goal,
        ),
        Row(
            f"Edit → Slack reply while {count} reminders go out (1 message/s), "
            f"POLL_INTERVAL={POLL_INTERVAL_S:g}s",
            "reminders sent exactly once; seconds until the last was (from the worker's start)",
            f"{once} of {count}; {all_sent_s:.1f} s",
            f"{count} of {count}",
            once == count,
        ),
    ]
