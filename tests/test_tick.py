"""Tick: one poll and one nag pass against the sandbox — what a poll reports, rows that cannot
be read whole going on beside the others, a problem logged once, a read left for after the
wait Notion asked for, reminders queued once and the trash noticed between polls."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.e2e.harness import Harness, people, rich, select
from worker.reports import PollReport
from worker.sandbox import NotionLimits, Sandbox, WindowLimit
from worker.tick import CURSOR_KEY, Worker


def _worker(h: Harness, now: datetime) -> Worker:
    """The runtime's worker, this replica holding the lease at `now` (as when it polls)."""
    assert h.runtime.lead(now)
    return h.runtime.worker


def _poll(h: Harness, now: datetime) -> PollReport:
    return _worker(h, now).poll(now)


def _tick_warnings(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "worker.tick" and r.levelno >= logging.WARNING and needle in r.getMessage()
    ]


def _schema(h: Harness, properties: dict[str, object]) -> None:
    """Change the data source as a person would in Notion."""
    client = h.client("Aiko")
    try:
        client.data_sources.update(data_source_id=h.data_source_id, properties=properties)
    finally:
        client.close()


def test_a_poll_reports_the_rows_it_read_and_what_it_did(h: Harness) -> None:
    h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    now = datetime.now(UTC)
    report = _poll(h, now)
    assert (report.rows, report.changed, report.row_errors) == (2, 2, 0)
    assert report.ok
    done = report.delivery.done
    assert done >= 6  # per incident: its parent, its timeline page and links, its first entry
    assert report.notion_requests >= 1 + 2 * 2  # the query; per row: its link, its page
    assert report.summary().startswith(
        f"poll: 2 rows read, 2 changed, {done} actions done, 0 to retry, 0 failed, "
        f"0 unreadable rows, {report.notion_requests} Notion requests, "
    )
    # Read again (the overlap of the next poll): the worker's own writes are no change.
    again = _poll(h, now + timedelta(seconds=5))
    assert again.changed == 0
    assert len(h.top_level()) == 2


