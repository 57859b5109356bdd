"""Benchmark (issue 15): Slack heard back, with the worker as its own process (`incident-worker
run`, Socket Mode with SLACK_APP_TOKEN) against realistic rate limits — seconds from a 📌 on a
thread reply to its entry on the incident's timeline, idle and while a burst of declarations is
worked through; and seconds from a click on a button to the acknowledgement Slack hears (what
the sandbox's click helper returns), while the burst runs.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field

from burst import BurstWatch, declare_all
from common import Row, goal_row, median, percentile, progress, real_options
from latency import declare_target
from process import Scene, WorkerProcess, outbox_pending, scene, wait_settled
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.e2e.chaos_scenario import timeline_lines
from tests.waiting import wait_until
from worker.buttons_blocks import POST_UPDATE

POLL_INTERVAL_S = 1.0
PIN_GOAL_S = 2.0
ACK_GOAL_S = 3.0
IDLE_SAMPLES, QUICK_IDLE_SAMPLES = 20, 6
BURST, QUICK_BURST = 100, 20
CLICKS_PER_PIN = 3
ENTRY_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 1_500.0
# A click Slack got no acknowledgement for counts as this long (Slack shows the person an
# error after 3 s).
NO_ACK_S = float("inf")


@dataclass
class Figures:
    pins: list[float] = field(default_factory=list)
    clicks: list[float] = field(default_factory=list)
    unacked: int = 0
    burst_s: float = 0.0


class Thread:
    """The incident people talk about in Slack, its thread, and the people's clients."""

    def __init__(self, s: Scene, page: str, seed: int) -> None:
        self.s = s
        self.page = page
        self.ts = s.thread_ts(page)
        self.rng = random.Random(seed)
        self.numbers = itertools.count(1)
        self.clients = {who: self._client(who) for who in ("Ben", "Chidi")}

    def _client(self, who: str) -> WebClient:
        client = WebClient(token=self.s.person(who).slack_token, base_url=self.s.box.slack_base_url)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=30))
        return client

    def pin_sample(self) -> float:
        """Ben replies; Chidi reacts with 📌 (once Slack answered the reaction, the clock
        runs) until the reply shows on the timeline."""
        text = f"Note {next(self.numbers)}: error rate {self.rng.randint(2, 40)} % in eu-west"
        posted = self.clients["Ben"].chat_postMessage(
            channel=self.s.channel, thread_ts=self.ts, text=text
        )
        self.clients["Chidi"].reactions_add(
            channel=self.s.channel, timestamp=str(posted["ts"]), name="pushpin"
        )
        reacted = time.perf_counter()
        wait_until(
            "the 📌 reply on the timeline",
            lambda: any(text in line for line, _ in timeline_lines(self.s.box, self.page)),
            timeout_s=ENTRY_TIMEOUT_S,
            every_s=0.02,
        )
        return time.perf_counter() - reacted

    def click_sample(self) -> float | None:
        """Ben clicks Post update on the parent message: seconds until Slack heard the
        acknowledgement (None: it heard none)."""
        ben = self.s.person("Ben").slack_id
        started = time.perf_counter()
        answer = self.s.box.slack.click(ben, POST_UPDATE, channel=self.s.channel, ts=self.ts)
        took = time.perf_counter() - started
        return took if answer["acked"] else None


def start_listening(s: Scene) -> WorkerProcess:
    env = s.worker_env(
        fast=False,
        POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s",
        SLACK_APP_TOKEN=s.box.workspace.slack_app_token,
    )
    worker = s.start_worker(env)
    s.wait_polling(worker)
    wait_until("the Socket Mode connection", lambda: s.box.slack.socket_count() > 0, timeout_s=60)
    return worker


def idle(samples: int) -> list[float]:
    with scene(real_options(), "inbound-idle") as s:
        worker = start_listening(s)
        thread = Thread(s, declare_target(s), seed=15)
        wait_settled(s, worker)
        seconds = []
        for _ in range(samples):
            wait_until("the outbox to empty", lambda: outbox_pending(worker) == 0, every_s=0.05)
            time.sleep(thread.rng.uniform(0, POLL_INTERVAL_S))
            seconds.append(thread.pin_sample())
        return seconds


def during_burst(count: int) -> Figures:
    figures = Figures()
    with scene(real_options(), "inbound-burst") as s:
        worker = start_listening(s)
        thread = Thread(s, declare_target(s), seed=16)
        wait_settled(s, worker)
        pages = declare_all(s, count)
        started = time.monotonic()
        watch = BurstWatch(s, pages, started)
        while not watch.complete() and time.monotonic() < started + LOAD_TIMEOUT_S:
            worker.check_alive()
            for _ in range(CLICKS_PER_PIN):
                time.sleep(thread.rng.uniform(0.2, POLL_INTERVAL_S))
                took = thread.click_sample()
                if took is None:
                    figures.unacked += 1
                figures.clicks.append(NO_ACK_S if took is None else took)
            if not watch.complete():
                figures.pins.append(thread.pin_sample())
        figures.burst_s = time.monotonic() - started
        return figures


def _pin_row(load: str, seconds: list[float], note: str = "") -> Row:
    if not seconds:
        return Row(f"📌 → timeline entry, {load}", "seconds", "no sample", "", False)
    p95 = percentile(seconds, 0.95)
    return goal_row(
        f"📌 on a thread reply → its timeline entry, {load}, Socket Mode",
        f"seconds, p50 / p95 / max of {len(seconds)} reactions{note}",
        f"{median(seconds):.2f} / {p95:.2f} / {max(seconds):.2f}",
        value=p95,
        limit=PIN_GOAL_S,
        goal=f"p95 ≤ {PIN_GOAL_S:g} s",
        unit="s",
    )


def _shown(seconds: float) -> str:
    return "none" if seconds == NO_ACK_S else f"{seconds:.2f}"


def _click_row(burst: int, figures: Figures) -> Row:
    seconds = figures.clicks
    if not seconds:
        return Row("Button click → acknowledged", "seconds", "no sample", "", False)
    p99 = percentile(seconds, 0.99)
    return goal_row(
        f"Button click (Post update) → acknowledged, while a burst of {burst} declarations "
        "is worked through, Socket Mode",
        f"seconds until Slack hears the ack, p50 / p99 / max of {len(seconds)} clicks "
        f"({figures.unacked} not acknowledged) during the burst's {figures.burst_s:.0f} s",
        f"{_shown(median(seconds))} / {_shown(p99)} / {_shown(max(seconds))}",
        value=p99,
        limit=ACK_GOAL_S,
        goal=f"p99 ≤ {ACK_GOAL_S:g} s",
        unit="s",
    )


def run(*, quick: bool) -> list[Row]:
    samples = QUICK_IDLE_SAMPLES if quick else IDLE_SAMPLES
    burst = QUICK_BURST if quick else BURST
    progress(f"inbound: idle, {samples} 📌 reactions")
    rows = [_pin_row("idle", idle(samples))]
    progress(f"inbound: 📌 and clicks while a burst of {burst} declarations is worked through")
    figures = during_burst(burst)
    rows.append(
        _pin_row(
            f"while a burst of {burst} declarations is worked through",
            figures.pins,
            f" made during the burst's {figures.burst_s:.0f} s",
        )
    )
    rows.append(_click_row(burst, figures))
    return rows
