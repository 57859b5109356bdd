"""End to end: Slack or Notion stops letting the worker in mid-incident — the database no
longer shared, the channel archived, for minutes or a weekend — and once access is back
nothing is lost or doubled; meanwhile the logs and `check` say what to fix."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.harness import Harness, check, check_env, check_line, page_markdown, rich, select
from worker.errors import ServiceError
from worker.reports import PollReport


def _later(h: Harness, minutes: float) -> PollReport | None:
    """A poll as if `minutes` had passed (backoffs and grace periods run out)."""
    return h.runtime.poll(datetime.now(UTC) + timedelta(minutes=minutes))


def _errors(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and needle in r.getMessage()
    ]


def test_a_database_unshared_mid_run_is_explained_and_the_worker_catches_up(
    h: Harness,
) -> None:
    page = h.declare("Aiko", "Payments slow", Severity=select("SEV3"))
    h.poll()
    h.box.notion.share(h.box.workspace.parent_page_id, shared=False)
    h.edit("Ben", page, Status=select("Identified"))
    with pytest.raises(ServiceError) as caught:
        h.poll()
    assert caught.value.code == "object_not_found"
    assert "••• → Connections" in str(caught.value)
    results = check(check_env(h))
    assert "••• → Connections" in check_line(results, "Incidents database").detail
    h.box.notion.share(h.box.workspace.parent_page_id, shared=True)
    h.poll()
    assert any("→ Identified" in r for r in h.replies_text(page))  # nothing was missed


def test_a_channel_archived_mid_incident_loses_nothing(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    first = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    second = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.poll()
    h.poll()
    h.box.slack.archive_channel(h.channel)
    h.edit("Ben", first, Status=select("Identified"))
    h.edit("Ben", second, **{"Status update": rich("Reindexing")})
    third = h.declare("Aiko", "Login failures", Severity=select("SEV2"))
    report = h.poll()
    assert report is not None
    assert report.delivery.failed == 0  # kept for later, not given up
    _later(h, 5)
    _later(h, 10)
    archived = _errors(caplog, "is_archived")
    # Once per incident (three of them), however many polls.
    assert len(archived) == 3, archived
    assert all("unarchive it" in line for line in archived)
    # Notion keeps going meanwhile: the timeline pages get their entries.
    record = h.runtime.store.get_record(first)
    assert record is not None
    assert record.timeline_page_id
    assert "Status: — → Identified" in page_markdown(h.box, record.timeline_page_id)

    h.box.slack.unarchive_channel(h.channel)
    _later(h, 120)
    _later(h, 121)
    assert [r for r in h.replies_text(first) if "→ Identified" in r] != []
    assert [r for r in h.replies_text(second) if "Reindexing" in r] != []
    assert len(h.top_level()) == 3  # the third incident's thread too, once each
    assert h.replies_text(third) == []
    assert h.box.slack.orphan_replies() == []


def test_a_channel_archived_over_a_weekend_loses_nothing(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    h.poll()
    h.box.slack.archive_channel(h.channel)
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    for hour in range(1, 73):  # Friday evening to Monday evening, a poll an hour
        _later(h, 60 * hour)
    h.box.slack.unarchive_channel(h.channel)
    _later(h, 60 * 74)
    assert [r for r in h.replies_text(page) if "→ Identified" in r] != []