def test_a_value_the_settings_do_not_know_is_named_once_and_the_other_rows_go_on(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    odd = h.declare("Aiko", "Checkout down", Severity=select("SEV2"), Status=select("Identified"))
    fine = h.declare("Aiko", "Search slow", Severity=select("SEV3"), Status=select("Identified"))
    now = datetime.now(UTC)
    _poll(h, now)
    h.edit("Ben", odd, Status=select("Closed"))  # not among STATUS_OPTIONS
    h.edit("Ben", fine, Status=select("Monitoring"))
    _poll(h, now + timedelta(minutes=1))
    h.edit("Ben", odd, Impact=rich("EU card payments"))  # the row read again, still “Closed”
    _poll(h, now + timedelta(minutes=2))
    named = [r for r in h.replies_text(odd) if "“Closed”" in r]
    assert len(named) == 1, h.replies_text(odd)
    assert "STATUS_OPTIONS" in named[0]
    assert not any("→ Closed" in r for r in h.replies_text(odd))  # not taken for a change
    assert any("Identified → Monitoring" in r for r in h.replies_text(fine))
    assert len(_tick_warnings(caplog, "“Closed”")) == 1


def test_a_broken_property_is_logged_once_however_many_rows_and_polls(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    first = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    second = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    now = datetime.now(UTC)
    _poll(h, now)
    _schema(h, {"Severity": {"name": "Sev"}})
    h.edit("Ben", first, Status=select("Identified"))
    h.edit("Ben", second, Status=select("Monitoring"))
    _poll(h, now + timedelta(minutes=1))
    h.edit("Ben", first, Impact=rich("EU card payments"))
    _poll(h, now + timedelta(minutes=2))
    assert len(_tick_warnings(caplog, "'Severity' is missing")) == 1
    assert any("→ Identified" in r for r in h.replies_text(first))  # the rest is mirrored
    assert any("→ Monitoring" in r for r in h.replies_text(second))


class Ticks:
    """One monotonic clock moved by hand, for Notion's rate-limit window and the worker's
    wait: a minute passes in no time."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def test_while_notion_asks_to_wait_the_read_waits_and_nothing_is_missed(
    box: Sandbox, tmp_path: Path
) -> None:
    ticks = Ticks()
    box.notion.limiter.clock = ticks
    h = Harness(box, tmp_path)
    try:
        h.runtime.notion.hold.clock = ticks
        page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
        now = datetime.now(UTC)
        _poll(h, now)
        cursor = h.runtime.store.get_meta(CURSOR_KEY)
        box.notion.set_limits(
            NotionLimits(connection=WindowLimit(1_000, 60.0), workspace=WindowLimit(0, 0.0))
        )
        h.edit("Ben", page, Status=select("Identified"))
        box.notion.use_up_budget(box.workspace.notion_token)  # the worker's, for a minute

        waiting = _poll(h, now + timedelta(seconds=10))
        assert waiting.read_deferred
        assert waiting.notion_wait is not None
        assert waiting.notion_wait.until == now + timedelta(seconds=70)
        assert "rows are read then" in waiting.summary()
        assert h.runtime.store.get_meta(CURSOR_KEY) == cursor  # read from there, later
        assert h.replies_text(page) == []

        ticks.now += 60
        after = _poll(h, now + timedelta(seconds=70))
        assert not after.read_deferred
        assert after.notion_wait is None
        assert any("→ Identified" in r for r in h.replies_text(page))
    finally:
        h.close()


def test_each_reminder_is_queued_once_and_goes_out_with_a_delivery(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, UPDATE_CADENCE="SEV2=10m", COMMANDER_GRACE="1h")
    try:
        page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
        now = datetime.now(UTC)
        _poll(h, now)
        overdue = now + timedelta(minutes=11)
        assert _worker(h, overdue).nag_pass(overdue, deliver=False).queued == 1
        assert h.replies_text(page) == []  # queued: the poll's delivery sends it
        later = overdue + timedelta(minutes=1)
        assert _worker(h, later).nag_pass(later, deliver=False).queued == 0
        _worker(h, later).deliver(later)
        (reminder,) = h.replies_text(page)
        assert "update" in reminder.lower()
        last = overdue + timedelta(minutes=2)
        assert _worker(h, last).nag_pass(last).queued == 0
        assert len(h.replies_text(page)) == 1
    finally:
        h.close()


def test_a_row_moved_to_the_trash_is_told_in_its_thread_by_the_nag_pass(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _poll(h, now)
    client = h.client("Aiko")
    try:
        client.pages.update(page_id=page, in_trash=True)  # no poll sees it: queries skip it
    finally:
        client.close()
    later = now + timedelta(minutes=1)
    _worker(h, later).nag_pass(later)
    (told,) = h.replies_text(page)
    assert "moved to the trash" in told
    again = later + timedelta(minutes=1)
    _worker(h, again).nag_pass(again)
    assert len(h.replies_text(page)) == 1  # said once


def test_a_poll_reading_rows_again_reads_their_records_a_page_at_a_time(h: Harness) -> None:
    """A poll that re-reads unchanged rows (as after a bulk change) makes as many store reads
    for six rows as for two: one per page of rows, not one per row."""
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if "FROM incidents" in statement:
            reads.append(statement)

    def settle() -> None:
        for _ in range(10):  # until the worker's own write-backs are taken in
            report = h.poll()
            if report.changed == 0 and report.delivery.done == 0:
                return
        raise AssertionError("the worker did not settle")

    def reread(rows: int) -> int:
        back = datetime.now(UTC) - timedelta(hours=1)
        h.runtime.store.set_meta(CURSOR_KEY, back.isoformat())
        reads.clear()
        report = h.poll()
        assert (report.rows, report.changed) == (rows, 0)
        return len(reads)

    event.listen(h.runtime.store.engine, "before_cursor_execute", count)
    for n in range(2):
        h.declare("Aiko", f"Incident {n}", Severity=select("SEV3"))
    settle()
    two = reread(2)
    for n in range(2, 6):
        h.declare("Aiko", f"Incident {n}", Severity=select("SEV3"))
    settle()
    assert reread(6) == two


def test_what_was_pruned_for_a_resolved_incident_is_never_sent_again(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _poll(h, now)
    h.edit("Ben", page, Severity=select("P2"), Status=select("Resolved"))  # P2: not an option
    for second in range(1, 6):
        _poll(h, now + timedelta(seconds=second))
    before = h.replies_text(page)
    assert len([r for r in before if "“P2”" in r]) == 1, before
    assert all(i.state == "done" for i in h.runtime.store.actions_for(page))

    later = now + timedelta(days=31)  # past OUTBOX_RETENTION (30 days)
    _worker(h, later).nag_pass(later)
    assert h.runtime.store.actions_for(page) == []
    h.edit("Ben", page, Impact=rich("EU card payments"))  # read again, still “P2”
    _poll(h, later + timedelta(minutes=1))
    after = h.replies_text(page)[len(before) :]
    assert not any("“P2”" in r for r in after), after
    assert h.runtime.store.actions_for(page)  # the edit itself is taken in as ever


def test_reminders_are_judged_afresh_when_the_settings_change(box: Sandbox, tmp_path: Path) -> None:
    """The nudge pass reads an incident again only when a reminder may be due, as judged
    under the settings of the time: a restart with another cadence judges every one again."""
    h = Harness(box, tmp_path, UPDATE_CADENCE="SEV2=60m", COMMANDER_GRACE="2h")
    try:
        h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
        now = datetime.now(UTC)
        _poll(h, now)
        soon = now + timedelta(minutes=11)
        assert _worker(h, soon).nag_pass(soon, deliver=False).queued == 0  # next: at 60 min
        h.env["UPDATE_CADENCE"] = "SEV2=10m"
        h.restart()
        later = now + timedelta(minutes=12)
        assert _worker(h, later).nag_pass(later, deliver=False).queued == 1
    finally:
        h.close()


def test_a_resolved_incident_is_read_by_the_nudge_pass_once_then_no_more(h: Harness) -> None:
    """Without a Postmortems database nothing can be due for a resolved incident: however
    long the history of them, the nudge pass does not read them again."""
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    still_open = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    now = datetime.now(UTC)
    _poll(h, now)
    h.edit("Ben", page, Status=select("Resolved"))
    for second in range(1, 6):
        _poll(h, now + timedelta(seconds=second))
    later = now + timedelta(minutes=1)
    store = h.runtime.store
    assert {r.page_id for r, _m in store.records_to_nag(later)} == {page, still_open}
    _worker(h, later).nag_pass(later, deliver=False)
    assert store.records_to_nag(later + timedelta(minutes=1)) == []
    # The open one is read again once a reminder may be due (it has no commander: one is
    # called for after COMMANDER_GRACE, 5 minutes), the resolved one never.
    grace = now + timedelta(minutes=6)
    assert [r.page_id for r, _m in store.records_to_nag(grace)] == [still_open]
    assert [r.page_id for r, _m in store.records_to_nag(now + timedelta(days=365))] == [still_open]


def test_a_finished_postmortem_is_read_once_not_on_every_pass(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once its reminder is due, a postmortem's page is read to see whether it is still a
    draft; found finished, the incident owes nothing more and is not looked at again (a long
    history of finished postmortems costs the nudge pass nothing, in Notion requests too)."""
    h = Harness(box, tmp_path, with_postmortems=True)
    page = h.declare(
        "Aiko", "Checkout down", Severity=select("SEV2"), Commander=people(h.person("Ben"))
    )
    start = datetime.now(UTC)
    h.runtime.poll(start)
    h.edit("Ben", page, Status=select("Resolved"))
    for second in range(1, 7):
        h.runtime.poll(start + timedelta(seconds=second))
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.postmortem_page_id
    h.edit("Ben", record.postmortem_page_id, Status=select("Done"))
    later = (start + timedelta(days=5)).replace(hour=10, minute=0)  # working hours
    while later.weekday() >= 5:
        later += timedelta(days=1)
    reads: list[str] = []
    read_page = h.runtime.notion.page

    def counted(page_id: str) -> object:
        reads.append(page_id)
        return read_page(page_id)

    monkeypatch.setattr(h.runtime.notion, "page", counted)
    for minute in range(5):
        h.runtime.nag(later + timedelta(minutes=minute))
    assert reads.count(record.postmortem_page_id) == 1
    assert h.runtime.store.records_to_nag(later + timedelta(days=30)) == []
    assert not any(
        "postmortem" in r.lower() and "overdue" in r.lower() for r in h.replies_text(page)
    )
    h.close()
