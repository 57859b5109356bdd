"""End to end: a timeline page waits (a while) for the incident's Slack thread so that it links
to it, instead of being created for good without the link whenever Slack hiccups at the
declaration (found by the chaos benchmark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.harness import Harness, page_markdown, select
from worker.effects import backoff_s
from worker.pages.effects import THREAD_WAIT_S

LINK_LINE = "Live status updates go to the [Slack thread]"


def _timeline(h: Harness, page: str) -> list[str]:
    return [
        str(b["id"])
        for b in h.runtime.notion.list_children(page)
        if b["type"] == "child_page" and b["child_page"]["title"].endswith("Timeline")
    ]


def _poll_at(h: Harness, moment: datetime) -> None:
    assert h.runtime.poll(moment) is not None


def test_the_timeline_page_waits_for_the_thread_it_links_to(h: Harness) -> None:
    h.box.slack.archive_channel(h.channel)
    page = h.declare("Aiko", "Queue stuck", Severity=select("SEV2"))
    started = datetime.now(UTC)
    _poll_at(h, started)
    assert _timeline(h, page) == []  # no thread yet: the page waits to link to it
    h.box.slack.unarchive_channel(h.channel)
    _poll_at(h, started + timedelta(seconds=backoff_s(1, permanent=True) + 1))  # the post is due
    (timeline,) = _timeline(h, page)
    assert LINK_LINE in page_markdown(h.box, timeline)
    assert len(h.top_level()) == 1


def test_without_a_thread_for_long_the_timeline_page_is_created_without_the_link(
    h: Harness,
) -> None:
    h.box.slack.archive_channel(h.channel)
    page = h.declare("Aiko", "Queue stuck", Severity=select("SEV2"))
    started = datetime.now(UTC)
    _poll_at(h, started)
    _poll_at(h, started + timedelta(seconds=THREAD_WAIT_S + 1))
    (timeline,) = _timeline(h, page)
    markdown = page_markdown(h.box, timeline)
    assert "## Entries" in markdown
    assert LINK_LINE not in markdown
    assert h.top_level() == []
    row = h.row(page)["properties"]
    assert row["Timeline"]["url"]
    assert row["Declared at"]["date"]  # written with the page's link …
    assert row["Slack thread"]["url"] is None
    h.box.slack.unarchive_channel(h.channel)
    later = started + timedelta(hours=2)  # the announcement's backoff is over
    _poll_at(h, later)
    _poll_at(h, later + timedelta(seconds=1))
    assert len(h.top_level()) == 1
    assert h.row(page)["properties"]["Slack thread"]["url"]  # … the thread's once it exists
