"""End to end: what people do to rows on a bad day — log an incident after the fact, leave it
untitled, reopen it, duplicate it, trash and restore it, clear the links the worker owns —
and what the worker then does (issue 11, items 2, 4, 6, 8, 10, 11, 17 and 19)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, message_text, page_markdown, people, rich, select, title
from worker.plan import page_id_from_url
from worker.reports import PollReport
from worker.sandbox import Sandbox
from worker.snapshot import parse_timestamp

T0 = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _clock_starts_with_the_test() -> None:
    """Minutes count from the test's start: the sandbox stamps rows with the real time."""
    global T0  # noqa: PLW0603 - one clock for the helpers of this module
    T0 = datetime.now(UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _trash(h: Harness, page: str, *, trashed: bool = True) -> None:
    client = h.client("Aiko")
    try:
        client.pages.update(page_id=page, in_trash=trashed)
    finally:
        client.close()


def _later(h: Harness, minutes: float) -> PollReport | None:
    """A poll as if `minutes` had passed (backoffs and grace periods run out)."""
    return h.runtime.poll(datetime.now(UTC) + timedelta(minutes=minutes))


def _props(h: Harness, page: str) -> dict[str, Any]:
    props: dict[str, Any] = h.row(page)["properties"]
    return props


def _url(props: dict[str, Any], name: str) -> str | None:
    value = props[name]["url"]
    return str(value) if value else None


def _date(props: dict[str, Any], name: str) -> datetime | None:
    value = props[name]["date"]
    return parse_timestamp(value["start"]) if value else None


def _declare(h: Harness, title: str = "Checkout errors", **props: dict[str, Any]) -> str:
    ben = h.person("Ben")
    values: dict[str, Any] = {"Severity": select("SEV2"), "Commander": people(ben), **props}
    page = h.declare("Aiko", title, **values)
    h.runtime.poll(_at(0))
    h.runtime.poll(_at(0.1))
    return page


def _nudges(h: Harness, page: str) -> list[str]:
    marks = ("overdue", "No status update")
    return [text for text in h.replies_text(page) if any(m in text for m in marks)]


def _broadcasts(h: Harness, page: str) -> list[str]:
    return [
        message_text(m) for m in h.thread_of(page)[1:] if m.get("subtype") == "thread_broadcast"
    ]


# --- item 4: an incident first seen already resolved ---------------------------------------


def test_an_incident_logged_after_the_fact_is_declared_resolved_with_its_pages(
    h: Harness,
) -> None:
    """Created and resolved between two polls (or logged the next morning): it gets the
    whole story — dates, a timeline, a postmortem and the resolution sent to the channel."""
    h.poll()  # the worker has been running: this is not the first run over the database
    page = h.declare(
        "Aiko", "Last night's login outage", Severity=select("SEV2"), Status=select("Resolved")
    )
    for _ in range(3):
        h.poll()
    props = _props(h, page)
    assert _url(props, "Slack thread")
    assert _url(props, "Timeline")
    assert _url(props, "Postmortem")
    assert _date(props, "Declared at") is not None
    assert _date(props, "Resolved at") is not None
    assert any("Resolved" in text for text in _broadcasts(h, page))
    assert any("postmortem draft is ready" in text for text in h.replies_text(page))


def test_the_first_run_over_a_database_still_adopts_resolved_rows_silently(h: Harness) -> None:
    h.declare("Aiko", "An old incident", Status=select("Resolved"))
    h.poll()
    h.poll()
    assert h.top_level() == []


# --- item 10: reopening -----------------------------------------------------------------------


def test_a_reopen_is_announced_like_the_resolution_and_restarts_the_update_clock(
    h: Harness,
) -> None:
    page = _declare(h)
    h.edit("Ben", page, Status=select("Resolved"))
    h.runtime.poll(_at(10))
    h.runtime.poll(_at(10.1))
    assert _date(_props(h, page), "Resolved at") is not None
    h.edit("Ben", page, Status=select("Investigating"))
    h.runtime.poll(_at(40))
    h.runtime.poll(_at(40.1))
    assert any("Reopened" in text for text in _broadcasts(h, page))
    assert _date(_props(h, page), "Resolved at") is None  # no longer resolved
    h.runtime.nag(_at(41))
    assert _nudges(h, page) == []  # the clock restarted at the reopen
    h.runtime.nag(_at(71))
    assert len(_nudges(h, page)) == 1


def test_a_second_resolution_keeps_its_own_time_and_the_one_postmortem_tells_the_reopen(
    h: Harness,
) -> None:
    page = _declare(h)
    h.edit("Ben", page, Status=select("Resolved"))
    h.runtime.poll(_at(10))
    h.runtime.poll(_at(10.1))
    h.edit("Ben", page, Status=select("Identified"))
    h.runtime.poll(_at(20))
    h.edit("Ben", page, Status=select("Resolved"))
    h.runtime.poll(_at(30))
    h.runtime.poll(_at(30.1))
    props = _props(h, page)
    assert _date(props, "Resolved at") is not None
    assert h.child_pages(page).count("Checkout errors — Postmortem") == 1
    postmortem = page_id_from_url(_url(props, "Postmortem"))
    assert postmortem is not None
    text = page_markdown(h.box, postmortem)
    assert "Reopened" in text
    assert "Resolved again" in text


# --- item 11: a row trashed and restored ------------------------------------------------------


def test_a_row_trashed_and_restored_says_so_and_restarts_reminders_from_the_restore(
    h: Harness,
) -> None:
    page = _declare(h)
    _trash(h, page)
    h.runtime.nag(_at(1))  # the worker notices the row went to the trash
    assert any("trash" in text for text in h.replies_text(page))
    h.runtime.nag(_at(31))
    assert _nudges(h, page) == []  # nobody is reminded about a deleted row
    _trash(h, page, trashed=False)
    h.runtime.poll(_at(40))
    assert any("restored" in text for text in h.replies_text(page))
    h.runtime.nag(_at(41))
    assert _nudges(h, page) == []  # reminders start again from the restore …
    h.runtime.nag(_at(71))
    assert len(_nudges(h, page)) == 1  # … one cadence later


def test_a_row_trashed_before_its_timeline_page_gets_it_once_restored(h: Harness) -> None:
    h.box.slack.archive_channel(h.channel)  # the announcement waits …
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.runtime.poll(_at(0))
    _trash(h, page)  # … and the row goes to the trash meanwhile
    h.box.slack.unarchive_channel(h.channel)
    for minutes in (60, 120, 180):
        h.runtime.nag(_at(minutes))
        h.runtime.poll(_at(minutes))
    _trash(h, page, trashed=False)
    for minutes in (200, 201, 202):
        h.runtime.poll(_at(minutes))
    props = _props(h, page)
    assert _url(props, "Slack thread")
    assert _url(props, "Timeline")
    assert h.child_pages(page) == ["Checkout errors — Timeline"]


# --- item 2: a duplicated row -----------------------------------------------------------------


def _duplicate(h: Harness, page: str, title: str, **changes: dict[str, Any]) -> str:
    """What Notion's *Duplicate* does: a new row with every property copied."""
    props = _props(h, page)
    copied = {
        name: {"url": props[name]["url"]} for name in ("Slack thread", "Timeline", "Postmortem")
    }
    return h.declare("Ben", title, Severity=select("SEV3"), **{**copied, **changes})


def test_a_duplicated_row_is_a_new_incident_with_its_own_thread_and_pages(h: Harness) -> None:
    page = _declare(h, Impact=rich("EU checkouts fail"))
    original = _props(h, page)
    copy = _duplicate(h, page, "Checkout errors (drill)", Impact=rich("a game day"))
    for _ in range(3):
        h.poll()
    assert len(h.top_level()) == 2
    parent = message_text(h.thread_of(page)[0])
    assert "drill" not in parent
    assert "game day" not in parent
    h.edit("Ben", copy, Status=select("Identified"))
    h.poll()
    assert h.replies_text(page) == []  # nothing of the copy lands in the original's thread
    assert any("→ Identified" in text for text in h.replies_text(copy))
    copied = _props(h, copy)
    assert _url(copied, "Slack thread") != _url(original, "Slack thread")
    assert _url(copied, "Timeline") not in (None, _url(original, "Timeline"))
    timeline = page_id_from_url(_url(original, "Timeline"))
    assert timeline is not None
    assert "drill" not in page_markdown(h.box, timeline)


def test_after_losing_the_state_a_duplicate_is_still_told_from_its_original(h: Harness) -> None:
    page = _declare(h)
    copy = _duplicate(h, page, "Checkout errors (copy)")
    h.restart(lose_state=True)  # the copy was made while the worker's state was lost
    for _ in range(3):
        h.poll()
    assert len(h.top_level()) == 2
    assert "(copy)" not in message_text(h.thread_of(page)[0])
    assert _url(_props(h, copy), "Slack thread") != _url(_props(h, page), "Slack thread")


# --- item 8: links the worker owns, cleared or edited by people -------------------------------


def test_a_cleared_or_edited_slack_thread_link_is_restored_with_one_note(h: Harness) -> None:
    page = _declare(h)
    link = _url(_props(h, page), "Slack thread")
    h.edit("Ben", page, **{"Slack thread": {"url": None}})
    h.poll()
    h.poll()
    assert _url(_props(h, page), "Slack thread") == link
    h.edit("Ben", page, **{"Slack thread": {"url": "https://example.slack.com/archives/C1/p1"}})
    h.poll()
    h.poll()
    assert _url(_props(h, page), "Slack thread") == link
    notes = [text for text in h.replies_text(page) if "set it back" in text]
    assert len(notes) == 2


def test_a_cleared_timeline_link_is_restored(h: Harness) -> None:
    page = _declare(h)
    link = _url(_props(h, page), "Timeline")
    assert link
    h.edit("Ben", page, Timeline={"url": None})
    h.poll()
    h.poll()
    assert _url(_props(h, page), "Timeline") == link


def test_after_losing_the_state_a_cleared_thread_link_announces_nothing_twice(
    h: Harness,
) -> None:
    page = _declare(h)
    link = _url(_props(h, page), "Slack thread")
    h.edit("Ben", page, **{"Slack thread": {"url": None}})
    h.restart(lose_state=True)
    for _ in range(3):
        h.poll()
    assert len(h.top_level()) == 1
    assert _url(_props(h, page), "Slack thread") == link
    assert h.child_pages(page) == ["Checkout errors — Timeline"]  # found again, not made twice


# --- item 6: a trashed timeline page ----------------------------------------------------------


def test_a_trashed_timeline_page_does_not_stop_the_postmortem(h: Harness) -> None:
    page = _declare(h)
    timeline = page_id_from_url(_url(_props(h, page), "Timeline"))
    assert timeline is not None
    _trash(h, timeline)
    h.edit("Ben", page, **{"Status update": rich("Rolled back deploy 4812")})
    h.runtime.poll(_at(1))
    h.edit("Ben", page, Status=select("Resolved"))
    for minutes in (2, 3, 4):
        h.runtime.poll(_at(minutes))
    props = _props(h, page)
    postmortem = page_id_from_url(_url(props, "Postmortem"))
    assert postmortem is not None, h.replies_text(page)
    text = page_markdown(h.box, postmortem)
    assert "Incident declared" in text  # the timeline, from the worker's own record
    assert "Rolled back deploy 4812" in text
    notes = [t for t in h.replies_text(page) if "trash" in t]
    assert len(notes) == 1
    assert "restore" in notes[0].lower()
    assert not any("archived" in t for t in h.replies_text(page))  # no technical error
    _trash(h, timeline, trashed=False)
    for minutes in (90, 180):
        h.runtime.nag(_at(minutes))  # the worker looks at the page now and then
        h.runtime.poll(_at(minutes))
    restored = page_markdown(h.box, timeline)
    assert "Rolled back deploy 4812" in restored  # the entries it missed are added


# --- items 17 and 19: times the worker observed ------------------------------------------------


def test_an_untitled_row_waits_the_whole_grace_from_when_the_worker_first_saw_it(
    h: Harness,
) -> None:
    """Notion rounds creation times down to the minute: measuring the grace from there
    announced blank rows up to a minute early."""
    first = datetime.now(UTC)
    h.poll()  # not the first run
    h.declare("Aiko", "", Severity=select("SEV2"))
    h.runtime.poll(first)
    h.runtime.poll(first + timedelta(seconds=119))
    assert h.top_level() == []
    h.runtime.poll(first + timedelta(seconds=121))
    assert len(h.top_level()) == 1


def test_times_written_back_are_those_the_worker_observed_not_the_minute(h: Harness) -> None:
    """An update 20 s after the declaration and a mitigation 40 s after it: Notion's edit
    times are rounded down to the minute, so the worker uses when it saw them."""
    start = datetime.now(UTC).replace(second=5, microsecond=0)
    h.box.notion.set_clock(lambda: start)
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.runtime.poll(start + timedelta(seconds=1))
    h.runtime.poll(start + timedelta(seconds=2))
    h.box.notion.set_clock(lambda: start + timedelta(seconds=40))
    h.edit("Ben", page, Status=select("Monitoring"))
    h.runtime.poll(start + timedelta(seconds=41))
    h.runtime.poll(start + timedelta(seconds=42))
    props = _props(h, page)
    declared = _date(props, "Declared at")
    mitigated = _date(props, "Mitigated at")
    assert declared is not None
    assert mitigated is not None
    assert 30 <= (mitigated - declared).total_seconds() <= 50


# --- found in review ---------------------------------------------------------------------------


def test_a_trashed_postmortem_does_not_hold_up_the_thread_on_a_reopening(h: Harness) -> None:
    page = _declare(h)
    h.edit("Ben", page, Status=select("Resolved"))
    h.runtime.poll(_at(10))
    h.runtime.poll(_at(10.1))
    postmortem = page_id_from_url(_url(_props(h, page), "Postmortem"))
    assert postmortem is not None
    _trash(h, postmortem)
    h.edit("Ben", page, Status=select("Investigating"))
    h.runtime.poll(_at(20))
    h.edit("Ben", page, **{"Status update": rich("Errors are back; rolling back again")})
    h.runtime.poll(_at(21))
    h.runtime.poll(_at(22))
    replies = h.replies_text(page)
    assert any("Reopened" in text for text in replies)
    assert any("rolling back again" in text for text in replies)


def test_an_untitled_row_moved_to_the_trash_is_never_announced(h: Harness) -> None:
    h.poll()  # not the first run
    page = h.declare("Aiko", "", Severity=select("SEV2"))
    h.runtime.poll(_at(0))
    _trash(h, page)
    h.runtime.nag(_at(1))
    h.runtime.poll(_at(5))
    assert h.top_level() == []


def test_after_losing_the_state_a_cleared_timeline_link_still_leads_to_a_postmortem(
    h: Harness,
) -> None:
    page = _declare(h)
    h.edit("Ben", page, Timeline={"url": None})
    h.restart(lose_state=True)
    h.runtime.poll(_at(1))
    h.edit("Ben", page, Status=select("Resolved"))
    for minutes in (2, 3, 4):
        h.runtime.poll(_at(minutes))
    props = _props(h, page)
    assert _url(props, "Timeline")
    assert _url(props, "Postmortem")
    assert h.child_pages(page).count("Checkout errors — Timeline") == 1


# --- untitled rows ----------------------------------------------------------------------------


def test_an_untitled_row_is_announced_untitled_once_the_grace_period_ends(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="1h")
    h.declare("Aiko", "", Severity=select("SEV2"))
    h.poll()
    _later(h, 30)
    assert h.top_level() == []  # still within DECLARE_GRACE: someone may be typing
    _later(h, 61)
    (parent,) = h.top_level()
    assert parent["blocks"][0]["text"]["text"] == "SEV2 · Untitled incident"
    h.close()


def test_an_incident_announced_untitled_takes_its_title_later(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="0s")
    page = h.declare("Aiko", "", Severity=select("SEV2"))
    h.poll()
    (parent,) = h.top_level()
    assert parent["blocks"][0]["text"]["text"] == "SEV2 · Untitled incident"
    assert h.child_pages(page) == ["Untitled incident — Timeline"]
    h.edit("Aiko", page, Name=title("Checkout down"))
    h.poll()
    assert any("— → Checkout down" in r for r in h.replies_text(page))
    assert h.thread_of(page)[0]["blocks"][0]["text"]["text"] == "SEV2 · Checkout down"
    h.close()


def test_a_title_typed_within_the_grace_period_is_announced_with_it(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="1h")
    page = h.declare("Aiko", "   ", Severity=select("SEV3"))
    h.poll()
    h.edit("Aiko", page, Name=title("Queue backlog"))
    h.poll()
    (parent,) = h.top_level()
    assert parent["blocks"][0]["text"]["text"] == "SEV3 · Queue backlog"
    assert h.replies_text(page) == []
    h.close()


def test_an_untitled_row_is_announced_even_when_other_rows_move_the_cursor_on(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="10m")
    start = datetime.now(UTC)

    def at(minutes: float) -> datetime:
        moment = start + timedelta(minutes=minutes)
        box.notion.state.clock = lambda: moment  # Notion's own clock, for edit times
        return moment

    at(0)
    untitled = h.declare("Aiko", "", Severity=select("SEV2"))
    h.runtime.poll(at(0.5))
    h.declare("Aiko", "Other incident", Severity=select("SEV3"))
    h.runtime.poll(at(3))
    h.runtime.poll(at(3.5))
    h.runtime.poll(at(15))  # the untitled row's grace ran out long ago
    record = h.runtime.store.get_record(untitled)
    assert record is not None
    assert record.phase == "announced"
    h.close()


# --- a row moved to the trash mid-incident --------------------------------------------------


def test_a_row_moved_to_the_trash_goes_quiet_and_comes_back_when_restored(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Defined behaviour: Notion's queries leave trashed rows out, so the worker sends nothing
    more for it (edits made just before the trash are not mirrored either), nothing fails,
    the other incidents carry on; restored, it continues in the same thread."""
    caplog.set_level(logging.WARNING)
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    other = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.poll()
    h.poll()
    h.edit("Ben", page, Status=select("Monitoring"))
    _trash(h, page)
    h.edit("Ben", other, Status=select("Identified"))
    for minutes in (0, 5, 60):
        report = _later(h, minutes)
        assert report is not None
        assert report.ok
    assert h.replies_text(page) == []
    assert [r for r in h.replies_text(other) if "→ Identified" in r] != []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

    _trash(h, page, trashed=False)
    h.edit("Ben", page, Status=select("Resolved"))
    _later(h, 61)
    _later(h, 62)
    assert len(h.top_level()) == 3  # two parents and the resolution broadcast
    assert any("→ Resolved" in r for r in h.replies_text(page))


def test_writes_to_a_row_seen_in_the_trash_are_given_up_with_one_log_line(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.box.slack.archive_channel(h.channel)  # the announcement waits …
    h.poll()
    _trash(h, page)  # … and the row goes to the trash meanwhile
    h.box.slack.unarchive_channel(h.channel)
    for hours in (1, 2, 3, 4):
        _later(h, 60 * hours)
    pending = [a.key for a in h.runtime.store.actions_for(page) if a.state == "pending"]
    assert pending == []
    complaints = [
        r for r in caplog.records if "archived" in r.getMessage() and page in r.getMessage()
    ]
    assert len(complaints) <= 1
