"""End to end: when Notion asks the worker to wait, it waits as told and the thread goes on.

Notion's "Request limits" page (https://developers.notion.com/reference/request-limits):
a connection's budget per 60-second window ends with a 429 whose "Retry-After value is the time
until the window resets, so it is at most 60 seconds"; the workspace's shared limit's
"Retry-After for this limit can be longer than a minute"; "Use the returned value rather than
assuming a fixed wait." What a team needs then: the Notion reads and writes wait exactly that
long — no early retries, nothing dropped or done twice — while replies already planned and
reminders still go to Slack, and /healthz stays 200 with a note for a wait Notion asked for.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, select
from worker.runtime import Runtime
from worker.sandbox import NotionLimits, Sandbox, WindowLimit
from worker.sandbox.notion.pages import render_page

# A status update is due 20 s after the declaration (40 s while mitigated); nobody is asked
# to take command during these tests.
FAST = {"NOTION_REQUESTS_PER_SECOND": "1000", "UPDATE_CADENCE": "SEV2=20s", "COMMANDER_GRACE": "1h"}


class Ticks:
    """One monotonic clock, moved by hand, for the emulator's windows and the worker's wait."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def _use_up_after_the_next_query(box: Sandbox, token: str | None) -> None:
    """Right after Notion answers the worker's next query, the budget is spent (by other
    requests in the workspace, or by the worker's own burst): whatever the poll then sends
    is refused until the window resets."""
    fired: list[bool] = []

    def listener(method: str, path: str) -> None:
        if not fired and method == "POST" and path.endswith("/query"):
            fired.append(True)
            box.notion.use_up_budget(token)

    box.tap_answers(listener)


def _known_incident(h: Harness, when: datetime) -> str:
    """An announced incident whose editor the worker has looked up once already."""
    page = h.declare(
        "Aiko", "Search is slow", Severity=select("SEV2"), Status=select("Investigating")
    )
    h.runtime.poll(when)
    h.edit("Aiko", page, Status=select("Identified"))
    h.runtime.poll(when + timedelta(seconds=5))
    assert len(h.replies_text(page)) == 1
    return page


def _notion_requests(box: Sandbox) -> int:
    return len(box.notion_log.entries())


def _mitigated_at(box: Sandbox, page: str) -> object:
    """The row's Mitigated at as Notion holds it (read inside the emulator: asking Notion for
    the row would spend the very budget the test has used up)."""
    with box.notion.lock:
        row = render_page(box.notion.state, box.notion.state.pages[page])
    return row["properties"]["Mitigated at"]["date"]


def _waits_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "worker.notion" and r.levelno >= logging.WARNING and "wait" in r.getMessage()
    ]


