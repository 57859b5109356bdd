"""End to end: reminders in the thread when a status update is overdue, and only then."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, message_text, people, rich, select
from tests.waiting import wait_until
from worker.plan import page_id_from_url
from worker.sandbox import Sandbox

T0 = datetime.now(UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _nudges(h: Harness, page: str) -> list[str]:
    marks = ("overdue", "No status update", "no commander")
    return [text for text in h.replies_text(page) if any(m in text for m in marks)]


def _declare(h: Harness, **props: dict[str, object]) -> str:
    ben = h.person("Ben")
    page = h.declare(
        "Aiko", "Checkout errors", Severity=select("SEV2"), Commander=people(ben), **props
    )  # type: ignore[arg-type]
    h.runtime.poll(_at(0))
    h.runtime.poll(_at(0.1))
    return page


def _announced(h: Harness, page: str) -> bool:
    """The incident's parent message is posted (its record comes first, on the scheduler)."""
    record = h.runtime.store.get_record(page)
    return record is not None and record.thread_ts is not None


def test_one_nudge_when_overdue_mentioning_the_commander(h: Harness) -> None:
    page = _declare(h)
    h.runtime.nag(_at(20))
    assert _nudges(h, page) == []  # SEV2: every 30 minutes
    h.runtime.nag(_at(31))
    h.runtime.nag(_at(32))
    h.runtime.nag(_at(45))
    (nudge,) = _nudges(h, page)
    assert f"<@{h.person('Ben').slack_id}>" in nudge
    assert "overdue" in nudge
    row = h.row(page)["properties"]
    assert row["Next update due"]["date"]["start"]  # everyone can see when it is due


def test_a_status_update_rearms_the_clock(h: Harness) -> None:
    page = _declare(h)
    h.edit("Ben", page, **{"Status update": rich("Rolled back; watching")})
    h.runtime.poll(_at(25))  # the update is seen at minute 25
    h.runtime.nag(_at(40))
    assert _nudges(h, page) == []
    h.runtime.nag(_at(56))
    assert len(_nudges(h, page)) == 1


def test_escalation_after_two_unanswered_nudges(h: Harness) -> None:
    page = _declare(h)
    for minute in (31, 61, 91):
        h.runtime.nag(_at(minute))
    nudges = _nudges(h, page)
    assert len(nudges) == 3
    assert "No status update" in nudges[2]
    assert "<!channel>" in nudges[2]
    escalation = [m for m in h.thread_of(page) if "No status update" in message_text(m)]
    assert escalation[0].get("subtype") == "thread_broadcast"  # also sent to the channel


def test_silence_after_resolution(h: Harness) -> None:
    page = _declare(h)
    h.edit("Ben", page, Status=select("Resolved"))
    h.runtime.poll(_at(5))
    h.runtime.poll(_at(5.1))
    for minute in (31, 61, 200):
        h.runtime.nag(_at(minute))
    assert _nudges(h, page) == []
    assert h.row(page)["properties"]["Next update due"]["date"] is None


def test_no_nudge_is_repeated_across_a_restart_and_downtime_sends_one(h: Harness) -> None:
    page = _declare(h)
    h.runtime.nag(_at(31))
    h.restart()
    h.runtime.nag(_at(32))
    assert len(_nudges(h, page)) == 1
    h.restart()
    h.runtime.nag(_at(121))  # down for an hour and a half: one nudge, not a backlog
    assert len(_nudges(h, page)) == 2


def test_an_incident_without_a_commander_gets_one_call_for_one(h: Harness) -> None:
    page = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.runtime.poll(_at(0))
    h.runtime.poll(_at(0.1))
    for minute in (6, 7, 20):
        h.runtime.nag(_at(minute))
    calls = [n for n in _nudges(h, page) if "has no commander yet" in n]
    assert len(calls) == 1  # once (the escalation that follows is another message)


