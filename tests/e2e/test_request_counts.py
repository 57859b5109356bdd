"""End to end: what an incident costs in requests, read from the sandbox's request logs (issue
14, item 2): a declared incident ≤ 3 Notion and ≤ 2 Slack requests, a mirrored change ≤ 1
Notion and 2 Slack (the reply and the parent's update) — polls not counted. Where a change
needs more (a date written back), the count is pinned and the README says why."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.harness import Harness, people, rich, select, title

BURST = 6
# A poll's own requests: the query of rows edited since the last one, and the schema read
# now and then. "Polls do not count."
_POLL_PATHS = frozenset({"POST /v1/data_sources/{id}/query", "GET /v1/data_sources/{id}"})
_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


class Requests:
    """The requests both emulators answered from a mark on, by `METHOD /path` (ids as {id})."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.notion_mark = len(h.box.notion_log.entries())
        self.slack_mark = len(h.box.slack_log.entries())

    def notion(self) -> Counter[str]:
        entries = self.h.box.notion_log.entries()[self.notion_mark :]
        return Counter({p: n for p, n in _paths(entries).items() if p not in _POLL_PATHS})

    def slack(self) -> Counter[str]:
        return _paths(self.h.box.slack_log.entries()[self.slack_mark :])


def _paths(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f"{e['method']} {_ID.sub('{id}', e['path'])}" for e in entries)


def _settle(h: Harness, *, minutes: float = 0) -> None:
    """Polls (`minutes` from now) until the outbox has nothing left to do (pages too)."""
    for _ in range(10):
        assert h.runtime.poll(datetime.now(UTC) + timedelta(minutes=minutes)) is not None
        counts = h.runtime.store.outbox_counts()
        if not counts.get("pending", 0) and not counts.get("sending", 0):
            return
    raise AssertionError(f"the outbox is not empty: {h.runtime.store.outbox_counts()}")


def _burst(h: Harness, count: int) -> list[str]:
    """`count` incidents created at once (in bulk: no HTTP, so none in the logs)."""
    ben, chidi = h.person("Ben"), h.person("Chidi")
    rows = [
        {
            "Name": title(f"Incident {i}: checkout errors"),
            "Status": select("Investigating"),
            "Severity": select("SEV3"),
            "Commander": people((ben, chidi)[i % 2]),
        }
        for i in range(count)
    ]
    return h.box.notion.insert_pages(h.data_source_id, rows, as_user="Aiko")


def _per_incident(counts: Counter[str], incidents: int) -> dict[str, float]:
    return {path: n / incidents for path, n in sorted(counts.items())}


def test_a_declared_incident_costs_three_notion_and_two_slack_requests(h: Harness) -> None:
    h.poll()  # not the first run over the database
    seen = Requests(h)
    pages = _burst(h, BURST)
    _settle(h)
    notion, slack = seen.notion(), seen.slack()
    # Looking people up is paid once per person (cached), not per incident.
    lookups = slack.pop("POST /api/users.lookupByEmail", 0)
    assert lookups <= 2
    assert _per_incident(notion, BURST) == {
        "GET /v1/pages/{id}": 1.0,  # the refresh before the write (credits people's edits)
        "PATCH /v1/pages/{id}": 1.0,  # thread link, dates and timeline link in one write
        "POST /v1/pages": 1.0,  # the timeline page, its first entry included
    }
    assert _per_incident(slack, BURST) == {
        "POST /api/chat.postMessage": 1.0,  # the parent message
        "POST /api/chat.update": 1.0,  # the parent shows the timeline link
    }
    for page in pages:  # and all of it is there
        props = h.row(page)["properties"]
        assert props["Slack thread"]["url"]
        assert props["Timeline"]["url"]
        assert props["Declared at"]["date"]
        assert props["Next update due"]["date"]


# Each kind of change people make, and what mirroring it costs: Notion requests by path, and
# Slack's (the reply and the parent's update, unless said otherwise).
_REPLY = {"POST /api/chat.postMessage": 1, "POST /api/chat.update": 1}
_ENTRY = {"PATCH /v1/blocks/{id}/children": 1}  # the change's timeline entry
CHANGES: dict[str, tuple[dict[str, Any], dict[str, int], dict[str, int]]] = {
    "a plain field": ({"Impact": rich("EU checkouts fail")}, _ENTRY, _REPLY),
    "the commander": ({"Commander": "Chidi"}, _ENTRY, _REPLY),
    "the status": ({"Status": select("Identified")}, _ENTRY, _REPLY),
    # Next update due moves (another cadence; the update clock restarts): written too.
    "the severity": (
        {"Severity": select("SEV2")},
        {"PATCH /v1/pages/{id}": 1, **_ENTRY},
        _REPLY,
    ),
    "a status update": (
        {"Status update": rich("Rolled back deploy 4812")},
        {"PATCH /v1/pages/{id}": 1, **_ENTRY},
        _REPLY,
    ),
    # A date written back (Mitigated at): the row is read again just before, so that an
    # edit made meanwhile is credited to its author and a date people set is kept.
    "mitigated": (
        {"Status": select("Monitoring")},
        {"GET /v1/pages/{id}": 1, "PATCH /v1/pages/{id}": 1, **_ENTRY},
        _REPLY,
    ),
    # The same for Resolved at; then the postmortem page: the timeline read back (is it in
    # the trash? its blocks), the page created, its link written (read, write); in Slack the
    # postmortem's reply and the parent updated again to link it.
    "resolved": (
        {"Status": select("Resolved")},
        {
            "GET /v1/pages/{id}": 3,
            "PATCH /v1/pages/{id}": 2,
            "GET /v1/blocks/{id}/children": 1,
            "POST /v1/pages": 1,
            **_ENTRY,
        },
        {"POST /api/chat.postMessage": 2, "POST /api/chat.update": 2},
    ),
}


def _person_values(h: Harness, props: dict[str, Any]) -> dict[str, Any]:
    return {
        name: people(h.person(value)) if isinstance(value, str) else value
        for name, value in props.items()
    }


@pytest.mark.parametrize("kind", CHANGES)
def test_a_mirrored_change_costs_one_notion_and_two_slack_requests(h: Harness, kind: str) -> None:
    props, notion, slack = CHANGES[kind]
    h.poll()
    (page,) = _burst(h, 1)
    _settle(h)
    # Who they are is looked up once per person (cached): done before counting.
    h.edit("Ben", page, Scribe=people(h.person("Chidi")))
    _settle(h)
    h.edit("Ben", page, **_person_values(h, props))
    seen = Requests(h)  # after the edit: people's own requests are not the worker's
    _settle(h, minutes=10)  # the update clock has run a while
    assert dict(seen.notion()) == notion
    assert dict(seen.slack()) == slack
