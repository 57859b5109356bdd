"""Lanes: the outbox carried out by two threads at once, one for Slack and one for Notion.

Each lane waits on its own service's pace, so a burst of posts at Slack's one message a
second never leaves Notion idle, and pages being written at Notion's three requests a second
never hold up a reply. The poll and the nudge pass (on the scheduler's thread) only record
what to do and wake the lanes; what must stay in order, per incident, is kept by
worker/outbox_order.py. A lane that meets a bug logs it and goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from worker.effects import Effects
from worker.outbox_order import SERVICES, Service
from worker.pacing import sending_only_while
from worker.reports import DeliveryReport

log = logging.getLogger("worker.lanes")

# A lane with nothing to do looks again after this long even if nobody wakes it (actions
# whose backoff ran out; a lease taken back), and at once when the poll or the nudge pass
# records something.
IDLE_S = 1.0


class Lanes:
    def __init__(
        self,
        effects: Effects,
        *,
        clock: Callable[[], datetime],
        may_act: Callable[[], bool],
        may_send: Callable[[], bool] = lambda: True,
        on_report: Callable[[DeliveryReport], None] = lambda _report: None,
        idle_s: float = IDLE_S,
    ) -> None:
        self.effects = effects
        self.clock = clock
        self.may_act = may_act
        # Every request a lane makes goes only while this holds (the lease, on our clock).
        self.may_send = may_send
        self.on_report = on_report
        self.idle_s = idle_s
        self._stopping = threading.Event()
        # Set when new work is recorded: a lane's round ends after its current action, so
        # what people just changed goes next.
        self._wake = {lane: threading.Event() for lane in SERVICES}
        # Set when the other lane finished something (it may be this lane's turn now): ends
        # an idle wait, not a round.
        self._poke = {lane: threading.Event() for lane in SERVICES}
        self._running: dict[Service, int | None] = dict.fromkeys(SERVICES)
        self._idle = {lane: threading.Event() for lane in SERVICES}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for lane in SERVICES:
            self._idle[lane].set()
            thread = threading.Thread(
                target=self._run, args=(lane,), name=f"lane-{lane}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def wake(self) -> None:
        """New work was recorded: each lane asks for its next action at once."""
        for lane in SERVICES:
            self._wake[lane].set()
            self._poke[lane].set()

    def stop(self, grace_s: float) -> bool:
        """Stop both lanes; True when neither was still carrying out an action after
        `grace_s` in all (what is still in flight then is safe to abandon: the outbox
        retries it, and the lease makes the next holder wait it out)."""
        self._stopping.set()
        self.wake()
        deadline = time.monotonic() + grace_s
        done = all(
            self._idle[lane].wait(max(0.0, deadline - time.monotonic())) for lane in SERVICES
        )
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return done

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        return all(
            self._idle[lane].wait(max(0.0, deadline - time.monotonic())) for lane in SERVICES
        )

    def _busy(self, lane: Service) -> frozenset[int]:
        return frozenset(
            item for other, item in self._running.items() if other != lane and item is not None
        )

    def _run(self, lane: Service) -> None:
        wake, poke = self._wake[lane], self._poke[lane]
        while not self._stopping.is_set():
            wake.clear()
            poke.clear()
            report = DeliveryReport()
            self._idle[lane].clear()
            try:
                # Asking for the lease may fail too (a moment of state-store trouble).
                if self.may_act():
                    with sending_only_while(self.may_send):
                        report = self._round(lane, wake)
                    self.on_report(report)
            except Exception:
                log.exception("the %s lane failed; it goes on in %.0fs", lane, self.idle_s)
                report = DeliveryReport()
            finally:
                self._running[lane] = None
                self._idle[lane].set()
            if _did_something(report):
                continue  # what it did may have made the next actions' turn come
            poke.wait(self.idle_s)

    def _round(self, lane: Service, wake: threading.Event) -> DeliveryReport:
        return self.effects.run_ready(
            lane,
            self.clock,
            busy=lambda: self._busy(lane),
            interrupted=lambda: wake.is_set() or self._stopping.is_set(),
            running=lambda item: self._carrying_out(lane, item),
            # Waiting for the pace before a message ends as soon as new work comes.
            pause=lambda seconds: seconds > 0 and wake.wait(seconds),
        )

    def _carrying_out(self, lane: Service, item: int | None) -> None:
        self._running[lane] = item
        if item is None:  # one done: what waited for it in the other lane may go now
            for other in SERVICES:
                if other != lane:
                    self._poke[other].set()


def _did_something(report: DeliveryReport) -> bool:
    return bool(report.done or report.failed)