def test_nudges_are_written_on_the_timeline(h: Harness) -> None:
    page = _declare(h)
    h.runtime.nag(_at(31))
    h.runtime.poll(_at(31.1))
    record = h.runtime.store.get_record(page)
    assert record is not None
    timeline = record.timeline_page_id or page_id_from_url(
        h.row(page)["properties"]["Timeline"]["url"]
    )
    assert timeline
    blocks = list(h.runtime.notion.list_children(timeline))
    texts = ["".join(t["plain_text"] for t in b[b["type"]].get("rich_text", [])) for b in blocks]
    assert any("Reminder" in t and "overdue" in t for t in texts)


def test_second_scale_cadence_on_the_real_clock(box: Sandbox, tmp_path: Path) -> None:
    """The worker's own schedule, in real time (the scheduler `incident-worker run` uses): a
    2-second cadence nudges once, an update stops it."""
    h = Harness(
        box, tmp_path, UPDATE_CADENCE="SEV2=2s", NAG_INTERVAL="200ms", POLL_INTERVAL="200ms"
    )
    ben = h.person("Ben")
    page = h.declare("Aiko", "Queue stuck", Severity=select("SEV2"), Commander=people(ben))
    with h.on_scheduler():
        wait_until("the announcement", lambda: _announced(h, page))
        wait_until("the nudge", lambda: _nudges(h, page), timeout_s=10)
        time.sleep(1.0)  # half a cadence more: still one nudge, not one per pass
        assert len(_nudges(h, page)) == 1
        h.edit("Ben", page, **{"Status update": rich("Unstuck")})
        wait_until("the update's reply", lambda: any("Unstuck" in r for r in h.replies_text(page)))
        time.sleep(1.5)  # less than a cadence after the update
    assert len(_nudges(h, page)) == 1
    h.close()


# --- nobody assigned, nothing classified (issue 11, items 17 and 18) ------------------------


def _replies_with(h: Harness, page: str, mark: str) -> list[dict[str, object]]:
    return [m for m in h.thread_of(page)[1:] if mark in message_text(m)]


def _clock() -> Callable[[float], datetime]:
    """Minutes from now, read when the test starts (Notion stamps rows by the real clock, so
    a time read when the module was imported can be minutes behind in a long run)."""
    start = datetime.now(UTC)
    return lambda minutes: start + timedelta(minutes=minutes)


def test_an_incident_without_a_severity_is_asked_for_one_after_the_grace(h: Harness) -> None:
    at = _clock()
    ben = h.person("Ben")
    page = h.declare("Aiko", "Something is off", Commander=people(ben))
    h.runtime.poll(at(0))
    h.runtime.poll(at(0.1))
    h.runtime.nag(at(4))
    assert _replies_with(h, page, "no severity") == []
    for minute in (6, 7, 30):
        h.runtime.nag(at(minute))
    (ask,) = _replies_with(h, page, "no severity")
    text = message_text(ask)
    assert f"<@{ben.slack_id}>" in text  # the commander is asked
    assert "*Severity*" in text
    assert ask.get("subtype") != "thread_broadcast"  # someone is on it: the thread is enough


def test_setting_a_severity_in_time_means_nobody_is_asked(h: Harness) -> None:
    at = _clock()
    page = h.declare("Aiko", "Something is off", Commander=people(h.person("Ben")))
    h.runtime.poll(at(0))
    h.runtime.poll(at(0.1))
    h.edit("Ben", page, Severity=select("SEV3"))
    h.runtime.poll(at(2))
    for minute in (6, 30):
        h.runtime.nag(at(minute))
    assert _replies_with(h, page, "no severity") == []


