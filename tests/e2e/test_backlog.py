"""End to end: bulk work (a pass of reminders, parents rewritten after a state loss) never
keeps a change people just made waiting — at Slack's real pace, on the real scheduler."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, message_text, people, select
from tests.waiting import wait_until
from worker.reports import PollReport
from worker.sandbox import Sandbox
from worker.sandbox.ratelimit import RateLimit

REMINDED = 24
POLL_INTERVAL_S = 1.0
# An edit is announced at the next poll: within a poll interval, plus a few seconds for the
# poll itself and Slack's one-message-a-second pace in the channel.
REPLY_WITHIN_S = POLL_INTERVAL_S + 3.0


def _settle(h: Harness) -> None:
    for _ in range(20):
        report = h.poll()
        if report.changed == 0 and not h.runtime.store.due_actions(h.runtime.clock()):
            return
    raise AssertionError("the worker did not settle")


def _at_slacks_pace(h: Harness, **env: str) -> None:
    """From now on the sandbox limits Slack as Slack does (one message a second per channel,
    each method's tier) and the worker paces itself for it."""
    h.box.slack.set_rate_limits(post_rate=RateLimit(1.0, 5.0), tier_limits=True)
    h.env.update(SLACK_POSTS_PER_SECOND="1", SLACK_TIER_PACING="on", **env)


def _thread(h: Harness, page: str) -> str:
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.thread_ts
    return record.thread_ts


def _replies(h: Harness, thread_ts: str) -> list[str]:
    return [message_text(m) for m in h.box.slack.thread(h.channel, thread_ts)[1:]]


def _calls_for_a_commander(h: Harness, threads: list[str]) -> list[int]:
    return [sum("no commander" in r for r in _replies(h, ts)) for ts in threads]


def _incidents(h: Harness, count: int) -> tuple[list[str], str]:
    """`count` open incidents nobody commands, and one more with a commander."""
    sev3, investigating = select("SEV3"), select("Investigating")
    pages = [
        h.declare("Aiko", f"Shard {i} degraded", Severity=sev3, Status=investigating)
        for i in range(count)
    ]
    target = h.declare(
        "Aiko",
        "Checkout errors",
        Severity=select("SEV2"),
        Status=select("Investigating"),
        Commander=people(h.person("Ben")),
    )
    _settle(h)
    return pages, target


def test_an_edit_is_announced_within_a_poll_while_two_dozen_reminders_go_out(
    box: Sandbox, tmp_path: Path
) -> None:
    """24 incidents without a commander come due for a reminder at once: at one message a
    second that is 20 s of posting. Someone edits another incident meanwhile: its reply comes
    at the next poll, between reminders, and every reminder is still sent exactly once."""
    h = Harness(box, tmp_path, COMMANDER_GRACE="1h", POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s")
    pages, target = _incidents(h, REMINDED)
    threads = [_thread(h, page) for page in pages]
    target_thread = _thread(h, target)
    # One nudge pass (the scheduler's first) queues all 24 calls for a commander; the next,
    # an hour on, would be the escalations of the calls nobody answered.
    _at_slacks_pace(h, COMMANDER_GRACE="1s", NAG_INTERVAL="1h")
    # The grace runs from the declaration on Notion's clock: on a quiet machine the first
    # pass could come within it, and the next one is an hour away.
    time.sleep(1.5)
    h.restart()

    with h.on_scheduler():
        wait_until(
            "the first reminder",
            lambda: sum(_calls_for_a_commander(h, threads)) > 0,
            timeout_s=15,
            every_s=0.05,
        )
        h.edit("Ben", target, Status=select("Identified"))
        edited = time.monotonic()
        wait_until(
            "the edit's reply",
            lambda: len(_replies(h, target_thread)) > 0,
            timeout_s=60,
            every_s=0.05,
        )
        latency_s = time.monotonic() - edited
        reminded_by_then = sum(_calls_for_a_commander(h, threads))
        wait_until(
            "every reminder",
            lambda: sum(_calls_for_a_commander(h, threads)) >= REMINDED,
            timeout_s=60,
            every_s=0.05,
        )
        time.sleep(2 * POLL_INTERVAL_S)  # time enough for a duplicate to show, if any

    assert latency_s <= REPLY_WITHIN_S, (
        f"the reply took {latency_s:.1f}s; {reminded_by_then} of {REMINDED} reminders went first"
    )
    assert reminded_by_then < REMINDED  # it did not wait for the reminders
    assert "Investigating → Identified" in _replies(h, target_thread)[0]
    assert _calls_for_a_commander(h, threads) == [1] * REMINDED
    h.close()


def _catching_up(h: Harness) -> int:
    """Slack calls of the catch-up after a lost state: threads read back, parents rewritten."""
    paths = ("/conversations.replies", "/chat.update")
    return sum(1 for e in h.box.slack_log.entries() if e["path"].endswith(paths))


def test_an_edit_is_announced_within_a_poll_while_open_incidents_are_caught_up_after_a_state_loss(
    box: Sandbox, tmp_path: Path
) -> None:
    """After the state store is lost, every open incident's thread is read back and its
    parent message brought up to date — for 24 incidents that is 48 calls at Slack's 50 a
    minute per method, about 20 s. An edit made meanwhile is announced at the next poll,
    not after the catch-up."""
    h = Harness(box, tmp_path, COMMANDER_GRACE="1h", POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s")
    pages, target = _incidents(h, REMINDED)
    target_thread = _thread(h, target)
    _at_slacks_pace(h)
    h.restart(lose_state=True)
    before = _catching_up(h)
    every_call = 2 * (len(pages) + 1)

    with h.on_scheduler():
        wait_until(
            "the catch-up to start", lambda: _catching_up(h) > before, timeout_s=15, every_s=0.05
        )
        h.edit("Ben", target, Status=select("Identified"))
        edited = time.monotonic()
        wait_until(
            "the edit's reply",
            lambda: len(_replies(h, target_thread)) > 0,
            timeout_s=60,
            every_s=0.05,
        )
        latency_s = time.monotonic() - edited
        caught_up_by_then = _catching_up(h) - before
        wait_until(
            "the catch-up to end",
            lambda: _catching_up(h) - before >= every_call,
            timeout_s=60,
            every_s=0.05,
        )

    assert latency_s <= REPLY_WITHIN_S, (
        f"the reply took {latency_s:.1f}s; {caught_up_by_then} catch-up calls went first"
    )
    assert caught_up_by_then < every_call  # it did not wait for the catch-up
    assert "Investigating → Identified" in _replies(h, target_thread)[0]
    h.close()


def test_a_poll_only_records_and_the_lanes_do_the_work_before_the_next_poll(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the scheduler a poll records what people did and returns; the delivery lanes
    announce it and make the pages at once, not at the next poll (5 s away)."""
    h = Harness(box, tmp_path, POLL_INTERVAL="5s", NOTION_REQUESTS_PER_SECOND="20")
    pages = [h.declare("Aiko", f"Shard {i} degraded", Severity=select("SEV3")) for i in range(3)]
    polls: list[tuple[bool, int]] = []
    real_poll = h.runtime.poll

    def poll(now: datetime, *, deliver: bool = True) -> PollReport | None:
        report = real_poll(now, deliver=deliver)
        polls.append((deliver, report.delivery.done if report else -1))
        return report

    monkeypatch.setattr(h.runtime, "poll", poll)

    def pages_made() -> bool:
        records = [h.runtime.store.get_record(page) for page in pages]
        return all(r is not None and r.timeline_page_id for r in records)

    with h.on_scheduler():
        wait_until("every timeline page", pages_made, timeout_s=4.5, every_s=0.05)
        wait_until("all the work", lambda: not h.runtime.store.pending_actions(), timeout_s=4)
    assert polls[0] == (False, 0)  # the poll itself carried out nothing
    assert len(polls) == 1  # all of it done before the next poll
    assert len(h.top_level()) == 3
    h.close()
