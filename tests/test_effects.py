"""Effects: the outbox carried out against the sandbox — each action once, a failing incident
waiting while the others go on, a refused message never holding up the next, write-backs
that leave what people set alone.

The actions come from the plan (`plan_row`, as a poll records them, none carried out yet)
or from the nag pass; the tests then run `Effects.run_due` alone and look at Slack and
Notion as people would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, message_text, select
from worker.effects import Effects
from worker.errors import LostLeadershipError
from worker.plan import plan_row
from worker.sandbox import Sandbox
from worker.snapshot import parse_timestamp


def _recorded(h: Harness, page: str, now: datetime) -> None:
    """What a poll records for the row as it stands in Notion: its plan's actions in the
    outbox, none carried out yet."""
    store = h.runtime.store
    incident = h.runtime.notion.retrieve_incident(page)
    plan = plan_row(
        store.get_record(page), incident, h.runtime.settings, actor=None, now=now, first_run=False
    )
    store.save_plan(plan, now)


def _effects(h: Harness, now: datetime) -> Effects:
    """The runtime's effects, this replica holding the lease at `now` (as when it polls)."""
    assert h.runtime.lead(now)
    return h.runtime.worker.effects


def _settled(h: Harness, now: datetime) -> None:
    """Run the outbox until nothing is left to do (a pass may queue a follow-up: once the
    timeline exists, the parent message links to it)."""
    for _ in range(5):
        report = _effects(h, now).run_due(now)
        assert (report.retried, report.failed) == (0, 0)
        if not report.done:
            return
    raise AssertionError("the outbox never settled")


def _announced(h: Harness, title: str, now: datetime, **props: dict[str, Any]) -> str:
    """An incident declared in Notion whose thread, links and timeline are all done."""
    page = h.declare("Aiko", title, Severity=select("SEV2"), **props)
    _recorded(h, page, now)
    _settled(h, now)
    return page


def _states(h: Harness, page: str) -> dict[str, str]:
    """kind → state of the incident's actions (the last of each kind)."""
    return {a.kind: a.state for a in h.runtime.store.actions_for(page)}


def _slack_calls(h: Harness, method: str) -> int:
    return sum(e["path"].endswith(f"/{method}") for e in h.box.slack_log.entries())


