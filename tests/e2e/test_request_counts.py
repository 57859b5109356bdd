"""End to end: what an incident costs in requests, read from the sandbox's request logs (issue
14, item 2): a declared incident ≤ 3 Notion and ≤ 2 Slack requests, a mirrored change 1
Notion (its timeline entry) and 2 Slack (the reply and the parent's update) — polls not
counted. Where a change needs more (a date written back), the count is pinned here and the
README says why."""

from __future__ import annotations

import pytest

from tests.e2e.costs import CHANGES, declared_burst, mirrored_change, without_lookups
from tests.e2e.harness import Harness

BURST = 6


def test_a_declared_incident_costs_three_notion_and_two_slack_requests(h: Harness) -> None:
    notion, slack, pages = declared_burst(h, BURST)
    # Looking people up is paid once per person (cached), not per incident.
    assert slack["POST /api/users.lookupByEmail"] <= 2
    per_incident = {path: n / BURST for path, n in without_lookups(notion + slack).items()}
    assert per_incident == {
        "GET /v1/pages/{id}": 1.0,  # the row read again before the write (people's edits)
        "POST /v1/pages": 1.0,  # the timeline page, its first entry in it
        "PATCH /v1/pages/{id}": 1.0,  # the thread's link, the dates, the page's link
        "POST /api/chat.postMessage": 1.0,  # the parent message (its link is built)
        "POST /api/chat.update": 1.0,  # the parent, now linking the timeline page
    }
    for page in pages:  # and all of it is there
        props = h.row(page)["properties"]
        for name in ("Slack thread", "Timeline"):
            assert props[name]["url"], name
        for name in ("Declared at", "Next update due"):
            assert props[name]["date"], name


_REPLY = {"POST /api/chat.postMessage": 1, "POST /api/chat.update": 1}
_ENTRY = {"PATCH /v1/blocks/{id}/children": 1}  # the change's timeline entry
# Notion requests by path and Slack's for each kind of change.
COSTS: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "a plain field (Impact)": (_ENTRY, _REPLY),
    "the commander": (_ENTRY, _REPLY),
    "the status (Identified)": (_ENTRY, _REPLY),
    # Next update due moves (another cadence; the update clock restarts): written too.
    "the severity (SEV3 → SEV2)": ({"PATCH /v1/pages/{id}": 1, **_ENTRY}, _REPLY),
    "a status update": ({"PATCH /v1/pages/{id}": 1, **_ENTRY}, _REPLY),
    # A date written back (Mitigated at): the row is read again just before, so that an
    # edit made meanwhile is credited to its author and a date people set is kept.
    "mitigated (Monitoring)": (
        {"GET /v1/pages/{id}": 1, "PATCH /v1/pages/{id}": 1, **_ENTRY},
        _REPLY,
    ),
    # The same for Resolved at; then the postmortem page: the timeline read back (in the
    # trash? its blocks), the page created, its link written (read, write); in Slack the
    # postmortem's reply, and the parent updated again to link it.
    "resolved": (
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


def test_every_kind_of_change_has_its_cost_pinned() -> None:
    assert set(COSTS) == set(CHANGES)


@pytest.mark.parametrize("kind", CHANGES)
def test_a_mirrored_change_costs_one_notion_and_two_slack_requests_or_what_it_needs(
    h: Harness, kind: str
) -> None:
    notion, slack = mirrored_change(h, kind)
    assert (dict(notion), dict(slack)) == COSTS[kind]
