"""Scheduler: jobs run at once then on their interval, one at a time; a failing job is logged
and runs again; a late run is coalesced, never stacked; a stop waits for a running pass only
as long as its grace."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from tests.waiting import wait_until
from worker.scheduler import Job, Loop, Loops


class Clock:
    """The real clock, every reading kept: the first is the loop's start (the grid its
    intervals count from), the next ones are the `now` each run was given."""

    def __init__(self) -> None:
        self.readings: list[datetime] = []

    def __call__(self) -> datetime:
        now = datetime.now(UTC)
        self.readings.append(now)
        return now


@contextmanager
def running(loop: Loop, grace_s: float = 1.5) -> Iterator[threading.Thread]:
    """`loop.run_until_stopped` in a thread (as `incident-worker run` runs it), stopped after."""
    thread = threading.Thread(target=loop.run_until_stopped, args=(grace_s,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        loop.stop()
        thread.join(5)


def test_every_job_runs_at_once_then_on_its_interval_with_the_clocks_now() -> None:
    clock = Clock()
    seen: dict[str, list[datetime]] = {"poll": [], "nag": []}
    loop = Loop(
        [
            Job("poll", 0.05, seen["poll"].append),
            Job("nag", 3600, seen["nag"].append),  # an hour away after its first run
        ],
        clock=clock,
    )
    with running(loop):
        wait_until("three polls", lambda: len(seen["poll"]) >= 3, timeout_s=5)
    assert len(seen["nag"]) == 1  # at the start, like every job, then not for an hour
    start = clock.readings[0]
    assert seen["nag"][0] - start < timedelta(seconds=1)
    assert seen["poll"][0] - start < timedelta(seconds=1)
    # Each run is handed the time the loop read for it, not a time of its own.
    assert all(now in clock.readings for now in seen["poll"] + seen["nag"])


def test_a_failing_job_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[datetime] = []

    def flaky(now: datetime) -> None:
        runs.append(now)
        if len(runs) == 1:
            raise RuntimeError("Notion said no")

    loop = Loop([Job("poll", 0.05, flaky)])
    with caplog.at_level(logging.ERROR, logger="worker.scheduler"), running(loop):
        wait_until("a run after the failure", lambda: len(runs) >= 2, timeout_s=5)
    (record,) = [r for r in caplog.records if r.name == "worker.scheduler"]
    assert record.getMessage() == "poll failed; it runs again in 0s"
    assert record.exc_info is not None
    assert "Notion said no" in str(record.exc_info[1])


def test_a_run_that_missed_its_slots_is_coalesced_into_one() -> None:
    """The first run takes 3.5 intervals: the three slots it missed make one run, at once,
    and the next run keeps to the interval's grid (not three runs back to back)."""
    interval_s = 0.1
    clock = Clock()
    runs: list[datetime] = []

    def slow_first(now: datetime) -> None:
        runs.append(now)
        if len(runs) == 1:
            threading.Event().wait(3.5 * interval_s)

    loop = Loop([Job("poll", interval_s, slow_first)], clock=clock)
    with running(loop):
        wait_until("three runs", lambda: len(runs) >= 3, timeout_s=5)
    start = clock.readings[0]
    missed_run, next_run = runs[1], runs[2]
    assert missed_run - start >= timedelta(seconds=3.5 * interval_s)
    # Three stacked runs would all start as the slow one ends, before the 4th slot.
    assert next_run - start >= timedelta(seconds=4 * interval_s)


def test_a_stop_lets_the_running_pass_finish_within_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, finished = threading.Event(), threading.Event()
    runs: list[datetime] = []

    def pass_(now: datetime) -> None:
        runs.append(now)
        started.set()
        threading.Event().wait(0.2)
        finished.set()

    loop = Loop([Job("poll", 0.01, pass_)])
    with caplog.at_level(logging.WARNING, logger="worker.scheduler"):
        with running(loop, grace_s=5.0) as thread:
            assert started.wait(5)
            loop.stop()
            thread.join(5)
            assert not thread.is_alive()
        assert finished.is_set()  # it returned only once the pass was over
    assert len(runs) == 1  # and no pass started after the stop
    assert [r for r in caplog.records if r.name == "worker.scheduler"] == []


def test_a_stop_abandons_a_pass_still_running_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, release = threading.Event(), threading.Event()

    def stuck(now: datetime) -> None:
        started.set()
        release.wait(1.0)

    loop = Loop([Job("poll", 60, stuck)])
    try:
        with (
            caplog.at_level(logging.WARNING, logger="worker.scheduler"),
            running(loop, grace_s=0.05) as thread,
        ):
            assert started.wait(5)
            loop.stop()
            thread.join(0.5)
            assert not thread.is_alive()  # returned, the pass still running
        (record,) = [r for r in caplog.records if r.name == "worker.scheduler"]
        assert "stopping while a pass is still running" in record.getMessage()
    finally:
        release.set()


def test_side_by_side_loops_never_wait_for_each_other() -> None:
    """One loop per Incidents database: however long one database's pass takes, the
    other's polls go on."""
    release = threading.Event()
    slow_runs: list[datetime] = []
    fast_runs: list[datetime] = []

    def slow(now: datetime) -> None:
        slow_runs.append(now)
        release.wait(5)

    loops = Loops(
        [Loop([Job("poll A", 0.05, slow)]), Loop([Job("poll B", 0.05, fast_runs.append)])]
    )
    assert [job.name for job in loops.jobs] == ["poll A", "poll B"]
    thread = threading.Thread(target=loops.run_until_stopped, args=(0.5,), daemon=True)
    thread.start()
    try:
        wait_until("polls of B while A's first pass runs", lambda: len(fast_runs) >= 3)
        assert len(slow_runs) == 1
    finally:
        release.set()
        loops.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert loops.wait_idle(5)