def test_each_action_is_carried_out_once_however_often_the_outbox_runs(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _recorded(h, page, now)
    _settled(h, now)
    posts = _slack_calls(h, "chat.postMessage")
    again = _effects(h, now).run_due(now)
    assert (again.done, again.retried, again.failed) == (0, 0, 0)
    assert _slack_calls(h, "chat.postMessage") == posts == 1
    assert {a.state for a in h.runtime.store.actions_for(page)} == {"done"}
    assert len(h.thread_of(page)) == 1  # the parent, and no reply
    assert h.child_pages(page) == ["Checkout down — Timeline"]
    assert h.row(page)["properties"]["Slack thread"]["url"]  # the thread's link, written back


def test_a_pass_that_outlives_its_lease_claims_nothing_more(h: Harness) -> None:
    """A stop gives the lease up while a pass may still run (after the stop's grace): an
    action that pass goes on to claim is refused, even between its check of the lease and
    the claim, so a replica taking over never sees a double."""
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _recorded(h, page, now)
    effects = _effects(h, now)  # the lease is held as the pass begins...
    (item, *_) = h.runtime.store.due_actions(now)
    h.runtime.lease.release()  # ...and given up by the stop while the pass goes on
    with pytest.raises(LostLeadershipError):
        effects.claim(item, now)
    assert h.runtime.store.action(item.key).state == "pending"  # type: ignore[union-attr]
    assert effects.run_due(now).done == 0
    assert _slack_calls(h, "chat.postMessage") == 0


def test_a_post_whose_answer_was_lost_is_found_in_slack_not_posted_again(h: Harness) -> None:
    now = datetime.now(UTC)
    page = _announced(h, "Checkout down", now)
    store = h.runtime.store
    thread_ts = store.get_record(page).thread_ts  # type: ignore[union-attr]
    (parent,) = [a for a in store.actions_for(page) if a.kind == "post_parent"]
    # As if the worker died after Slack took the post, before it noted that it was done.
    store.mark_sending(parent.id, now)
    report = _effects(h, now).run_due(now)
    assert (report.reconciled, report.done) == (1, 1)
    assert len(h.top_level()) == 1
    assert store.get_record(page).thread_ts == thread_ts  # type: ignore[union-attr]


def test_an_incident_whose_post_fails_waits_and_the_others_go_on(h: Harness) -> None:
    now = datetime.now(UTC)
    flaky = h.declare("Aiko", "Checkout FLAKY", Severity=select("SEV2"))
    fine = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    _recorded(h, flaky, now)
    _recorded(h, fine, now)
    h.box.slack.refuse_content("FLAKY", "ratelimited")  # Slack turns its post away, for now
    report = _effects(h, now).run_due(now)
    assert report.failed == 0
    assert _states(h, flaky)["post_parent"] == "pending"
    assert ["Search slow" in message_text(m) for m in h.top_level()] == [True]
    assert h.row(fine)["properties"]["Slack thread"]["url"]
    # Its timeline page and links wait for its thread (to link to it); nothing is given up.
    assert h.row(flaky)["properties"]["Slack thread"]["url"] is None
    assert _states(h, flaky)["create_timeline"] == "pending"

    h.box.slack.refuse_content("FLAKY", None)
    later_now = now + timedelta(minutes=5)  # its backoff is over
    later = _effects(h, later_now).run_due(later_now)
    assert later.failed == 0
    assert len(h.top_level()) == 2
    assert h.row(flaky)["properties"]["Slack thread"]["url"]


def test_a_message_slack_refuses_is_posted_plain_and_the_next_action_goes_on(h: Harness) -> None:
    h.box.slack.set_blocks_text_limit(10)  # any parent message's blocks are too long
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _recorded(h, page, now)
    report = _effects(h, now).run_due(now)
    assert (report.retried, report.failed) == (0, 0)
    (parent,) = h.top_level()
    assert not parent.get("blocks")
    assert "Checkout down" in parent["text"]
    assert "|more in Notion>" in parent["text"]  # the rest is on the row
    (item,) = [a for a in h.runtime.store.actions_for(page) if a.kind == "post_parent"]
    assert item.result is not None
    assert item.result["plain"] == "msg_blocks_too_long"
    assert h.row(page)["properties"]["Slack thread"]["url"]  # the thread goes on


def test_a_message_refused_in_every_form_leaves_a_notice_and_the_next_action_goes_on(
    h: Harness,
) -> None:
    h.box.slack.refuse_content("UNPOSTABLE", "invalid_arguments")
    page = h.declare("Aiko", "Checkout UNPOSTABLE", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _recorded(h, page, now)
    report = _effects(h, now).run_due(now)
    assert (report.retried, report.failed) == (0, 0)
    (notice,) = h.top_level()
    assert "could not be posted" in notice["text"]
    assert "UNPOSTABLE" not in message_text(notice)
    assert h.row(page)["properties"]["Slack thread"]["url"]  # the thread goes on from it


def test_of_two_parent_updates_waiting_only_the_last_is_sent(h: Harness) -> None:
    now = datetime.now(UTC)
    page = _announced(h, "Checkout down", now)
    h.edit("Ben", page, Severity=select("SEV1"))
    _recorded(h, page, now + timedelta(minutes=1))
    h.edit("Ben", page, Status=select("Identified"))
    _recorded(h, page, now + timedelta(minutes=2))
    updates = _slack_calls(h, "chat.update")
    report = _effects(h, now + timedelta(minutes=2)).run_due(now + timedelta(minutes=2))
    assert report.failed == 0
    assert _slack_calls(h, "chat.update") - updates == 1
    *_, first, last = [a for a in h.runtime.store.actions_for(page) if a.kind == "update_parent"]
    assert first.result == {"superseded": True}
    assert last.state == "done"
    shown = message_text(h.thread_of(page)[0])
    assert "SEV1" in shown
    assert "Identified" in shown


def test_a_reminder_answered_before_it_went_out_is_not_sent(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path, UPDATE_CADENCE="SEV2=10m", COMMANDER_GRACE="1h")
    try:
        now = datetime.now(UTC)
        page = _announced(h, "Checkout down", now)
        overdue = now + timedelta(minutes=11)
        assert h.runtime.worker.nag_pass(overdue, deliver=False).queued == 1
        h.edit("Ben", page, Status=select("Resolved"))  # meanwhile, before it goes out
        _recorded(h, page, overdue)
        report = _effects(h, overdue).run_due(overdue)
        assert report.failed == 0
        (nudge,) = [a for a in h.runtime.store.actions_for(page) if a.kind == "post_nudge"]
        assert nudge.result == {"skipped": "the incident was resolved meanwhile"}
        replies = h.replies_text(page)
        assert any("→ Resolved" in r for r in replies)
        assert not any("update" in r.lower() and "overdue" in r.lower() for r in replies)
    finally:
        h.close()


def test_writes_to_a_row_in_the_trash_wait_for_it_and_the_thread_goes_on(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _recorded(h, page, now)
    client = h.client("Aiko")
    try:
        client.pages.update(page_id=page, in_trash=True)
    finally:
        client.close()
    report = _effects(h, now).run_due(now)
    assert report.failed == 0
    assert len(h.top_level()) == 1  # announced all the same
    assert _states(h, page)["create_timeline"] == "paused"  # until the row is restored


def test_background_work_stops_at_its_budget_after_all_the_urgent_work(h: Harness) -> None:
    now = datetime.now(UTC)
    pages = [h.declare("Aiko", f"Incident {n}", Severity=select("SEV3")) for n in range(3)]
    for page in pages:
        _recorded(h, page, now)
    report = _effects(h, now).run_due(now, background_budget_s=0.0)
    assert report.deferred
    assert len(h.top_level()) == 3  # every announcement, however short the budget
    assert sum(len(h.child_pages(p)) for p in pages) == 1  # the first page work always goes
    rest = _effects(h, now).run_due(now)
    assert not rest.deferred
    assert [h.child_pages(p) for p in pages] == [[f"Incident {n} — Timeline"] for n in range(3)]


def _mitigated_at(h: Harness, page: str) -> datetime | None:
    date = h.row(page)["properties"]["Mitigated at"]["date"]
    return parse_timestamp(date["start"]) if date else None


@pytest.mark.parametrize("set_by_person", [False, True], ids=["empty", "set-by-a-person"])
def test_a_time_written_back_fills_the_row_only_where_it_is_empty(
    h: Harness, set_by_person: bool
) -> None:
    now = datetime.now(UTC)
    page = _announced(h, "Checkout down", now)
    edited = datetime.now(UTC)
    h.edit("Ben", page, Status=select("Monitoring"))
    mitigated = now + timedelta(minutes=3)
    _recorded(h, page, mitigated)  # planned: fill in Mitigated at
    theirs = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    if set_by_person:  # … and meanwhile someone typed the time they know
        h.edit("Aiko", page, **{"Mitigated at": {"date": {"start": theirs.isoformat()}}})
    report = _effects(h, mitigated).run_due(mitigated)
    assert report.failed == 0
    written = _mitigated_at(h, page)
    if set_by_person:
        assert written == theirs
    else:  # when Ben's edit happened, as closely as Notion's minutes tell
        assert written is not None
        assert edited - timedelta(minutes=1) <= written <= mitigated
