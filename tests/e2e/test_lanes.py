"""End to end: the outbox goes out in two lanes at once, Slack's and Notion's, each at its
own pace — on the real scheduler, with each incident's order kept."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.harness import Harness, message_text, people, select
from tests.waiting import wait_until
from worker.sandbox import Sandbox
from worker.sandbox.ratelimit import RateLimit

BURST = 12
POSTS_PER_S = 4.0


def _settle(h: Harness) -> None:
    for _ in range(20):
        report = h.poll()
        if report.changed == 0 and not h.runtime.store.due_actions(h.runtime.clock()):
            return
    raise AssertionError("the worker did not settle")


def _parents(h: Harness) -> dict[str, float]:
    """Each incident's parent message: page id → its ts (when it was posted)."""
    found: dict[str, float] = {}
    for message in h.top_level():
        key = str(((message.get("metadata") or {}).get("event_payload") or {}).get("key", ""))
        if key.startswith("post_parent:"):
            found[key.removeprefix("post_parent:")] = float(message["ts"])
    return found


def _thread_ts(h: Harness, page: str) -> str:
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.thread_ts
    return record.thread_ts


def _drained(h: Harness) -> bool:
    return not h.runtime.store.pending_actions()


def test_a_burst_keeps_both_services_busy_and_a_live_incident_is_not_kept_waiting(
    box: Sandbox, tmp_path: Path
) -> None:
    """A dozen incidents are declared at once while Slack takes four messages a second. The
    Notion lane writes links and makes timeline pages while the Slack lane is still posting
    announcements (before: every announcement first, every page after); an edit made to a
    live incident meanwhile is answered before the burst's last announcement; in the end every
    incident has one parent message, one timeline page and its link, and each thread reads in
    the order things happened."""
    h = Harness(
        box, tmp_path, SLACK_POSTS_PER_SECOND=f"{POSTS_PER_S:g}", NOTION_REQUESTS_PER_SECOND="30"
    )
    live = h.declare(
        "Aiko",
        "Checkout errors",
        Severity=select("SEV2"),
        Status=select("Investigating"),
        Commander=people(h.person("Ben")),
    )
    _settle(h)
    h.box.slack.set_rate_limits(post_rate=RateLimit(POSTS_PER_S, 2.0))
    sev3 = select("SEV3")
    burst = [h.declare("Aiko", f"Shard {i} degraded", Severity=sev3) for i in range(BURST)]
    h.box.notion_log.clear()

    with h.on_scheduler():
        wait_until("the burst's first announcement", lambda: len(_parents(h)) > 1, timeout_s=20)
        h.edit("Ben", live, Status=select("Identified"))
        wait_until("every announcement", lambda: len(_parents(h)) == BURST + 1, timeout_s=30)
        h.edit("Ben", live, Status=select("Monitoring"))
        wait_until("all the work", lambda: _drained(h), timeout_s=60, every_s=0.1)

    parents = _parents(h)
    last_announced = max(parents[page] for page in burst)
    pages_made = [
        e["at"]
        for e in h.box.notion_log.entries()
        if e["method"] == "POST" and e["path"] == "/v1/pages"
    ]
    assert len(pages_made) == BURST  # one timeline page each, never two
    assert min(pages_made) < last_announced, "Notion sat idle while Slack posted the burst"

    live_thread = h.box.slack.thread(h.channel, _thread_ts(h, live))
    replies = [m for m in live_thread[1:] if "→" in message_text(m)]
    assert [("Investigating → Identified" in message_text(m)) for m in replies] == [True, False]
    assert "Identified → Monitoring" in message_text(replies[1])
    assert float(replies[0]["ts"]) < last_announced, "the edit waited for the burst"

    for page in burst:
        record = h.runtime.store.get_record(page)
        assert record is not None
        assert record.timeline_page_id
        assert record.permalink
        row = h.row(page)["properties"]
        assert row["Slack thread"]["url"] == record.permalink
        assert row["Timeline"]["url"]
        assert len(h.child_pages(page)) == 1
        thread = h.box.slack.thread(h.channel, record.thread_ts or "")
        assert float(thread[0]["ts"]) == parents[page]
    h.close()


def test_a_lane_that_meets_a_bug_goes_on_and_the_action_is_carried_out_later(
    box: Sandbox, tmp_path: Path
) -> None:
    """A surprise in the Notion lane (here: the outbox read failing once) is logged, and the
    lane goes on; nothing is lost, and the Slack lane never stopped."""
    h = Harness(box, tmp_path)
    store = h.runtime.store
    real = store.pending_actions
    failures = [0]

    def flaky() -> list:  # type: ignore[type-arg]
        import threading

        if threading.current_thread().name == "lane-notion" and failures[0] == 0:
            failures[0] += 1
            raise RuntimeError("a surprise")
        return real()

    store.pending_actions = flaky  # type: ignore[method-assign]
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    with h.on_scheduler():
        wait_until("the announcement", lambda: page in _parents(h), timeout_s=20)
        wait_until("its link and timeline", lambda: _drained(h), timeout_s=30, every_s=0.1)
    assert failures == [1]
    record = store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    assert h.row(page)["properties"]["Slack thread"]["url"] == record.permalink
    h.close()


def test_stopping_lets_the_action_in_flight_finish_and_a_restart_finishes_the_rest(
    box: Sandbox, tmp_path: Path
) -> None:
    """The worker is stopped in the middle of a burst; the lanes stop within the grace, and
    the next start carries out the rest: every incident announced exactly once."""
    h = Harness(box, tmp_path, SLACK_POSTS_PER_SECOND="4")
    h.box.slack.set_rate_limits(post_rate=RateLimit(4.0, 2.0))
    burst = [h.declare("Aiko", f"Shard {i} degraded", Severity=select("SEV3")) for i in range(8)]
    with h.on_scheduler() as loop:
        wait_until("a few announcements", lambda: len(_parents(h)) >= 2, timeout_s=20)
        started = time.monotonic()
        loop.stop()
    assert time.monotonic() - started < 5.0
    assert len(_parents(h)) < len(burst)
    h.restart()
    with h.on_scheduler():
        wait_until("the rest", lambda: len(_parents(h)) == len(burst), timeout_s=30)
        wait_until("all the work", lambda: _drained(h), timeout_s=60, every_s=0.1)
    assert sorted(_parents(h)) == sorted(burst)
    assert len(h.top_level()) == len(burst)
    h.close()