def test_nobody_assigned_the_call_for_a_commander_reaches_the_escalation_group_then_escalates(
    box: Sandbox, tmp_path: Path
) -> None:
    at = _clock()
    h = Harness(box, tmp_path, ESCALATE_TO="S0ONCALL1")
    page = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.runtime.poll(at(0))
    h.runtime.poll(at(0.1))
    h.runtime.nag(at(6))
    (call,) = _replies_with(h, page, "no commander")
    assert "<!subteam^S0ONCALL1>" in message_text(call)
    assert call.get("subtype") == "thread_broadcast"  # the channel sees it too
    for minute in (7, 9):
        h.runtime.nag(at(minute))
    assert _replies_with(h, page, "still has no commander") == []  # not before another grace
    for minute in (11, 12, 40):
        h.runtime.nag(at(minute))
    (escalation,) = _replies_with(h, page, "still has no commander")  # once
    assert "<!subteam^S0ONCALL1>" in message_text(escalation)
    assert escalation.get("subtype") == "thread_broadcast"
    h.close()


def test_taking_command_after_the_call_stops_the_escalation(h: Harness) -> None:
    at = _clock()
    page = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.runtime.poll(at(0))
    h.runtime.poll(at(0.1))
    h.runtime.nag(at(6))
    h.edit("Ben", page, Commander=people(h.person("Ben")))
    h.runtime.poll(at(8))
    for minute in (11, 40):
        h.runtime.nag(at(minute))
    assert len(_replies_with(h, page, "no commander")) == 1
    assert _replies_with(h, page, "still has no commander") == []


@pytest.mark.parametrize(
    ("locale", "dangling"),
    [("en", "whoever is on it"), ("ja", "担当者 さん")],
)
def test_no_reminder_dangles_a_placeholder_when_nobody_is_assigned(
    box: Sandbox, tmp_path: Path, locale: str, dangling: str
) -> None:
    at = _clock()
    h = Harness(box, tmp_path, with_postmortems=True, LOCALE=locale)
    unclassified = h.declare("Aiko", "Something is off")
    sev1 = h.declare("Aiko", "Checkout down", Severity=select("SEV1"))
    h.runtime.poll(at(0))
    h.runtime.poll(at(0.1))
    for minute in (6, 11, 16, 31, 46):  # calls, escalations, overdue updates
        h.runtime.nag(at(minute))
    h.edit("Aiko", sev1, Status=select("Resolved"))
    h.runtime.poll(at(50))
    h.runtime.poll(at(50.1))  # the postmortem and its "ready" reply
    h.retry_now()
    h.runtime.poll(at(50.2))
    later = at(3 * 24 * 60 + 60)
    weekday_morning = later.replace(hour=10, minute=0) + timedelta(days=1)
    while weekday_morning.weekday() >= 5:
        weekday_morning += timedelta(days=1)
    h.runtime.nag(weekday_morning)  # the postmortem reminder
    replies = h.replies_text(unclassified) + h.replies_text(sev1)
    for text in replies:
        assert dangling not in text, text
    # A call for a commander, for a severity and the escalation of the first; for the SEV1 a
    # call, its escalation, two overdue updates and their escalation, the resolution, the
    # postmortem draft and the reminder to finish it: each read above.
    assert (len(h.replies_text(unclassified)), len(h.replies_text(sev1))) == (3, 8), replies
    h.close()


def test_the_same_update_text_again_is_not_an_update_and_the_reminder_says_so(
    h: Harness,
) -> None:
    """Defined behaviour (issue 11, item 12): a status update is new text in *Status update*.
    The same words saved again tell watchers nothing new (and Notion does not even report an
    unchanged value), so the clock is not re-armed; the reminder asks for what has changed."""
    page = _declare(h)
    h.edit("Ben", page, **{"Status update": rich("Investigating the spike")})
    h.runtime.poll(_at(5))
    h.edit("Ben", page, **{"Status update": rich("Investigating the spike")})
    h.runtime.poll(_at(34))
    h.runtime.nag(_at(36))
    (nudge,) = _nudges(h, page)
    assert "the last one was at" in nudge
    assert "the same text again is not a new update" in nudge
