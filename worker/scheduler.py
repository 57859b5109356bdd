"""Scheduler: APScheduler 3 runs the poll (and later passes) on an interval until stopped.

One `Loop` runs its jobs one at a time in a thread of its own; `Loops` runs several side by
side (one per Incidents database, so that one database's pass never delays another's poll)
and stops them together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("worker.scheduler")


def utc_now() -> datetime:
    """The clock: read by the loop once per job, and by the CLI once per one-shot command;
    everything else is passed `now` (or, for a pass's later slices, this same clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[datetime], object]


class Alongside(Protocol):
    """Threads that run beside the jobs, started and stopped with them (the delivery lanes)."""

    def start(self) -> None: ...

    def stop(self, grace_s: float) -> bool: ...

    def wait_idle(self, timeout_s: float) -> bool: ...


class Loop:
    """Runs jobs in APScheduler's own daemon thread, so a stop never waits on a slow call.

    Jobs run one at a time (a late run is coalesced into one, never stacked); each job
    reads the clock once and passes `now` down.
    """

    def __init__(
        self,
        jobs: list[Job],
        *,
        clock: Callable[[], datetime] | None = None,
        alongside: Alongside | None = None,
    ) -> None:
        self.jobs = jobs
        self.alongside = alongside
        self.clock = clock or utc_now
        self.stopping = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._scheduler = BackgroundScheduler(
            executors={"default": DebugExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def _wrap(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return
            self._idle.clear()
            try:
                job.run(self.clock())
            except Exception:
                log.exception("%s failed; it runs again in %.0fs", job.name, job.interval_s)
            finally:
                self._idle.set()

        return run

    def run_until_stopped(self, grace_s: float = 1.5) -> None:
        self.start()
        try:
            self.stopping.wait()
        finally:
            deadline = time.monotonic() + grace_s  # one grace for the lanes and the pass
            self.shut_down(grace_s)
            # Let a running pass finish its current step; whatever is still in flight
            # after the grace period is safe to abandon (the outbox retries it).
            if not self._idle.wait(max(0.0, deadline - time.monotonic())):
                log.warning("stopping while a pass is still running; it will resume next start")

    def start(self) -> None:
        """Every job at once, then on its interval, in the loop's own thread; the threads
        beside them (the delivery lanes) too."""
        first = self.clock()
        for job in self.jobs:
            self._scheduler.add_job(
                self._wrap(job),
                IntervalTrigger(seconds=job.interval_s, timezone=UTC),
                id=job.name,
                name=job.name,
                next_run_time=first,
            )
        if self.alongside is not None:
            self.alongside.start()
        self._scheduler.start()

    def shut_down(self, grace_s: float) -> None:
        """No job starts any more, and the threads beside them stop (an action they carry
        out has `grace_s` to finish); a running pass goes on (`wait_idle` waits for it)."""
        self.stopping.set()
        if self.alongside is not None and not self.alongside.stop(grace_s):
            log.warning("stopping while an action is in flight; the outbox retries it")
        # APScheduler's shutdown joins its thread, which is the one running the pass: shut
        # down from another thread, so the caller's grace is what bounds the stop.
        threading.Thread(
            target=self._scheduler.shutdown, kwargs={"wait": False}, daemon=True
        ).start()

    def stop(self) -> None:
        self.stopping.set()

    def wait_idle(self, timeout_s: float) -> bool:
        """True once no pass (and no action beside them) is running (a stop may return
        while one still is)."""
        beside = self.alongside.wait_idle(timeout_s) if self.alongside is not None else True
        return self._idle.wait(timeout_s) and beside


class Loops:
    """Several loops side by side, each in its thread, started and stopped together: one per
    Incidents database, so that however long one database's pass takes, the others poll on
    time. (Their gateways' pacing is shared, so together they keep to one pace.)"""

    def __init__(self, loops: list[Loop]) -> None:
        self.loops = loops
        self.stopping = threading.Event()

    @property
    def jobs(self) -> list[Job]:
        return [job for loop in self.loops for job in loop.jobs]

    def run_until_stopped(self, grace_s: float = 1.5) -> None:
        for loop in self.loops:
            loop.start()
        try:
            self.stopping.wait()
        finally:
            deadline = time.monotonic() + grace_s
            for loop in self.loops:
                loop.shut_down(max(0.0, deadline - time.monotonic()))
            if not self.wait_idle(max(0.0, deadline - time.monotonic())):
                log.warning("stopping while a pass is still running; it will resume next start")

    def stop(self) -> None:
        self.stopping.set()

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        return all(loop.wait_idle(max(0.0, deadline - time.monotonic())) for loop in self.loops)
