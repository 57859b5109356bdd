"""End to end: Notion's 409 `conflict_error` on each kind of request the worker makes is sent
again at once, and nothing is doubled: a 409 means Notion saved nothing, so there is nothing
to look for first (tests/sandbox/test_notion_conflicts.py shows the emulator's 409s)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Harness, people, select
from worker.sandbox import Sandbox


def _mark(h: Harness) -> int:
    return len(h.box.notion_log.entries())


def _requests(h: Harness, method: str, path: str, since: int = 0) -> list[int | None]:
    """The statuses of the requests to one route (after the `since`-th request), in order."""
    return [
        e["status"]
        for e in h.box.notion_log.entries()[since:]
        if e["method"] == method and e["path"] == path
    ]


def _timeline(h: Harness, page: str) -> str:
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    return record.timeline_page_id


def _nothing_left_to_do(h: Harness, page: str) -> None:
    h.poll()  # what the writes led to (the parent message's links) goes out
    unsent = [(a.key, a.state) for a in h.runtime.store.actions_for(page) if a.state != "done"]
    assert unsent == []


def test_a_conflict_on_a_row_write_is_retried_and_the_link_lands(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    h.box.notion.force_conflicts("pages.update", count=2, target=page)
    h.poll()
    assert h.row(page)["properties"]["Slack thread"]["url"]
    assert _requests(h, "PATCH", f"/v1/pages/{page}")[:3] == [409, 409, 200]
    _nothing_left_to_do(h, page)


def test_a_conflict_on_creating_the_timeline_makes_one_page_without_looking_first(
    h: Harness,
) -> None:
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    h.box.notion.force_conflicts("pages.create", count=2, target=page)
    mark = _mark(h)
    h.poll()
    assert _requests(h, "POST", "/v1/pages", mark) == [409, 409, 200]
    # Not saved, so not looked for: no listing of the row's children to find the page.
    assert _requests(h, "GET", f"/v1/blocks/{page}/children", mark) == []
    assert h.child_pages(page) == ["Checkout down — Timeline"]
    _nothing_left_to_do(h, page)


def test_a_conflict_on_appending_a_timeline_entry_adds_it_once(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    h.poll()
    timeline = _timeline(h, page)
    h.box.notion.force_conflicts("blocks.children.append", count=2, target=timeline)
    h.edit("Ben", page, Severity=select("SEV1"))
    mark = _mark(h)
    h.poll()
    assert _requests(h, "PATCH", f"/v1/blocks/{timeline}/children", mark) == [409, 409, 200]
    assert _requests(h, "GET", f"/v1/blocks/{timeline}/children", mark) == []
    entries = [
        b
        for b in h.runtime.notion.list_children(timeline)
        if "SEV2 → SEV1" in repr(b.get(b["type"], {}).get("rich_text"))
    ]
    assert len(entries) == 1
    _nothing_left_to_do(h, page)


def test_a_conflict_on_creating_the_postmortem_row_makes_one_row(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, with_postmortems=True)
    ben = h.person("Ben")
    page = h.declare("Aiko", "Payments delayed", Severity=select("SEV2"), Commander=people(ben))
    h.poll()
    postmortems = h.runtime.notion.data_source_of(h.env["POSTMORTEM_DATABASE_ID"])
    h.box.notion.force_conflicts("pages.create", count=2, target=postmortems)
    h.edit("Ben", page, Status=select("Resolved"))
    mark = _mark(h)
    h.poll()
    assert _requests(h, "POST", "/v1/pages", mark) == [409, 409, 200]
    # No query of the Postmortems database to look for a row the 409 did not make.
    assert _requests(h, "POST", f"/v1/data_sources/{postmortems}/query", mark) == []
    rows = h.runtime.notion.query(
        postmortems, {"property": "Incident", "relation": {"contains": page}}
    )
    assert len(rows) == 1
    assert [p.id for p in rows[0].properties["Owner"].people] == [ben.notion_id]
    _nothing_left_to_do(h, page)
    h.close()


def test_a_conflict_on_the_poll_query_is_retried_within_the_poll(h: Harness) -> None:
    """Reads never collide in Notion; the hook forces it anyway, to show the poll rides it."""
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    h.box.notion.force_conflicts("data_sources.query", count=2)
    h.poll()
    assert len(h.top_level()) == 1
    assert h.runtime.store.get_record(page) is not None


def test_writes_colliding_with_a_persons_edit_are_sent_again_and_land_once(
    h: Harness,
) -> None:
    """The emulator's own overlap rule: Ben edits the row, and the worker's writes to it
    (the thread link, the timeline page under it) come within the window after."""
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    h.box.notion.set_conflict_window(0.5)
    h.edit("Ben", page, Severity=select("SEV1"))
    h.poll()
    statuses = [e["status"] for e in h.box.notion_log.entries()]
    assert 409 in statuses
    assert h.row(page)["properties"]["Slack thread"]["url"]
    assert h.child_pages(page) == ["Checkout down — Timeline"]
    assert len(h.top_level()) == 1
    _nothing_left_to_do(h, page)