def test_a_workspace_limit_wait_holds_the_notion_writes_but_not_the_reply(
    box: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The sandbox's short-window knobs, real time: a workspace window of 3 s.
    h = Harness(box, tmp_path, **FAST)
    caplog.set_level(logging.INFO)
    page = _known_incident(h, datetime.now(UTC))
    box.notion.set_limits(
        NotionLimits(connection=WindowLimit(1_000, 2.0), workspace=WindowLimit(1_000, 3.0))
    )
    h.edit("Aiko", page, Status=select("Monitoring"))
    _use_up_after_the_next_query(box, None)  # another integration spent the workspace's

    started = time.monotonic()
    report = h.poll()
    took_s = time.monotonic() - started
    assert any("Monitoring" in r for r in h.replies_text(page)), "the reply waited for Notion"
    assert took_s < 2.5, f"the poll held the scheduler thread for {took_s:.1f}s (wait: 3 s)"
    assert _mitigated_at(box, page) is None  # the write waits
    assert report.delivery.waiting >= 1
    assert report.notion_wait is not None
    assert "shared by the workspace" in report.notion_wait.reason

    before = _notion_requests(box)
    h.poll()  # within the wait: nothing is asked of Notion again
    assert _notion_requests(box) == before
    assert h.runtime.health.check(datetime.now(UTC)).ok

    time.sleep(max(0.0, report.notion_wait.until.timestamp() - time.time()) + 0.1)
    after = h.poll()
    assert after.notion_wait is None
    assert _mitigated_at(box, page) is not None
    replies = h.replies_text(page)
    assert sum("Monitoring" in r for r in replies) == 1
    assert len(replies) == 2
    assert len(_waits_logged(caplog)) == 1
    told = [
        r
        for r in caplog.records
        if r.name == "worker.runtime"
        and r.levelno >= logging.INFO
        and "Notion asked to wait" in r.getMessage()
    ]
    assert len(told) == 1  # the poll summaries say it once too


_LONG_WAITS = {
    # A connection's budget: the refusal asks for the rest of the 60-second window.
    "connection-60s": (
        NotionLimits(connection=WindowLimit(1_000, 60.0), workspace=WindowLimit(0, 0.0)),
        60,
    ),
    # The workspace's limit: "Retry-After for this limit can be longer than a minute".
    "workspace-300s": (
        NotionLimits(connection=WindowLimit(0, 0.0), workspace=WindowLimit(1_000, 300.0)),
        300,
    ),
}


@pytest.mark.parametrize("case", sorted(_LONG_WAITS))
def test_a_long_retry_after_is_waited_out_without_giving_up_or_going_unhealthy(
    box: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    limits, wait_s = _LONG_WAITS[case]
    token = box.workspace.notion_token if limits.connection.enabled else None
    # Fake clocks on both sides, so that minutes pass in no time: the emulator's windows and
    # the worker's wait run on `ticks`; the worker's `now` is passed in.
    ticks = Ticks()
    box.notion.limiter.clock = ticks
    h = Harness(box, tmp_path, **FAST)
    h.runtime.notion.hold.clock = ticks
    caplog.set_level(logging.INFO)
    start = datetime.now(UTC)
    page = _known_incident(h, start)
    box.notion.set_limits(limits)
    h.edit("Aiko", page, Status=select("Monitoring"))
    _use_up_after_the_next_query(box, token)

    now = start + timedelta(seconds=10)
    report = h.runtime.poll(now)
    assert report is not None
    assert any("Monitoring" in r for r in h.replies_text(page)), "the reply waited for Notion"
    assert report.notion_wait is not None
    assert report.notion_wait.until == now + timedelta(seconds=wait_s)
    assert h.runtime.health.check(now).ok

    # Half-way through (and later, past HEALTH_MAX_AGE): polls ask Notion nothing, the
    # reminders still go out, and /healthz says what the worker waits for.
    asked = _notion_requests(box)
    for elapsed_s in (wait_s / 2, wait_s - 1):
        ticks.now = 10_000.0 + elapsed_s
        moment = now + timedelta(seconds=elapsed_s)
        waiting = h.runtime.poll(moment)
        assert waiting is not None
        assert waiting.notion_wait is not None
        health = h.runtime.health.check(moment)
        assert health.ok, health.body
        assert health.body["waiting_for_notion"]["until"] == report.notion_wait.until.isoformat(
            timespec="seconds"
        )
    nag = h.runtime.nag(moment)  # an update is overdue by now: the reminder goes out
    assert nag is not None
    assert nag.queued == 1
    assert "update" in h.replies_text(page)[-1].lower()
    assert _notion_requests(box) == asked, "Notion was asked again before the wait was over"
    assert _mitigated_at(box, page) is None  # the write waits

    ticks.now = 10_000.0 + wait_s
    done = h.runtime.poll(now + timedelta(seconds=wait_s))
    assert done is not None
    assert done.notion_wait is None
    assert _mitigated_at(box, page) is not None
    replies = h.replies_text(page)
    assert sum("Monitoring" in r for r in replies) == 1
    assert len(replies) == 3  # Identified, Monitoring, the reminder: nothing twice
    assert "Monitoring" in repr(h.thread_of(page)[0]["blocks"])  # the parent caught up
    assert len(_waits_logged(caplog)) == 1  # said once, not at every poll


def test_a_worker_starting_while_notion_asks_for_minutes_waits_them_out(
    box: Sandbox, tmp_path: Path
) -> None:
    # Before: notion-client slept 20 s twice inside `users.me`, asking again each time, and
    # the start gave up after its last retry, minutes before the workspace's wait was over.
    ticks = Ticks()
    box.notion.limiter.clock = ticks
    h = Harness(box, tmp_path, **FAST)
    h.close()
    box.notion.set_limits(
        NotionLimits(connection=WindowLimit(0, 0.0), workspace=WindowLimit(1_000, 300.0))
    )
    box.notion.use_up_budget()  # the workspace's other integrations spent it
    paused: list[float] = []

    def pause(seconds: float) -> None:
        paused.append(seconds)
        health = runtime.health.check(datetime.now(UTC))
        assert health.ok, health.body  # a wait Notion asked for: no reason to restart
        assert health.body["waiting_for_notion"]["reason"].startswith("the request limit shared")
        ticks.now += seconds

    runtime = Runtime.build(h.settings(), sleep=pause)
    runtime.notion.hold.clock = ticks
    try:
        asked = _notion_requests(box)
        runtime.start()
        assert paused == [300.0]
        assert _notion_requests(box) - asked == 3  # refused once; then users.me, databases
    finally:
        runtime.close()
